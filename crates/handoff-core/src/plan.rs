//! The SAL volume plan: from an ARR goal back through the measured funnel
//! to the SALs needed per month.
//!
//! With `c` the SAL to SQO rate, `w` the win rate, `A` the average won ARR
//! (all measured over a *basis* period by [`crate::metrics::funnel_rates`]):
//!
//! ```text
//! deals = target / A      SQOs = deals / w      SALs = SQOs / c
//! SALs per month = SALs / months of the goal's period
//! ```
//!
//! The *range* comes from the rates' uncertainty: the 95% Wilson intervals
//! of `c` and `w` and the 95% normal interval of the mean `A`. The low end
//! of the range takes every input at its favourable end, the high end at
//! its unfavourable end, so it is a cautious envelope, wider than a 95%
//! interval of the result. The *lead time* is the median days from
//! acceptance to SQO plus the median days from SQO to won: the SALs that
//! win in the goal's period are accepted that much earlier.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::metrics::{median, FunnelRates};
use crate::stats::{mean_interval, wilson, Interval};

/// A measured share with its sample.
#[derive(Debug, Clone, Serialize)]
pub struct MeasuredRate {
    /// Successes and trials: SQOs of `n` SALs, or wins of `n` closed deals.
    pub k: u32,
    pub n: u32,
    pub rate: f64,
    /// 95% Wilson score interval.
    pub interval: Interval,
}

/// A range of a planned quantity.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Range {
    pub point: f64,
    pub low: f64,
    /// `None` when an input's interval reaches 0 (e.g. an average ARR so
    /// uncertain that its low end is not positive): no upper bound.
    pub high: Option<f64>,
}

/// The plan for one ARR goal.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub target_arr: f64,
    /// Months in the goal's period (3 for a quarter).
    pub months: f64,
    pub sal_to_sqo: MeasuredRate,
    pub win_rate: MeasuredRate,
    /// Average won ARR over `won_with_arr` deals, with its 95% interval
    /// (`None` with a single deal).
    pub avg_won_arr: f64,
    pub won_with_arr: u32,
    pub avg_won_arr_interval: Option<Interval>,
    /// Median days from acceptance to SQO and from SQO to won.
    pub median_days_sal_to_sqo: Option<f64>,
    pub median_days_sqo_to_won: Option<f64>,
    /// Their sum: how long before the win a SAL is accepted.
    pub lead_days: f64,
    pub deals: Range,
    pub sqos: Range,
    pub sals: Range,
    pub sals_per_month: Range,
    /// When the SALs must be accepted: the goal's period moved back by the
    /// lead time.
    pub accept_from: DateTime<Utc>,
    pub accept_to: DateTime<Utc>,
}

/// Why no plan can be made from the measured funnel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    #[error("the basis period has no SALs (accept events) to measure SAL to SQO from")]
    NoSals,
    #[error("none of the basis period's {0} SALs reached SQO: SAL to SQO is 0, so no SAL volume reaches the goal")]
    NoSqos(u32),
    #[error("no opportunity was won or lost in the basis period: no win rate")]
    NoClosedDeals,
    #[error("none of the basis period's {0} closed deals was won: the win rate is 0")]
    NoWins(u32),
    #[error("no won deal of the basis period records its ARR: no average won ARR")]
    NoAmounts,
    #[error("the ARR target must be positive, not {0}")]
    BadTarget(String),
}

fn measured(k: u32, n: u32) -> MeasuredRate {
    MeasuredRate {
        k,
        n,
        rate: f64::from(k) / f64::from(n),
        // n > 0 is checked by the caller.
        interval: wilson(k, n).unwrap_or(Interval {
            low: 0.0,
            high: 1.0,
        }),
    }
}

