//! The scorecard: every commitment, the funnel, first touch, velocity and
//! marketing-influenced ARR for one calendar period.
//!
//! Definitions (docs/metrics.md states them for users):
//! - counts are entries in the period: MQAs by `mqa_at`, hand-offs, SALs by
//!   acceptance, SQOs by the opportunity opening, won and lost by closing;
//! - rates follow a cohort: acceptance among hand-offs made in the period,
//!   SAL to SQO among SALs of the period, recycling among its rejections;
//! - a clock commitment is judged on its clocks: deadline clocks started in
//!   the period, cadence clocks whose window closed in it; an open clock
//!   past its deadline at `as_of` counts as missed, one before it as pending;
//! - a count target set per week, month or quarter is scaled to the span of
//!   the report: a quarter's report of a monthly target asks for three times
//!   it, and every calendar month, February too, for exactly it.
//!
//! A figure with no inputs is `None` with a note saying what is missing,
//! never 0% or 100%.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::engine::{AccountRecord, Alert, ClockState, Cycle, OpportunityRecord, Snapshot};
use crate::period::Period;
use crate::policy::{
    ClockKind, Commitment, Measure, MetricName, PeriodKind, Policy, Side, Trigger,
};

const DAY_S: f64 = 86_400.0;

/// Breakdown dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Team,
    Rep,
    Manager,
    Tier,
    Channel,
}

/// A commitment's standing in the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Met,
    Missed,
    NoData,
    /// A count not yet reached in a period that has not ended.
    InProgress,
}

/// One row of the scorecard.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommitmentResult {
    pub id: String,
    pub owner: Side,
    pub description: String,
    /// The target as applied to this period, e.g. `> 80%` or `>= 450`.
    pub target: String,
    /// Share (0..=1) or count; `None` when there is no data.
    pub actual: Option<f64>,
    /// Whether `actual` is a share.
    pub is_rate: bool,
    /// Sample size behind `actual`.
    pub n: u32,
    /// Undecided items left out of `actual`.
    pub pending: u32,
    pub status: Status,
    /// What is missing, or how the target was scaled.
    pub note: Option<String>,
}

/// Funnel counts and cohort conversions.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Funnel {
    pub mqa: u32,
    pub handoffs: u32,
    pub sal: u32,
    pub rejected: u32,
    /// Hand-offs of the period not yet accepted or rejected.
    pub pending: u32,
    pub sqo: u32,
    pub won: u32,
    pub lost: u32,
    pub won_arr: f64,
    pub conversions: Conversions,
}

/// Cohort conversions; `None` when the cohort is empty.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conversions {
    /// Of hand-offs in the period: accepted / (accepted + rejected).
    pub acceptance: Option<f64>,
    /// Of MQAs in the period, the share accepted so far.
    pub mqa_to_sal: Option<f64>,
    /// Of SALs in the period, the share that reached SQO so far.
    pub sal_to_sqo: Option<f64>,
    /// SALs of the period still open without an SQO.
    pub sal_to_sqo_pending: u32,
    /// Of opportunities closed in the period: won / (won + lost).
    pub win_rate: Option<f64>,
    /// Of MQAs in the period, the share won so far.
    pub mqa_to_won: Option<f64>,
}

/// Time to first touch, in business seconds on the owner's calendar.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FirstTouch {
    /// Touched hand-offs of the period.
    pub n: u32,
    pub median_s: Option<f64>,
    /// Nearest-rank 90th percentile.
    pub p90_s: Option<f64>,
    /// Hand-offs of the period with no touch yet.
    pub untouched: u32,
    pub buckets: Vec<Bucket>,
}

/// One histogram bar.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Bucket {
    pub label: String,
    pub count: u32,
}

/// Pipeline velocity.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Velocity {
    /// Deals won in the period, with the medians below over them.
    pub won: u32,
    pub median_days_sal_to_won: Option<f64>,
    pub median_days_mqa_to_won: Option<f64>,
    pub median_days_sqo_to_won: Option<f64>,
    /// Deals left out of a median because a date came before its start.
    pub negative_durations: u32,
    /// Won deals with no ARR recorded (absent or 0), left out of the average.
    pub won_without_arr: u32,
    /// Inputs of open SQOs x win rate x average won ARR / average days.
    pub open_sqos: u32,
    pub win_rate: Option<f64>,
    pub avg_won_arr: Option<f64>,
    pub avg_days_to_close: Option<f64>,
    /// ARR per day the pipeline yields at this pace.
    pub arr_per_day: Option<f64>,
}

