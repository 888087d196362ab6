//! `handoff report` and `handoff explain` on a small history worked out by
//! hand, through the real binary and a real SQLite file.
//!
//! The history, on the default policy's New York calendar (09:00-17:00,
//! EST = UTC-5 in early March 2026): a demo request Monday 2 March 09:00
//! EST makes `acme` a high-intent MQA; hand-off 15:00 EST (20:00Z) to r1.
//! Four business hours: 15:00-17:00 Monday plus 09:00-11:00 Tuesday, so the
//! first-touch deadline is Tuesday 11:00 EST = 16:00Z. The call comes at
//! 11:30 EST (16:30Z): breached, alert to r1's manager m1.

use std::path::Path;
use std::process::{Command, Output};

const HISTORY: &str = include_str!("fixtures/events/acme-breach.jsonl");

fn handoff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(args)
        .output()
        .unwrap()
}

fn imported(dir: &Path) -> String {
    let file = dir.join("h.jsonl");
    std::fs::write(&file, HISTORY).unwrap();
    let db = dir.join("h.db").display().to_string();
    let out = handoff(&["import", "--db", &db, &file.display().to_string()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    db
}

fn report(db: &str, as_of: &str) -> (serde_json::Value, String) {
    let args = [
        "report", "--db", db, "--month", "2026-03", "--as-of", as_of, "--format", "json",
    ];
    let out = handoff(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = serde_json::from_slice(&out.stdout).unwrap();
    (json, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn commitment<'a>(r: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    r["commitments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()
}

#[test]
fn as_of_before_the_deadline_leaves_later_events_out_and_keeps_the_clock_pending() {
    let dir = tempfile::tempdir().unwrap();
    let db = imported(dir.path());
    // Tuesday 10:00 EST: an hour before the deadline. The call and the
    // acceptance have not happened yet: 2 events left out.
    let (r, stderr) = report(&db, "2026-03-03T15:00:00Z");
    assert!(
        stderr.contains("2 events after 2026-03-03 15:00 UTC left out"),
        "{stderr}"
    );
    let ft = commitment(&r, "first-touch");
    assert_eq!(
        (ft["n"].as_u64(), ft["pending"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(r["funnel"]["sal"], 0);
    assert_eq!(r["alerts"].as_array().unwrap().len(), 0);
}

#[test]
fn as_of_after_the_deadline_counts_the_breach_and_its_alert() {
    let dir = tempfile::tempdir().unwrap();
    let db = imported(dir.path());
    let (r, stderr) = report(&db, "2026-05-01T00:00:00Z");
    assert!(!stderr.contains("left out"), "{stderr}");
    let ft = commitment(&r, "first-touch");
    assert_eq!(
        (ft["actual"].as_f64(), ft["n"].as_u64()),
        (Some(0.0), Some(1))
    );
    assert_eq!(ft["status"], "missed");
    // 4h 30m of business time to the call: 2h Monday + 2h30m Tuesday.
    assert_eq!(r["first_touch"]["median_s"].as_f64(), Some(16_200.0));
    let alerts = r["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["at"], "2026-03-03T16:00:00Z");
    assert_eq!(alerts[0]["recipients"][0]["who"], "m1");
    assert_eq!(r["funnel"]["sal"], 1);
}

#[test]
fn explain_tells_the_breach_in_local_time_with_its_event_ids() {
    let dir = tempfile::tempdir().unwrap();
    let db = imported(dir.path());
    let out = handoff(&[
        "explain",
        "--db",
        &db,
        "acme",
        "--as-of",
        "2026-05-01T00:00:00Z",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("MQA, tier high (rule `any`) from engagements [d1]"),
        "{text}"
    );
    assert!(
        text.contains("BREACHED at 2026-03-03 11:00 EST while held by r1"),
        "{text}"
    );
    assert!(
        text.contains("stopped late 2026-03-03 11:30 EST by [a1]"),
        "{text}"
    );
}

#[test]
fn a_mistyped_database_is_an_error_and_no_file_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo.db");
    let path = missing.display().to_string();
    for cmd in [
        vec!["report", "--db", &path],
        vec!["explain", "--db", &path, "x"],
    ] {
        let out = handoff(&cmd);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("no database at"), "{stderr}");
        assert!(!missing.exists(), "{cmd:?} created {path}");
    }
}
