//! `handoff report`: the scorecard as a table, Markdown or JSON.
//!
//! The JSON shape is stable and documented in docs/metrics.md: top-level
//! `period`, `as_of`, `policy`, `commitments`, `funnel`, `first_touch`,
//! `velocity`, `influenced_arr`, `rejection_reasons`, `alerts`, and with
//! `--by` a `breakdown` list of `{ key, commitments, funnel, velocity, ... }`.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use handoff_core::engine::Snapshot;
use handoff_core::metrics::{self, Dimension, Scorecard, Status};
use handoff_core::period::Period;
use handoff_core::Policy;
use serde_json::json;

use crate::cli::{By, Format, ReportArgs};
use crate::replay::{load_policies, open_existing, parse_as_of, replay_in_memory, Policies};
use crate::store::Store;

/// Runs `handoff report`.
pub fn run(args: &ReportArgs) -> Result<u8> {
    let store = open_existing(&args.store.location()?)?;
    let policies = load_policies(&store, args.store.policy.as_deref())?;
    let policy = &policies.latest().policy;
    let as_of = parse_as_of(args.as_of.as_deref())?;
    // One meaning of "as of" everywhere: the report replays the log up to
    // its instant under its policy, so open clocks, breaches and alerts are
    // judged then, whenever the stored state was last rebuilt.
    let snapshot = replay_in_memory(&store, &policies, as_of)?;
    let period = choose_period(args, policy, &store)?;
    let text = render(
        &policies,
        &snapshot,
        &period,
        as_of,
        args.by.map(dimension),
        args.format,
    )?;
    print!("{text}");
    Ok(crate::cli::EXIT_OK)
}

/// Maps the CLI's breakdown option to the core's dimension.
pub fn dimension(by: By) -> Dimension {
    match by {
        By::Team => Dimension::Team,
        By::Rep => Dimension::Rep,
        By::Manager => Dimension::Manager,
        By::Tier => Dimension::Tier,
        By::Channel => Dimension::Channel,
    }
}

/// The period asked for, or the whole stored history.
fn choose_period(args: &ReportArgs, policy: &Policy, store: &Store) -> Result<Period> {
    let tz = policy.org_calendar().tz();
    let p = if let Some(m) = &args.month {
        Period::parse_month(m, tz)
    } else if let Some(w) = &args.week {
        Period::parse_week(w, tz)
    } else if let Some(q) = &args.quarter {
        Period::parse_quarter(q, tz)
    } else if let (Some(f), Some(t)) = (&args.from, &args.to) {
        Period::parse_range(f, t, tz)
    } else {
        return whole_history(store, tz);
    };
    p.map_err(anyhow::Error::msg)
}

/// From the first day of the first event's month to the end of the last
/// event's month.
pub fn whole_history(store: &Store, tz: Tz) -> Result<Period> {
    let read = |key: &str| -> Result<Option<DateTime<Utc>>> {
        Ok(store
            .meta(key)?
            .filter(|s| !s.is_empty())
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| t.with_timezone(&Utc)))
    };
    let (Some(first), Some(last)) = (read("first_event_at")?, read("last_event_at")?) else {
        anyhow::bail!(
            "the store holds no events; import some with `handoff import` or run `handoff demo`"
        );
    };
    let a = Period::containing(handoff_core::policy::PeriodKind::Month, first, tz);
    let b = Period::containing(handoff_core::policy::PeriodKind::Month, last, tz);
    let label = format!(
        "{}..{}",
        a.from.with_timezone(&tz).date_naive(),
        b.to.with_timezone(&tz).date_naive()
    );
    Ok(Period {
        label,
        from: a.from,
        to: b.to,
        time_zone: tz.name().to_string(),
    })
}

