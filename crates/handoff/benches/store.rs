//! Store append and read-back speed on a year of synthetic events.
//!
//! Builds about 15 events per account (firmographics, engagements, a stage,
//! a hand-off, acceptance, seven follow-up activities, a disposition, an
//! opportunity and its close) for `HANDOFF_BENCH_ACCOUNTS` accounts
//! (default 100,000: about 1.5 million events over 2026), appends them to a
//! fresh database file in batches of 50,000 as `handoff import` does, then
//! appends them all again (every one a duplicate) and reads them back in
//! order. Prints events per second and writes the figures to
//! bench/out/store.json. The goal is at least 200,000 appended events/s.
//!
//! Run: cargo bench -p handoff --bench store

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use handoff::store::Store;
use handoff_core::event::Event;

/// Events per append transaction, as in `handoff import`.
const BATCH: usize = 50_000;

fn main() {
    let accounts: u32 = std::env::var("HANDOFF_BENCH_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let events = generate(accounts);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(&dir.path().join("bench.db")).expect("open store");

    let first = time(|| append_all(&mut store, &events));
    let again = time(|| append_all(&mut store, &events));
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
    let results = serde_json::json!({
        "accounts": accounts,
        "events": events.len(),
        "append_new_events_per_s": (n / first).round(),
        "append_duplicate_events_per_s": (n / again).round(),
        "read_ordered_events_per_s": (n / scan).round(),
        "goal_append_events_per_s": 200_000,
    });
    println!(
        "store bench: {} accounts, {} events",
        accounts,
        events.len()
    );
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
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/out");
    if std::fs::create_dir_all(&out).is_ok() {
        let path = out.join("store.json");
        let text = serde_json::to_string_pretty(&results).expect("json");
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
