//! The weekly revenue review: one week's SLA performance tied to pipeline
//! and ARR, with the evidence behind each figure.
//!
//! Every figure comes from [`crate::metrics`] on the same snapshot, so the
//! review of a week shows the numbers `handoff report` shows for it. The
//! review adds the *windows* around the week (the week before, the
//! trailing 4 and 13 weeks ending with it, and each of those 13 weeks for
//! trends), the misses with the people or channels behind them, SAL to SQO
//! by speed of first touch with Wilson intervals ([`crate::stats`]), the
//! follow-up backlog, the *recommendations* the policy's `[review]`
//! thresholds call for, and the attribution of won ARR and pipeline by
//! every model of [`crate::attribution`].

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::attribution::{self, Goal, Journey, Model, Outcome, TouchLog};
use crate::engine::Snapshot;
use crate::metrics::{
    self, Backlog, Bucket, CommitmentResult, Influence, Scorecard, SpeedBucket, Status, Velocity,
};
use crate::period::Period;
use crate::policy::{Measure, MetricName, PeriodKind, Policy, Side};
use crate::stats::{wilson, Interval};

/// How many weeks the long window and the trends span.
pub const TREND_WEEKS: usize = 13;
/// How many weeks the short window spans.
pub const SHORT_WEEKS: usize = 4;
/// Rejection reasons, people and channels shown per miss.
const TOP: usize = 5;

/// The review of one week.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    pub week: Period,
    pub as_of: DateTime<Utc>,
    /// The scorecards the review is read from: the week (the same as
    /// `handoff report --week`), the week before, and the trailing 4 and 13
    /// weeks ending with the week.
    pub scorecards: Scorecards,
    /// Each of the 13 weeks ending with this one, oldest first.
    pub weeks: Vec<WeekPoint>,
    pub commitments: Vec<CommitmentRow>,
    pub misses: Vec<Miss>,
    pub acceptance: Acceptance,
    /// SAL to SQO by time to first touch, for the week and the 13 weeks.
    pub speed: Windows<Vec<SpeedBucket>>,
    /// Hand-offs waiting for a first touch at the end of the week (or at
    /// `as_of`, when that comes first).
    pub backlog: Backlog,
    /// Every rule of `[review]`, triggered or not.
    pub recommendations: Vec<Recommendation>,
    pub arr: Arr,
}

/// The four scorecards behind a review.
#[derive(Debug, Clone, Serialize)]
pub struct Scorecards {
    pub week: Scorecard,
    pub previous_week: Scorecard,
    pub trailing_4_weeks: Scorecard,
    pub trailing_13_weeks: Scorecard,
}

/// A figure for the week and for the 13 weeks ending with it.
#[derive(Debug, Clone, Serialize)]
pub struct Windows<T> {
    pub week: T,
    pub trailing_13_weeks: T,
}

/// One week of the trend.
#[derive(Debug, Clone, Serialize)]
pub struct WeekPoint {
    pub label: String,
    pub from: DateTime<Utc>,
    /// Each commitment's actual, in the policy's order.
    pub actuals: Vec<Option<f64>>,
    pub sal: u32,
    pub sal_to_sqo: Option<f64>,
}

/// One commitment across the windows.
#[derive(Debug, Clone, Serialize)]
pub struct CommitmentRow {
    pub id: String,
    pub owner: Side,
    pub description: String,
    pub is_rate: bool,
    pub week: CommitmentResult,
    pub previous_week: CommitmentResult,
    pub trailing_4_weeks: CommitmentResult,
    pub trailing_13_weeks: CommitmentResult,
    /// This week's actual minus last week's (a share's change is in
    /// fractions: 0.05 is 5 points); `None` when either is missing.
    pub change: Option<f64>,
}

/// A commitment missed this week, and who is behind the miss.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub id: String,
    /// The side that owns the commitment.
    pub owner: Side,
    pub description: String,
    pub target: String,
    pub actual: Option<f64>,
    pub is_rate: bool,
    pub n: u32,
    /// `rep` for Sales' commitments (the rep each hand-off went to),
    /// `channel` for Marketing's; `None` for a count, which has no items
    /// to blame.
    pub by: Option<String>,
    /// The reps or channels with missed items, most first.
    pub who: Vec<Responsible>,
}

