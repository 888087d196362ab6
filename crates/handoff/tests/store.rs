//! The store's contract, on both backends (SQLite and PostgreSQL, see
//! tests/common/db.rs): idempotent appends, conflicts keep the first
//! version and record both, order independent of arrival, data survives a
//! reopen, migrations run once, the log position, the outbox and its
//! claims, and concurrent writers.

mod common;

use common::{on_both_backends, TestDb};
use handoff::store::{Provenance, RejectedRow, Store};
use handoff_core::event::Event;

fn ev(line: &str) -> Event {
    Event::from_json(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn sample() -> Vec<Event> {
    vec![
        ev(
            r#"{"id":"h1","type":"handoff","at":"2026-03-02T09:00:00-06:00","account":"acme","rep":"r1"}"#,
        ),
        ev(
            r#"{"id":"a1","type":"activity","at":"2026-03-02T16:00:00+01:00","account":"acme","kind":"call"}"#,
        ),
        ev(
            r#"{"id":"s1","type":"stage","at":"2026-03-01T12:00:00Z","account":"acme","stage":"mqa"}"#,
        ),
        ev(
            r#"{"id":"s0","type":"stage","at":"2026-03-01T12:00:00Z","account":"beta","stage":"mqa"}"#,
        ),
    ]
}

fn ids(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.id.as_str()).collect()
}

fn events_come_back_ordered_by_instant_then_id_whatever_the_insert_order(db: TestDb) {
    // In UTC: s0 and s1 at 03-01 12:00 (tie broken by id), a1 at 03-02
    // 15:00 (16:00+01:00), h1 at 03-02 15:00 (09:00-06:00) -> a1 < h1 by id.
    let expected = ["s0", "s1", "a1", "h1"];
    let mut forward = db.open();
    forward.append(&sample()).unwrap();
    let other = db.another();
    let mut reversed = other.open();
    let mut events = sample();
    events.reverse();
    for e in events {
        reversed.append(&[e]).unwrap();
    }
    assert_eq!(ids(&forward.events_ordered().unwrap()), expected);
    assert_eq!(ids(&reversed.events_ordered().unwrap()), expected);
    // Offsets survive storage as written.
    assert_eq!(forward.events_ordered().unwrap()[3], sample()[0]);
}

fn same_id_same_payload_is_a_duplicate_and_a_no_op(db: TestDb) {
    let mut store = db.open();
    let first = store.append(&sample()).unwrap();
    assert_eq!(
        (first.inserted, first.duplicates, first.conflicts.len()),
        (4, 0, 0)
    );
    // Same events again, plus one written differently but equal once
    // parsed: 1200 vs 1200.0 and keys in another order.
    let again = store.append(&sample()).unwrap();
    assert_eq!(
        (again.inserted, again.duplicates, again.conflicts.len()),
        (0, 4, 0)
    );
    let a = ev(
        r#"{"id":"o1","type":"opportunity","at":"2026-03-05T00:00:00Z","opportunity":"op","account":"acme","stage":"won","amount":1200}"#,
    );
    let b = ev(
        r#"{"amount":1200.0,"stage":"won","account":"acme","opportunity":"op","type":"opportunity","at":"2026-03-05T00:00:00Z","id":"o1"}"#,
    );
    let out = store.append(&[a, b]).unwrap();
    assert_eq!(
        (out.inserted, out.duplicates, out.conflicts.len()),
        (1, 1, 0)
    );
    assert_eq!(store.event_count().unwrap(), 5);
}

fn different_payload_is_a_conflict_first_kept_both_recorded(db: TestDb) {
    let mut store = db.open();
    store.append(&sample()).unwrap();
    let changed = ev(
        r#"{"id":"h1","type":"handoff","at":"2026-03-02T09:00:00-06:00","account":"acme","rep":"r2"}"#,
    );
    let sources = vec!["late.jsonl:7".to_string()];
    let from = Provenance {
        sources: &sources,
        default_source: "",
        recorded_at: Some("2026-03-03T00:00:00Z"),
    };
    let out = store
        .append_from(std::slice::from_ref(&changed), &from)
        .unwrap();
    assert_eq!(
        (out.inserted, out.duplicates, out.conflicts.len()),
        (0, 0, 1)
    );

    // The stored event is still the first version.
    let stored = store.events_ordered().unwrap();
    let h1 = stored.iter().find(|e| e.id == "h1").unwrap();
    assert_eq!(h1, &sample()[0]);

    // Both versions are in the conflicts table, with source and time.
    let conflicts = store.conflicts().unwrap();
    assert_eq!(conflicts.len(), 1);
    let c = &conflicts[0];
    assert_eq!(c.id, "h1");
    assert!(c.kept.contains(r#""rep":"r1""#), "{}", c.kept);
    assert!(c.rejected.contains(r#""rep":"r2""#), "{}", c.rejected);
    assert_eq!(c.source, "late.jsonl:7");
    assert_eq!(c.recorded_at.as_deref(), Some("2026-03-03T00:00:00Z"));

    // The same conflict again is reported but not recorded twice.
    let out = store.append_from(&[changed], &from).unwrap();
    assert_eq!(out.conflicts.len(), 1);
    assert_eq!(store.conflicts().unwrap().len(), 1);
}

fn conflict_inside_one_batch_keeps_the_first_of_the_batch(db: TestDb) {
    let mut store = db.open();
    let a = ev(r#"{"id":"n1","type":"nurture","at":"2026-03-02T09:00:00Z","account":"acme"}"#);
    let b = ev(r#"{"id":"n1","type":"nurture","at":"2026-03-02T09:00:00Z","account":"beta"}"#);
    let out = store.append(&[a.clone(), b]).unwrap();
    assert_eq!(
        (out.inserted, out.duplicates, out.conflicts.len()),
        (1, 0, 1)
    );
    assert_eq!(out.conflicts[0].source, "api");
    assert_eq!(store.events_ordered().unwrap(), vec![a]);
}

fn reopening_keeps_everything_and_migrations_run_once(db: TestDb) {
    {
        let mut store = db.open();
        assert_eq!(store.schema_version().unwrap(), 7);
        store.append(&sample()).unwrap();
        let row = RejectedRow {
            source: "x.csv".into(),
            line: 3,
            reason: "bad date".into(),
            raw: "a,b".into(),
        };
        store.record_rejects(std::slice::from_ref(&row)).unwrap();
        // Recording the same reject again keeps one copy.
        store.record_rejects(&[row]).unwrap();
        store.save_policy("a = 1").unwrap();
        store.save_policy("a = 2").unwrap();
        store
            .write_derived(
                &[("acme".into(), r#"{"id":"acme"}"#.into())],
                &[("al1".into(), r#"{"id":"al1"}"#.into())],
                &[("as_of", "2026-03-04T00:00:00Z".into())],
            )
            .unwrap();
    }
    // Reopen: the migration does not run again (it would fail on the
    // existing tables), and every table still holds its rows.
    let mut store = db.open();
    assert_eq!(store.schema_version().unwrap(), 7);
    assert_eq!(
        ids(&store.events_ordered().unwrap()),
        ["s0", "s1", "a1", "h1"]
    );
    assert_eq!(store.rejected_rows().unwrap().len(), 1);
    assert_eq!(store.rejected_rows().unwrap()[0].line, 3);
    assert_eq!(store.policy_text().unwrap().as_deref(), Some("a = 2"));
    assert_eq!(
        store.load_account("acme").unwrap().as_deref(),
        Some(r#"{"id":"acme"}"#)
    );
    assert_eq!(store.load_alerts().unwrap(), [r#"{"id":"al1"}"#]);
    assert_eq!(
        store.meta("as_of").unwrap().as_deref(),
        Some("2026-03-04T00:00:00Z")
    );

    // A rebuild replaces derived rows wholesale; meta keys not given stay.
    store.set_meta("note", "kept").unwrap();
    store
        .write_derived(&[("beta".into(), "{}".into())], &[], &[])
        .unwrap();
    assert_eq!(store.load_derived_accounts().unwrap(), ["{}"]);
    assert_eq!(store.load_account("acme").unwrap(), None);
    assert!(store.load_alerts().unwrap().is_empty());
    assert_eq!(store.meta("note").unwrap().as_deref(), Some("kept"));
}

fn streaming_visits_the_same_events_in_the_same_order(db: TestDb) {
    let mut store = db.open();
    store.append(&sample()).unwrap();
    let mut seen = Vec::new();
    store
        .for_each_event(|e| {
            seen.push(e.id);
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, ["s0", "s1", "a1", "h1"]);
    // An error from the callback stops the walk and is returned.
    let mut visited = 0;
    let err = store
        .for_each_event(|_| {
            visited += 1;
            anyhow::bail!("stop here")
        })
        .unwrap_err();
    assert_eq!((visited, err.to_string().as_str()), (1, "stop here"));
}

fn events_for_one_account_are_ordered_and_exclude_others(db: TestDb) {
    let mut store = db.open();
    store.append(&sample()).unwrap();
    assert_eq!(
        ids(&store.events_for_account("acme").unwrap()),
        ["s1", "a1", "h1"]
    );
    assert_eq!(ids(&store.events_for_account("beta").unwrap()), ["s0"]);
}

fn outbox_records_an_alert_once_and_tracks_its_delivery(db: TestDb) {
    use chrono::{DateTime, Utc};
    use handoff::store::{DeliveryStatus, NewAlert};
    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let mut store = db.open();
    let alert = |id: &str, status| NewAlert {
        id: id.into(),
        json: "{}".into(),
        status,
        not_before: None,
    };
    let now = at("2026-03-03T16:00:01Z");
    // Events and their alert in one transaction; the same alert raised
    // again (say after a restart) is not recorded twice.
    let (out, new) = store
        .append_with_alerts(
            &sample(),
            &Default::default(),
            &[alert("a1", DeliveryStatus::Pending)],
            now,
        )
        .unwrap();
    assert_eq!((out.inserted, new), (sample().len(), 1));
    let again = [
        alert("a1", DeliveryStatus::Pending),
        alert("old", DeliveryStatus::Historical),
    ];
    assert_eq!(store.outbox_record(&again, now).unwrap(), 1);
    // Only the pending one is due; a failed attempt with a retry time hides
    // it until then; a success marks it sent.
    assert_eq!(store.outbox_due(now, 10).unwrap().len(), 1);
    let retry = at("2026-03-03T16:00:05Z");
    store
        .outbox_mark_attempt_failed("a1", "connection refused", Some(retry))
        .unwrap();
    assert!(store.outbox_due(now, 10).unwrap().is_empty());
    assert_eq!(store.outbox_due(retry, 10).unwrap().len(), 1);
    store.outbox_mark_sent("a1", retry).unwrap();
    let e = store.outbox_entry("a1").unwrap().unwrap();
    assert_eq!(
        (e.status, e.attempts, e.sent_at),
        (DeliveryStatus::Sent, 2, Some(retry))
    );
    assert_eq!(store.outbox_all().unwrap().len(), 2);
}

fn outbox_holds_a_notice_until_its_instant_and_retracts_only_pending_ones(db: TestDb) {
    use chrono::{DateTime, Utc};
    use handoff::store::{DeliveryStatus, NewAlert};
    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let mut store = db.open();
    let now = at("2026-03-03T22:00:00Z");
    let morning = at("2026-03-04T14:00:00Z");
    let new = |id: &str, not_before| NewAlert {
        id: id.into(),
        json: "{}".into(),
        status: DeliveryStatus::Pending,
        not_before,
    };
    store
        .outbox_record(&[new("held", Some(morning)), new("now", None)], now)
        .unwrap();
    // The held notice is not due in the night, and is at its instant.
    let due = |s: &mut Store, t| -> Vec<String> {
        s.outbox_due(t, 10)
            .unwrap()
            .into_iter()
            .map(|e| e.alert_id)
            .collect()
    };
    assert_eq!(due(&mut store, now), ["now"]);
    assert_eq!(due(&mut store, morning), ["held", "now"]);
    // A sent entry stays sent; the pending one is retracted with its reason.
    store.outbox_mark_sent("now", now).unwrap();
    let ids = ["held".to_string(), "now".to_string()];
    assert_eq!(
        store
            .outbox_retract(&ids, "first touch arrived late")
            .unwrap(),
        1
    );
    let held = store.outbox_entry("held").unwrap().unwrap();
    assert_eq!(held.status, DeliveryStatus::Retracted);
    assert_eq!(held.last_error.as_deref(), Some("first touch arrived late"));
    assert_eq!(
        store.outbox_entry("now").unwrap().unwrap().status,
        DeliveryStatus::Sent
    );
    assert!(due(&mut store, morning).is_empty());
}

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn nurture(id: &str) -> Event {
    ev(&format!(
        r#"{{"id":"{id}","type":"nurture","at":"2026-03-02T09:00:00Z","account":"acme"}}"#
    ))
}

fn the_log_position_names_what_was_stored_since(db: TestDb) {
    let none = std::collections::HashSet::new();
    let mut store = db.open();
    // An empty log is at position 0, with nothing after it.
    assert_eq!(store.events_with_position().unwrap(), (vec![], 0));
    assert_eq!(store.events_after(0, &none).unwrap(), (vec![], 0));

    store.append(&sample()).unwrap();
    let (events, first) = store.events_with_position().unwrap();
    assert_eq!(events.len(), 4);
    assert!(first > 0, "{first}");
    assert_eq!(store.events_after(first, &none).unwrap(), (vec![], first));

    // Another connection (another writer) stores two more: they, and only
    // they, come after the position read, in the order stored (a batch is
    // stored in id order: n1, n2).
    let mut other = db.open();
    other.append(&[nurture("n2"), nurture("n1")]).unwrap();
    let (news, second) = store.events_after(first, &none).unwrap();
    assert_eq!(ids(&news), ["n1", "n2"]);
    assert!(second > first, "{second} after {first}");
    // Leaving out the reader's own events still moves past them.
    let own = std::collections::HashSet::from(["n1".to_string()]);
    let (news, last) = store.events_after(first, &own).unwrap();
    assert_eq!((ids(&news), last), (vec!["n2"], second));
    // Duplicates store nothing, so the position stays.
    other.append(&sample()).unwrap();
    assert_eq!(store.events_after(second, &none).unwrap(), (vec![], second));
    assert_eq!(store.events_with_position().unwrap().1, second);
}

fn a_meta_value_set_if_absent_keeps_the_first(db: TestDb) {
    let mut store = db.open();
    assert_eq!(store.meta_or_set("live_since", "first").unwrap(), "first");
    let mut other = db.open();
    assert_eq!(other.meta_or_set("live_since", "second").unwrap(), "first");
    assert_eq!(store.meta("live_since").unwrap().as_deref(), Some("first"));
}

fn a_claim_holds_entries_until_their_lease_ends(db: TestDb) {
    use handoff::store::{DeliveryStatus, NewAlert};
    let new = |id: &str, status| NewAlert {
        id: id.into(),
        json: "{}".into(),
        status,
        not_before: None,
    };
    let now = at("2026-03-03T16:00:01Z");
    let until = at("2026-03-03T16:00:11Z");
    let mut store = db.open();
    let alerts = [
        new("c", DeliveryStatus::Pending),
        new("a", DeliveryStatus::Pending),
        new("b", DeliveryStatus::Pending),
        new("old", DeliveryStatus::Historical),
    ];
    assert_eq!(store.outbox_record(&alerts, now).unwrap(), 4);
    let claim = |s: &mut Store, t, limit| -> Vec<String> {
        s.outbox_claim(t, until, limit)
            .unwrap()
            .into_iter()
            .map(|e| e.alert_id)
            .collect()
    };

    // Oldest first, then by id (all three were recorded at once); the
    // historical one is never claimed.
    let first = store.outbox_claim(now, until, 2).unwrap();
    let got: Vec<&str> = first.iter().map(|e| e.alert_id.as_str()).collect();
    assert_eq!(got, ["a", "b"]);
    assert_eq!(first[0].next_attempt_at, Some(until));
    // A second sender gets only what is left; then nothing is due until
    // the lease ends, when what was not marked is due again.
    let mut other = db.open();
    assert_eq!(claim(&mut other, now, 10), ["c"]);
    assert!(claim(&mut store, now, 10).is_empty());
    assert!(store.outbox_due(now, 10).unwrap().is_empty());
    store.outbox_mark_sent("a", now).unwrap();
    assert_eq!(claim(&mut other, until, 10), ["b", "c"]);
    let a = store.outbox_entry("a").unwrap().unwrap();
    assert_eq!((a.status, a.attempts), (DeliveryStatus::Sent, 1));
}

fn concurrent_appends_store_each_event_once(db: TestDb) {
    // Two writers at once: one stores e000-e199, the other e100-e299, in
    // batches of 20; the 100 shared ids carry the same payload. Each id
    // must be stored once: 300 inserted in all, 100 duplicates, no
    // conflicts, and 300 distinct log positions.
    let events = |from: usize, to: usize| -> Vec<Event> {
        (from..to).map(|i| nurture(&format!("e{i:03}"))).collect()
    };
    let write = |batch: Vec<Event>| {
        let location = db.location.clone();
        std::thread::spawn(move || {
            let mut store = Store::open_at(&location).unwrap();
            let mut total = handoff::store::AppendOutcome::default();
            for chunk in batch.chunks(20) {
                total.absorb(store.append(chunk).unwrap());
            }
            total
        })
    };
    let (a, b) = (write(events(0, 200)), write(events(100, 300)));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert_eq!(a.inserted + b.inserted, 300);
    assert_eq!(a.duplicates + b.duplicates, 100);
    assert!(a.conflicts.is_empty() && b.conflicts.is_empty());

    let store = db.open();
    assert_eq!(store.event_count().unwrap(), 300);
    let (all, _) = store
        .events_after(0, &std::collections::HashSet::new())
        .unwrap();
    let distinct: std::collections::BTreeSet<&str> = all.iter().map(|e| e.id.as_str()).collect();
    assert_eq!((all.len(), distinct.len()), (300, 300));
}

fn two_senders_claiming_at_once_never_take_the_same_entry(db: TestDb) {
    use handoff::store::{DeliveryStatus, NewAlert};
    let now = at("2026-03-03T16:00:01Z");
    let alerts: Vec<NewAlert> = (0..60)
        .map(|i| NewAlert {
            id: format!("al-{i:02}"),
            json: "{}".into(),
            status: DeliveryStatus::Pending,
            not_before: None,
        })
        .collect();
    db.open().outbox_record(&alerts, now).unwrap();
    // Each sender claims one entry at a time until none is due, as the
    // sender task does; together they must take each of the 60 once.
    let sender = || {
        let location = db.location.clone();
        std::thread::spawn(move || {
            let mut store = Store::open_at(&location).unwrap();
            let until = at("2026-03-03T16:01:00Z");
            let mut taken = Vec::new();
            while let Some(e) = store.outbox_claim(now, until, 1).unwrap().pop() {
                taken.push(e.alert_id);
            }
            taken
        })
    };
    let (a, b) = (sender(), sender());
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    let mut all = [a, b].concat();
    all.sort();
    let expected: Vec<String> = alerts.iter().map(|a| a.id.clone()).collect();
    assert_eq!(all, expected);
}

#[test]
fn a_postgres_store_whose_connection_was_closed_connects_again() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let mut store = db.open();
    store.append(&sample()).unwrap();
    // The server ends every other session on the database, as a restart
    // of the server would.
    let ended = common::pg_query(
        db.arg(),
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    );
    assert_eq!(ended, ["t"]);
    // Once the client has seen the connection close, the next call
    // connects again and finds the log as it was.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(store.event_count().unwrap(), 4);
    store.append(&[nurture("n1")]).unwrap();
    assert_eq!(db.open().event_count().unwrap(), 5);
}

/// More events than one parsing batch (8,192), stored out of time order
/// and with instants shared by several types: the replay read (by log
/// position, parsed in parallel, sorted) gives exactly the ordered read
/// sorted the engine's way.
fn the_replay_read_gives_the_ordered_events_in_engine_order(db: TestDb) {
    let mut store = db.open();
    let mut events = Vec::new();
    for i in 0..20_000u32 {
        // Minutes run backwards in blocks, so storage order is not time order.
        let minute = (20_000 - i) / 3;
        let at = format!(
            "2026-03-{:02}T{:02}:{:02}:00Z",
            1 + minute / 1440,
            (minute / 60) % 24,
            minute % 60
        );
        let json = if i % 2 == 0 {
            format!(
                r#"{{"id":"e{i}","type":"activity","at":"{at}","account":"a{}","kind":"call"}}"#,
                i % 7
            )
        } else {
            format!(
                r#"{{"id":"e{i}","type":"handoff","at":"{at}","account":"a{}","rep":"r1"}}"#,
                i % 7
            )
        };
        events.push(ev(&json));
    }
    store.append(&events).unwrap();
    let mut expected = store.events_ordered().unwrap();
    handoff_core::engine::sort_events(&mut expected);
    let log = store.events_for_replay().unwrap();
    let got: Vec<Event> = log.ordered().into_iter().cloned().collect();
    assert_eq!(got.len(), 20_000);
    assert!(
        got == expected,
        "the replay read differs from the ordered read"
    );
    // Engine order puts a hand-off before an activity of the same instant.
    let first_pair = got
        .windows(2)
        .find(|w| w[0].at == w[1].at && w[0].type_name() != w[1].type_name())
        .unwrap();
    assert_eq!(
        (first_pair[0].type_name(), first_pair[1].type_name()),
        ("handoff", "activity")
    );
}

on_both_backends!(
    fn the_replay_read_gives_the_ordered_events_in_engine_order,
    events_come_back_ordered_by_instant_then_id_whatever_the_insert_order,
    same_id_same_payload_is_a_duplicate_and_a_no_op,
    different_payload_is_a_conflict_first_kept_both_recorded,
    conflict_inside_one_batch_keeps_the_first_of_the_batch,
    reopening_keeps_everything_and_migrations_run_once,
    users_and_scoped_tokens_are_kept,
    streaming_visits_the_same_events_in_the_same_order,
    events_for_one_account_are_ordered_and_exclude_others,
    outbox_records_an_alert_once_and_tracks_its_delivery,
    outbox_holds_a_notice_until_its_instant_and_retracts_only_pending_ones,
    the_log_position_names_what_was_stored_since,
    a_meta_value_set_if_absent_keeps_the_first,
    a_claim_holds_entries_until_their_lease_ends,
    concurrent_appends_store_each_event_once,
    two_senders_claiming_at_once_never_take_the_same_entry,
);

/// A schema-5 SQLite file (tokens without a scope, no users) opened by
/// this version: its tokens survive the copy of the tokens table, read with
/// no scope, and the new roles and users can be added.
#[test]
fn a_schema_5_file_keeps_its_tokens_and_takes_scopes_and_users() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in [
            include_str!("../src/store/sqlite/migrations/0001_event_log.sql"),
            include_str!("../src/store/sqlite/migrations/0002_lean_event_log.sql"),
            include_str!("../src/store/sqlite/migrations/0003_tokens.sql"),
            include_str!("../src/store/sqlite/migrations/0004_outbox.sql"),
            include_str!("../src/store/sqlite/migrations/0005_outbox_retracted.sql"),
        ] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 5).unwrap();
        conn.execute(
            "INSERT INTO tokens (name, role, sha256, created_at) VALUES ('cmo', 'viewer', 'abc', 'then')",
            [],
        )
        .unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 7);
    let old = store.find_token("abc").unwrap().unwrap();
    assert_eq!(
        (old.name.as_str(), old.role.as_str(), old.scope),
        ("cmo", "viewer", None)
    );
    users_and_scoped_tokens_are_kept_on(&mut store);
}

fn users_and_scoped_tokens_are_kept(db: TestDb) {
    let mut store = db.open();
    users_and_scoped_tokens_are_kept_on(&mut store);
}

/// A rep's token keeps its scope; a user is found by name, once.
fn users_and_scoped_tokens_are_kept_on(store: &mut Store) {
    store
        .add_token(&handoff::store::StoredToken {
            name: "r1".into(),
            role: "rep".into(),
            scope: Some("r1".into()),
            sha256: "def".into(),
            created_at: "now".into(),
        })
        .unwrap();
    assert_eq!(
        store.find_token("def").unwrap().unwrap().scope.as_deref(),
        Some("r1")
    );
    let user = handoff::store::StoredUser {
        name: "rita".into(),
        role: "rep".into(),
        scope: Some("r1".into()),
        password_hash: "$argon2id$...".into(),
        created_at: "now".into(),
    };
    store.add_user(&user).unwrap();
    assert_eq!(store.find_user("rita").unwrap(), Some(user.clone()));
    assert_eq!(store.find_user("nobody").unwrap(), None);
    // A name is taken once.
    let again = store.add_user(&user).unwrap_err();
    assert!(format!("{again:#}").contains("exists already"), "{again:#}");
}
