//! The review as people read it: every figure formatted once, here, for
//! the HTML and Markdown templates and the text table alike.
//!
//! Shares are percentages with one decimal, changes in points, money in
//! whole units of the policy's currency, days with one decimal, and every
//! interval is the 95% Wilson score interval (docs/review.md).

use chrono::Duration;
use chrono_tz::Tz;
use handoff_core::attribution::{Dimension, Goal, Model};
use handoff_core::metrics::{CommitmentResult, SpeedBucket, Status, Velocity};
use handoff_core::review::{AttributionTable, Conversion, Review};
use handoff_core::stats::Interval;
use handoff_core::Policy;
use serde::Serialize;

use super::chart::{self, Bar, Chart};
use crate::report::{local, money, num, pct};

/// Rows of an attribution table shown; the JSON keeps them all.
const ROWS_SHOWN: usize = 10;

/// Everything the templates show.
#[derive(Debug, Serialize)]
pub struct View {
    pub org: String,
    pub week: String,
    /// `Mon 23 Nov to Sun 29 Nov 2026`.
    pub dates: String,
    pub zone: String,
    pub as_of: String,
    pub currency: String,
    pub met: usize,
    pub missed: usize,
    pub judged: usize,
    pub recommendations: Vec<RecommendationView>,
    pub commitments: Vec<CommitmentView>,
    pub misses: Vec<MissView>,
    pub acceptance: AcceptanceView,
    pub speed_week: Vec<SpeedView>,
    pub speed_long: Vec<SpeedView>,
    pub backlog: String,
    pub sal_volume: Option<SalVolumeView>,
    pub arr: ArrView,
    pub attribution: Vec<TableView>,
    /// The charts, by name.
    pub charts: Charts,
    /// The 13 weeks' span, e.g. `2026-09-07..2026-12-07`.
    pub long: String,
}