/// A rep or channel behind a missed rate.
#[derive(Debug, Clone, Serialize)]
pub struct Responsible {
    pub key: String,
    /// The rep's name, when known.
    pub name: Option<String>,
    /// Items missed: clocks missed, hand-offs rejected, ...
    pub missed: u32,
    pub n: u32,
    pub actual: Option<f64>,
}

/// Acceptance and Sales' feedback on lead quality.
#[derive(Debug, Clone, Serialize)]
pub struct Acceptance {
    /// Hand-offs of the week accepted, rejected and undecided.
    pub accepted: u32,
    pub rejected: u32,
    pub pending: u32,
    pub rate: Option<f64>,
    pub interval: Option<Interval>,
    /// The week's rejections by reason (reject instant in the week), most
    /// first, at most five.
    pub top_reasons: Vec<Bucket>,
    /// The same over the 13 weeks.
    pub trailing_13_weeks_rate: Option<f64>,
    pub trailing_13_weeks_reasons: Vec<Bucket>,
}

/// A recommendation rule of `[review]` and whether the week triggers it.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    /// `hold_campaign_spend` or `lead_quality_audit`.
    pub id: String,
    pub triggered: bool,
    /// What to do.
    pub action: String,
    /// The numbers that triggered it (or that did not).
    pub reason: String,
    pub value: Option<f64>,
    pub threshold: f64,
}

/// The ties to ARR.
#[derive(Debug, Clone, Serialize)]
pub struct Arr {
    pub sal_to_sqo: Windows<Conversion>,
    pub velocity: Windows<Velocity>,
    pub influenced: Windows<Influence>,
    /// Won ARR and pipeline by channel and campaign, each by every model,
    /// for the week and the 13 weeks.
    pub attribution: Vec<AttributionTable>,
}

/// A conversion with its sample and 95% Wilson interval.
#[derive(Debug, Clone, Serialize)]
pub struct Conversion {
    pub k: u32,
    pub n: u32,
    pub rate: Option<f64>,
    pub interval: Option<Interval>,
    /// Of `n`, still open without an SQO (counted as not converted).
    pub pending: u32,
}

/// One attribution table: a goal in a window, credited to the keys of a
/// dimension by each model.
#[derive(Debug, Clone, Serialize)]
pub struct AttributionTable {
    /// `week` or `trailing_13_weeks`.
    pub window: String,
    pub period: Period,
    pub goal: Goal,
    pub dimension: attribution::Dimension,
    /// The models, in the order of each row's `credit`.
    pub models: Vec<Model>,
    /// Conversions of the goal in the window (won deals, or opportunities
    /// opened) and their value.
    pub conversions: u32,
    pub value: f64,
    /// Of them, those with no marketing touch in the look-back: credited
    /// to nobody.
    pub unattributed_conversions: u32,
    pub unattributed_value: f64,
    /// Accounts touched in the window that did not convert (the Markov
    /// model's null paths).
    pub non_converting_journeys: u32,
    /// One row per key, most credited by the linear model first (by value
    /// for won ARR, by conversions for pipeline).
    pub rows: Vec<AttributionRow>,
}

/// One key's credit under each model.
#[derive(Debug, Clone, Serialize)]
pub struct AttributionRow {
    pub key: String,
    pub credit: Vec<ModelCredit>,
}

/// Conversions and value credited by one model.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ModelCredit {
    pub conversions: f64,
    pub value: f64,
}

/// The period of `weeks` whole weeks ending with `week`.
pub fn trailing(week: &Period, weeks: usize, tz: chrono_tz::Tz) -> Period {
    let mut first = week.clone();
    for _ in 1..weeks {
        first = first.previous(PeriodKind::Week, tz);
    }
    let from = first.from.with_timezone(&tz).date_naive();
    let to = week.to.with_timezone(&tz).date_naive();
    Period::from_dates(format!("{from}..{to}"), from, to, tz)
}

