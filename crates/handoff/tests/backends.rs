//! The command line gives the same answers on both backends: a generated
//! history, with a conflicting copy of one event and a line that is not an
//! event, imported through `handoff import` into a SQLite file and into a
//! PostgreSQL database, then reported, explained and rebuilt. SQLite is
//! the reference (its results are checked by hand elsewhere, e.g.
//! tests/report.rs); PostgreSQL must store the same log in the same order
//! and so print the same JSON, byte for byte.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::TestDb;

fn handoff(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "handoff {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// What the command line says about `db`: the import summary, the
/// scorecard, one account's story, the rebuild summary, and the log.
fn answers(db: &TestDb, events: &Path) -> Vec<String> {
    let rejects = db.dir.path().join("rejects.jsonl");
    let import = handoff(&[
        "import",
        "--db",
        db.arg(),
        "--no-progress",
        "--rejects",
        rejects.to_str().unwrap(),
        events.to_str().unwrap(),
    ]);
    let summary = String::from_utf8_lossy(&import.stderr)
        .lines()
        .filter(|l| l.contains("rows read") || l.contains("rebuilt"))
        .map(|l| l.replace(events.to_str().unwrap(), "EVENTS"))
        .collect::<Vec<_>>()
        .join("\n");
    let as_of = ["--as-of", "2026-05-01T00:00:00Z"];
    let report = handoff(
        &[
            &[
                "report",
                "--db",
                db.arg(),
                "--format",
                "json",
                "--by",
                "rep",
            ][..],
            &as_of,
        ]
        .concat(),
    );
    let explain = handoff(
        &[
            &["explain", "--db", db.arg(), "--json", "acct-000007"][..],
            &as_of,
        ]
        .concat(),
    );
    let rebuild = handoff(&[&["rebuild", "--db", db.arg()][..], &as_of].concat());
    let store = db.open();
    let log: Vec<String> = store
        .events_ordered()
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    let conflicts: Vec<String> = store
        .conflicts()
        .unwrap()
        .into_iter()
        .map(|c| format!("{} {} {}", c.id, c.source, c.rejected))
        .collect();
    let rejected: Vec<String> = store
        .rejected_rows()
        .unwrap()
        .into_iter()
        .map(|r| format!("{} {}", r.line, r.reason))
        .collect();
    vec![
        summary,
        String::from_utf8(report.stdout).unwrap(),
        String::from_utf8(explain.stdout).unwrap(),
        String::from_utf8_lossy(&rebuild.stderr).into_owned(),
        log.join(" "),
        conflicts.join("\n"),
        rejected.join("\n"),
        store.load_derived_accounts().unwrap().join("\n"),
    ]
}

#[test]
fn an_imported_history_reports_alike_on_sqlite_and_postgres() {
    let Some(postgres) = TestDb::postgres() else {
        return;
    };
    let sqlite = TestDb::sqlite();

    // 300 accounts over 120 days, then a conflicting copy of the first
    // event (same id, other instant) and a line that is not an event.
    let events = sqlite.dir.path().join("events.jsonl");
    handoff(&[
        "gen",
        "--accounts",
        "300",
        "--days",
        "120",
        "--seed",
        "11",
        "--out",
        events.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&events).unwrap();
    let first = text.lines().next().unwrap();
    let at = first.find(r#""at":""#).unwrap() + 6;
    let changed = format!("{}2025{}", &first[..at], &first[at + 4..]);
    assert_ne!(changed, first);
    let extra = format!("{changed}\n{{\"id\":\"x\",\"type\":\"meeting\"}}\n");
    std::fs::write(&events, text + &extra).unwrap();

    let reference = answers(&sqlite, &events);
    let got = answers(&postgres, &events);
    let names = [
        "import summary",
        "report",
        "explain",
        "rebuild",
        "log order",
        "conflicts",
        "rejected rows",
        "derived accounts",
    ];
    for ((name, want), got) in names.iter().zip(&reference).zip(&got) {
        assert!(!want.is_empty(), "{name}: empty on SQLite");
        assert_eq!(got, want, "{name} differs between SQLite and PostgreSQL");
    }
    assert!(
        reference[0].contains("1 conflicting; 1 rows rejected"),
        "{}",
        reference[0]
    );
}