/// Works back from `target_arr` to win in `[from, to)` (of `months`
/// months) through the rates measured in `basis`.
pub fn plan(
    target_arr: f64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    months: f64,
    basis: &FunnelRates,
) -> Result<Plan, PlanError> {
    if !(target_arr.is_finite() && target_arr > 0.0) {
        return Err(PlanError::BadTarget(target_arr.to_string()));
    }
    if basis.sals == 0 {
        return Err(PlanError::NoSals);
    }
    if basis.sal_sqos == 0 {
        return Err(PlanError::NoSqos(basis.sals));
    }
    let closed = basis.won + basis.lost;
    if closed == 0 {
        return Err(PlanError::NoClosedDeals);
    }
    if basis.won == 0 {
        return Err(PlanError::NoWins(closed));
    }
    if basis.won_amounts.is_empty() {
        return Err(PlanError::NoAmounts);
    }
    let c = measured(basis.sal_sqos, basis.sals);
    let w = measured(basis.won, closed);
    let n_arr = basis.won_amounts.len();
    let a = basis.won_amounts.iter().sum::<f64>() / n_arr as f64;
    let a_interval = mean_interval(&basis.won_amounts);
    let (a_low, a_high) = a_interval.map_or((a, a), |i| (i.low, i.high));

    // Each quantity at the point estimate, with every input at its
    // favourable end (fewest needed) and at its unfavourable end (most).
    let chain = |a: f64, w: f64, c: f64| {
        let deals = target_arr / a;
        let sqos = deals / w;
        (deals, sqos, sqos / c)
    };
    let point = chain(a, w.rate, c.rate);
    let low = chain(a_high, w.interval.high, c.interval.high);
    let positive = a_low > 0.0 && w.interval.low > 0.0 && c.interval.low > 0.0;
    let high = positive.then(|| chain(a_low, w.interval.low, c.interval.low));
    let range = |pick: fn(&(f64, f64, f64)) -> f64| Range {
        point: pick(&point),
        low: pick(&low),
        high: high.as_ref().map(pick),
    };
    let sals = range(|t| t.2);

    let mut sal_days = basis.days_sal_to_sqo.clone();
    let mut win_days = basis.days_sqo_to_won.clone();
    let median_days_sal_to_sqo = median(&mut sal_days);
    let median_days_sqo_to_won = median(&mut win_days);
    let lead_days = median_days_sal_to_sqo.unwrap_or(0.0) + median_days_sqo_to_won.unwrap_or(0.0);
    let lead = Duration::seconds((lead_days * 86_400.0).round() as i64);
    Ok(Plan {
        target_arr,
        months,
        sal_to_sqo: c,
        win_rate: w,
        avg_won_arr: a,
        won_with_arr: n_arr as u32,
        avg_won_arr_interval: a_interval,
        median_days_sal_to_sqo,
        median_days_sqo_to_won,
        lead_days,
        deals: range(|t| t.0),
        sqos: range(|t| t.1),
        sals_per_month: Range {
            point: sals.point / months,
            low: sals.low / months,
            high: sals.high.map(|h| h / months),
        },
        sals,
        accept_from: from - lead,
        accept_to: to - lead,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn basis() -> FunnelRates {
        FunnelRates {
            sals: 100,
            sal_sqos: 40,
            won: 25,
            lost: 75,
            won_amounts: vec![40_000.0, 60_000.0, 50_000.0, 50_000.0],
            days_sal_to_sqo: vec![10.0, 20.0, 30.0],
            days_sqo_to_won: vec![50.0, 70.0],
        }
    }

    #[test]
    fn two_point_four_million_back_to_sals_per_month() {
        // A = 50,000 (mean of 40k, 60k, 50k, 50k); deals = 2,400,000 /
        // 50,000 = 48; w = 25/100 = 0.25: SQOs = 192; c = 40/100 = 0.4:
        // SALs = 480 in the quarter, 160 a month.
        let p = plan(
            2_400_000.0,
            at("2027-01-01T05:00:00Z"),
            at("2027-04-01T04:00:00Z"),
            3.0,
            &basis(),
        )
        .unwrap();
        assert!((p.deals.point - 48.0).abs() < 1e-9);
        assert!((p.sqos.point - 192.0).abs() < 1e-9);
        assert!((p.sals.point - 480.0).abs() < 1e-9);
        assert!((p.sals_per_month.point - 160.0).abs() < 1e-9);
        // Lead time: median 20 days to SQO + median 60 days to won = 80
        // days: accepted from 2027-01-01 05:00Z - 80 d = 2026-10-13 05:00Z.
        assert_eq!(p.lead_days, 80.0);
        assert_eq!(p.accept_from, at("2026-10-13T05:00:00Z"));
        // The envelope: Wilson(40, 100) = 0.30940 to 0.49800; Wilson(25,
        // 100) = 0.17545 to 0.34304; s of the amounts = 8,164.97, half
        // width 1.96 · 8,164.97 / 2 = 8,001.5: 41,998.5 to 58,001.5.
        // Low: 2.4M / (58,001.5 · 0.34304 · 0.49800) = 242.21 SALs;
        // high: 2.4M / (41,998.5 · 0.17545 · 0.30940) = 1,052.7.
        assert!((p.sals.low - 242.21).abs() < 0.05, "{:?}", p.sals);
        assert!(
            (p.sals.high.unwrap() - 1052.68).abs() < 0.05,
            "{:?}",
            p.sals
        );
    }

    #[test]
    fn a_funnel_without_wins_or_sqos_says_which_step_is_missing() {
        let t = at("2027-01-01T00:00:00Z");
        let mut b = basis();
        b.won = 0;
        assert_eq!(plan(1.0, t, t, 3.0, &b).unwrap_err(), PlanError::NoWins(75));
        let mut b = basis();
        b.sal_sqos = 0;
        assert_eq!(
            plan(1.0, t, t, 3.0, &b).unwrap_err(),
            PlanError::NoSqos(100)
        );
        assert!(matches!(
            plan(0.0, t, t, 3.0, &basis()),
            Err(PlanError::BadTarget(_))
        ));
    }
}
