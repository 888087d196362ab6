//! `handoff plan`: the SAL volume an ARR goal needs, from the measured
//! funnel, optionally written into the policy as the SAL volume
//! commitment's monthly target.
//!
//! The *basis* is the whole months before `--as-of`'s month
//! (`--basis-months`, default 12) over which the funnel is measured with
//! the scorecard's definitions (`handoff_core::metrics::funnel_rates`); the
//! arithmetic and the range are `handoff_core::plan`'s. Writing edits the
//! policy file with `toml_edit`, so its comments and layout stay as they
//! were: only the commitment's `target` and `period` change, with a comment
//! above the target saying where it came from.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use chrono_tz::Tz;
use handoff_core::metrics::funnel_rates;
use handoff_core::period::Period;
use handoff_core::plan::{plan, Plan, Range};
use handoff_core::Policy;
use serde_json::json;

use crate::cli::{PlanArgs, PlanFormat};
use crate::replay::{load_policies, open_existing, parse_as_of, parse_policy, replay_in_memory};
use crate::report::{money, num, pct, Table};

/// The first line of the comment `--write-policy` puts above the target;
/// an older one is replaced rather than stacked.
const MARK: &str = "# Set by `handoff plan`";

/// Runs `handoff plan`.
pub fn run(args: &PlanArgs) -> Result<u8> {
    let store = open_existing(&args.store.location()?)?;
    let policies = load_policies(&store, args.store.policy.as_deref())?;
    let policy = &policies.latest().policy;
    let as_of = parse_as_of(args.as_of.as_deref())?;
    let tz = policy.org_calendar().tz();
    let quarter = Period::parse_quarter(&args.quarter, tz).map_err(anyhow::Error::msg)?;
    let basis = basis_period(as_of, args.basis_months, tz)?;
    let snapshot = replay_in_memory(&store, &policies, as_of)?;
    let rates = funnel_rates(&snapshot, &basis);
    let p = plan(args.arr_target, quarter.from, quarter.to, 3.0, &rates)
        .with_context(|| format!("planning from the funnel of {}", basis.label))?;
    let per_month = p.sals_per_month.point.ceil() as u64;
    print!(
        "{}",
        match args.format {
            PlanFormat::Json => to_json(policy, &p, &quarter, &basis, per_month)?,
            PlanFormat::Table => to_text(policy, &p, &quarter, &basis, per_month),
        }
    );
    if let Some(path) = &args.write_policy {
        let id = write_policy(
            path,
            args.commitment.as_deref(),
            per_month,
            &p,
            &quarter,
            &policy.currency,
        )?;
        eprintln!(
            "handoff: {}: commitment {id} now targets >= {per_month} SALs per month",
            path.display()
        );
    }
    Ok(crate::cli::EXIT_OK)
}

/// The `months` whole months before the month of `as_of`.
fn basis_period(as_of: DateTime<Utc>, months: u32, tz: Tz) -> Result<Period> {
    if months == 0 {
        bail!("--basis-months must be at least 1");
    }
    let local = as_of.with_timezone(&tz).date_naive();
    let to = NaiveDate::from_ymd_opt(local.year(), local.month(), 1)
        .context("the first of as-of's month")?;
    let from = to
        .checked_sub_months(Months::new(months))
        .context("--basis-months reaches before the calendar")?;
    Ok(Period::from_dates(format!("{from}..{to}"), from, to, tz))
}

fn range(r: &Range, money_like: bool) -> String {
    let f = |v: f64| {
        if money_like {
            money(v)
        } else {
            num(Some(v), 1)
        }
    };
    format!(
        "{} (range {} to {})",
        f(r.point),
        f(r.low),
        r.high.map(f).unwrap_or_else(|| "unbounded".into())
    )
}

fn to_text(policy: &Policy, p: &Plan, quarter: &Period, basis: &Period, per_month: u64) -> String {
    let tz = policy.org_calendar().tz();
    let cur = &policy.currency;
    let date = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d").to_string();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "SAL plan for {cur} {} of won ARR in {} · funnel measured over {}\n",
        money(p.target_arr),
        quarter.label,
        basis.label
    );
    let mut t = Table::new(&["measured", "value", "sample", "95% interval"]);
    let ci = |i: handoff_core::stats::Interval, m: bool| {
        if m {
            format!("{} to {}", money(i.low), money(i.high))
        } else {
            format!("{} to {}", pct(Some(i.low)), pct(Some(i.high)))
        }
    };
    t.push(vec![
        "SAL to SQO".into(),
        pct(Some(p.sal_to_sqo.rate)),
        format!("{} of {} SALs", p.sal_to_sqo.k, p.sal_to_sqo.n),
        ci(p.sal_to_sqo.interval, false),
    ]);
    t.push(vec![
        "SQO to won (win rate)".into(),
        pct(Some(p.win_rate.rate)),
        format!("{} of {} closed deals", p.win_rate.k, p.win_rate.n),
        ci(p.win_rate.interval, false),
    ]);
    t.push(vec![
        format!("average won ARR ({cur})"),
        money(p.avg_won_arr),
        format!("{} won deals with ARR", p.won_with_arr),
        p.avg_won_arr_interval
            .map(|i| ci(i, true))
            .unwrap_or_else(|| "-".into()),
    ]);
    t.push(vec![
        "median days SAL to SQO".into(),
        num(p.median_days_sal_to_sqo, 1),
        String::new(),
        String::new(),
    ]);
    t.push(vec![
        "median days SQO to won".into(),
        num(p.median_days_sqo_to_won, 1),
        String::new(),
        String::new(),
    ]);
    t.render(false, &mut out);
    let mut t = Table::new(&["needed in the quarter", "point (cautious range)"]);
    t.push(vec!["won deals".into(), range(&p.deals, false)]);
    t.push(vec!["SQOs".into(), range(&p.sqos, false)]);
    t.push(vec!["SALs".into(), range(&p.sals, false)]);
    t.push(vec![
        "SALs per month".into(),
        range(&p.sals_per_month, false),
    ]);
    t.render(false, &mut out);
    let _ = writeln!(
        out,
        "Target: >= {per_month} SALs per month, accepted from {} to {} (the quarter moved back \
         by the {:.1}-day lead time).\nThe range takes every measured input at the end of its \
         95% interval that helps or hurts most (docs/review.md, \"handoff plan\").",
        date(p.accept_from),
        date(p.accept_to - chrono::Duration::seconds(1)),
        p.lead_days
    );
    out
}