/// Builds the review of `week` from a snapshot judged at `as_of` and the
/// marketing touches of the same events.
pub fn build(
    policy: &Policy,
    snapshot: &Snapshot,
    touches: &TouchLog,
    week: &Period,
    as_of: DateTime<Utc>,
) -> Review {
    let tz = policy.org_calendar().tz();
    let card = |p: &Period| metrics::scorecard(policy, snapshot, p, as_of);
    let previous = week.previous(PeriodKind::Week, tz);
    let long = trailing(week, TREND_WEEKS, tz);
    let scorecards = Scorecards {
        week: card(week),
        previous_week: card(&previous),
        trailing_4_weeks: card(&trailing(week, SHORT_WEEKS, tz)),
        trailing_13_weeks: card(&long),
    };
    let weeks = week_points(policy, snapshot, week, as_of);
    let commitments = commitment_rows(&scorecards);
    let misses = misses(policy, snapshot, &scorecards.week, week, as_of);
    let acceptance = acceptance(&scorecards);
    let speed = Windows {
        week: metrics::sal_to_sqo_by_first_touch(snapshot, week),
        trailing_13_weeks: metrics::sal_to_sqo_by_first_touch(snapshot, &long),
    };
    // At the end of the week, or at as_of when that comes first.
    let backlog = metrics::follow_up_backlog(snapshot, as_of.min(week.to));
    let recommendations = recommendations(policy, &backlog, &acceptance);
    let arr = arr(policy, snapshot, touches, &scorecards, week, &long);
    Review {
        week: week.clone(),
        as_of,
        scorecards,
        weeks,
        commitments,
        misses,
        acceptance,
        speed,
        backlog,
        recommendations,
        arr,
    }
}

fn week_points(
    policy: &Policy,
    snapshot: &Snapshot,
    week: &Period,
    as_of: DateTime<Utc>,
) -> Vec<WeekPoint> {
    let tz = policy.org_calendar().tz();
    let mut periods = vec![week.clone()];
    while periods.len() < TREND_WEEKS {
        let earlier = periods[periods.len() - 1].previous(PeriodKind::Week, tz);
        periods.push(earlier);
    }
    periods.reverse();
    periods
        .iter()
        .map(|p| {
            let c = metrics::scorecard(policy, snapshot, p, as_of);
            WeekPoint {
                label: p.label.clone(),
                from: p.from,
                actuals: c.commitments.iter().map(|r| r.actual).collect(),
                sal: c.funnel.sal,
                sal_to_sqo: c.funnel.conversions.sal_to_sqo,
            }
        })
        .collect()
}

fn commitment_rows(s: &Scorecards) -> Vec<CommitmentRow> {
    s.week
        .commitments
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let prev = &s.previous_week.commitments[i];
            CommitmentRow {
                id: w.id.clone(),
                owner: w.owner,
                description: w.description.clone(),
                is_rate: w.is_rate,
                week: w.clone(),
                previous_week: prev.clone(),
                trailing_4_weeks: s.trailing_4_weeks.commitments[i].clone(),
                trailing_13_weeks: s.trailing_13_weeks.commitments[i].clone(),
                change: w.actual.zip(prev.actual).map(|(a, b)| a - b),
            }
        })
        .collect()
}

fn misses(
    policy: &Policy,
    snapshot: &Snapshot,
    card: &Scorecard,
    week: &Period,
    as_of: DateTime<Utc>,
) -> Vec<Miss> {
    let missed: Vec<&CommitmentResult> = card
        .commitments
        .iter()
        .filter(|c| c.status == Status::Missed)
        .collect();
    if missed.is_empty() {
        return Vec::new();
    }
    let by_rep = metrics::breakdown(policy, snapshot, week, as_of, metrics::Dimension::Rep);
    let by_channel = metrics::breakdown(policy, snapshot, week, as_of, metrics::Dimension::Channel);
    missed
        .into_iter()
        .map(|c| {
            let (by, rows) = match (c.is_rate, c.owner) {
                (false, _) => (None, None),
                (true, Side::Sales) => (Some("rep"), Some(&by_rep)),
                (true, Side::Marketing) => (Some("channel"), Some(&by_channel)),
            };
            let mut who: Vec<Responsible> = rows
                .into_iter()
                .flatten()
                .filter_map(|(key, card)| {
                    let r = card.commitments.iter().find(|r| r.id == c.id)?;
                    let missed = missed_items(policy, r)?;
                    (missed > 0).then(|| Responsible {
                        key: key.clone(),
                        name: snapshot.reps.get(key).and_then(|r| r.name.clone()),
                        missed,
                        n: r.n,
                        actual: r.actual,
                    })
                })
                .collect();
            who.sort_by(|a, b| b.missed.cmp(&a.missed).then(a.key.cmp(&b.key)));
            who.truncate(TOP);
            Miss {
                id: c.id.clone(),
                owner: c.owner,
                description: c.description.clone(),
                target: c.target.clone(),
                actual: c.actual,
                is_rate: c.is_rate,
                n: c.n,
                by: by.map(String::from),
                who,
            }
        })
        .collect()
}

