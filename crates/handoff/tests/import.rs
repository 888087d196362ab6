//! `handoff import` through the real binary: shipped mappings on small
//! fixtures (HubSpot, Salesforce), event-model JSON Lines, error cases, and
//! the real Olist and Maven data compared with an independent pandas
//! computation (scripts/expected_real_data.py).
//!
//! The real-data tests skip, saying so, when the shared data folder is
//! missing; they fail when pandas is missing unless HANDOFF_SKIP_PYTHON is
//! set (scripts/test installs pandas).

mod common;

use common::handoff;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset, NaiveDate};
use chrono_tz::Tz;
use handoff::store::Store;
use handoff_core::event::{Event, EventBody};
use serde_json::Value;

// ---------------------------------------------------------------------------
// Helpers.

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn mapping(name: &str) -> PathBuf {
    repo().join("mappings").join(format!("{name}.toml"))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The counts of the last summary line: rows read, events, imported,
/// duplicate, conflicting, rejected.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    rows: u64,
    events: u64,
    imported: u64,
    duplicates: u64,
    conflicts: u64,
    rejected: u64,
}

fn summary(out: &Output) -> Summary {
    let text = stderr(out);
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains(" rows read, "))
        .unwrap_or_else(|| panic!("no summary in:\n{text}"));
    // Numbers after the file name, e.g. "8 rows read, 19 events: ...".
    let start = line[..line.find(" rows read, ").unwrap()]
        .rfind(": ")
        .unwrap()
        + 2;
    let n: Vec<u64> = line[start..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(n.len(), 6, "{line}");
    Summary {
        rows: n[0],
        events: n[1],
        imported: n[2],
        duplicates: n[3],
        conflicts: n[4],
        rejected: n[5],
    }
}

/// Imports files through a mapping into `db`; asserts the exit code.
fn import(db: &Path, mapping: Option<&Path>, files: &[&Path], code: i32) -> Output {
    let mut args = vec![
        "import".to_string(),
        "--db".into(),
        db.display().to_string(),
    ];
    if let Some(m) = mapping {
        args.extend(["--mapping".into(), m.display().to_string()]);
    }
    args.extend(files.iter().map(|f| f.display().to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = handoff(&refs);
    assert_eq!(out.status.code(), Some(code), "{args:?}:\n{}", stderr(&out));
    out
}

fn rejects_of(db: &Path) -> Vec<Value> {
    let path = format!("{}.rejects.jsonl", db.display());
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn events(db: &Path) -> Vec<Event> {
    Store::open(db).unwrap().events_ordered().unwrap()
}

fn event<'a>(events: &'a [Event], id: &str) -> &'a Event {
    events
        .iter()
        .find(|e| e.id == id)
        .unwrap_or_else(|| panic!("no event {id}"))
}

// ---------------------------------------------------------------------------
// Fixtures: shipped HubSpot and Salesforce mappings.

#[test]
fn hubspot_contacts_fixture_imports_with_rejects_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let out = import(
        &db,
        Some(&mapping("hubspot-contacts")),
        &[&fixture("hubspot-contacts.csv")],
        0,
    );
    // 7 rows. Events per accepted row: 101 -> account, contact, mqa, sal,
    // sqo = 5; 102 -> account, contact, mqa = 3; 103 -> account, contact = 2;
    // 106 -> account, contact, mqa, sal = 4; the repeat of 101 -> 5 again,
    // all duplicates. 104 (MQL date 2024-31-03) and the row without a
    // Record ID are rejected. 5+3+2+4+5 = 19 events, 14 new.
    let expected = Summary {
        rows: 7,
        events: 19,
        imported: 14,
        duplicates: 5,
        conflicts: 0,
        rejected: 2,
    };
    assert_eq!(summary(&out), expected);

    let rejects = rejects_of(&db);
    assert_eq!(rejects.len(), 2);
    // Header is line 1: Dev Rao's row is line 5, the id-less row line 6.
    assert_eq!(rejects[0]["line"], 5);
    let reason = rejects[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("event 3 (stage): at: \"2024-31-03 10:00\" matches none"),
        "{reason}"
    );
    assert!(rejects[0]["raw"]
        .as_str()
        .unwrap()
        .starts_with("104,Dev,Rao,"));
    assert_eq!(rejects[1]["line"], 6);
    assert_eq!(
        rejects[1]["reason"],
        "event 1 (account): id: column `Record ID` is empty"
    );
    assert!(rejects[0]["file"]
        .as_str()
        .unwrap()
        .ends_with("hubspot-contacts.csv"));

    let evs = events(&db);
    // A contact without a company is an account of its own.
    let EventBody::Contact(c) = &event(&evs, "hubspot-contact:103").body else {
        panic!()
    };
    assert_eq!(c.account.as_deref(), Some("hubspot-contact:103"));
    let mqa = event(&evs, "hubspot-contact:101:mqa");
    // 2024-03-04 09:30 in New York, before the 10 March switch: UTC-5.
    assert_eq!(mqa.at.to_rfc3339(), "2024-03-04T09:30:00-05:00");
    let EventBody::Stage(s) = &mqa.body else {
        panic!()
    };
    assert_eq!(
        (s.account.as_str(), s.channel.as_deref()),
        ("Acme Corp", Some("organic_search"))
    );
    assert_eq!(s.rep.as_deref(), Some("Rita Reyes"));
    // The rejected rows are in the store too.
    assert_eq!(Store::open(&db).unwrap().rejected_rows().unwrap().len(), 2);
}

