//! `handoff whatif`: a small history worked out by hand under a shorter
//! first-touch target, and the same policy as candidate changing nothing on
//! generated data and on the Olist and Maven imports.

mod common;

use common::handoff;

use std::path::{Path, PathBuf};
use std::process::Output;

use chrono::{DateTime, Utc};
use handoff::replay::Policies;
use handoff::whatif::{compare, Pair};
use handoff_core::engine::sort_events;
use handoff_core::period::Period;
use handoff_core::{Event, Policy};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

const DEFAULT: &str = include_str!("../../../policies/default.toml");

/// The default policy with the first-touch target at 2 business hours.
fn two_hour_policy() -> String {
    let text = DEFAULT.replace("within = \"4h\"", "within = \"2h\"");
    assert_eq!(
        text.matches("\"2h\"").count(),
        1,
        "the default policy changed"
    );
    text
}

#[test]
fn a_shorter_first_touch_target_adds_exactly_the_breaches_worked_out_by_hand() {
    // Three high-intent hand-offs to r1 on Tue 3 Mar 2026 at 09:00 EST
    // (14:00Z), touched 1.5, 3 and 5 business hours later (a, b, c).
    // 4 h target: deadline 13:00 EST = 18:00Z, only c breaches (18:00Z).
    // 2 h target: deadline 11:00 EST = 16:00Z, b and c breach (16:00Z).
    // Each breached account was touched within 4 business hours of its
    // breach, so no escalation step under either policy.
    let text = include_str!("fixtures/whatif/three-handoffs.jsonl");
    let mut events: Vec<Event> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    sort_events(&mut events);
    let current = Policy::from_toml(DEFAULT).unwrap();
    let candidate = Policy::from_toml(&two_hour_policy()).unwrap();
    let tz = current.org_calendar().tz();
    let period = Period::parse_month("2026-03", tz).unwrap();
    // As of 10 March: the 14-day attempts windows (to 17 March) are still
    // open, so the first-touch clocks are the only ones judged.
    let as_of = at("2026-03-10T00:00:00Z");
    let current = Policies::single(current, DEFAULT.to_string(), "policies/default.toml");
    let events: Vec<&Event> = events.iter().collect();
    let cmp = compare(&current, &candidate, &events, &period, as_of);

    // first-touch met 2 of 3, then 1 of 3; nothing else moves.
    let changed: Vec<(&str, Option<f64>, Option<f64>)> = cmp
        .commitments
        .iter()
        .filter(|c| c.changed)
        .map(|c| {
            (
                c.id.as_str(),
                c.current.actual,
                c.candidate.as_ref().unwrap().actual,
            )
        })
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].0, "first-touch");
    assert!((changed[0].1.unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert!((changed[0].2.unwrap() - 1.0 / 3.0).abs() < 1e-12);
    let pair = |current: f64, candidate: f64| Pair { current, candidate };
    assert_eq!(cmp.breaches_by_rep["r1"], pair(1.0, 2.0));
    assert_eq!(cmp.breaches_by_team["east"], pair(1.0, 2.0));
    assert_eq!(cmp.alerts_by_role.len(), 1, "{:?}", cmp.alerts_by_role);
    assert_eq!(cmp.alerts_by_role["sales_manager"], pair(1.0, 2.0));
    // The funnel is the same: 3 MQAs, 3 hand-offs, none decided.
    let moved: Vec<&str> = cmp
        .funnel
        .iter()
        .filter(|(_, p)| p.changed())
        .map(|(k, _)| k.as_str())
        .collect();
    assert!(moved.is_empty(), "{moved:?}");
    assert_eq!(cmp.funnel[0], ("mqa".to_string(), pair(3.0, 3.0)));
    assert_eq!(cmp.funnel[1], ("handoffs".to_string(), pair(3.0, 3.0)));
    // Only b changes outcome: qualified under both, breached only under 2 h.
    assert_eq!(cmp.accounts.len(), 1);
    assert_eq!(cmp.accounts[0].account, "b");
    assert_eq!(cmp.accounts[0].qualified, (true, true));
    assert_eq!(cmp.accounts[0].breached, (false, true));
    // 1 commitment + 1 rep + 1 team + 1 role + 1 account.
    assert_eq!(cmp.differences(), 5);
}

/// `whatif --format json` between a store and its own policy file.
fn differences(db: &Path, policy: &Path, as_of: &str) -> (u64, Value) {
    let out = handoff(&[
        "whatif",
        "--db",
        &db.display().to_string(),
        "--policy",
        &policy.display().to_string(),
        "--format",
        "json",
        "--as-of",
        as_of,
    ]);
    let v: Value = serde_json::from_str(&ok(&out)).unwrap();
    (v["differences"].as_u64().unwrap(), v)
}

#[test]
fn the_same_policy_as_candidate_changes_nothing_on_generated_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    ok(&handoff(&["demo", "--db", &db.display().to_string()]));
    let (n, v) = differences(
        &db,
        &repo().join("policies/default.toml"),
        "2027-01-01T00:00:00Z",
    );
    assert_eq!(n, 0, "{v}");
    // It did compare something: a year of hand-offs and breaches.
    assert!(
        v["funnel"][1][1]["current"].as_f64().unwrap() > 500.0,
        "{v}"
    );
    assert!(!v["breaches_by_rep"].as_object().unwrap().is_empty());
    // And a candidate that shortens the target differs, on the CLI too.
    let shorter = dir.path().join("two-hours.toml");
    std::fs::write(&shorter, two_hour_policy()).unwrap();
    let (n, v) = differences(&db, &shorter, "2027-01-01T00:00:00Z");
    assert!(n > 0, "{v}");
}