#[derive(Debug, Serialize)]
pub struct RecommendationView {
    pub triggered: bool,
    pub action: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct CommitmentView {
    pub id: String,
    pub owner: String,
    pub description: String,
    pub target: String,
    pub week: String,
    pub n: String,
    pub status: String,
    /// `met`, `missed`, `none` (no data or in progress): a CSS class.
    pub class: String,
    pub previous: String,
    pub change: String,
    pub trailing_4: String,
    pub trailing_13: String,
    pub note: Option<String>,
    pub trend: Chart,
}

#[derive(Debug, Serialize)]
pub struct MissView {
    pub id: String,
    pub owner: String,
    pub description: String,
    pub actual: String,
    pub target: String,
    /// `rep` or `channel`, or none.
    pub by: Option<String>,
    pub who: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct AcceptanceView {
    pub rate: String,
    pub interval: String,
    pub accepted: u32,
    pub rejected: u32,
    pub pending: u32,
    pub long_rate: String,
    pub reasons: Vec<(String, u32)>,
    pub long_reasons: Vec<(String, u32)>,
}

#[derive(Debug, Serialize)]
pub struct SpeedView {
    pub label: String,
    pub sals: u32,
    pub sqos: u32,
    pub rate: String,
    pub interval: String,
}

#[derive(Debug, Serialize)]
pub struct SalVolumeView {
    pub id: String,
    pub target: String,
    pub actual: String,
    pub status: String,
    pub long_actual: String,
    pub long_target: String,
}

#[derive(Debug, Serialize)]
pub struct ArrView {
    pub sal_to_sqo_week: String,
    pub sal_to_sqo_long: String,
    /// (figure, this week, 13 weeks).
    pub velocity: Vec<(String, String, String)>,
    pub formula_week: String,
    pub formula_long: String,
    pub influenced_week: String,
    pub influenced_long: String,
}

#[derive(Debug, Serialize)]
pub struct TableView {
    pub title: String,
    /// What a row is: `channel` or `campaign`.
    pub key: String,
    /// Totals and what is left unattributed.
    pub note: String,
    pub models: Vec<String>,
    pub rows: Vec<(String, Vec<String>)>,
    /// Rows not shown.
    pub more: usize,
    pub chart: Option<Chart>,
}

#[derive(Debug, Serialize)]
pub struct Charts {
    pub speed: Chart,
    pub sal_volume: Option<Chart>,
    pub reasons: Option<Chart>,
}

fn interval(i: Option<Interval>) -> String {
    i.map(|i| format!("{} to {}", pct(Some(i.low)), pct(Some(i.high))))
        .unwrap_or_else(|| "-".into())
}

fn actual(c: &CommitmentResult) -> String {
    if c.is_rate {
        pct(c.actual)
    } else {
        num(c.actual, 0)
    }
}

fn status(s: Status) -> (&'static str, &'static str) {
    match s {
        Status::Met => ("met", "met"),
        Status::Missed => ("missed", "missed"),
        Status::NoData => ("no data", "none"),
        Status::InProgress => ("in progress", "none"),
    }
}

fn change(row: &handoff_core::review::CommitmentRow) -> String {
    match row.change {
        None => "-".into(),
        Some(d) if row.is_rate => format!("{:+.1} pts", d * 100.0),
        Some(d) => format!("{d:+.0}"),
    }
}

fn conversion(c: &Conversion) -> String {
    match c.rate {
        None => "- (no SALs)".into(),
        Some(r) => format!(
            "{} ({} of {} SALs; 95% interval {}; {} still open)",
            pct(Some(r)),
            c.k,
            c.n,
            interval(c.interval),
            c.pending
        ),
    }
}

fn speed_rows(buckets: &[SpeedBucket]) -> Vec<SpeedView> {
    buckets
        .iter()
        .map(|b| SpeedView {
            label: b.label.clone(),
            sals: b.sals,
            sqos: b.sqos,
            rate: pct(b.rate),
            interval: interval(b.interval),
        })
        .collect()
}

fn formula(v: &Velocity, currency: &str) -> String {
    match (
        v.win_rate,
        v.avg_won_arr,
        v.avg_days_to_close,
        v.arr_per_day,
    ) {
        (Some(w), Some(a), Some(d), Some(out)) => format!(
            "{} open SQOs x {} win rate x {currency} {} average won ARR / {} average days to \
             close = {currency} {} a day",
            v.open_sqos,
            pct(Some(w)),
            money(a),
            num(Some(d), 1),
            money(out)
        ),
        _ => {
            let mut missing = Vec::new();
            if v.win_rate.is_none() {
                missing.push("win rate (no deal closed, or no lost deal anywhere in the data)");
            }
            if v.avg_won_arr.is_none() {
                missing.push("average won ARR (no won deal with ARR)");
            }
            if v.avg_days_to_close.is_none() {
                missing.push("days to close (no won deal with an SQO date)");
            }
            format!(
                "{} open SQOs; not computed: no {}",
                v.open_sqos,
                missing.join(", no ")
            )
        }
    }
}

fn influenced(i: &handoff_core::metrics::Influence, currency: &str) -> String {
    match (&i.note, i.share) {
        (Some(note), None) => note.clone(),
        _ => format!(
            "{} of won ARR ({currency} {} of {currency} {}; {} of {} deals)",
            pct(i.share),
            money(i.influenced_arr),
            money(i.won_arr),
            i.influenced_deals,
            i.won_deals
        ),
    }
}

/// Builds the view of `review` under `policy`.
pub fn build(policy: &Policy, review: &Review) -> View {
    let tz = policy.org_calendar().tz();
    let cur = policy.currency.as_str();
    let judged: Vec<_> = review
        .scorecards
        .week
        .commitments
        .iter()
        .filter(|c| matches!(c.status, Status::Met | Status::Missed))
        .collect();
    let met = judged.iter().filter(|c| c.status == Status::Met).count();
    let long = &review.scorecards.trailing_13_weeks.period;
    View {
        org: policy.name.clone(),
        week: review.week.label.clone(),
        dates: dates(review, tz),
        zone: review.week.time_zone.clone(),
        as_of: local(review.as_of, tz),
        currency: cur.to_string(),
        met,
        missed: judged.len() - met,
        judged: judged.len(),
        recommendations: review
            .recommendations
            .iter()
            .map(|r| RecommendationView {
                triggered: r.triggered,
                action: r.action.clone(),
                reason: r.reason.clone(),
            })
            .collect(),
        commitments: commitments(review),
        misses: misses(review),
        acceptance: acceptance(review),
        speed_week: speed_rows(&review.speed.week),
        speed_long: speed_rows(&review.speed.trailing_13_weeks),
        backlog: backlog(review),
        sal_volume: sal_volume(policy, review),
        arr: arr(review, cur),
        attribution: review
            .arr
            .attribution
            .iter()
            .filter(|t| t.window == "trailing_13_weeks" || t.dimension == Dimension::Channel)
            .map(|t| table(t, cur))
            .collect(),
        charts: charts(policy, review),
        long: long.label.clone(),
    }
}

fn dates(review: &Review, tz: Tz) -> String {
    let from = review.week.from.with_timezone(&tz);
    let last = (review.week.to - Duration::seconds(1)).with_timezone(&tz);
    format!(
        "{} to {}",
        from.format("%a %-d %b"),
        last.format("%a %-d %b %Y")
    )
}

fn commitments(review: &Review) -> Vec<CommitmentView> {
    review
        .commitments
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let (text, class) = status(row.week.status);
            let trend: Vec<Option<f64>> = review.weeks.iter().map(|w| w.actuals[i]).collect();
            let target = row.week.target.split_whitespace().last().and_then(|t| {
                let v: f64 = t.trim_end_matches('%').parse().ok()?;
                Some(if t.ends_with('%') { v / 100.0 } else { v })
            });
            CommitmentView {
                id: row.id.clone(),
                owner: row.owner.as_str().into(),
                description: row.description.clone(),
                target: row.week.target.clone(),
                week: actual(&row.week),
                n: format!("{} ({} pending)", row.week.n, row.week.pending),
                status: text.into(),
                class: class.into(),
                previous: actual(&row.previous_week),
                change: change(row),
                trailing_4: actual(&row.trailing_4_weeks),
                trailing_13: actual(&row.trailing_13_weeks),
                note: row.week.note.clone(),
                trend: chart::sparkline(
                    &format!("{}: each of the 13 weeks, target dashed", row.id),
                    &trend,
                    target,
                ),
            }
        })
        .collect()
}