#[test]
fn hubspot_deals_fixture_maps_stages_amounts_and_lone_deals() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let out = import(
        &db,
        Some(&mapping("hubspot-deals")),
        &[&fixture("hubspot-deals.csv")],
        0,
    );
    // 901, 902, 906 closed: 2 events each; 903 open: 1; 904 (Amount
    // "lots") and 905 (Closed Won without Close Date) rejected.
    let expected = Summary {
        rows: 6,
        events: 7,
        imported: 7,
        duplicates: 0,
        conflicts: 0,
        rejected: 2,
    };
    assert_eq!(summary(&out), expected);
    let rejects = rejects_of(&db);
    assert_eq!(rejects[0]["line"], 5);
    assert_eq!(
        rejects[0]["reason"],
        "event 1 (opportunity): amount: \"lots\" is not a number"
    );
    assert_eq!(rejects[1]["line"], 6);
    assert!(rejects[1]["reason"]
        .as_str()
        .unwrap()
        .contains("column `Close Date` is empty"));

    let evs = events(&db);
    let EventBody::Opportunity(won) = &event(&evs, "hubspot-deal:901:close").body else {
        panic!()
    };
    // "12,000" with the thousands separator stripped.
    assert_eq!((won.stage.as_str(), won.amount), ("won", Some(12000.0)));
    let EventBody::Opportunity(open) = &event(&evs, "hubspot-deal:903:sqo").body else {
        panic!()
    };
    assert_eq!(open.account, "hubspot-deal:903");
    let EventBody::Opportunity(addon) = &event(&evs, "hubspot-deal:906:close").body else {
        panic!()
    };
    assert_eq!(addon.amount, Some(4500.0));
}

#[test]
fn salesforce_fixtures_with_bom_crlf_and_us_dates() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let out = import(
        &db,
        Some(&mapping("salesforce-leads")),
        &[&fixture("salesforce-leads.csv")],
        0,
    );
    // 00Q01: account, contact, mqa, sal (converted) = 4; 00Q02 and 00Q05:
    // account, contact, mqa = 3 each; 00Q03 (13/2/2024 is no month-first
    // date) and the row without a Lead ID are rejected. 4+3+3 = 10.
    let expected = Summary {
        rows: 5,
        events: 10,
        imported: 10,
        duplicates: 0,
        conflicts: 0,
        rejected: 2,
    };
    assert_eq!(summary(&out), expected);
    let rejects = rejects_of(&db);
    // The file is CRLF; the header is line 1, so 00Q03 is line 4 and the
    // row without a Lead ID line 5.
    assert_eq!(
        (rejects[0]["line"].as_u64(), rejects[1]["line"].as_u64()),
        (Some(4), Some(5))
    );

    let evs = events(&db);
    // "3/1/2024, 9:05 AM" New York (UTC-5 on 1 March).
    assert_eq!(
        event(&evs, "sf-lead:00Q01:mqa").at.to_rfc3339(),
        "2024-03-01T09:05:00-05:00"
    );
    assert_eq!(
        event(&evs, "sf-lead:00Q01:sal").at.to_rfc3339(),
        "2024-03-04T00:00:00-05:00"
    );
    let EventBody::Stage(s) = &event(&evs, "sf-lead:00Q02:mqa").body else {
        panic!()
    };
    assert_eq!(
        (s.account.as_str(), s.channel.as_deref()),
        ("sf-lead:00Q02", Some("phone inquiry"))
    );

    let opps = dir.path().join("o.db");
    let out = import(
        &opps,
        Some(&mapping("salesforce-opportunities")),
        &[&fixture("salesforce-opportunities.csv")],
        0,
    );
    // 006A, 006B closed: 2 each; 006C open: 1; 006D (ISO created date)
    // and 006E (Closed Won without Close Date) rejected.
    let expected = Summary {
        rows: 5,
        events: 5,
        imported: 5,
        duplicates: 0,
        conflicts: 0,
        rejected: 2,
    };
    assert_eq!(summary(&out), expected);
    let evs = events(&opps);
    let EventBody::Opportunity(o) = &event(&evs, "sf-opp:006A:close").body else {
        panic!()
    };
    // "USD 24,000.00" -> 24000.
    assert_eq!((o.stage.as_str(), o.amount), ("won", Some(24000.0)));
    let EventBody::Opportunity(o) = &event(&evs, "sf-opp:006C:sqo").body else {
        panic!()
    };
    assert_eq!(
        (o.account.as_str(), o.amount),
        ("sf-opp:006C", Some(5000.0))
    );
}

#[test]
fn importing_the_same_file_twice_imports_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let m = mapping("hubspot-deals");
    let f = fixture("hubspot-deals.csv");
    import(&db, Some(&m), &[&f], 0);
    let out = import(&db, Some(&m), &[&f], 0);
    let expected = Summary {
        rows: 6,
        events: 7,
        imported: 0,
        duplicates: 7,
        conflicts: 0,
        rejected: 2,
    };
    assert_eq!(summary(&out), expected);
    // The reject file holds this run's rejects; the table keeps one copy.
    assert_eq!(rejects_of(&db).len(), 2);
    assert_eq!(Store::open(&db).unwrap().rejected_rows().unwrap().len(), 2);
    assert_eq!(Store::open(&db).unwrap().event_count().unwrap(), 7);
}