/// Marketing-influenced ARR.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Influence {
    pub won_arr: f64,
    pub influenced_arr: f64,
    pub share: Option<f64>,
    pub won_deals: u32,
    pub influenced_deals: u32,
    /// Why `share` is absent.
    pub note: Option<String>,
}

/// The scorecard of one period (and optionally one slice).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Scorecard {
    pub period: Period,
    pub as_of: DateTime<Utc>,
    pub commitments: Vec<CommitmentResult>,
    pub funnel: Funnel,
    pub first_touch: FirstTouch,
    pub velocity: Velocity,
    pub influenced_arr: Influence,
    pub rejection_reasons: Vec<Bucket>,
    pub alerts: Vec<Alert>,
}

/// One cycle with its account.
#[derive(Clone, Copy)]
struct CycleRef<'a> {
    account: &'a AccountRecord,
    cycle: &'a Cycle,
}

/// One opportunity with its account and cycle.
#[derive(Clone, Copy)]
struct OppRef<'a> {
    account: &'a AccountRecord,
    opp: &'a OpportunityRecord,
    cycle: Option<&'a Cycle>,
}

struct Facts<'a> {
    cycles: Vec<CycleRef<'a>>,
    opps: Vec<OppRef<'a>>,
}

fn facts(snapshot: &Snapshot) -> Facts<'_> {
    let mut cycles = Vec::new();
    let mut opps = Vec::new();
    for account in &snapshot.accounts {
        for cycle in &account.cycles {
            cycles.push(CycleRef { account, cycle });
        }
        for opp in &account.opportunities {
            let cycle = opp
                .cycle
                .and_then(|n| account.cycles.iter().find(|c| c.number == n));
            opps.push(OppRef {
                account,
                opp,
                cycle,
            });
        }
    }
    Facts { cycles, opps }
}

/// The scorecard of `period` over the whole snapshot.
pub fn scorecard(
    policy: &Policy,
    snapshot: &Snapshot,
    period: &Period,
    as_of: DateTime<Utc>,
) -> Scorecard {
    let mut one = scorecards(policy, snapshot, std::slice::from_ref(period), as_of);
    one.pop().expect("one scorecard per period")
}

/// The scorecards of several periods of one snapshot, as [`scorecard`]
/// gives each, gathering the snapshot's cycles and opportunities once (a
/// dashboard's twelve periods of sparklines).
pub fn scorecards(
    policy: &Policy,
    snapshot: &Snapshot,
    periods: &[Period],
    as_of: DateTime<Utc>,
) -> Vec<Scorecard> {
    let f = facts(snapshot);
    let silent = silent_clocks(policy, &f);
    periods
        .iter()
        .map(|period| {
            let alerts = snapshot
                .alerts
                .iter()
                .filter(|a| period.contains(a.at))
                .cloned()
                .collect();
            compute(policy, &f, period, as_of, alerts, &silent)
        })
        .collect()
}

/// Clock commitments whose clocks never stopped anywhere in the data: the
/// source does not record their stop event at all (a CRM export without
/// dispositions or activities), so their clocks say nothing about Sales.
fn silent_clocks(policy: &Policy, f: &Facts) -> Vec<String> {
    let clocks: Vec<_> = f
        .cycles
        .iter()
        .flat_map(|c| c.cycle.clocks.iter())
        .collect();
    policy
        .commitments
        .iter()
        .filter(|c| matches!(c.measure, Measure::Clock(_)))
        .filter(|c| {
            let mine: Vec<_> = clocks.iter().filter(|k| k.commitment == c.id).collect();
            // Some clock ran out, and none ever saw its stop event: only
            // then is the stop event missing from the data, not just late.
            let stopped = mine.iter().any(|k| {
                k.attempts > 0 || (k.stop_at.is_some() && k.state != ClockState::Cancelled)
            });
            let ran_out = mine.iter().any(|k| k.state == ClockState::Breached);
            ran_out && !stopped
        })
        .map(|c| c.id.clone())
        .collect()
}

/// One scorecard per value of `dim`, sorted by key.
pub fn breakdown(
    policy: &Policy,
    snapshot: &Snapshot,
    period: &Period,
    as_of: DateTime<Utc>,
    dim: Dimension,
) -> Vec<(String, Scorecard)> {
    let f = facts(snapshot);
    let silent = silent_clocks(policy, &f);
    let mut groups: BTreeMap<String, Facts> = BTreeMap::new();
    for c in &f.cycles {
        let key = cycle_key(snapshot, dim, c.account, c.cycle);
        groups
            .entry(key)
            .or_insert_with(|| Facts {
                cycles: vec![],
                opps: vec![],
            })
            .cycles
            .push(*c);
    }
    for o in &f.opps {
        let key = opp_key(snapshot, dim, o);
        groups
            .entry(key)
            .or_insert_with(|| Facts {
                cycles: vec![],
                opps: vec![],
            })
            .opps
            .push(*o);
    }
    groups
        .into_iter()
        .map(|(key, g)| {
            let alerts = snapshot
                .alerts
                .iter()
                .filter(|a| period.contains(a.at))
                .filter(|a| {
                    g.cycles
                        .iter()
                        .any(|c| a.account.as_deref() == Some(&c.account.id))
                })
                .cloned()
                .collect();
            let card = compute(policy, &g, period, as_of, alerts, &silent);
            (key, card)
        })
        .collect()
}