fn shared_data() -> Option<PathBuf> {
    let dir = match std::env::var_os("HANDOFF_SHARED_DIR") {
        Some(d) => PathBuf::from(d).join("data"),
        None => repo().join("../shared/data"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: shared data not found at {} (set HANDOFF_SHARED_DIR)",
            dir.display()
        );
        None
    }
}

fn import(db: &Path, policy: Option<&Path>, mapping: &str, file: &Path) {
    let mut args = vec![
        "import".to_string(),
        "--db".into(),
        db.display().to_string(),
    ];
    if let Some(p) = policy {
        args.extend(["--policy".into(), p.display().to_string()]);
    }
    let m = repo().join("mappings").join(format!("{mapping}.toml"));
    args.extend([
        "--mapping".into(),
        m.display().to_string(),
        file.display().to_string(),
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&handoff(&refs));
}

#[test]
fn the_same_policy_as_candidate_changes_nothing_on_olist_and_maven() {
    let Some(data) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();

    let olist = dir.path().join("olist.db");
    let policy = repo().join("policies/olist.toml");
    let folder = data.join("olist-marketing-funnel");
    import(
        &olist,
        Some(&policy),
        "olist-mql",
        &folder.join("olist_marketing_qualified_leads_dataset.csv"),
    );
    import(
        &olist,
        Some(&policy),
        "olist-closed-deals",
        &folder.join("olist_closed_deals_dataset.csv"),
    );
    let (n, v) = differences(&olist, &policy, "2019-01-01T00:00:00Z");
    assert_eq!(n, 0, "{v}");
    // 8,000 MQLs were compared.
    assert_eq!(v["funnel"][0][1]["current"].as_f64(), Some(8000.0), "{v}");

    let maven = dir.path().join("maven.db");
    let folder = data.join("maven-crm-sales-opportunities");
    for (mapping, file) in [
        ("maven-sales-teams", "sales_teams.csv"),
        ("maven-accounts", "accounts.csv"),
        ("maven-sales-pipeline", "sales_pipeline.csv"),
    ] {
        let out_db = &maven;
        import(out_db, None, mapping, &folder.join(file));
    }
    let (n, v) = differences(
        &maven,
        &repo().join("policies/default.toml"),
        "2018-06-01T00:00:00Z",
    );
    assert_eq!(n, 0, "{v}");
    assert!(
        v["funnel"][7][1]["current"].as_f64().unwrap() > 1000.0,
        "won deals: {v}"
    );
}