// ---------------------------------------------------------------------------
// Event-model JSON Lines and errors.

#[test]
fn event_jsonl_needs_no_mapping_and_rejects_bad_lines_with_their_number() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.db");
    let file = dir.path().join("events.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"id":"s1","type":"stage","at":"2026-03-02T09:00:00-06:00","account":"acme","stage":"mqa"}"#,
            "\n\n",
            r#"{"id":"h1","type":"handoff","at":"2026-03-02T10:00:00-06:00","account":"acme"}"#,
            "\n",
            r#"{"id":"x1","type":"telepathy","at":"2026-03-02T10:00:00Z"}"#,
            "\n",
            r#"{"id":"s1","type":"stage","at":"2026-03-02T09:00:00-06:00","account":"acme","stage":"mqa"}"#,
            "\n",
        ),
    )
    .unwrap();
    let out = import(&db, None, &[&file], 0);
    // Line 2 is blank (not a row). Line 3 lacks the hand-off's rep, line 4
    // has an unknown type; line 5 repeats line 1.
    let expected = Summary {
        rows: 4,
        events: 2,
        imported: 1,
        duplicates: 1,
        conflicts: 0,
        rejected: 2,
    };
    assert_eq!(summary(&out), expected);
    let rejects = rejects_of(&db);
    assert_eq!(rejects[0]["line"], 3);
    assert!(
        rejects[0]["reason"].as_str().unwrap().contains("rep"),
        "{}",
        rejects[0]
    );
    assert_eq!(rejects[1]["line"], 4);
    assert!(rejects[1]["reason"].as_str().unwrap().contains("telepathy"));
}

#[test]
fn conflicting_event_is_reported_and_strict_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    let line = |rep: &str| {
        format!(
            r#"{{"id":"h1","type":"handoff","at":"2026-03-02T10:00:00Z","account":"acme","rep":"{rep}"}}"#
        )
    };
    std::fs::write(&a, line("r1") + "\n").unwrap();
    std::fs::write(&b, line("r2") + "\n").unwrap();
    import(&db, None, &[&a], 0);
    let db_arg = db.display().to_string();
    let b_arg = b.display().to_string();
    let out = handoff(&["import", "--strict", "--db", &db_arg, &b_arg]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(summary(&out).conflicts, 1);
    assert!(
        stderr(&out).contains("conflict: event \"h1\""),
        "{}",
        stderr(&out)
    );
    // What to do about it: the first version stays.
    let advice = "handoff: 1 conflicting event: the store keeps the first version of an id; \
                  to correct events imported wrongly, import into a fresh database (or give \
                  the corrected events new ids)";
    assert!(stderr(&out).contains(advice), "{}", stderr(&out));
    let store = Store::open(&db).unwrap();
    let EventBody::Handoff(h) = &store.events_ordered().unwrap()[0].body else {
        panic!()
    };
    assert_eq!(h.rep, "r1");
    assert_eq!(store.conflicts().unwrap()[0].source, format!("{b_arg}:1"));
}

/// The JSON line of a hand-off to `rep`, with the given id.
fn handoff_line(id: &str, account: &str, rep: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"handoff","at":"2026-03-02T10:00:00Z","account":"{account}","rep":"{rep}"}}"#
    )
}

#[test]
fn invalid_events_are_rejected_naming_the_field_and_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let file = dir.path().join("events.jsonl");
    let lines = [
        handoff_line("", "acme", "r1"),
        handoff_line("   ", "acme", "r1"),
        r#"{"id":"o1","type":"opportunity","at":"2026-03-02T10:00:00Z","opportunity":"op1","account":"acme","stage":"won","amount":-5000}"#.to_string(),
        handoff_line("h1", "acme", "r1"),
        // Unrelated to line 1 but for its empty id: once counted as a
        // conflict with line 1 and dropped.
        handoff_line("", "beta", "r2"),
        handoff_line("h2", "beta", " "),
    ];
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let out = import(&db, None, &[&file], 0);
    // Only line 4 is a valid event; the other five are rejected.
    let expected = Summary {
        rows: 6,
        events: 1,
        imported: 1,
        duplicates: 0,
        conflicts: 0,
        rejected: 5,
    };
    assert_eq!(summary(&out), expected);
    let rejects = rejects_of(&db);
    let got: Vec<(u64, &str)> = rejects
        .iter()
        .map(|r| (int(&r["line"]), r["reason"].as_str().unwrap()))
        .collect();
    let blank = "is blank; every event needs a unique, non-blank id";
    assert_eq!(
        got,
        [
            (1, format!("id \"\" {blank}").as_str()),
            (2, format!("id \"   \" {blank}").as_str()),
            (3, "amount -5000 is negative; ARR must be 0 or more"),
            (5, format!("id \"\" {blank}").as_str()),
            (6, "rep \" \" is blank; handoff events must name their rep"),
        ]
    );
    let stored: Vec<String> = events(&db).into_iter().map(|e| e.id).collect();
    assert_eq!(stored, ["h1"]);
}