/// Renders the scorecard (and breakdown) in the chosen format. The
/// scorecard is laid out by the latest policy (its commitments, calendars,
/// currency); each clock was judged under the version that started it, and
/// the report says which versions it shows.
pub fn render(
    policies: &Policies,
    snapshot: &Snapshot,
    period: &Period,
    as_of: DateTime<Utc>,
    by: Option<Dimension>,
    format: Format,
) -> Result<String> {
    let policy = &policies.latest().policy;
    let card = metrics::scorecard(policy, snapshot, period, as_of);
    let mut rows = by.map(|d| metrics::breakdown(policy, snapshot, period, as_of, d));
    if format != Format::Json {
        // People read names; JSON keeps the ids.
        for (key, _) in rows.iter_mut().flatten() {
            if let Some(name) = snapshot
                .reps
                .get(key.as_str())
                .and_then(|r| r.name.as_ref())
            {
                if name != key {
                    *key = format!("{name} ({key})");
                }
            }
        }
    }
    Ok(match format {
        Format::Json => to_json(policies, snapshot, &card, by, rows.as_deref())?,
        Format::Table => to_text(policies, &card, by, rows.as_deref(), false),
        Format::Markdown => to_text(policies, &card, by, rows.as_deref(), true),
    })
}

fn to_json(
    policies: &Policies,
    snapshot: &Snapshot,
    card: &Scorecard,
    by: Option<Dimension>,
    rows: Option<&[(String, Scorecard)]>,
) -> Result<String> {
    let policy = &policies.latest().policy;
    let mut v = serde_json::to_value(card)?;
    v["policy"] = json!({ "name": policy.name, "currency": policy.currency });
    let (from, to) = (card.period.from, card.period.to);
    if let Some(obj) = v["policy"].as_object_mut() {
        if let serde_json::Value::Object(more) = policies.to_json(from, to) {
            obj.extend(more);
        }
    }
    v["policy"]["clocks_by_version"] = clocks_by_version(snapshot, from, to);
    if let (Some(by), Some(rows)) = (by, rows) {
        v["by"] = serde_json::to_value(by)?;
        v["breakdown"] = rows
            .iter()
            .map(|(key, c)| {
                let mut row = serde_json::to_value(c)?;
                let obj = row
                    .as_object_mut()
                    .context("scorecard serialises to an object")?;
                obj.remove("period");
                obj.remove("as_of");
                obj.insert("key".into(), json!(key));
                Ok(row)
            })
            .collect::<Result<Vec<_>>>()?
            .into();
    }
    Ok(serde_json::to_string_pretty(&v)? + "\n")
}

/// Per policy version, the clocks started in `[from, to)` and how many of
/// them breached: which version produced which part of the figures.
fn clocks_by_version(s: &Snapshot, from: DateTime<Utc>, to: DateTime<Utc>) -> serde_json::Value {
    let mut counts: std::collections::BTreeMap<u32, (u64, u64)> = Default::default();
    for c in s
        .accounts
        .iter()
        .flat_map(|a| a.cycles.iter().flat_map(|y| y.clocks.iter()))
    {
        if c.start_at >= from && c.start_at < to {
            let e = counts.entry(c.policy_version).or_default();
            e.0 += 1;
            if c.breach_at.is_some() {
                e.1 += 1;
            }
        }
    }
    counts
        .into_iter()
        .map(
            |(v, (clocks, breached))| json!({"version": v, "clocks": clocks, "breached": breached}),
        )
        .collect()
}

/// An instant in the organisation's zone, e.g. `2026-03-03 11:00 EST`.
pub(crate) fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

/// Formats a share as a percentage with one decimal.
pub fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.1}%", x * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// Formats seconds as `1h 05m`.
pub fn hm(secs: Option<f64>) -> String {
    let Some(s) = secs else { return "-".into() };
    let m = (s / 60.0).round() as i64;
    if m >= 60 {
        format!("{}h {:02}m", m / 60, m % 60)
    } else {
        format!("{m}m")
    }
}

