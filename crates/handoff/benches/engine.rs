//! Engine speed: events per second replaying a generated year through
//! `handoff_core::engine` on one core.
//!
//! Steps, each timed on its own: parsing the JSON Lines text into events
//! (not part of the engine figure), sorting them with `sort_events`, and
//! the *replay*: a fresh `Engine`, `apply` for every event in order, and
//! `finish` as of the end of the year. The goal is at least 1,000,000
//! replayed events/s. See `common` for the input and the environment
//! variables.
//!
//! Run: cargo bench -p handoff --bench engine

mod common;

use common::{Rates, TABLE_HEAD};
use handoff_core::engine::{sort_events, Engine, Snapshot};
use handoff_core::event::Event;

/// Replayed events per second the engine should reach.
const GOAL_REPLAY: f64 = 1_000_000.0;

fn main() {
    let input = common::generate();
    let runs = common::runs();
    println!(
        "engine bench: {} accounts, {} events ({:.0} MB of JSON Lines), {runs} runs",
        input.accounts,
        input.events,
        input.text.len() as f64 / 1e6
    );

    // Parse once for the later steps; time it on every run when asked.
    let steps = steps();
    let mut parse_secs = Vec::new();
    let mut events = Vec::new();
    for _ in 0..if steps.parse { runs } else { 1 } {
        let (secs, parsed) = common::time(|| common::parse(&input.text));
        parse_secs.push(secs);
        events = parsed;
    }
    let mut sort_secs = Vec::new();
    for _ in 0..if steps.sort { runs } else { 1 } {
        let mut copy = events.clone();
        sort_secs.push(common::time(|| sort_events(&mut copy)).0);
    }
    sort_events(&mut events);
    let mut replay_secs = Vec::new();
    let mut accounts = 0;
    for _ in 0..runs {
        let (secs, snapshot) = common::time(|| replay(&input.policy, &events, input.end));
        replay_secs.push(secs);
        // Dropping the snapshot (freeing every account record) is left out
        // of the timing: a rebuild stores the snapshot first.
        accounts = snapshot.accounts.len();
    }

    let n = input.events;
    let parse = Rates::from_secs(n, &parse_secs);
    let sort = Rates::from_secs(n, &sort_secs);
    let replay = Rates::from_secs(n, &replay_secs);
    for (label, r) in [("parse JSON", parse), ("sort", sort), ("replay", replay)] {
        println!(
            "  {label:<11} median {:>12} events/s (min {}, max {})",
            common::thousands(r.median),
            common::thousands(r.min),
            common::thousands(r.max)
        );
    }
    println!("  replay left {accounts} accounts in the snapshot");

    let json = serde_json::json!({
        "accounts": input.accounts,
        "events": n,
        "json_bytes": input.text.len(),
        "runs": runs,
        "generate_secs": input.gen_secs,
        "parse": parse.json(),
        "sort": sort.json(),
        "replay": replay.json(),
        "replay_secs": replay_secs,
        "goal_replay_events_per_s": GOAL_REPLAY,
    });
    let md = format!(
        "### Engine (`cargo bench -p handoff --bench engine`)\n\n\
         Input: {} accounts, {} events, {:.0} MB of JSON Lines (generated in {:.1} s). \
         {runs} runs of each step; one core.\n\n{TABLE_HEAD}\n{}\n{}\n{}\n\n\
         *Replay* is `Engine::new`, `apply` of every event in `sort_events` order and \
         `finish` as of {} (freeing the snapshot afterwards is not timed). Parsing and \
         sorting are timed separately and are not part of the replay figure.\n",
        common::thousands(f64::from(input.accounts)),
        common::thousands(n as f64),
        input.text.len() as f64 / 1e6,
        input.gen_secs,
        replay.row("engine replay", Some(GOAL_REPLAY)),
        parse.row("JSON parse (`Event::from_json`)", None),
        sort.row("`sort_events`", None),
        input.end.format("%Y-%m-%d %H:%M UTC"),
    );
    common::write_results("engine", &json, &md);
}

/// Which steps to time repeatedly: `HANDOFF_BENCH_STEPS`, a comma list of
/// `parse`, `sort` and `replay` (default all; replay always runs). Timing
/// only the replay makes a profile of the engine easier to read.
struct Steps {
    parse: bool,
    sort: bool,
}

fn steps() -> Steps {
    let list = std::env::var("HANDOFF_BENCH_STEPS").unwrap_or_else(|_| "parse,sort".into());
    Steps {
        parse: list.contains("parse"),
        sort: list.contains("sort"),
    }
}

/// One replay: a fresh engine, every event applied in order, finished as
/// of `as_of`.
fn replay(
    policy: &handoff_core::Policy,
    events: &[Event],
    as_of: chrono::DateTime<chrono::Utc>,
) -> Snapshot {
    let mut engine = Engine::new(policy);
    let mut effects = Vec::new();
    for ev in events {
        engine.apply(ev, &mut effects);
        effects.clear();
    }
    engine.finish(as_of)
}
