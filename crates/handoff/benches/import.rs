//! Import speed: events per second appended to a fresh SQLite store.
//!
//! Each run opens a new database file in a temporary directory and appends
//! the parsed year with `Store::append` in batches of 50,000 events, the
//! batch size `handoff import` uses. The goal is at least 200,000 events/s.
//! Parsing is not part of the figure (see the engine bench for its rate).
//! See `common` for the input and the environment variables.
//!
//! Run: cargo bench -p handoff --bench import

mod common;

use common::{Rates, TABLE_HEAD};
use handoff::store::Store;
use handoff_core::event::Event;

/// Appended events per second the store should reach.
const GOAL_APPEND: f64 = 200_000.0;
/// Events per append transaction, as in `handoff import`.
const BATCH: usize = 50_000;

fn main() {
    let input = common::generate();
    let runs = common::runs().min(5);
    let events = common::parse(&input.text);
    println!(
        "import bench: {} accounts, {} events, {runs} runs",
        input.accounts,
        events.len()
    );

    let mut secs = Vec::new();
    let mut bytes = 0;
    for run in 0..runs {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bench.db");
        let mut store = Store::open(&path).expect("open store");
        let (s, inserted) = common::time(|| append_all(&mut store, &events));
        assert_eq!(inserted, events.len(), "run {run}: every event is new");
        drop(store);
        bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
            + std::fs::metadata(dir.path().join("bench.db-wal"))
                .map(|m| m.len())
                .unwrap_or(0);
        secs.push(s);
        println!("  run {}: {:.2} s", run + 1, s);
    }
    let append = Rates::from_secs(events.len(), &secs);
    println!(
        "  append      median {:>12} events/s (min {}, max {})",
        common::thousands(append.median),
        common::thousands(append.min),
        common::thousands(append.max)
    );

    let json = serde_json::json!({
        "accounts": input.accounts,
        "events": events.len(),
        "runs": runs,
        "batch": BATCH,
        "append": append.json(),
        "append_secs": secs,
        "database_bytes": bytes,
        "goal_append_events_per_s": GOAL_APPEND,
    });
    let md = format!(
        "### Import into SQLite (`cargo bench -p handoff --bench import`)\n\n\
         Input: the same {} events, parsed beforehand. Each of {runs} runs appends them to a \
         fresh database file (WAL mode, `synchronous = NORMAL`) in batches of {} with \
         `Store::append`; the file ends at {:.0} MB.\n\n{TABLE_HEAD}\n{}\n",
        common::thousands(events.len() as f64),
        common::thousands(BATCH as f64),
        bytes as f64 / 1e6,
        append.row("`Store::append`", Some(GOAL_APPEND)),
    );
    common::write_results("import", &json, &md);
}

/// Appends every event in batches; answers how many were new.
fn append_all(store: &mut Store, events: &[Event]) -> usize {
    events
        .chunks(BATCH)
        .map(|c| store.append(c).expect("append").inserted)
        .sum()
}