const NONE_KEY: &str = "(none)";

fn rep_key(snapshot: &Snapshot, dim: Dimension, rep: Option<&str>, team: Option<&str>) -> String {
    let facts = rep.and_then(|r| snapshot.reps.get(r));
    let v = match dim {
        Dimension::Rep => rep.map(String::from),
        Dimension::Team => facts
            .and_then(|f| f.team.clone())
            .or(team.map(String::from)),
        Dimension::Manager => facts.and_then(|f| f.manager.clone()),
        Dimension::Tier | Dimension::Channel => None,
    };
    v.unwrap_or_else(|| NONE_KEY.into())
}

fn cycle_key(snapshot: &Snapshot, dim: Dimension, acc: &AccountRecord, c: &Cycle) -> String {
    match dim {
        Dimension::Tier => c.tier.clone().unwrap_or_else(|| NONE_KEY.into()),
        Dimension::Channel => c
            .channel
            .clone()
            .or(acc.channel.clone())
            .unwrap_or_else(|| NONE_KEY.into()),
        _ => {
            let rep = c.handoff_rep.as_deref().or(acc.owner.as_deref());
            rep_key(snapshot, dim, rep, c.handoff_team.as_deref())
        }
    }
}

fn opp_key(snapshot: &Snapshot, dim: Dimension, o: &OppRef) -> String {
    match (dim, o.cycle) {
        (Dimension::Tier | Dimension::Channel, Some(c)) => cycle_key(snapshot, dim, o.account, c),
        (Dimension::Tier, None) => NONE_KEY.into(),
        (Dimension::Channel, None) => o.account.channel.clone().unwrap_or_else(|| NONE_KEY.into()),
        _ => {
            let rep = o
                .opp
                .rep
                .as_deref()
                .or(o.cycle.and_then(|c| c.handoff_rep.as_deref()));
            rep_key(
                snapshot,
                dim,
                rep,
                o.cycle.and_then(|c| c.handoff_team.as_deref()),
            )
        }
    }
}

fn compute(
    policy: &Policy,
    f: &Facts,
    period: &Period,
    as_of: DateTime<Utc>,
    alerts: Vec<Alert>,
    silent: &[String],
) -> Scorecard {
    let funnel = funnel(policy, f, period, as_of);
    let commitments = policy
        .commitments
        .iter()
        .map(|c| judge(policy, c, f, period, as_of, &funnel, silent))
        .collect();
    Scorecard {
        period: period.clone(),
        as_of,
        commitments,
        first_touch: first_touch(f, period),
        velocity: velocity(f, period, as_of),
        influenced_arr: influence(f, period),
        rejection_reasons: rejection_reasons(f, period),
        funnel,
        alerts,
    }
}

/// Whether the cycle is a SAL of the period: accepted in it (the SAL to
/// SQO cohort).
fn is_sal_of(p: &Period, c: &Cycle) -> bool {
    in_p(p, c.accepted_at)
}

/// Whether the cycle has reached SQO so far (an opportunity opened while
/// it was open).
fn has_reached_sqo(c: &Cycle) -> bool {
    c.sqo_at.is_some()
}

fn share(num: u32, den: u32) -> Option<f64> {
    (den > 0).then(|| f64::from(num) / f64::from(den))
}

fn in_p(p: &Period, t: Option<DateTime<Utc>>) -> bool {
    t.is_some_and(|t| p.contains(t))
}