/// Formats a number with `decimals` decimals, or `-`.
pub(crate) fn num(v: Option<f64>, decimals: usize) -> String {
    v.map(|x| format!("{x:.decimals$}"))
        .unwrap_or_else(|| "-".into())
}

/// Formats money rounded to whole units with thousands separators.
pub(crate) fn money(v: f64) -> String {
    let whole = v.round() as i64;
    let s = whole.abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if whole < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A text table, plain or Markdown.
pub(crate) struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(head: &[&str]) -> Table {
        Table {
            head: head.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    pub(crate) fn render(&self, md: bool, out: &mut String) {
        if md {
            let _ = writeln!(out, "| {} |", self.head.join(" | "));
            let _ = writeln!(out, "|{}|", vec!["---"; self.head.len()].join("|"));
            for r in &self.rows {
                let _ = writeln!(out, "| {} |", r.join(" | "));
            }
            out.push('\n');
            return;
        }
        let mut w: Vec<usize> = self.head.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<width$}", width = w[i]))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        let _ = writeln!(out, "{}", line(&self.head));
        for r in &self.rows {
            let _ = writeln!(out, "{}", line(r));
        }
        out.push('\n');
    }
}

pub(crate) fn heading(out: &mut String, md: bool, text: &str) {
    if md {
        let _ = writeln!(out, "## {text}\n");
    } else {
        let _ = writeln!(out, "{}\n{}", text.to_uppercase(), "-".repeat(text.len()));
    }
}

fn status_text(s: Status) -> &'static str {
    match s {
        Status::Met => "met",
        Status::Missed => "MISSED",
        Status::NoData => "no data",
        Status::InProgress => "in progress",
    }
}

fn commitments_table(card: &Scorecard) -> Table {
    let mut t = Table::new(&[
        "commitment",
        "owner",
        "target",
        "actual",
        "n",
        "pending",
        "status",
        "what it promises",
    ]);
    for c in &card.commitments {
        let actual = if c.is_rate {
            pct(c.actual)
        } else {
            num(c.actual, 0)
        };
        t.push(vec![
            c.id.clone(),
            c.owner.as_str().into(),
            c.target.clone(),
            actual,
            c.n.to_string(),
            c.pending.to_string(),
            status_text(c.status).into(),
            c.description.clone(),
        ]);
    }
    t
}

fn to_text(
    policies: &Policies,
    card: &Scorecard,
    by: Option<Dimension>,
    rows: Option<&[(String, Scorecard)]>,
    md: bool,
) -> String {
    let policy = &policies.latest().policy;
    let tz = policy.org_calendar().tz();
    let mut out = String::new();
    let title = format!(
        "handoff scorecard: {} · {} ({}) · as of {}",
        policy.name,
        card.period.label,
        card.period.time_zone,
        local(card.as_of, tz)
    );
    let shown = policies.describe(card.period.from, card.period.to);
    if md {
        let _ = writeln!(out, "# {title}\n\nShown under {shown}.\n");
    } else {
        let _ = writeln!(out, "{title}\nShown under {shown}.\n");
    }

    heading(&mut out, md, "Commitments");
    if card.commitments.is_empty() {
        let _ = writeln!(
            out,
            "The policy has no commitments; add [[commitments]] to judge any.\n"
        );
    }
    commitments_table(card).render(md, &mut out);
    let _ = writeln!(
        out,
        "Counts are entries in the period. Rates follow the period's cohort as \
         decided by the as-of instant\n(acceptance: of hand-offs made in the period; \
         clocks: first touch and disposition started in it,\nattempts windows closed in it). \
         docs/metrics.md has every definition.\n"
    );
    for c in card.commitments.iter().filter(|c| c.note.is_some()) {
        let _ = writeln!(
            out,
            "{}{}: {}",
            if md { "- " } else { "  " },
            c.id,
            c.note.as_deref().unwrap_or_default()
        );
    }
    out.push('\n');

    funnel_section(&mut out, md, card);
    first_touch_section(&mut out, md, card);
    velocity_section(&mut out, md, card, &policy.currency);
    alerts_section(&mut out, md, card, tz);
    if let (Some(by), Some(rows)) = (by, rows) {
        breakdown_section(&mut out, md, by, rows, &policy.currency);
    }
    out
}