#[test]
fn mapped_rows_with_invalid_events_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let map = dir.path().join("deals.toml");
    std::fs::write(
        &map,
        r#"
[source]
timezone = "UTC"
date_formats = ["%Y-%m-%d"]
[[event]]
type = "opportunity"
id = "deal:{id}"
at = { column = "closed" }
[event.fields]
opportunity = "{id}"
account = "{account}"
stage = "won"
amount = { column = "amount" }
"#,
    )
    .unwrap();
    let csv = dir.path().join("deals.csv");
    std::fs::write(
        &csv,
        "id,account,closed,amount\nd1,acme,2026-03-02,5000\nd2,beta,2026-03-03,-5000\n",
    )
    .unwrap();
    let out = import(&db, Some(&map), &[&csv], 0);
    assert_eq!((summary(&out).imported, summary(&out).rejected), (1, 1));
    let rejects = rejects_of(&db);
    assert_eq!(rejects[0]["line"], 3);
    assert_eq!(
        rejects[0]["reason"],
        "event 1 (opportunity): amount -5000 is negative; ARR must be 0 or more"
    );
    assert_eq!(Store::open(&db).unwrap().event_count().unwrap(), 1);
}

#[test]
fn the_store_refuses_an_invalid_event() {
    let mut store = Store::open_in_memory().unwrap();
    let good = Event::from_json(&handoff_line("h1", "acme", "r1")).unwrap();
    let bad = Event::from_json(&handoff_line(" ", "acme", "r1")).unwrap();
    let err = store.append(&[good.clone(), bad]).unwrap_err();
    assert!(format!("{err:#}").contains("id \" \" is blank"), "{err:#}");
    // The whole batch is refused, so nothing is half-stored.
    assert_eq!(store.event_count().unwrap(), 0);
    assert_eq!(store.append(&[good]).unwrap().inserted, 1);
}

/// A small deals file with a rejected row after a blank line and a quoted
/// cell spanning two lines, with `\n` or `\r\n` line ends.
fn deals_with_line_ends(end: &str) -> String {
    [
        "id,account,closed,amount", // 1 header
        "d1,acme,2026-03-02,5000",  // 2 imported
        "d2,acme,2026-03-xx,100",   // 3 rejected: date
        "",                         // 4 blank, skipped
        "d3,\"beta",                // 5 rejected: amount; the row
        "corp\",2026-03-04,lots",   // 6 ends on line 6
        "d4,gamma,,1",              // 7 rejected: no date
        "d1,acme,2026-03-02,6000",  // 8 conflicts with line 2 (no final end)
    ]
    .join(end)
}

#[test]
fn csv_line_numbers_are_the_same_for_crlf_and_lf_files() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("deals.toml");
    std::fs::write(
        &map,
        r#"
[source]
timezone = "UTC"
date_formats = ["%Y-%m-%d"]
[[event]]
type = "opportunity"
id = "deal:{id}"
at = { column = "closed" }
[event.fields]
opportunity = "{id}"
account = "{account}"
stage = "won"
amount = { column = "amount" }
"#,
    )
    .unwrap();
    for (name, end) in [("lf", "\n"), ("crlf", "\r\n")] {
        let db = dir.path().join(format!("{name}.db"));
        let csv = dir.path().join(format!("{name}.csv"));
        std::fs::write(&csv, deals_with_line_ends(end)).unwrap();
        let out = import(&db, Some(&map), &[&csv], 0);
        let expected = Summary {
            rows: 5,
            events: 2,
            imported: 1,
            duplicates: 0,
            conflicts: 1,
            rejected: 3,
        };
        assert_eq!(summary(&out), expected, "{name}");
        let lines: Vec<u64> = rejects_of(&db).iter().map(|r| int(&r["line"])).collect();
        assert_eq!(lines, [3, 5, 7], "{name}");
        let conflicts = Store::open(&db).unwrap().conflicts().unwrap();
        assert_eq!(
            conflicts[0].source,
            format!("{}:8", csv.display()),
            "{name}"
        );
    }
}