fn funnel(policy: &Policy, f: &Facts, p: &Period, _as_of: DateTime<Utc>) -> Funnel {
    let _ = policy;
    let mut out = Funnel::default();
    let (mut decided_acc, mut decided_rej) = (0, 0);
    let (mut mqa_sal, mut mqa_won) = (0, 0);
    let (mut sal_sqo, mut sal_open) = (0, 0);
    for c in f.cycles.iter().map(|c| c.cycle) {
        if in_p(p, c.mqa_at) {
            out.mqa += 1;
            mqa_sal += u32::from(c.accepted_at.is_some());
            mqa_won += u32::from(c.won_at.is_some());
        }
        if in_p(p, c.handoff_at) {
            out.handoffs += 1;
            match (c.accepted_at, c.rejected_at) {
                (Some(_), _) => decided_acc += 1,
                (None, Some(_)) => decided_rej += 1,
                (None, None) => out.pending += 1,
            }
        }
        if is_sal_of(p, c) {
            out.sal += 1;
            if has_reached_sqo(c) {
                sal_sqo += 1;
            } else if c.ended_at.is_none() {
                sal_open += 1;
            }
        }
        out.rejected += u32::from(in_p(p, c.rejected_at));
    }
    let (mut closed_won, mut closed_lost) = (0, 0);
    for o in f.opps.iter().map(|o| o.opp) {
        out.sqo += u32::from(p.contains(o.opened_at));
        if in_p(p, o.won_at) {
            out.won += 1;
            closed_won += 1;
            out.won_arr += o.amount.unwrap_or(0.0);
        } else if in_p(p, o.lost_at) {
            out.lost += 1;
            closed_lost += 1;
        }
    }
    out.conversions = Conversions {
        acceptance: share(decided_acc, decided_acc + decided_rej),
        mqa_to_sal: share(mqa_sal, out.mqa)
            .filter(|_| f.cycles.iter().any(|c| c.cycle.accepted_at.is_some())),
        sal_to_sqo: share(sal_sqo, out.sal),
        sal_to_sqo_pending: sal_open,
        win_rate: share(closed_won, closed_won + closed_lost)
            .filter(|_| f.opps.iter().any(|o| o.opp.lost_at.is_some())),
        mqa_to_won: share(mqa_won, out.mqa),
    };
    out
}

/// Nominal length of a commitment period, for scaling count targets.
fn nominal_days(kind: PeriodKind) -> f64 {
    match kind {
        PeriodKind::Week => 7.0,
        // Mean Gregorian month and quarter: 365.2425 / 12 and / 4.
        PeriodKind::Month => 30.436_875,
        PeriodKind::Quarter => 91.310_625,
    }
}

/// How many commitment periods of `kind` the report period spans, for
/// scaling count targets. A report whose bounds are both first-of-month
/// midnights counts whole calendar months, so February is one month and a
/// quarter three; any other span counts local dates over the kind's mean
/// length (a week is 7 dates).
fn periods_spanned(kind: PeriodKind, p: &Period, tz: Tz) -> f64 {
    let from = p.from.with_timezone(&tz).date_naive();
    let to = p.to.with_timezone(&tz).date_naive();
    let month_index = |d: NaiveDate| i64::from(d.year()) * 12 + i64::from(d.month0());
    let months = (month_index(to) - month_index(from)) as f64;
    let aligned = from.day() == 1 && to.day() == 1;
    match kind {
        PeriodKind::Month if aligned => months,
        PeriodKind::Quarter if aligned => months / 3.0,
        _ => (to - from).num_days() as f64 / nominal_days(kind),
    }
}

fn judge(
    policy: &Policy,
    c: &Commitment,
    f: &Facts,
    p: &Period,
    as_of: DateTime<Utc>,
    funnel: &Funnel,
    silent: &[String],
) -> CommitmentResult {
    let (actual, n, pending, is_rate, empty_note) = match &c.measure {
        Measure::Metric(m) => metric_value(policy, *m, f, p, as_of, funnel),
        Measure::Clock(spec) => {
            let cadence = matches!(spec.kind, ClockKind::Cadence { .. });
            let (met, missed, pending) = clock_outcomes(f, &c.id, cadence, p, as_of);
            if silent.contains(&c.id) {
                let stops: Vec<&str> = match &spec.kind {
                    ClockKind::Deadline { stop } => stop.iter().map(|t| t.as_str()).collect(),
                    ClockKind::Cadence { count, .. } => vec![count.as_str()],
                };
                let note = format!(
                    "no {} events in this data: its {} clocks can never be met",
                    stops.join(" or "),
                    c.id
                );
                (None, 0, met + missed + pending, true, note)
            } else {
                let note = if met + missed + pending == 0 {
                    format!("no {} clocks in this period", c.id)
                } else {
                    format!("all {pending} {} clocks still running", c.id)
                };
                (share(met, met + missed), met + missed, pending, true, note)
            }
        }
    };
    let mut target = c.target;
    let mut note = None;
    if !is_rate && !c.target.percent {
        let scale = periods_spanned(c.period, p, policy.org_calendar().tz());
        if scale != 1.0 {
            target.value = (c.target.value * scale).round();
            note = Some(
                format!(
                    "target {} per {:?} scaled to the period",
                    c.target, c.period
                )
                .to_lowercase(),
            );
        }
    }
    let (mut actual, mut empty_note) = (actual, empty_note);
    if as_of < p.from {
        actual = None;
        empty_note = format!(
            "the period starts after the as-of instant {}",
            as_of.format("%Y-%m-%d")
        );
    }
    let unfinished = as_of < p.to;
    let status = match actual {
        None => Status::NoData,
        Some(v) if target.is_met(v) => Status::Met,
        Some(_) if unfinished && !is_rate => Status::InProgress,
        Some(_) => Status::Missed,
    };
    if actual.is_none() {
        note = Some(empty_note);
    } else if status == Status::InProgress {
        let done = (as_of - p.from).num_seconds() as f64 / (p.to - p.from).num_seconds() as f64;
        note = Some(format!(
            "period in progress: {:.0}% of it has elapsed",
            done * 100.0
        ));
    }
    CommitmentResult {
        id: c.id.clone(),
        owner: c.owner,
        description: c.description.clone(),
        target: target.to_string(),
        actual,
        is_rate,
        n,
        pending,
        status,
        note,
    }
}