fn funnel_section(out: &mut String, md: bool, card: &Scorecard) {
    let f = &card.funnel;
    let c = &f.conversions;
    heading(out, md, "Funnel");
    let mut t = Table::new(&["stage", "count", "conversion"]);
    t.push(vec!["MQA".into(), f.mqa.to_string(), String::new()]);
    t.push(vec![
        "hand-off".into(),
        f.handoffs.to_string(),
        format!("{} pending", f.pending),
    ]);
    t.push(vec![
        "SAL".into(),
        f.sal.to_string(),
        format!("acceptance {}", pct(c.acceptance)),
    ]);
    t.push(vec![
        "rejected".into(),
        f.rejected.to_string(),
        String::new(),
    ]);
    t.push(vec![
        "SQO".into(),
        f.sqo.to_string(),
        format!(
            "SAL to SQO {} ({} pending)",
            pct(c.sal_to_sqo),
            c.sal_to_sqo_pending
        ),
    ]);
    t.push(vec![
        "won".into(),
        f.won.to_string(),
        format!("win rate {}", pct(c.win_rate)),
    ]);
    t.push(vec!["lost".into(), f.lost.to_string(), String::new()]);
    t.render(md, out);
    let _ = writeln!(
        out,
        "MQA to SAL {} · MQA to won {}\n",
        pct(c.mqa_to_sal),
        pct(c.mqa_to_won)
    );
    if !card.rejection_reasons.is_empty() {
        let top: Vec<String> = card
            .rejection_reasons
            .iter()
            .take(5)
            .map(|b| format!("{} ({})", b.label, b.count))
            .collect();
        let _ = writeln!(out, "Top rejection reasons: {}\n", top.join(", "));
    }
}

fn first_touch_section(out: &mut String, md: bool, card: &Scorecard) {
    let ft = &card.first_touch;
    heading(out, md, "First touch (business time)");
    let _ = writeln!(
        out,
        "Every hand-off of the period, all tiers; the first-touch commitment above judges only \
         the tiers its clock times.\n"
    );
    let _ = writeln!(
        out,
        "touched {} · median {} · p90 {} · untouched {}\n",
        ft.n,
        hm(ft.median_s),
        hm(ft.p90_s),
        ft.untouched
    );
    let max = ft.buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    let mut t = Table::new(&["time to first touch", "hand-offs", ""]);
    for b in &ft.buckets {
        let bar = "#".repeat((b.count as usize * 40).div_ceil(max as usize));
        t.push(vec![
            b.label.clone(),
            b.count.to_string(),
            if md { String::new() } else { bar },
        ]);
    }
    t.render(md, out);
}