#[test]
fn event_jsonl_reject_reasons_name_the_field_and_the_file_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let file = dir.path().join("events.jsonl");
    let types = "account, contact, rep, engagement, stage, handoff, accepted, rejected, \
                 nurture, activity, disposition, opportunity, reassign";
    let cases = [
        (
            r#"{"id":"a1","type":"handoff","at":"2026-03-02T09:00:00","account":"acme","rep":"r1"}"#,
            "field \"at\": \"2026-03-02T09:00:00\" has no UTC offset; write RFC 3339 with an \
             offset, e.g. 2026-03-02T09:00:00-05:00"
                .to_string(),
        ),
        (
            r#"{"id":"a2","type":"handoff","at":"2026-13-02T09:00:00Z","account":"acme","rep":"r1"}"#,
            "field \"at\": \"2026-13-02T09:00:00Z\" is not a real date and time: the month, day, \
             hour, minute or second is out of range"
                .to_string(),
        ),
        (
            r#"{"id":"a3","type":"engagement","at":"2026-03-02T09:00:00Z","account":"acme","kind":"demo_request","duration_s":-3}"#,
            "field \"duration_s\": -3 is not a whole number of seconds >= 0".to_string(),
        ),
        (
            r#"{"id":"a4","type":"telepathy","at":"2026-03-02T09:00:00Z"}"#,
            format!("field \"type\": unknown event type \"telepathy\"; expected one of {types}"),
        ),
        (
            r#"{"type":"handoff","at":"2026-03-02T09:00:00Z","account":"acme","rep":"r1"}"#,
            "field \"id\" is missing".to_string(),
        ),
        (
            r#"{"id":"a6","type":"handoff","account":"acme","rep":"r1"}"#,
            "field \"at\" is missing".to_string(),
        ),
        (
            r#"{"id":"a7","at":"2026-03-02T09:00:00Z","account":"acme"}"#,
            format!("field \"type\" is missing; expected one of {types}"),
        ),
        (
            r#"{"id":"a8","type":"handoff","at":"2026-03-02T09:00:00Z","account":"acme"}"#,
            "field \"rep\" is missing; handoff events need it".to_string(),
        ),
        (
            r#"{"id":"a9","type":"stage","at":"2026-03-02T09:00:00Z","account":"acme","stage":"qualified"}"#,
            "field \"stage\": \"qualified\" is not one of engaged, mqa, handed_off, sal, \
             rejected, nurture, sqo, won, lost"
                .to_string(),
        ),
        (
            r#"{"id":"a10","type":"account","at":"2026-03-02","account":"acme","employees":"many"}"#,
            "field \"at\": \"2026-03-02\" has no time or UTC offset; write RFC 3339 with an \
             offset, e.g. 2026-03-02T00:00:00-05:00"
                .to_string(),
        ),
        (
            r#"{"id":"a11","type":"account","at":"2026-03-02T09:00:00Z","account":"acme","employees":"many"}"#,
            "field \"employees\": \"many\" is not a whole number >= 0".to_string(),
        ),
        (
            r#"{"id":"a12","type":"activity","at":"2026-03-02T09:00:00Z","account":7,"kind":"call"}"#,
            "field \"account\": 7 is not text; write it in quotes".to_string(),
        ),
        (
            r#"{"id":"a13","type":"account","at":"2026-03-02T09:00:00Z","account":"acme","attributes":{"size":5}}"#,
            "field \"attributes.size\": 5 is not text; write it in quotes".to_string(),
        ),
    ];
    // A blank line 1 and an unparsable line 2 shift every case by 2.
    let mut text = String::from("\n{\"id\":\"x\",\"type\":\n");
    for (line, _) in &cases {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(&file, text).unwrap();
    let out = import(&db, None, &[&file], 0);
    assert_eq!(summary(&out).rejected, cases.len() as u64 + 1);
    let rejects = rejects_of(&db);
    assert_eq!(rejects[0]["line"], 2);
    let syntax = rejects[0]["reason"].as_str().unwrap();
    // `{"id":"x","type":` is 17 characters and ends where a value should.
    assert_eq!(
        syntax,
        "not valid JSON at column 17: EOF while parsing a value"
    );
    for (i, (_, want)) in cases.iter().enumerate() {
        let r = &rejects[i + 1];
        assert_eq!(int(&r["line"]), i as u64 + 3, "{r}");
        assert_eq!(r["reason"].as_str().unwrap(), want, "line {}", i + 3);
    }
}

#[test]
fn the_summary_prints_the_first_five_reject_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let file = dir.path().join("events.jsonl");
    // Seven lines, each missing its rep: rejected.
    let lines: Vec<String> = (1..=7)
        .map(|i| {
            format!(
                r#"{{"id":"h{i}","type":"handoff","at":"2026-03-02T10:00:00Z","account":"a{i}"}}"#
            )
        })
        .collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let out = import(&db, None, &[&file], 0);
    let err = stderr(&out);
    let name = file.display();
    for line in 1..=5 {
        let want =
            format!("handoff: {name}:{line}: field \"rep\" is missing; handoff events need it\n");
        assert!(err.contains(&want), "{want} not in:\n{err}");
    }
    assert!(!err.contains(&format!("{name}:6:")), "{err}");
    assert!(
        err.contains(&format!(
            "handoff: ... and 2 more in {}.rejects.jsonl\n",
            db.display()
        )),
        "{err}"
    );
}

#[test]
fn csv_without_mapping_and_missing_columns_are_errors_naming_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let out = import(&db, None, &[&fixture("hubspot-deals.csv")], 2);
    assert!(
        stderr(&out).contains("a CSV file needs --mapping"),
        "{}",
        stderr(&out)
    );

    // The deals file through the contacts mapping: columns are missing.
    let out = import(
        &db,
        Some(&mapping("hubspot-contacts")),
        &[&fixture("hubspot-deals.csv")],
        2,
    );
    let err = stderr(&out);
    assert!(
        // First Name is optional; the MQL date is not.
        err.contains(
            "hubspot-deals.csv:1: the header lacks column(s) `Became a Marketing Qualified Lead \
             Date`"
        ),
        "{err}"
    );
    assert!(err.contains("hubspot-contacts.toml:"), "{err}");
}