type MetricOutcome = (Option<f64>, u32, u32, bool, String);

fn metric_value(
    policy: &Policy,
    m: MetricName,
    f: &Facts,
    p: &Period,
    as_of: DateTime<Utc>,
    fun: &Funnel,
) -> MetricOutcome {
    // A count is a real zero only when the data records that kind of step
    // at all; a CRM export without accept events has no SAL count.
    let count = |v: u32, seen: fn(&Cycle) -> bool, what: &str| -> MetricOutcome {
        let recorded = f.cycles.iter().any(|c| seen(c.cycle));
        let actual = recorded.then_some(f64::from(v));
        (actual, v, 0, false, format!("no {what} in this data"))
    };
    match m {
        MetricName::MqaCount => count(fun.mqa, |c| c.mqa_at.is_some(), "MQAs"),
        MetricName::HandoffCount => count(fun.handoffs, |c| c.handoff_at.is_some(), "hand-offs"),
        MetricName::SalCount => count(fun.sal, |c| c.accepted_at.is_some(), "accept events"),
        MetricName::WonArr => {
            let none = f.opps.is_empty();
            (
                (!none).then_some(fun.won_arr),
                fun.won,
                0,
                false,
                "no opportunities in this data".into(),
            )
        }
        MetricName::AcceptanceRate => {
            let n = fun.handoffs - fun.pending;
            let note = if fun.handoffs == 0 {
                "no hand-offs in this period".to_string()
            } else {
                format!(
                    "no accept or reject events for the {} hand-offs",
                    fun.handoffs
                )
            };
            (fun.conversions.acceptance, n, fun.pending, true, note)
        }
        MetricName::SalToSqo => {
            let note = "no SALs (accept events) in this period".to_string();
            (
                fun.conversions.sal_to_sqo,
                fun.sal,
                fun.conversions.sal_to_sqo_pending,
                true,
                note,
            )
        }
        MetricName::WinRate => {
            let n = fun.won + fun.lost;
            (
                fun.conversions.win_rate,
                n,
                0,
                true,
                "no opportunities closed in this period".into(),
            )
        }
        MetricName::InfluencedArrShare => {
            let i = influence(f, p);
            let note = i.note.clone().unwrap_or_default();
            (i.share, i.won_deals, 0, true, note)
        }
        MetricName::RecycleRate => recycle(policy, f, p, as_of),
    }
}

fn recycle(policy: &Policy, f: &Facts, p: &Period, as_of: DateTime<Utc>) -> MetricOutcome {
    let window = policy.recycle_window;
    let (mut ok, mut missed, mut pending) = (0, 0, 0);
    for c in f.cycles.iter().map(|c| c.cycle) {
        let Some(r) = c.rejected_at.filter(|r| p.contains(*r)) else {
            continue;
        };
        match c.nurture_at {
            Some(n) if n >= r && n - r <= window => ok += 1,
            _ if r + window > as_of => pending += 1,
            _ => missed += 1,
        }
    }
    let note = if pending == 0 {
        "no reject events in this period".to_string()
    } else {
        format!("all {pending} rejections of this period are still inside the recycle window")
    };
    (share(ok, ok + missed), ok + missed, pending, true, note)
}