/// The items a rate commitment's row missed: `n` less those that met it.
/// For a share that must stay low (`<`, `<=`), the items counted are the
/// ones that happened, which are the misses.
fn missed_items(policy: &Policy, r: &CommitmentResult) -> Option<u32> {
    let actual = r.actual?;
    let met = (actual * f64::from(r.n)).round() as u32;
    let lower_is_better = policy.commitment(&r.id).is_some_and(|c| {
        matches!(
            c.target.comparison,
            crate::policy::Comparison::Below | crate::policy::Comparison::AtMost
        )
    });
    Some(if lower_is_better {
        met
    } else {
        r.n - met.min(r.n)
    })
}

fn acceptance(s: &Scorecards) -> Acceptance {
    let f = &s.week.funnel;
    let decided = f.handoffs - f.pending;
    let rate = f.conversions.acceptance;
    let accepted = rate.map_or(0, |r| (r * f64::from(decided)).round() as u32);
    let top = |reasons: &[Bucket]| reasons.iter().take(TOP).cloned().collect();
    Acceptance {
        accepted,
        rejected: decided - accepted,
        pending: f.pending,
        rate,
        interval: wilson(accepted, decided),
        top_reasons: top(&s.week.rejection_reasons),
        trailing_13_weeks_rate: s.trailing_13_weeks.funnel.conversions.acceptance,
        trailing_13_weeks_reasons: top(&s.trailing_13_weeks.rejection_reasons),
    }
}

fn recommendations(policy: &Policy, backlog: &Backlog, acc: &Acceptance) -> Vec<Recommendation> {
    let settings = &policy.review;
    let limit = settings.hold_spend_backlog;
    let hold = Recommendation {
        id: "hold_campaign_spend".into(),
        triggered: backlog.waiting > limit,
        action: "Hold campaign spend until Sales catches up on follow-up".into(),
        reason: format!(
            "{} hand-offs wait for a first touch ({} of them for over 24 hours); \
             the threshold is {limit}",
            backlog.waiting, backlog.waiting_over_24h
        ),
        value: Some(f64::from(backlog.waiting)),
        threshold: f64::from(limit),
    };
    let below = settings.audit_acceptance_below;
    let pct = |v: f64| format!("{:.1}%", v * 100.0);
    let audit_reason = match (acc.rate, acc.interval) {
        (Some(r), Some(i)) => {
            let reasons: Vec<String> = acc
                .top_reasons
                .iter()
                .map(|b| format!("{} ({})", b.label, b.count))
                .collect();
            let mut text = format!(
                "acceptance {} of {} decided hand-offs (95% interval {} to {}); the threshold \
                 is {}",
                pct(r),
                acc.accepted + acc.rejected,
                pct(i.low),
                pct(i.high),
                pct(below)
            );
            if !reasons.is_empty() {
                text.push_str(&format!("; top rejection reasons: {}", reasons.join(", ")));
            }
            text
        }
        _ => "no hand-off of the week was accepted or rejected yet".to_string(),
    };
    let audit = Recommendation {
        id: "lead_quality_audit".into(),
        triggered: acc.rate.is_some_and(|r| r < below - 1e-9),
        action: "Audit lead quality: Sales gives specific feedback on the rejected leads".into(),
        reason: audit_reason,
        value: acc.rate,
        threshold: below,
    };
    vec![hold, audit]
}