fn misses(review: &Review) -> Vec<MissView> {
    review
        .misses
        .iter()
        .map(|m| MissView {
            id: m.id.clone(),
            owner: m.owner.as_str().into(),
            description: m.description.clone(),
            actual: if m.is_rate {
                pct(m.actual)
            } else {
                num(m.actual, 0)
            },
            target: m.target.clone(),
            by: m.by.clone(),
            who: m
                .who
                .iter()
                .map(|r| {
                    let name = match &r.name {
                        Some(n) if *n != r.key => format!("{n} ({})", r.key),
                        _ => r.key.clone(),
                    };
                    format!("{name}: {} missed of {} ({})", r.missed, r.n, pct(r.actual))
                })
                .collect(),
        })
        .collect()
}

fn acceptance(review: &Review) -> AcceptanceView {
    let a = &review.acceptance;
    let pairs = |b: &[handoff_core::metrics::Bucket]| {
        b.iter().map(|b| (b.label.clone(), b.count)).collect()
    };
    AcceptanceView {
        rate: pct(a.rate),
        interval: interval(a.interval),
        accepted: a.accepted,
        rejected: a.rejected,
        pending: a.pending,
        long_rate: pct(a.trailing_13_weeks_rate),
        reasons: pairs(&a.top_reasons),
        long_reasons: pairs(&a.trailing_13_weeks_reasons),
    }
}