/// (met, missed, pending) of one commitment's clocks in the period.
fn clock_outcomes(
    f: &Facts,
    id: &str,
    cadence: bool,
    p: &Period,
    as_of: DateTime<Utc>,
) -> (u32, u32, u32) {
    let (mut met, mut missed, mut pending) = (0, 0, 0);
    let clocks = f
        .cycles
        .iter()
        .flat_map(|c| c.cycle.clocks.iter().map(move |k| (c.cycle, k)));
    for (cycle, k) in clocks.filter(|(_, k)| k.commitment == id) {
        let when = if cadence { k.deadline } else { k.start_at };
        if !p.contains(when) {
            continue;
        }
        // A cadence is judged on SALs; a hand-off that was never accepted
        // counts only when its cadence was ended early (rejected, SQO, won),
        // which meets it. Undecided hand-offs show in acceptance's pending.
        let ended_early = k.state == ClockState::Met && k.stop_trigger != Some(Trigger::Activity);
        if cadence && cycle.accepted_at.is_none() && !ended_early {
            continue;
        }
        match k.state {
            ClockState::Met => met += 1,
            ClockState::Breached => missed += 1,
            ClockState::Open if k.deadline < as_of => missed += 1,
            ClockState::Open => pending += 1,
            ClockState::Cancelled => {}
        }
    }
    (met, missed, pending)
}

/// Median; the mean of the two middle values for an even count.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// Nearest-rank percentile (`q` in 0..=1) of sorted or unsorted values.
pub fn percentile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = (q * values.len() as f64).ceil().max(1.0) as usize;
    Some(values[rank.min(values.len()) - 1])
}

/// The time-to-first-touch buckets, in business seconds, each
/// `[low, high)`, with their labels.
pub const FIRST_TOUCH_BUCKETS: [(f64, f64, &str); 4] = [
    (0.0, 3600.0, "under 1h"),
    (3600.0, 14_400.0, "1h to 4h"),
    (14_400.0, 86_400.0, "4h to 24h"),
    (86_400.0, f64::INFINITY, "24h or more"),
];

/// The label of hand-offs with no first touch yet.
pub const UNTOUCHED: &str = "untouched";

fn first_touch(f: &Facts, p: &Period) -> FirstTouch {
    let mut secs = Vec::new();
    let mut untouched = 0;
    for c in f
        .cycles
        .iter()
        .map(|c| c.cycle)
        .filter(|c| in_p(p, c.handoff_at))
    {
        match c.first_touch_business_s {
            Some(s) => secs.push(s as f64),
            None => untouched += 1,
        }
    }
    let buckets = FIRST_TOUCH_BUCKETS
        .iter()
        .map(|(lo, hi, label)| Bucket {
            label: (*label).into(),
            count: secs.iter().filter(|s| **s >= *lo && **s < *hi).count() as u32,
        })
        .chain(std::iter::once(Bucket {
            label: UNTOUCHED.into(),
            count: untouched,
        }))
        .collect();
    FirstTouch {
        n: secs.len() as u32,
        median_s: median(&mut secs),
        p90_s: percentile(&mut secs, 0.9),
        untouched,
        buckets,
    }
}

fn days_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_seconds() as f64 / DAY_S
}

fn velocity(f: &Facts, p: &Period, as_of: DateTime<Utc>) -> Velocity {
    let mut v = Velocity::default();
    let (mut sal, mut mqa, mut sqo) = (Vec::new(), Vec::new(), Vec::new());
    let mut negative = 0;
    let mut push = |list: &mut Vec<f64>, from: Option<DateTime<Utc>>, to: DateTime<Utc>| {
        if let Some(from) = from {
            let d = days_between(from, to);
            if d < 0.0 {
                negative += 1;
            } else {
                list.push(d);
            }
        }
    };
    let mut arr = Vec::new();
    for o in &f.opps {
        let Some(won) = o.opp.won_at.filter(|w| p.contains(*w)) else {
            continue;
        };
        v.won += 1;
        // A deal with no ARR recorded (absent or 0) says nothing about the
        // average deal size.
        match o.opp.amount.filter(|a| *a > 0.0) {
            Some(a) => arr.push(a),
            None => v.won_without_arr += 1,
        }
        push(&mut sal, o.cycle.and_then(|c| c.accepted_at), won);
        push(&mut mqa, o.cycle.and_then(|c| c.mqa_at), won);
        // An SQO seen only through its close has no time to close.
        if !o.opp.sqo_implied {
            push(&mut sqo, Some(o.opp.opened_at), won);
        }
    }
    v.negative_durations = negative;
    v.median_days_sal_to_won = median(&mut sal);
    v.median_days_mqa_to_won = median(&mut mqa);
    v.avg_days_to_close = (!sqo.is_empty()).then(|| sqo.iter().sum::<f64>() / sqo.len() as f64);
    v.median_days_sqo_to_won = median(&mut sqo);
    v.avg_won_arr = (!arr.is_empty()).then(|| arr.iter().sum::<f64>() / arr.len() as f64);

    let end = p.to.min(as_of);
    v.open_sqos = f
        .opps
        .iter()
        .filter(|o| o.opp.opened_at < end)
        .filter(|o| o.opp.won_at.or(o.opp.lost_at).is_none_or(|c| c >= end))
        .count() as u32;
    let lost = f
        .opps
        .iter()
        .filter(|o| in_p(p, o.opp.lost_at) && o.opp.won_at.is_none())
        .count();
    // Without any lost deal in the data, a win rate would be a guess.
    let losses_recorded = f.opps.iter().any(|o| o.opp.lost_at.is_some());
    v.win_rate = share(v.won, v.won + lost as u32).filter(|_| losses_recorded);
    v.arr_per_day = match (v.win_rate, v.avg_won_arr, v.avg_days_to_close) {
        (Some(w), Some(a), Some(d)) if d > 0.0 => Some(f64::from(v.open_sqos) * w * a / d),
        _ => None,
    };
    v
}