#[test]
fn bad_mapping_file_is_an_error_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let bad = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(mapping("hubspot-deals"))
        .unwrap()
        .replace("stage = \"sqo\"", "stag = \"sqo\"");
    std::fs::write(&bad, &text).unwrap();
    let out = import(&db, Some(&bad), &[&fixture("hubspot-deals.csv")], 2);
    let line = text.lines().position(|l| l.starts_with("stag =")).unwrap() + 1;
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "bad.toml:{line}:1: event 1 (opportunity): fields.stag"
        )),
        "{err}"
    );
    assert!(err.contains("fields.stage is required"), "{err}");
}

// ---------------------------------------------------------------------------
// Real data.

fn shared_data() -> Option<PathBuf> {
    let dir = match std::env::var_os("HANDOFF_SHARED_DIR") {
        Some(d) => PathBuf::from(d).join("data"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
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

/// The pandas figures, computed once per test binary. `None` only when
/// HANDOFF_SKIP_PYTHON is set.
fn expected(data: &Path) -> Option<&'static Value> {
    static EXPECTED: OnceLock<Option<Value>> = OnceLock::new();
    EXPECTED
        .get_or_init(|| {
            if std::env::var_os("HANDOFF_SKIP_PYTHON").is_some() {
                eprintln!("SKIPPED: pandas comparisons (HANDOFF_SKIP_PYTHON is set)");
                return None;
            }
            let out = Command::new("python3")
                .arg(repo().join("scripts/expected_real_data.py"))
                .arg(data)
                .output()
                .expect("running python3");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !err.contains("No module named 'pandas'"),
                "pandas is not installed: run scripts/test (it installs pandas) or \
                 `pip install pandas`; set HANDOFF_SKIP_PYTHON=1 to skip these comparisons"
            );
            assert!(
                out.status.success(),
                "scripts/expected_real_data.py failed:\n{err}"
            );
            Some(serde_json::from_slice(&out.stdout).unwrap())
        })
        .as_ref()
}

fn int(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// `handoff report --format json` with a fixed as-of.
fn report(db: &Path, extra: &[&str]) -> Value {
    let db_arg = db.display().to_string();
    let mut args = vec!["report", "--db", &db_arg, "--format", "json"];
    args.extend_from_slice(&["--as-of", "2019-01-01T00:00:00Z"]);
    args.extend_from_slice(extra);
    let out = handoff(&args);
    assert!(out.status.success(), "report {extra:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance
}

#[test]
fn olist_imports_cleanly_and_matches_pandas() {
    let Some(data) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("olist.db");
    let folder = data.join("olist-marketing-funnel");
    // Report in São Paulo time, the data's own: the shipped Olist policy.
    let policy = repo().join("policies/olist.toml");
    let policy_arg = policy.display().to_string();
    let db_arg = db.display().to_string();
    let run = |mapping_name: &str, file: &str| {
        let f = folder.join(file).display().to_string();
        let m = mapping(mapping_name).display().to_string();
        let args = [
            "import",
            "--db",
            &db_arg,
            "--policy",
            &policy_arg,
            "--mapping",
            &m,
            &f,
        ];
        let out = handoff(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        summary(&out)
    };

    // Act: import both files.
    let mql = run("olist-mql", "olist_marketing_qualified_leads_dataset.csv");
    let deals = run("olist-closed-deals", "olist_closed_deals_dataset.csv");

    // Counts that need no pandas: 8,000 MQLs give an account and a stage
    // each; 842 deals give 2 rep events, an account and an opportunity.
    let m_expected = Summary {
        rows: 8000,
        events: 16000,
        imported: 16000,
        duplicates: 0,
        conflicts: 0,
        rejected: 0,
    };
    assert_eq!(mql, m_expected);
    assert_eq!(
        (deals.rows, deals.events, deals.rejected, deals.conflicts),
        (842, 3368, 0, 0)
    );

    let Some(exp) = expected(&data) else { return };
    let o = &exp["olist"];
    // Rep events repeat per deal with identical payloads: one new event per
    // distinct SDR and SR, the rest duplicates.
    let reps = int(&o["distinct_sdr"]) + int(&o["distinct_sr"]);
    assert_eq!(deals.imported, 2 * int(&o["won_total"]) + reps);
    assert_eq!(deals.duplicates, 2 * int(&o["won_total"]) - reps);

    // MQAs per month, from the store, in São Paulo local time.
    let tz: Tz = "America/Sao_Paulo".parse().unwrap();
    let evs = events(&db);
    let mut per_month: BTreeMap<String, u64> = BTreeMap::new();
    for e in &evs {
        if let EventBody::Stage(_) = &e.body {
            let month = e.at.with_timezone(&tz).format("%Y-%m").to_string();
            *per_month.entry(month).or_default() += 1;
        }
    }
    let want: BTreeMap<String, u64> = o["mqa_per_month"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), int(v)))
        .collect();
    assert_eq!(per_month, want);

    // The report: MQAs and wins per month.
    for (month, mqa) in &want {
        let r = report(&db, &["--month", month]);
        assert_eq!(int(&r["funnel"]["mqa"]), *mqa, "{month}");
        let won = o["won_per_month"].get(month).map_or(0, int);
        assert_eq!(int(&r["funnel"]["won"]), won, "won in {month}");
    }
    // Whole window: conversion MQA -> won per channel. The report names the
    // empty channel "(none)"; pandas' group is "(empty)".
    let r = report(
        &db,
        &[
            "--from",
            "2017-06-01",
            "--to",
            "2018-12-01",
            "--by",
            "channel",
        ],
    );
    assert_eq!(int(&r["funnel"]["won"]), int(&o["won_total"]));
    let rate = r["funnel"]["conversions"]["mqa_to_won"].as_f64().unwrap();
    assert!(
        close(rate, o["mqa_to_won"].as_f64().unwrap(), 1e-12),
        "{rate}"
    );
    let by_origin = o["conversion_by_origin"].as_object().unwrap();
    let rows = r["breakdown"].as_array().unwrap();
    assert_eq!(rows.len(), by_origin.len());
    for (origin, want) in by_origin {
        let key = if origin == "(empty)" {
            "(none)"
        } else {
            origin.as_str()
        };
        let row = rows
            .iter()
            .find(|b| b["key"] == key)
            .unwrap_or_else(|| panic!("{key}"));
        assert_eq!(int(&row["funnel"]["mqa"]), int(&want["mqa"]), "{key}");
        assert_eq!(int(&row["funnel"]["won"]), int(&want["won"]), "{key}");
        let got = row["funnel"]["conversions"]["mqa_to_won"].as_f64().unwrap();
        assert!(
            close(got, want["rate"].as_f64().unwrap(), 1e-12),
            "{key}: {got}"
        );
    }
}

/// One Maven opportunity as the store holds it.
#[derive(Default)]
struct Opp {
    rep: String,
    engaged: Option<DateTime<FixedOffset>>,
    closed: Option<(DateTime<FixedOffset>, String)>,
}

#[test]
fn maven_imports_rejects_undated_rows_and_matches_pandas() {
    let Some(data) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("maven.db");
    let folder = data.join("maven-crm-sales-opportunities");
    let file = |name: &str| folder.join(name);

    // Act: the three mappings, in any order (here pipeline first).
    let pipe = import(
        &db,
        Some(&mapping("maven-sales-pipeline")),
        &[&file("sales_pipeline.csv")],
        0,
    );
    let rejects = rejects_of(&db);
    let teams = import(
        &db,
        Some(&mapping("maven-sales-teams")),
        &[&file("sales_teams.csv")],
        0,
    );
    let accounts = import(
        &db,
        Some(&mapping("maven-accounts")),
        &[&file("accounts.csv")],
        0,
    );
    // The data README: 35 agents, 85 accounts, one event each.
    assert_eq!(
        (summary(&teams).imported, summary(&accounts).imported),
        (35, 85)
    );

    let pipe = summary(&pipe);
    assert_eq!((pipe.rows, pipe.duplicates, pipe.conflicts), (8800, 0, 0));
    let Some(exp) = expected(&data) else { return };
    let m = &exp["maven"];
    assert_eq!(pipe.events, int(&m["events"]));
    assert_eq!(pipe.imported, int(&m["events"]));
    let lines: Vec<u64> = m["rejected_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(int)
        .collect();
    assert_eq!(pipe.rejected, lines.len() as u64);
    let got: Vec<u64> = rejects.iter().map(|r| int(&r["line"])).collect();
    assert_eq!(got, lines);
    let reason = "no engage_date or close_date: an opportunity without a date cannot be placed \
                  in time";
    assert!(rejects.iter().all(|r| r["reason"] == reason));

    // Re-import: every event a duplicate.
    let again = import(
        &db,
        Some(&mapping("maven-sales-pipeline")),
        &[&file("sales_pipeline.csv")],
        0,
    );
    let again = summary(&again);
    assert_eq!((again.imported, again.duplicates), (0, int(&m["events"])));

    // From the store: per agent and per manager counts, medians.
    let evs = events(&db);
    let mut manager_of = BTreeMap::new();
    let mut opps: BTreeMap<String, Opp> = BTreeMap::new();
    for e in &evs {
        match &e.body {
            EventBody::Rep(r) => {
                manager_of.insert(r.rep.clone(), r.manager.clone().unwrap());
            }
            EventBody::Opportunity(o) => {
                let opp = opps.entry(o.opportunity.clone()).or_default();
                opp.rep = o.rep.clone().unwrap();
                match o.stage.as_str() {
                    "sqo" => opp.engaged = Some(e.at),
                    other => opp.closed = Some((e.at, other.to_string())),
                }
            }
            _ => {}
        }
    }
    let tz: Tz = "America/New_York".parse().unwrap();
    let day = |t: DateTime<FixedOffset>| -> NaiveDate { t.with_timezone(&tz).date_naive() };
    // group -> (opportunities, won, lost, won durations in days)
    let mut by_agent: BTreeMap<String, (u64, u64, u64, Vec<i64>)> = BTreeMap::new();
    let mut by_manager: BTreeMap<String, (u64, u64, u64, Vec<i64>)> = BTreeMap::new();
    for opp in opps.values() {
        for (map, key) in [
            (&mut by_agent, opp.rep.clone()),
            (&mut by_manager, manager_of[&opp.rep].clone()),
        ] {
            let g = map.entry(key).or_default();
            g.0 += u64::from(opp.engaged.is_some());
            match &opp.closed {
                Some((at, stage)) if stage == "won" => {
                    g.1 += 1;
                    g.3.push((day(*at) - day(opp.engaged.unwrap())).num_days());
                }
                Some(_) => g.2 += 1,
                None => {}
            }
        }
    }
    for (name, groups, key) in [
        ("agent", &by_agent, "per_agent"),
        ("manager", &by_manager, "per_manager"),
    ] {
        let want = m[key].as_object().unwrap();
        assert_eq!(groups.len(), want.len(), "{name}s");
        for (k, (n, won, lost, _)) in groups {
            let w = &want[k];
            let counts = (int(&w["opportunities"]), int(&w["won"]), int(&w["lost"]));
            assert_eq!((*n, *won, *lost), counts, "{name} {k}");
        }
    }
    for (manager, (_, _, _, days)) in &by_manager {
        let mut days = days.clone();
        days.sort_unstable();
        let mid = days.len() / 2;
        let median = if days.len() % 2 == 1 {
            days[mid] as f64
        } else {
            (days[mid - 1] + days[mid]) as f64 / 2.0
        };
        let want = m["median_days_won_per_manager"][manager].as_f64().unwrap();
        assert_eq!(median, want, "median days engage -> won, {manager}");
    }

    // The report: quarterly wins and losses, and the breakdown by manager.
    for (quarter, won) in m["won_per_quarter"].as_object().unwrap() {
        let r = report(&db, &["--quarter", quarter]);
        assert_eq!(r["funnel"]["won"], *won, "{quarter}");
        assert_eq!(
            r["funnel"]["lost"], m["lost_per_quarter"][quarter],
            "{quarter}"
        );
    }
    let r = report(
        &db,
        &[
            "--from",
            "2016-10-01",
            "--to",
            "2018-01-01",
            "--by",
            "manager",
        ],
    );
    assert_eq!(int(&r["funnel"]["won"]), int(&m["won"]));
    assert_eq!(int(&r["funnel"]["lost"]), int(&m["lost"]));
    let won_arr = r["funnel"]["won_arr"].as_f64().unwrap();
    assert!(
        close(won_arr, m["won_value"].as_f64().unwrap(), 1e-6),
        "{won_arr}"
    );
    let median = r["velocity"]["median_days_sqo_to_won"].as_f64().unwrap();
    // The report measures instants; a deal spanning a clock change is an
    // hour longer or shorter than its calendar days: tolerance 1 h.
    let hour = 1.0 / 24.0 + 1e-9;
    assert!(
        close(median, m["median_days_won"].as_f64().unwrap(), hour),
        "{median}"
    );
    for row in r["breakdown"].as_array().unwrap() {
        let key = row["key"].as_str().unwrap();
        let w = &m["per_manager"][key];
        assert_eq!(
            int(&row["funnel"]["sqo"]),
            int(&w["opportunities"]),
            "{key}"
        );
        assert_eq!(int(&row["funnel"]["won"]), int(&w["won"]), "{key}");
        assert_eq!(int(&row["funnel"]["lost"]), int(&w["lost"]), "{key}");
        let rate = row["funnel"]["conversions"]["win_rate"].as_f64().unwrap();
        assert!(
            close(rate, w["win_rate"].as_f64().unwrap(), 1e-12),
            "{key}: {rate}"
        );
        let got = row["velocity"]["median_days_sqo_to_won"].as_f64().unwrap();
        let want = m["median_days_won_per_manager"][key].as_f64().unwrap();
        assert!(close(got, want, hour), "{key}: median {got} vs {want}");
    }

    // The report by agent: opportunities, won, lost and win rate per rep
    // equal pandas' per sales_agent (the 5 agents without opportunities
    // have no row in either).
    let args = ["--from", "2016-10-01", "--to", "2018-01-01", "--by", "rep"];
    let r = report(&db, &args);
    let rows = r["breakdown"].as_array().unwrap();
    let want = m["per_agent"].as_object().unwrap();
    assert_eq!(rows.len(), want.len(), "agents");
    for row in rows {
        let key = row["key"].as_str().unwrap();
        let w = &want[key];
        let f = &row["funnel"];
        let got = (int(&f["sqo"]), int(&f["won"]), int(&f["lost"]));
        let expected = (int(&w["opportunities"]), int(&w["won"]), int(&w["lost"]));
        assert_eq!(got, expected, "{key}");
        let rate = f["conversions"]["win_rate"].as_f64().unwrap();
        assert!(
            close(rate, w["win_rate"].as_f64().unwrap(), 1e-12),
            "{key}: {rate}"
        );
    }
}

#[test]
fn hubspot_export_without_optional_columns_imports() {
    // A "properties in view" export: no Job Title, no SQL or opportunity
    // dates. Row 201: account, contact, mqa = 3 events; row 202 (a lead,
    // no MQL date): account, contact = 2. 5 events, none rejected.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let out = import(
        &db,
        Some(&mapping("hubspot-contacts")),
        &[&fixture("hubspot-contacts-in-view.csv")],
        0,
    );
    let expected = Summary {
        rows: 2,
        events: 5,
        imported: 5,
        duplicates: 0,
        conflicts: 0,
        rejected: 0,
    };
    assert_eq!(summary(&out), expected);
}