fn backlog(review: &Review) -> String {
    let b = &review.backlog;
    let reps: Vec<String> = b
        .by_rep
        .iter()
        .take(5)
        .map(|r| format!("{} {}", r.label, r.count))
        .collect();
    let mut text = format!(
        "{} hand-offs wait for a first touch, {} of them for over 24 hours",
        b.waiting, b.waiting_over_24h
    );
    if !reps.is_empty() {
        text.push_str(&format!(" (most with: {})", reps.join(", ")));
    }
    text
}

fn sal_volume(policy: &Policy, review: &Review) -> Option<SalVolumeView> {
    let c = handoff_core::review::sal_volume_commitment(policy)?;
    let row = review.commitments.iter().find(|r| r.id == c.id)?;
    Some(SalVolumeView {
        id: c.id.clone(),
        target: format!("{} per {}", c.target, period_name(c.period)),
        actual: actual(&row.week),
        status: status(row.week.status).0.into(),
        long_actual: actual(&row.trailing_13_weeks),
        long_target: row.trailing_13_weeks.target.clone(),
    })
}

fn period_name(p: handoff_core::policy::PeriodKind) -> &'static str {
    match p {
        handoff_core::policy::PeriodKind::Week => "week",
        handoff_core::policy::PeriodKind::Month => "month",
        handoff_core::policy::PeriodKind::Quarter => "quarter",
    }
}

fn arr(review: &Review, cur: &str) -> ArrView {
    let (w, l) = (
        &review.arr.velocity.week,
        &review.arr.velocity.trailing_13_weeks,
    );
    let row = |name: &str, f: &dyn Fn(&Velocity) -> String| (name.to_string(), f(w), f(l));
    ArrView {
        sal_to_sqo_week: conversion(&review.arr.sal_to_sqo.week),
        sal_to_sqo_long: conversion(&review.arr.sal_to_sqo.trailing_13_weeks),
        velocity: vec![
            row("deals won", &|v| v.won.to_string()),
            row("median days SAL to won", &|v| {
                num(v.median_days_sal_to_won, 1)
            }),
            row("median days SQO to won", &|v| {
                num(v.median_days_sqo_to_won, 1)
            }),
            row("open SQOs", &|v| v.open_sqos.to_string()),
            row("win rate", &|v| pct(v.win_rate)),
            row(&format!("average won ARR ({cur})"), &|v| {
                v.avg_won_arr.map(money).unwrap_or("-".into())
            }),
            row("average days to close", &|v| num(v.avg_days_to_close, 1)),
            row(&format!("pipeline velocity ({cur} a day)"), &|v| {
                v.arr_per_day.map(money).unwrap_or("-".into())
            }),
        ],
        formula_week: formula(w, cur),
        formula_long: formula(l, cur),
        influenced_week: influenced(&review.arr.influenced.week, cur),
        influenced_long: influenced(&review.arr.influenced.trailing_13_weeks, cur),
    }
}

