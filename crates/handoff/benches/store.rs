//! Store append and read-back speed on a year of synthetic events, on
//! SQLite and (when `HANDOFF_BENCH_PG_URL` names a database) PostgreSQL.
//!
//! Builds about 15 events per account (firmographics, engagements, a stage,
//! a hand-off, acceptance, seven follow-up activities, a disposition, an
//! opportunity and its close) for `HANDOFF_BENCH_ACCOUNTS` accounts
//! (default 100,000: about 1.5 million events over 2026), appends them to a
//! fresh store in batches of 50,000 as `handoff import` does, then appends
//! them all again (every one a duplicate) and reads them back in order.
//! Each commit is durable: SQLite's `synchronous = NORMAL` in WAL mode
//! (the import's setting), PostgreSQL as the server is configured (run it
//! with its defaults, fsync on: bench/run-pg does). On PostgreSQL it also
//! times the service's way of storing: batches of 50 events, one commit
//! each, with the same durability the service asks for
//! (`synchronous_commit = on`), for the first `HANDOFF_BENCH_SMALL_EVENTS`
//! events (default 100,000) into a second, empty database
//! (`HANDOFF_BENCH_PG_URL2`; skipped when unset). Prints events per second
//! and writes the figures to bench/out/store.json (SQLite) and
//! bench/out/store-postgres.json. The goal is at least 200,000 appended
//! events/s on SQLite.
//!
//! Run: cargo bench -p handoff --bench store, or bench/run-pg for both.

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use handoff::store::{Location, Store};
use handoff_core::event::Event;

/// Events per append transaction, as in `handoff import`.
const BATCH: usize = 50_000;

/// Events per transaction of the service's way of storing: a batch of
/// the size the crash test posts.
const SMALL_BATCH: usize = 50;