fn influence(f: &Facts, p: &Period) -> Influence {
    let mut i = Influence::default();
    for o in f.opps.iter().map(|o| o.opp).filter(|o| in_p(p, o.won_at)) {
        let amount = o.amount.unwrap_or(0.0);
        i.won_deals += 1;
        i.won_arr += amount;
        if o.influenced {
            i.influenced_deals += 1;
            i.influenced_arr += amount;
        }
    }
    // Without any marketing touch in the data, influence is unknown, not 0%.
    let marketing_seen = f
        .opps
        .iter()
        .map(|o| o.account)
        .chain(f.cycles.iter().map(|c| c.account))
        .any(|a| a.marketing_touches > 0);
    i.share = (i.won_arr > 0.0 && marketing_seen).then(|| i.influenced_arr / i.won_arr);
    i.note = match (i.won_arr > 0.0, marketing_seen) {
        (false, _) => Some("no won ARR in this period".into()),
        (true, false) => Some("no marketing engagement in this data".into()),
        (true, true) => None,
    };
    i
}

fn rejection_reasons(f: &Facts, p: &Period) -> Vec<Bucket> {
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    for c in f
        .cycles
        .iter()
        .map(|c| c.cycle)
        .filter(|c| in_p(p, c.rejected_at))
    {
        *counts
            .entry(c.reject_reason.as_deref().unwrap_or("(no reason)"))
            .or_default() += 1;
    }
    let mut out: Vec<Bucket> = counts
        .into_iter()
        .map(|(k, v)| Bucket {
            label: k.into(),
            count: v,
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.label.cmp(&b.label)));
    out
}

/// SAL to SQO conversion of the SALs of one time-to-first-touch bucket.
#[derive(Debug, Clone, Serialize)]
pub struct SpeedBucket {
    /// One of [`FIRST_TOUCH_BUCKETS`]' labels, or [`UNTOUCHED`].
    pub label: String,
    /// SALs of the period (accept instant) in the bucket.
    pub sals: u32,
    /// Of them, those whose cycle has reached SQO so far.
    pub sqos: u32,
    /// `sqos / sals`; `None` for an empty bucket.
    pub rate: Option<f64>,
    /// The 95% Wilson score interval of `rate`.
    pub interval: Option<crate::stats::Interval>,
}

/// SAL to SQO conversion per time-to-first-touch bucket, over the SAL to
/// SQO cohort of the scorecard (SALs accepted in the period): the buckets'
/// `sals` add up to the funnel's `sal`, their `sqos` to the SALs that
/// reached SQO. A SAL is placed by its cycle's business time from hand-off
/// to first touch; an accepted cycle with no touch yet is `untouched`.
pub fn sal_to_sqo_by_first_touch(snapshot: &Snapshot, period: &Period) -> Vec<SpeedBucket> {
    let f = facts(snapshot);
    let mut counts = [(0_u32, 0_u32); FIRST_TOUCH_BUCKETS.len() + 1];
    for c in f
        .cycles
        .iter()
        .map(|c| c.cycle)
        .filter(|c| is_sal_of(period, c))
    {
        let slot = match c.first_touch_business_s {
            Some(s) => {
                let s = s as f64;
                FIRST_TOUCH_BUCKETS
                    .iter()
                    .position(|(lo, hi, _)| s >= *lo && s < *hi)
                    // Business seconds are never negative; a negative value
                    // would be a data error and is counted as the fastest.
                    .unwrap_or(0)
            }
            None => FIRST_TOUCH_BUCKETS.len(),
        };
        counts[slot].0 += 1;
        counts[slot].1 += u32::from(has_reached_sqo(c));
    }
    let labels = FIRST_TOUCH_BUCKETS
        .iter()
        .map(|(_, _, l)| *l)
        .chain(std::iter::once(UNTOUCHED));
    labels
        .zip(counts)
        .map(|(label, (sals, sqos))| SpeedBucket {
            label: label.into(),
            sals,
            sqos,
            rate: share(sqos, sals),
            interval: crate::stats::wilson(sqos, sals),
        })
        .collect()
}