fn conversion(card: &Scorecard) -> Conversion {
    let f = &card.funnel;
    let k = f
        .conversions
        .sal_to_sqo
        .map_or(0, |r| (r * f64::from(f.sal)).round() as u32);
    Conversion {
        k,
        n: f.sal,
        rate: f.conversions.sal_to_sqo,
        interval: wilson(k, f.sal),
        pending: f.conversions.sal_to_sqo_pending,
    }
}

fn arr(
    policy: &Policy,
    snapshot: &Snapshot,
    touches: &TouchLog,
    s: &Scorecards,
    week: &Period,
    long: &Period,
) -> Arr {
    let mut tables = Vec::new();
    for (window, period) in [("week", week), ("trailing_13_weeks", long)] {
        for goal in [Goal::WonArr, Goal::Pipeline] {
            let journeys = touches.journeys(
                snapshot,
                goal,
                period.from,
                period.to,
                policy.influence_lookback,
            );
            for dim in [
                attribution::Dimension::Channel,
                attribution::Dimension::Campaign,
            ] {
                tables.push(table(policy, window, period, goal, dim, &journeys));
            }
        }
    }
    Arr {
        sal_to_sqo: Windows {
            week: conversion(&s.week),
            trailing_13_weeks: conversion(&s.trailing_13_weeks),
        },
        velocity: Windows {
            week: s.week.velocity.clone(),
            trailing_13_weeks: s.trailing_13_weeks.velocity.clone(),
        },
        influenced: Windows {
            week: s.week.influenced_arr.clone(),
            trailing_13_weeks: s.trailing_13_weeks.influenced_arr.clone(),
        },
        attribution: tables,
    }
}

fn table(
    policy: &Policy,
    window: &str,
    period: &Period,
    goal: Goal,
    dim: attribution::Dimension,
    journeys: &[Journey],
) -> AttributionTable {
    let (mut conversions, mut value) = (0, 0.0);
    let (mut unattributed_conversions, mut unattributed_value) = (0, 0.0);
    let mut non_converting = 0;
    for j in journeys {
        match j.outcome {
            Outcome::Converted { value: v, .. } => {
                conversions += 1;
                value += v;
                if j.touches.is_empty() {
                    unattributed_conversions += 1;
                    unattributed_value += v;
                }
            }
            Outcome::Lost => non_converting += 1,
        }
    }
    let per_model: Vec<Vec<attribution::Credit>> = Model::ALL
        .iter()
        .map(|m| attribution::attribute(*m, journeys, dim, &policy.attribution))
        .collect();
    let mut keys: Vec<String> = per_model.iter().flatten().map(|c| c.key.clone()).collect();
    keys.sort();
    keys.dedup();
    let mut rows: Vec<AttributionRow> = keys
        .into_iter()
        .map(|key| {
            let credit = per_model
                .iter()
                .map(|credits| {
                    credits.iter().find(|c| c.key == key).map_or(
                        ModelCredit {
                            conversions: 0.0,
                            value: 0.0,
                        },
                        |c| ModelCredit {
                            conversions: c.conversions,
                            value: c.value,
                        },
                    )
                })
                .collect();
            AttributionRow { key, credit }
        })
        .collect();
    let linear = Model::ALL
        .iter()
        .position(|m| *m == Model::Linear)
        .unwrap_or(0);
    // Won ARR by the money credited, pipeline by the opportunities.
    let weight = |r: &AttributionRow| match goal {
        Goal::WonArr => r.credit[linear].value,
        Goal::Pipeline => r.credit[linear].conversions,
    };
    rows.sort_by(|a, b| weight(b).total_cmp(&weight(a)).then(a.key.cmp(&b.key)));
    AttributionTable {
        window: window.into(),
        period: period.clone(),
        goal,
        dimension: dim,
        models: Model::ALL.to_vec(),
        conversions,
        value,
        unattributed_conversions,
        unattributed_value,
        non_converting_journeys: non_converting,
        rows,
    }
}

/// The policy's SAL volume commitment: the first commitment on
/// `sal_count`, the one `handoff plan` sets.
pub fn sal_volume_commitment(policy: &Policy) -> Option<&crate::policy::Commitment> {
    policy
        .commitments
        .iter()
        .find(|c| matches!(c.measure, Measure::Metric(MetricName::SalCount)))
}
