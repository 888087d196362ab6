//! `handoff explain`: one account's story from the store.
//!
//! The story is told from the derived state: which touches qualified the
//! account under which tier and window, every stage move, every clock with
//! its start, stop or breach, and every alert, each with the event ids
//! behind it. Times are shown in the organisation's time zone.

use std::fmt::Write as _;

use anyhow::Result;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use handoff_core::engine::{AccountRecord, Alert, ClockRecord, ClockState, Cycle};

use crate::cli::ExplainArgs;
use crate::replay::{load_policies, open_existing, parse_as_of, replay_in_memory};
use crate::report::hm;

/// Runs `handoff explain`.
///
/// The story is replayed from the stored log as of now (or `--as-of`), the
/// same way `report` computes its figures, so the two always agree.
pub fn run(args: &ExplainArgs) -> Result<u8> {
    let db = args.store.location()?;
    let store = open_existing(&db)?;
    let policies = load_policies(&store, args.store.policy.as_deref())?;
    let policy = &policies.latest().policy;
    let as_of = parse_as_of(args.as_of.as_deref())?;
    let snapshot = replay_in_memory(&store, &policies, as_of)?;
    let find = |id: &str| {
        snapshot
            .accounts
            .binary_search_by(|a| a.id.as_str().cmp(id))
            .ok()
            .map(|i| &snapshot.accounts[i])
    };
    let Some(account) = find(&args.account) else {
        let lead = handoff_core::engine::lone_lead(&args.account);
        if find(&lead).is_some() {
            anyhow::bail!(
                "no account {:?}, but a lone lead's account {lead:?} exists; run \
                 `handoff explain --db {} {lead}`",
                args.account,
                db
            );
        }
        anyhow::bail!(
            "no account {:?} in {}; check the id (ids are case-sensitive)",
            args.account,
            db
        );
    };
    let alerts: Vec<&Alert> = snapshot
        .alerts
        .iter()
        .filter(|a| a.account.as_deref() == Some(account.id.as_str()))
        .collect();
    if args.json {
        let v = serde_json::json!({
            "account": account,
            "alerts": alerts,
            "policy": policies.to_json(DateTime::<Utc>::MIN_UTC, as_of),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", story(account, &alerts, policy.org_calendar().tz()));
        println!(
            "Judged under {}.",
            policies.describe(DateTime::<Utc>::MIN_UTC, as_of)
        );
    }
    Ok(crate::cli::EXIT_OK)
}

fn when(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

/// The account's story as text.
pub fn story(a: &AccountRecord, alerts: &[&Alert], tz: Tz) -> String {
    let mut out = String::new();
    let f = &a.facts;
    let _ = writeln!(
        out,
        "Account {}{}",
        a.id,
        f.name
            .as_ref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default()
    );
    let firmo: Vec<String> = [
        f.industry.clone(),
        f.employees.map(|e| format!("{e} employees")),
        f.country.clone(),
        f.region.as_ref().map(|r| format!("region {r}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !firmo.is_empty() {
        let _ = writeln!(out, "  {}", firmo.join(", "));
    }
    let _ = writeln!(
        out,
        "  stage now: {} · owner: {} · channel: {}",
        a.stage.map(|s| s.as_str()).unwrap_or("none"),
        a.owner.as_deref().unwrap_or("none"),
        a.channel.as_deref().unwrap_or("none")
    );
    if let Some(miss) = &a.icp_miss {
        let _ = writeln!(out, "  ICP: does not fit: {miss}");
    }
    let _ = writeln!(
        out,
        "  {} marketing touches ({} of intent kinds, kept below), {} cycles, {} opportunities\n",
        a.marketing_touches,
        a.engagements.len(),
        a.cycles.len(),
        a.opportunities.len()
    );

    for c in &a.cycles {
        cycle_story(&mut out, c, tz);
    }
    for e in &a.engagements {
        let _ = writeln!(
            out,
            "  engagement {}  {}{}{}  [{}]",
            when(e.at, tz),
            e.kind,
            e.asset
                .as_ref()
                .map(|x| format!(" on {x}"))
                .unwrap_or_default(),
            e.contact
                .as_ref()
                .map(|x| format!(" by {x}"))
                .unwrap_or_default(),
            e.event_id
        );
    }
    if !a.engagements.is_empty() {
        out.push('\n');
    }
    for o in &a.opportunities {
        // Milestones in time order (a deal can be reopened after a loss).
        let mut steps = vec![(o.opened_at, "opened".to_string())];
        if let Some(w) = o.won_at {
            let arr = match o.amount.filter(|x| *x > 0.0) {
                Some(x) => format!("ARR {x:.0}"),
                None => "no ARR recorded".into(),
            };
            steps.push((w, format!("won ({arr})")));
        }
        if let Some(l) = o.lost_at {
            steps.push((l, "lost".into()));
        }
        steps.sort_by_key(|(t, _)| *t);
        let told: Vec<String> = steps
            .iter()
            .map(|(t, w)| format!("{w} {}", when(*t, tz)))
            .collect();
        let _ = writeln!(
            out,
            "Opportunity {}: {}{}",
            o.id,
            told.join(", "),
            if o.influenced {
                ", marketing-influenced"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(out, "\nStage history");
    if a.history.is_empty() {
        let _ = writeln!(out, "  (no stage reached yet)");
    }
    for h in &a.history {
        let _ = writeln!(
            out,
            "  {}  {} -> {}  [{}]{}",
            when(h.at, tz),
            h.from.map(|s| s.as_str()).unwrap_or("-"),
            h.to.as_str(),
            h.event_id,
            h.reason
                .as_ref()
                .map(|r| format!("  reason: {r}"))
                .unwrap_or_default()
        );
    }
    if !alerts.is_empty() {
        let _ = writeln!(out, "\nAlerts");
        for al in alerts {
            let _ = writeln!(
                out,
                "  {}  {}: {}  [{}]",
                when(al.at, tz),
                al.rule,
                al.message,
                al.evidence.join(", ")
            );
        }
    }
    if !a.warnings.is_empty() {
        let _ = writeln!(out, "\nData warnings");
        for w in &a.warnings {
            let _ = writeln!(out, "  {}  {}  [{}]", when(w.at, tz), w.message, w.event_id);
        }
    }
    out
}

fn cycle_story(out: &mut String, c: &Cycle, tz: Tz) {
    let _ = writeln!(out, "Cycle {}", c.number);
    // Steps are gathered, then told in time order.
    type Steps = Vec<(DateTime<Utc>, String)>;
    let mut steps: Steps = Vec::new();
    let line = |steps: &mut Steps, t: Option<DateTime<Utc>>, what: String| {
        if let Some(t) = t {
            steps.push((t, what));
        }
    };
    let qual = match &c.qualification {
        Some(q) => format!(
            "MQA, tier {} (rule `{}`{}) from engagements [{}]",
            q.tier,
            q.rule,
            q.window_from
                .map(|w| format!(", window from {}", when(w, tz)))
                .unwrap_or_default(),
            q.evidence.join(", ")
        ),
        None => format!(
            "MQA asserted upstream{} [{}]",
            c.tier
                .as_ref()
                .map(|t| format!(", tier {t}"))
                .unwrap_or_default(),
            c.mqa_event.as_deref().unwrap_or("-")
        ),
    };
    line(&mut steps, c.mqa_at, qual);
    line(
        &mut steps,
        c.handoff_at,
        format!(
            "handed off to {}{} [{}]",
            c.handoff_rep.as_deref().unwrap_or("?"),
            c.handoff_team
                .as_ref()
                .map(|t| format!(" (team {t})"))
                .unwrap_or_default(),
            c.handoff_event.as_deref().unwrap_or("-")
        ),
    );
    line(
        &mut steps,
        c.first_touch_at,
        format!(
            "first touch by {} after {} business time",
            c.first_touch_rep.as_deref().unwrap_or("?"),
            hm(c.first_touch_business_s.map(|s| s as f64))
        ),
    );
    line(
        &mut steps,
        c.accepted_at,
        format!(
            "accepted (SAL) [{}]",
            c.accepted_event.as_deref().unwrap_or("-")
        ),
    );
    line(
        &mut steps,
        c.rejected_at,
        format!(
            "rejected: {} [{}]",
            c.reject_reason.as_deref().unwrap_or("-"),
            c.rejected_event.as_deref().unwrap_or("-")
        ),
    );
    line(
        &mut steps,
        c.nurture_at,
        format!(
            "returned to nurture [{}]",
            c.nurture_event.as_deref().unwrap_or("-")
        ),
    );
    line(&mut steps, c.disposition_at, "disposition recorded".into());
    line(&mut steps, c.sqo_at, "SQO".into());
    line(
        &mut steps,
        c.won_at,
        match c.won_amount.filter(|x| *x > 0.0) {
            Some(x) => format!("won, ARR {x:.0}"),
            None => "won, no ARR recorded".into(),
        },
    );
    line(&mut steps, c.lost_at, "lost".into());
    steps.sort_by_key(|(t, _)| *t);
    for (t, what) in steps {
        let _ = writeln!(out, "  {}  {what}", when(t, tz));
    }
    let _ = writeln!(
        out,
        "  {} activities after hand-off ({} automated, not counted)",
        c.activities.len(),
        c.automated
    );
    if c.owners.len() > 1 {
        let owners: Vec<String> = c
            .owners
            .iter()
            .map(|o| format!("{} from {}", o.rep, when(o.from, tz)))
            .collect();
        let _ = writeln!(out, "  owners: {}", owners.join("; "));
    }
    for k in &c.clocks {
        clock_story(out, k, tz);
    }
    out.push('\n');
}

fn clock_story(out: &mut String, k: &ClockRecord, tz: Tz) {
    let basis = serde_json::to_value(k.time)
        .ok()
        .and_then(|v| v.as_str().map(String::from));
    let _ = writeln!(
        out,
        "  clock {} ({}, {} time on calendar {}): started {} by [{}], deadline {}{}",
        k.commitment,
        k.kind,
        basis.unwrap_or_default(),
        k.calendar,
        when(k.start_at, tz),
        k.start_event,
        when(k.deadline, tz),
        if k.policy_version > 0 {
            format!(" (policy v{})", k.policy_version)
        } else {
            String::new()
        }
    );
    let elapsed = hm(k.elapsed_s.map(|s| s as f64));
    let end = match k.state {
        ClockState::Open => "still running".to_string(),
        ClockState::Met => format!(
            "met {} by [{}] after {elapsed}{}",
            k.stop_at.map(|t| when(t, tz)).unwrap_or_default(),
            k.stop_event.as_deref().unwrap_or("-"),
            if k.kind == "cadence" {
                format!(", {} attempts", k.attempts)
            } else {
                String::new()
            }
        ),
        ClockState::Breached => format!(
            "BREACHED at {} while held by {}{}",
            k.breach_at.map(|t| when(t, tz)).unwrap_or_default(),
            k.breach_owner.as_deref().unwrap_or("nobody"),
            k.stop_at
                .map(|t| format!(
                    "; stopped late {} by [{}] after {elapsed}",
                    when(t, tz),
                    k.stop_event.as_deref().unwrap_or("-")
                ))
                .unwrap_or_default()
        ),
        ClockState::Cancelled => format!(
            "cancelled {} by [{}]",
            k.stop_at.map(|t| when(t, tz)).unwrap_or_default(),
            k.stop_event.as_deref().unwrap_or("-")
        ),
    };
    let _ = writeln!(out, "    {end}");
    if let (Some(owner), Some(own)) = (&k.owner, k.owner_elapsed_s) {
        if k.owner_elapsed_s != k.elapsed_s {
            let _ = writeln!(
                out,
                "    {owner}'s own time since assignment: {}",
                hm(Some(own as f64))
            );
        }
    }
}