/// Hand-offs waiting for their first touch at one instant: Sales' follow-up
/// backlog.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Backlog {
    /// The instant it is counted at.
    pub at: Option<DateTime<Utc>>,
    /// Cycles handed off at or before `at`, still open then, with no first
    /// touch by then.
    pub waiting: u32,
    /// Of them, handed off more than 24 hours (elapsed) before `at`.
    pub waiting_over_24h: u32,
    /// The same by the rep holding the account at hand-off, most first.
    pub by_rep: Vec<Bucket>,
}

/// Sales' follow-up backlog at `at` (an instant no later than the
/// snapshot's `as_of`, which decides what is known).
pub fn follow_up_backlog(snapshot: &Snapshot, at: DateTime<Utc>) -> Backlog {
    let f = facts(snapshot);
    let mut out = Backlog {
        at: Some(at),
        ..Backlog::default()
    };
    let mut by_rep: BTreeMap<&str, u32> = BTreeMap::new();
    for c in f.cycles.iter().map(|c| c.cycle) {
        let Some(h) = c.handoff_at.filter(|h| *h <= at) else {
            continue;
        };
        let open = c.ended_at.is_none_or(|e| e > at);
        let untouched = c.first_touch_at.is_none_or(|t| t > at);
        if open && untouched {
            out.waiting += 1;
            out.waiting_over_24h += u32::from(at - h > chrono::Duration::hours(24));
            *by_rep
                .entry(c.handoff_rep.as_deref().unwrap_or(NONE_KEY))
                .or_default() += 1;
        }
    }
    out.by_rep = by_rep
        .into_iter()
        .map(|(k, v)| Bucket {
            label: k.into(),
            count: v,
        })
        .collect();
    out.by_rep
        .sort_by(|a, b| b.count.cmp(&a.count).then(a.label.cmp(&b.label)));
    out
}

/// The measured funnel behind a plan: counts and durations of one period,
/// on the scorecard's definitions.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FunnelRates {
    /// SALs of the period, and those that reached SQO so far (the SAL to
    /// SQO cohort).
    pub sals: u32,
    pub sal_sqos: u32,
    /// Opportunities won in the period, and lost in it without being won
    /// (the win rate's deals).
    pub won: u32,
    pub lost: u32,
    /// ARR of the deals won in the period that recorded one (> 0).
    pub won_amounts: Vec<f64>,
    /// Days from acceptance to SQO, over the cohort's SALs that reached SQO.
    pub days_sal_to_sqo: Vec<f64>,
    /// Days from SQO to won, over the deals won in the period whose SQO was
    /// seen (velocity's days to close).
    pub days_sqo_to_won: Vec<f64>,
}

/// The funnel's measured rates over `period`, counted as the scorecard
/// counts them: `sal_sqos / sals` is its `sal_to_sqo`, `won / (won + lost)`
/// velocity's win rate, the mean of `won_amounts` its average won ARR, the
/// mean of `days_sqo_to_won` its average days to close.
pub fn funnel_rates(snapshot: &Snapshot, period: &Period) -> FunnelRates {
    let f = facts(snapshot);
    let mut out = FunnelRates::default();
    for c in f
        .cycles
        .iter()
        .map(|c| c.cycle)
        .filter(|c| is_sal_of(period, c))
    {
        out.sals += 1;
        if has_reached_sqo(c) {
            out.sal_sqos += 1;
            if let (Some(a), Some(s)) = (c.accepted_at, c.sqo_at) {
                let d = days_between(a, s);
                if d >= 0.0 {
                    out.days_sal_to_sqo.push(d);
                }
            }
        }
    }
    for o in f.opps.iter().map(|o| o.opp) {
        if let Some(won) = o.won_at.filter(|w| period.contains(*w)) {
            out.won += 1;
            if let Some(a) = o.amount.filter(|a| *a > 0.0) {
                out.won_amounts.push(a);
            }
            let d = days_between(o.opened_at, won);
            if !o.sqo_implied && d >= 0.0 {
                out.days_sqo_to_won.push(d);
            }
        } else if in_p(period, o.lost_at) && o.won_at.is_none() {
            out.lost += 1;
        }
    }
    out
}