fn table(t: &AttributionTable, cur: &str) -> TableView {
    let goal = match t.goal {
        Goal::WonArr => "Won ARR",
        Goal::Pipeline => "Pipeline (opportunities opened)",
    };
    let dim = match t.dimension {
        Dimension::Channel => "channel",
        Dimension::Campaign => "campaign",
    };
    let window = if t.window == "week" {
        "this week".to_string()
    } else {
        format!("the 13 weeks {}", t.period.label)
    };
    // Won ARR is shared as money; pipeline as opportunities, since an open
    // opportunity often has no amount yet.
    let by_value = t.goal == Goal::WonArr;
    let cell = |c: &handoff_core::review::ModelCredit| {
        if by_value {
            money(c.value)
        } else {
            format!("{:.1}", c.conversions)
        }
    };
    let note = if by_value {
        format!(
            "{} deals won, {cur} {}; {} of them ({cur} {}) had no marketing touch in the \
             look-back and are credited to nobody; {} touched accounts did not convert.",
            t.conversions,
            money(t.value),
            t.unattributed_conversions,
            money(t.unattributed_value),
            t.non_converting_journeys
        )
    } else {
        format!(
            "{} opportunities opened; {} had no marketing touch in the look-back and are \
             credited to nobody; {} touched accounts did not convert.",
            t.conversions, t.unattributed_conversions, t.non_converting_journeys
        )
    };
    let rows: Vec<(String, Vec<String>)> = t
        .rows
        .iter()
        .take(ROWS_SHOWN)
        .map(|r| (r.key.clone(), r.credit.iter().map(cell).collect()))
        .collect();
    let chart = (t.window == "trailing_13_weeks" && t.dimension == Dimension::Channel)
        .then(|| {
            let names: Vec<&str> = t.models.iter().map(|m| model_name(*m)).collect();
            let groups: Vec<(String, Vec<f64>)> = t
                .rows
                .iter()
                .take(ROWS_SHOWN)
                .map(|r| {
                    let v = r
                        .credit
                        .iter()
                        .map(|c| if by_value { c.value } else { c.conversions })
                        .collect();
                    (r.key.clone(), v)
                })
                .collect();
            chart::grouped_hbars(&format!("{goal} by {dim}, each model"), &names, &groups)
        })
        .filter(|_| !t.rows.is_empty());
    TableView {
        title: format!("{goal} by {dim}, {window}"),
        key: dim.into(),
        note,
        models: t
            .models
            .iter()
            .map(|m| model_name(*m).to_string())
            .collect(),
        more: t.rows.len().saturating_sub(ROWS_SHOWN),
        rows,
        chart,
    }
}

/// A model's name for people.
pub fn model_name(m: Model) -> &'static str {
    match m {
        Model::FirstTouch => "first touch",
        Model::LastTouch => "last touch",
        Model::Linear => "linear",
        Model::UShaped => "U-shaped",
        Model::WShaped => "W-shaped",
        Model::TimeDecay => "time decay",
        Model::Markov => "Markov",
    }
}

fn charts(policy: &Policy, review: &Review) -> Charts {
    let speed_bars: Vec<Bar> = review
        .speed
        .trailing_13_weeks
        .iter()
        .map(|b| Bar {
            label: b.label.clone(),
            value: b.rate,
            whisker: b.interval.map(|i| (i.low, i.high)),
            note: format!("n={}", b.sals),
        })
        .collect();
    let speed = chart::bars(
        "SAL to SQO by time to first touch, 13 weeks, with 95% Wilson intervals",
        &speed_bars,
        1.0,
        None,
        |v| format!("{:.0}%", v * 100.0),
    );
    let sal_volume = handoff_core::review::sal_volume_commitment(policy).and_then(|c| {
        let i = review.commitments.iter().position(|r| r.id == c.id)?;
        let row = &review.commitments[i];
        let weekly_target: Option<f64> = row
            .week
            .target
            .split_whitespace()
            .last()
            .and_then(|t| t.parse().ok());
        let bars: Vec<Bar> = review
            .weeks
            .iter()
            .map(|w| Bar {
                label: w.label.rsplit('-').next().unwrap_or(&w.label).to_string(),
                value: Some(f64::from(w.sal)),
                whisker: None,
                note: w.sal.to_string(),
            })
            .collect();
        let max = bars
            .iter()
            .filter_map(|b| b.value)
            .chain(weekly_target)
            .fold(0.0_f64, f64::max)
            * 1.15;
        Some(chart::bars(
            "SALs each week against the weekly share of the target",
            &bars,
            max.ceil(),
            weekly_target.map(|t| (t, format!("target {t:.0}"))),
            |v| format!("{v:.0}"),
        ))
    });
    let reasons = (!review.acceptance.trailing_13_weeks_reasons.is_empty()).then(|| {
        let rows: Vec<(String, f64, String)> = review
            .acceptance
            .trailing_13_weeks_reasons
            .iter()
            .map(|b| (b.label.clone(), f64::from(b.count), b.count.to_string()))
            .collect();
        chart::hbars("Top rejection reasons, 13 weeks", &rows)
    });
    Charts {
        speed,
        sal_volume,
        reasons,
    }
}