fn to_json(
    policy: &Policy,
    p: &Plan,
    quarter: &Period,
    basis: &Period,
    per_month: u64,
) -> Result<String> {
    let v = json!({
        "policy": { "name": policy.name, "currency": policy.currency },
        "quarter": quarter,
        "basis": basis,
        "plan": p,
        "target_per_month": per_month,
    });
    Ok(serde_json::to_string_pretty(&v)? + "\n")
}

/// Sets the SAL volume commitment's target in the policy file at `path`
/// to `>= per_month` per month, keeping the rest of the file as written;
/// returns the commitment's id. The edited text must still load.
pub fn write_policy(
    path: &Path,
    id: Option<&str>,
    per_month: u64,
    p: &Plan,
    quarter: &Period,
    currency: &str,
) -> Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{}: not a TOML file", path.display()))?;
    let list = doc
        .get_mut("commitments")
        .and_then(|c| c.as_array_of_tables_mut())
        .with_context(|| format!("{}: no [[commitments]] in the policy", path.display()))?;
    let table = list
        .iter_mut()
        .find(|t| match id {
            Some(id) => t.get("id").and_then(|v| v.as_str()) == Some(id),
            None => t.get("metric").and_then(|v| v.as_str()) == Some("sal_count"),
        })
        .with_context(|| match id {
            Some(id) => format!("{}: no commitment with id \"{id}\"", path.display()),
            None => format!(
                "{}: no commitment on metric \"sal_count\"; name one with --commitment",
                path.display()
            ),
        })?;
    let found = table
        .get("id")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    if table.get("metric").and_then(|v| v.as_str()) != Some("sal_count") {
        bail!(
            "{}: commitment \"{found}\" does not measure sal_count; the plan sets a SAL volume",
            path.display()
        );
    }
    set_keeping_decor(table, "period", "month");
    set_keeping_decor(table, "target", &format!(">= {per_month}"));
    let note = format!(
        "{MARK} for {currency} {} of won ARR in {}: {:.1} SALs a month\n\
         # (range {:.1} to {}), accepted from {} on, at {:.1}% SAL to SQO, {:.1}% win rate\n\
         # and {currency} {} average won ARR.\n",
        money(p.target_arr),
        quarter.label,
        p.sals_per_month.point,
        p.sals_per_month.low,
        p.sals_per_month
            .high
            .map_or("unbounded".into(), |h| format!("{h:.1}")),
        p.accept_from.format("%Y-%m-%d"),
        p.sal_to_sqo.rate * 100.0,
        p.win_rate.rate * 100.0,
        money(p.avg_won_arr),
    );
    if let Some(mut key) = table.key_mut("target") {
        let decor = key.leaf_decor_mut();
        let before = decor
            .prefix()
            .and_then(|p| p.as_str())
            .unwrap_or_default()
            .to_string();
        // Keep the user's own comment lines, drop an earlier plan note.
        let kept: String = before
            .split_inclusive('\n')
            .take_while(|l| !l.starts_with(MARK))
            .collect();
        decor.set_prefix(format!("{kept}{note}"));
    }
    let edited = doc.to_string();
    parse_policy(&edited, &path.display().to_string())
        .context("the edited policy does not load; it was not written")?;
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, &edited).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(found)
}

/// Sets `key` to a string, keeping the comment after the old value.
fn set_keeping_decor(table: &mut toml_edit::Table, key: &str, value: &str) {
    let mut new = toml_edit::Value::from(value);
    match table.get_mut(key) {
        // In place, so the key and the comments above it stay.
        Some(item) => {
            if let Some(old) = item.as_value() {
                *new.decor_mut() = old.decor().clone();
            }
            *item = toml_edit::Item::Value(new);
        }
        None => {
            new.decor_mut().set_prefix(" ");
            table.insert(key, toml_edit::Item::Value(new));
        }
    }
}