fn main() {
    let accounts: u32 = std::env::var("HANDOFF_BENCH_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let events = generate(accounts);
    println!(
        "store bench: {} accounts, {} events",
        accounts,
        events.len()
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = Location::Sqlite(dir.path().join("bench.db"));
    let mut results = measure("SQLite", &sqlite, &events);
    results["goal_append_events_per_s"] = 200_000.into();
    results["accounts"] = accounts.into();
    write_results("store.json", &results);

    let Ok(url) = std::env::var("HANDOFF_BENCH_PG_URL") else {
        println!("  PostgreSQL: HANDOFF_BENCH_PG_URL not set, skipped (bench/run-pg sets it)");
        return;
    };
    let postgres = Location::parse(&url).expect("HANDOFF_BENCH_PG_URL is a postgres:// URL");
    let mut results = measure("PostgreSQL", &postgres, &events);
    results["accounts"] = accounts.into();
    if let Ok(url) = std::env::var("HANDOFF_BENCH_PG_URL2") {
        let small: usize = std::env::var("HANDOFF_BENCH_SMALL_EVENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        let events = &events[..small.min(events.len())];
        let location = Location::parse(&url).expect("HANDOFF_BENCH_PG_URL2 is a postgres:// URL");
        let mut store = Store::open_at(&location).expect("open store");
        store.sync_every_commit().expect("synchronous commits");
        let seconds = time(|| {
            for chunk in events.chunks(SMALL_BATCH) {
                store.append(chunk).expect("append");
            }
        });
        let n = events.len() as f64;
        println!(
            "  append in {SMALL_BATCH}-event commits: {:>10.0} events/s, {:.0} commits/s \
             ({} events, {seconds:.2} s)",
            n / seconds,
            n / SMALL_BATCH as f64 / seconds,
            events.len()
        );
        results["small_batch_events"] = events.len().into();
        results["small_batch_size"] = SMALL_BATCH.into();
        results["append_small_batches_events_per_s"] = (n / seconds).round().into();
    }
    write_results("store-postgres.json", &results);
}

/// Appends the year to a fresh store at `location`, again as duplicates,
/// and reads it back; prints and returns the rates.
fn measure(name: &str, location: &Location, events: &[Event]) -> serde_json::Value {
    let mut store = Store::open_at(location).expect("open store");
    assert_eq!(
        store.event_count().expect("count"),
        0,
        "{name}: the store is not empty"
    );
    let first = time(|| append_all(&mut store, events));
    let again = time(|| append_all(&mut store, events));
    let mut read = 0usize;
    let scan = time(|| {
        store
            .for_each_event(|_| {
                read += 1;
                Ok(())
            })
            .expect("read back")
    });
    assert_eq!(read, events.len());

    let n = events.len() as f64;
    println!("  {name}");
    println!(
        "  append (new):        {:>10.0} events/s ({first:.2} s)",
        n / first
    );
    println!(
        "  append (duplicates): {:>10.0} events/s ({again:.2} s)",
        n / again
    );
    println!(
        "  read back in order:  {:>10.0} events/s ({scan:.2} s)",
        n / scan
    );
    serde_json::json!({
        "backend": name,
        "events": events.len(),
        "batch": BATCH,
        "append_new_events_per_s": (n / first).round(),
        "append_duplicate_events_per_s": (n / again).round(),
        "read_ordered_events_per_s": (n / scan).round(),
    })
}

fn write_results(file: &str, results: &serde_json::Value) {
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/out");
    if std::fs::create_dir_all(&out).is_ok() {
        let path = out.join(file);
        let text = serde_json::to_string_pretty(results).expect("json");
        if std::fs::write(&path, text + "\n").is_ok() {
            println!("  written to {}", path.display());
        }
    }
}

fn append_all(store: &mut Store, events: &[Event]) {
    for chunk in events.chunks(BATCH) {
        store.append(chunk).expect("append");
    }
}

fn time(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

/// A deterministic year of events; arrival order is by account, not time,
/// as an import of several files would be.
fn generate(accounts: u32) -> Vec<Event> {
    let start = Utc
        .with_ymd_and_hms(2026, 1, 1, 9, 0, 0)
        .single()
        .expect("valid date");
    let mut out = Vec::with_capacity(accounts as usize * 16);
    for a in 0..accounts {
        // Spread accounts over the year, minutes apart.
        let t0 = start + Duration::minutes(i64::from(a) * 5 % (360 * 24 * 60));
        let at = |minutes: i64| (t0 + Duration::minutes(minutes)).to_rfc3339();
        let acc = format!("acct-{a:06}");
        let rep = format!("rep-{:03}", a % 250);
        let mut lines = vec![
            format!(
                r#"{{"id":"{acc}:a","type":"account","at":"{}","account":"{acc}","industry":"software","employees":{},"country":"US","attributes":{{"segment":"mid-market"}}}}"#,
                at(0),
                50 + a % 5000
            ),
            format!(
                r#"{{"id":"{acc}:e1","type":"engagement","at":"{}","account":"{acc}","kind":"case_study_view","asset":"cs-{}","channel":"organic_search"}}"#,
                at(60),
                a % 40
            ),
            format!(
                r#"{{"id":"{acc}:e2","type":"engagement","at":"{}","account":"{acc}","kind":"demo_request","channel":"paid_search","campaign":"q1"}}"#,
                at(1440)
            ),
            format!(
                r#"{{"id":"{acc}:s","type":"stage","at":"{}","account":"{acc}","stage":"mqa","tier":"high"}}"#,
                at(1441)
            ),
            format!(
                r#"{{"id":"{acc}:h","type":"handoff","at":"{}","account":"{acc}","rep":"{rep}"}}"#,
                at(1500)
            ),
            format!(
                r#"{{"id":"{acc}:ok","type":"accepted","at":"{}","account":"{acc}","rep":"{rep}"}}"#,
                at(1620)
            ),
        ];
        for k in 0..7 {
            lines.push(format!(r#"{{"id":"{acc}:t{k}","type":"activity","at":"{}","account":"{acc}","rep":"{rep}","kind":"call"}}"#, at(1560 + k * 1440)));
        }
        lines.push(format!(r#"{{"id":"{acc}:d","type":"disposition","at":"{}","account":"{acc}","status":"working","next_step":"demo","rep":"{rep}"}}"#, at(2000)));
        lines.push(format!(r#"{{"id":"{acc}:o1","type":"opportunity","at":"{}","opportunity":"{acc}-o","account":"{acc}","stage":"sqo","amount":{}.0,"currency":"USD","rep":"{rep}"}}"#, at(20000), 10_000 + a % 90_000));
        lines.push(format!(r#"{{"id":"{acc}:o2","type":"opportunity","at":"{}","opportunity":"{acc}-o","account":"{acc}","stage":"{}","amount":{}.0,"currency":"USD","rep":"{rep}"}}"#, at(80000), if a % 3 == 0 { "won" } else { "lost" }, 10_000 + a % 90_000));
        out.extend(
            lines
                .iter()
                .map(|l| Event::from_json(l).expect("generated event parses")),
        );
    }
    out
}