fn velocity_section(out: &mut String, md: bool, card: &Scorecard, currency: &str) {
    let v = &card.velocity;
    let i = &card.influenced_arr;
    heading(out, md, "Velocity and ARR");
    let mut t = Table::new(&["figure", "value"]);
    t.push(vec!["won deals".into(), v.won.to_string()]);
    t.push(vec![
        "median days SAL to won".into(),
        num(v.median_days_sal_to_won, 1),
    ]);
    t.push(vec![
        "median days MQA to won".into(),
        num(v.median_days_mqa_to_won, 1),
    ]);
    t.push(vec![
        "median days SQO to won".into(),
        num(v.median_days_sqo_to_won, 1),
    ]);
    t.push(vec!["open SQOs".into(), v.open_sqos.to_string()]);
    t.push(vec!["win rate".into(), pct(v.win_rate)]);
    t.push(vec![
        format!("average won ARR ({currency})"),
        v.avg_won_arr.map(money).unwrap_or("-".into()),
    ]);
    t.push(vec![
        "average days to close".into(),
        num(v.avg_days_to_close, 1),
    ]);
    t.push(vec![
        format!("pipeline velocity ({currency}/day)"),
        v.arr_per_day.map(money).unwrap_or("-".into()),
    ]);
    t.push(vec![format!("won ARR ({currency})"), money(i.won_arr)]);
    t.push(vec![
        "marketing-influenced ARR".into(),
        match (&i.note, i.share) {
            (Some(note), None) => note.clone(),
            _ => format!(
                "{} ({} of won ARR, {} of {} deals)",
                money(i.influenced_arr),
                pct(i.share),
                i.influenced_deals,
                i.won_deals
            ),
        },
    ]);
    t.render(md, out);
    if v.won_without_arr > 0 {
        let _ = writeln!(
            out,
            "{} of {} won deal(s) have no ARR recorded (absent or 0): left out of the average\n",
            v.won_without_arr, v.won
        );
    }
    if v.negative_durations > 0 {
        let _ = writeln!(
            out,
            "{} deal(s) left out of the medians: a stage date lies before its start \
             (see `handoff explain`)\n",
            v.negative_durations
        );
    }
}

fn alerts_section(out: &mut String, md: bool, card: &Scorecard, tz: Tz) {
    heading(out, md, &format!("Alerts raised ({})", card.alerts.len()));
    const SHOWN: usize = 10;
    for a in card.alerts.iter().rev().take(SHOWN) {
        let to: Vec<String> = a
            .recipients
            .iter()
            .map(|r| format!("{} {}", r.role, r.who.as_deref().unwrap_or("(unassigned)")))
            .collect();
        let _ = writeln!(
            out,
            "{}{} {}: {} -> {}",
            if md { "- " } else { "  " },
            local(a.at, tz),
            a.rule,
            a.message,
            to.join(", ")
        );
    }
    if card.alerts.len() > SHOWN {
        let _ = writeln!(
            out,
            "  ... and {} earlier (use --format json for all)",
            card.alerts.len() - SHOWN
        );
    }
    out.push('\n');
}

fn breakdown_section(
    out: &mut String,
    md: bool,
    by: Dimension,
    rows: &[(String, Scorecard)],
    currency: &str,
) {
    let name = serde_json::to_value(by)
        .ok()
        .and_then(|v| v.as_str().map(String::from));
    heading(out, md, &format!("By {}", name.unwrap_or_default()));
    let mut head = vec![
        "key",
        "MQA",
        "hand-offs",
        "SAL",
        "SQO",
        "won",
        "win rate",
        "MQA to won",
    ];
    let arr_head = format!("won ARR ({currency})");
    head.push(&arr_head);
    head.push("med. days SQO to won");
    let first_clock = rows
        .first()
        .map(|(_, c)| c.commitments.clone())
        .unwrap_or_default();
    let ids: Vec<String> = first_clock
        .iter()
        .filter(|c| c.is_rate)
        .map(|c| c.id.clone())
        .collect();
    let mut t = Table::new(&[head, ids.iter().map(String::as_str).collect()].concat());
    for (key, c) in rows {
        let f = &c.funnel;
        let mut row = vec![
            key.clone(),
            f.mqa.to_string(),
            f.handoffs.to_string(),
            f.sal.to_string(),
            f.sqo.to_string(),
            f.won.to_string(),
            pct(f.conversions.win_rate),
            pct(f.conversions.mqa_to_won),
            money(f.won_arr),
            num(c.velocity.median_days_sqo_to_won, 1),
        ];
        for id in &ids {
            let v = c
                .commitments
                .iter()
                .find(|x| &x.id == id)
                .and_then(|x| x.actual);
            row.push(pct(v));
        }
        t.push(row);
    }
    t.render(md, out);
}
