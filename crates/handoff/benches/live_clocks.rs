//! Lateness of the live clocks of the real `handoff serve` holding
//! 1,000,000 open clocks: how long after its deadline each breach reaches
//! the outbox. The goal is a p99 of at most 50 ms.
//!
//! A run plans `HANDOFF_BENCH_CLOCKS` deadlines (default 1,000,000), spread
//! evenly over `HANDOFF_BENCH_SPREAD_S` seconds (default 60) from
//! `HANDOFF_BENCH_LEAD_S` seconds after the plan (default 60). Each gets a
//! hand-off on its own account, dated so that the policy
//! `bench/live-clocks.toml` (first touch within ten business minutes, on a
//! calendar open around the clock) puts the clock's deadline at the planned
//! instant. The hand-offs and a team of reps are appended to a fresh
//! database with `Store::append` (the bulk load of `handoff import`), and
//! `handoff serve` (the optimised binary, on the wall clock) replays them
//! into its live engine at start-up. From then on only the service's clock
//! task acts: it sleeps until just after the earliest deadline, judges the
//! deadlines passed and records one alert per breach.
//!
//! Lateness of a breach is measured two ways, both against its deadline:
//! - *recorded*: the outbox entry's `created_at`, the now of the clock step
//!   that judged the deadline passed;
//! - *visible*: when a second connection, polling the outbox about every
//!   millisecond, first finds the entry committed: an upper bound on the
//!   commit, late by at most one poll.
//!
//! Each run also checks what it measures: every planned clock breaches
//! exactly once, at its deadline, recorded after it, and nothing else is
//! recorded. Peak memory is the server's `VmHWM`.
//!
//! Run: cargo bench -p handoff --bench live_clocks

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use common::serve::{self, Server};
use handoff::replay::parse_policy;
use handoff::store::Store;
use handoff_core::engine::{Effect, Engine};
use handoff_core::event::{Event, EventBody, Handoff, RepFacts};
use handoff_core::Policy;

/// Lateness p99 the service should stay within, in milliseconds.
const GOAL_P99_MS: f64 = 50.0;
/// Reps the hand-offs go to, round robin; one manager above them.
const REPS: usize = 100;
/// Events per append transaction, as in `handoff import`.
const LOAD_BATCH: usize = 50_000;
/// How long after the last deadline a run waits for its breaches.
const GRACE_SECS: i64 = 30;
/// Clocks per run in the lateness trace.
const TRACE_POINTS: usize = 10_000;
/// The clock step's log line when it recorded alerts.
const STEPPED: &str = "alerts recorded as deadlines passed";
/// The live engine's log line for a rebuild from the store.
const REBUILT: &str = "live engine rebuilt from the log";

/// The planned clocks of one run.
struct Plan {
    /// Deadline of clock `i`, in order.
    deadlines: Vec<DateTime<Utc>>,
    /// The alert id its breach raises.
    alert_ids: Vec<String>,
    /// The events to load: reps, then one hand-off per clock.
    events: Vec<Event>,
}

/// What one run measured, lateness in milliseconds, sorted.
struct Run {
    recorded: Vec<f64>,
    visible: Vec<f64>,
    /// Every so many clocks in deadline order: seconds from the first
    /// deadline, recorded and visible lateness (`bench/out`, for a plot).
    trace: Vec<(f64, f64, f64)>,
    load_secs: f64,
    ready_secs: f64,
    rss_ready: u64,
    rss_peak: u64,
    steps: usize,
    rebuilds: usize,
    server_cpu: f64,
    load_before: String,
    load_after: String,
}

fn main() {
    let clocks = common::env_number("HANDOFF_BENCH_CLOCKS", 1_000_000);
    let spread = common::env_number("HANDOFF_BENCH_SPREAD_S", 60);
    let lead = common::env_number("HANDOFF_BENCH_LEAD_S", 60);
    let runs = common::env_number("HANDOFF_BENCH_RUNS", 3).max(3);
    let policy_path = bench_dir().join("live-clocks.toml");
    let text = std::fs::read_to_string(&policy_path).expect("read bench/live-clocks.toml");
    let policy = parse_policy(&text, "bench/live-clocks.toml").expect("the bench policy");
    println!(
        "live_clocks bench: {clocks} clocks due over {spread} s from {lead} s after loading \
         starts, {runs} runs"
    );

    let mut results = Vec::new();
    for run in 0..runs {
        let r = run_once(&policy, &policy_path, clocks, spread, lead);
        println!(
            "  run {}: recorded p50 {:.1} p99 {:.1} max {:.1} ms; visible p50 {:.1} p99 {:.1} \
             max {:.1} ms; load {:.1} s, start-up {:.1} s, RSS {:.0} MB ready, {:.0} MB peak, \
             {} steps; load average {} -> {}",
            run + 1,
            serve::quantile(&r.recorded, 0.5),
            serve::quantile(&r.recorded, 0.99),
            r.recorded.last().copied().unwrap_or(f64::NAN),
            serve::quantile(&r.visible, 0.5),
            serve::quantile(&r.visible, 0.99),
            r.visible.last().copied().unwrap_or(f64::NAN),
            r.load_secs,
            r.ready_secs,
            r.rss_ready as f64 / 1e6,
            r.rss_peak as f64 / 1e6,
            r.steps,
            r.load_before,
            r.load_after
        );
        results.push(r);
    }
    report(clocks, spread, &results);
}

/// The repository's `bench` folder.
fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench")
}

/// The reps and their manager, dated a day before `at`.
fn reps(at: DateTime<Utc>) -> Vec<Event> {
    let rep = |id: String, role: &str, manager: Option<&str>| Event {
        id: format!("rep-{id}"),
        at: (at - Duration::days(1)).fixed_offset(),
        body: EventBody::Rep(RepFacts {
            rep: id,
            team: Some("bench".into()),
            manager: manager.map(String::from),
            role: Some(role.into()),
            ..Default::default()
        }),
    };
    let mut events = vec![rep("manager".into(), "sales_manager", None)];
    events.extend((0..REPS).map(|i| rep(format!("r{i:03}"), "sdr", Some("manager"))));
    events
}

fn handoff(id: String, account: String, rep: String, at: DateTime<Utc>) -> Event {
    Event {
        id,
        at: at.fixed_offset(),
        body: EventBody::Handoff(Handoff {
            account,
            rep,
            tier: None,
        }),
    }
}

/// Asks the engine what a hand-off at `at` leads to under the policy: the
/// clock's deadline and the id of the alert its breach raises (for account
/// `probe`). The bench plans with these, so the policy's numbers stay in the
/// policy.
fn probe(policy: &Policy, at: DateTime<Utc>) -> (DateTime<Utc>, String) {
    let mut engine = Engine::new(policy);
    let mut out = Vec::new();
    for ev in reps(at) {
        engine.apply(&ev, &mut out);
    }
    engine.apply(
        &handoff("probe".into(), "probe".into(), "r000".into(), at),
        &mut out,
    );
    let deadline = out
        .iter()
        .find_map(|e| match e {
            Effect::ClockStarted { deadline, .. } => Some(*deadline),
            _ => None,
        })
        .expect("a hand-off starts a clock under bench/live-clocks.toml");
    engine.advance_to(deadline + Duration::seconds(1), &mut out);
    let alerts: Vec<&str> = out
        .iter()
        .filter_map(|e| match e {
            Effect::Alert(a) => Some(a.id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(alerts.len(), 1, "one alert per breach: {alerts:?}");
    (deadline, alerts[0].to_string())
}

/// Plans `n` deadlines spread over `spread` seconds from `first`.
fn plan(policy: &Policy, n: usize, first: DateTime<Utc>, spread: usize) -> Plan {
    // The calendar is open around the clock: a hand-off's deadline is the
    // same span later whenever it happens. Checked on two instants.
    let (d1, alert) = probe(policy, first);
    let span = d1 - first;
    let (d2, _) = probe(policy, first + Duration::hours(13));
    assert_eq!(
        d2 - (first + Duration::hours(13)),
        span,
        "bench/live-clocks.toml must time its clock on a calendar open around the clock"
    );
    let template = alert.replacen(":probe:", ":{}:", 1);
    let step = Duration::seconds(spread as i64)
        .num_microseconds()
        .unwrap_or(0)
        / n as i64;
    let mut events = reps(first - span);
    let mut deadlines = Vec::with_capacity(n);
    let mut alert_ids = Vec::with_capacity(n);
    for i in 0..n {
        let due = first + Duration::microseconds(step * i as i64);
        let account = format!("acct-{i:07}");
        alert_ids.push(template.replacen("{}", &account, 1));
        let rep = format!("r{:03}", i % REPS);
        events.push(handoff(format!("h-{i:07}"), account, rep, due - span));
        deadlines.push(due);
    }
    Plan {
        deadlines,
        alert_ids,
        events,
    }
}

fn run_once(policy: &Policy, policy_path: &Path, n: usize, spread: usize, lead: usize) -> Run {
    // Plan and load.
    let started = Instant::now();
    let first = (Utc::now() + Duration::seconds(lead as i64)).trunc_subsecs(0);
    let plan = plan(policy, n, first, spread);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("clocks.db");
    {
        let mut store = Store::open(&db).expect("open the store");
        for chunk in plan.events.chunks(LOAD_BATCH) {
            store.append(chunk).expect("append");
        }
    }
    let load_secs = started.elapsed().as_secs_f64();

    // Start the service: its start-up replay puts every clock in memory.
    let filter = "warn,handoff::serve=info";
    let server = Server::start(&db, Some(policy_path), filter, &[STEPPED, REBUILT]);
    let ready_at = Utc::now();
    assert!(
        ready_at < first,
        "the service was ready at {ready_at}, after the first deadline {first}: loading and \
         start-up took {:.1} s; raise HANDOFF_BENCH_LEAD_S",
        started.elapsed().as_secs_f64()
    );
    let rss_ready = server.memory().0;
    let load_before = serve::load_average();
    let cpu_before = server.cpu_secs();

    // Watch the outbox until every breach is seen or the grace ends.
    let last = *plan.deadlines.last().expect("at least one clock");
    let seen = poll_outbox(&db, &plan, last + Duration::seconds(GRACE_SECS));
    let server_cpu = server.cpu_secs() - cpu_before;
    let load_after = serve::load_average();
    let rss_peak = server.memory().1;
    let steps = server.count(STEPPED);
    let rebuilds = server.count(REBUILT).saturating_sub(1);
    let ready_secs = server.ready_secs;
    server.stop();

    // Check what was recorded, and measure.
    let recorded = check_outbox(&db, &plan);
    let ms = |late: Duration| late.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e3;
    let mut recorded: Vec<f64> = recorded
        .iter()
        .zip(&plan.deadlines)
        .map(|(r, d)| ms(*r - *d))
        .collect();
    let mut visible: Vec<f64> = seen
        .iter()
        .zip(&plan.deadlines)
        .map(|(s, d)| s.map_or(f64::INFINITY, |s| ms(s - *d)))
        .collect();
    let every = (n / TRACE_POINTS).max(1);
    let trace = (0..n)
        .step_by(every)
        .map(|i| {
            let since = ms(plan.deadlines[i] - plan.deadlines[0]) / 1e3;
            (since, recorded[i], visible[i])
        })
        .collect();
    recorded.sort_by(f64::total_cmp);
    visible.sort_by(f64::total_cmp);
    Run {
        recorded,
        visible,
        trace,
        load_secs,
        ready_secs,
        rss_ready,
        rss_peak,
        steps,
        rebuilds,
        server_cpu,
        load_before,
        load_after,
    }
}

/// Polls the outbox on its own connection: each clock's breach is *seen*
/// once a read transaction finds its entry. Clocks are looked for in
/// deadline order, from the first not seen yet, only once their deadline
/// has passed. Returns when all are seen or at `give_up`.
fn poll_outbox(db: &Path, plan: &Plan, give_up: DateTime<Utc>) -> Vec<Option<DateTime<Utc>>> {
    let mut conn = rusqlite::Connection::open(db).expect("open the outbox for polling");
    let n = plan.deadlines.len();
    let mut seen = vec![None; n];
    let mut next = 0;
    while next < n {
        let now = Utc::now();
        if now > give_up {
            break;
        }
        if plan.deadlines[next] < now {
            let tx = conn.transaction().expect("a read transaction");
            {
                let mut exists = tx
                    .prepare_cached("SELECT 1 FROM outbox WHERE alert_id = ?1")
                    .expect("prepare");
                // The snapshot is taken by the first read: an entry found
                // was committed before `at`, taken just after it.
                let mut found = exists.exists([&plan.alert_ids[next]]).expect("query");
                let at = Utc::now();
                while found {
                    seen[next] = Some(at);
                    next += 1;
                    found = next < n
                        && plan.deadlines[next] < at
                        && exists.exists([&plan.alert_ids[next]]).expect("query");
                }
            }
            tx.commit().expect("end the read transaction");
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    seen
}

/// Reads the outbox after the run and checks it: one entry per planned
/// clock and nothing else, each at its planned deadline, recorded after it,
/// pending. Returns each clock's recorded instant.
fn check_outbox(db: &Path, plan: &Plan) -> Vec<DateTime<Utc>> {
    let store = Store::open(db).expect("open the store");
    let entries = store.outbox_all().expect("read the outbox");
    let index: HashMap<&str, usize> = plan
        .alert_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut recorded = vec![None; plan.alert_ids.len()];
    for e in &entries {
        let i = *index
            .get(e.alert_id.as_str())
            .unwrap_or_else(|| panic!("an alert no clock planned: {}", e.alert_id));
        let alert: serde_json::Value = serde_json::from_str(&e.alert).expect("alert JSON");
        let at = alert["at"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .expect("the alert's instant");
        let due = plan.deadlines[i];
        assert_eq!(at, due, "{}: breached at {at}, planned {due}", e.alert_id);
        assert!(
            e.created_at > due,
            "{}: recorded at {}, not after its deadline {due}",
            e.alert_id,
            e.created_at
        );
        assert_eq!(e.status, handoff::store::DeliveryStatus::Pending);
        assert!(recorded[i].replace(e.created_at).is_none());
    }
    let missing = recorded.iter().filter(|r| r.is_none()).count();
    assert_eq!(missing, 0, "{missing} planned breaches were never recorded");
    recorded.into_iter().flatten().collect()
}

/// Prints the summary and writes `bench/out/live_clocks.{json,md}`.
fn report(clocks: usize, spread: usize, runs: &[Run]) {
    let figure = |f: &dyn Fn(&Run) -> f64| serve::summary(&runs.iter().map(f).collect::<Vec<_>>());
    let max = |v: &[f64]| v.last().copied().unwrap_or(f64::NAN);
    let rows: Vec<(&str, (f64, f64, f64), bool)> = vec![
        (
            "recorded lateness p50",
            figure(&|r| serve::quantile(&r.recorded, 0.5)),
            false,
        ),
        (
            "recorded lateness p99",
            figure(&|r| serve::quantile(&r.recorded, 0.99)),
            true,
        ),
        (
            "recorded lateness max",
            figure(&|r| max(&r.recorded)),
            false,
        ),
        (
            "visible lateness p50",
            figure(&|r| serve::quantile(&r.visible, 0.5)),
            false,
        ),
        (
            "visible lateness p99",
            figure(&|r| serve::quantile(&r.visible, 0.99)),
            true,
        ),
        ("visible lateness max", figure(&|r| max(&r.visible)), false),
    ];
    let mb = |b: u64| b as f64 / 1e6;
    let mut md = format!(
        "### Live clock lateness (`cargo bench -p handoff --bench live_clocks`)\n\n\
         Input: {} open clocks in `handoff serve`'s live engine (one hand-off per account, \
         `bench/live-clocks.toml`: ten business minutes on a calendar open around the clock), \
         deadlines spread evenly over {spread} s of real time; bulk-loaded with \
         `Store::append`, put in memory by the service's start-up replay. Lateness = when the \
         breach was *recorded* (the outbox entry's `created_at`, the clock step's now) or first \
         *visible* committed to another connection polling every ~1 ms, minus the deadline. \
         Every run checks that each clock breached exactly once, at its deadline, never \
         early.\n\n\
         | measure | median of runs | range (min – max) | goal |\n|---|---|---|---|\n",
        common::thousands(clocks as f64)
    );
    for (label, (med, lo, hi), goal) in &rows {
        let goal = match goal {
            true if *med <= GOAL_P99_MS => format!("≤ {GOAL_P99_MS} ms — met"),
            true => format!("≤ {GOAL_P99_MS} ms — **missed**"),
            false => "—".into(),
        };
        md.push_str(&format!(
            "| {label} | {med:.1} ms | {lo:.1} – {hi:.1} ms | {goal} |\n"
        ));
    }
    let (rss, rss_lo, rss_hi) = figure(&|r| mb(r.rss_peak));
    let (ready, ready_lo, ready_hi) = figure(&|r| mb(r.rss_ready));
    let (load, load_lo, load_hi) = figure(&|r| r.load_secs);
    let (up, up_lo, up_hi) = figure(&|r| r.ready_secs);
    md.push_str(&format!(
        "| server peak RSS (VmHWM) | {rss:.0} MB | {rss_lo:.0} – {rss_hi:.0} MB | |\n\
         | server RSS when ready | {ready:.0} MB | {ready_lo:.0} – {ready_hi:.0} MB | |\n\
         | bulk load (plan + `Store::append`) | {load:.1} s | {load_lo:.1} – {load_hi:.1} s | |\n\
         | start-up (replay into the live engine) | {up:.1} s | {up_lo:.1} – {up_hi:.1} s | |\n\n\
         | run | recorded p50 / p99 / max ms | visible p50 / p99 / max ms | clock steps | \
         rebuilds | server CPU s | load average before → after |\n|---|---|---|---|---|---|---|\n"
    ));
    for (i, r) in runs.iter().enumerate() {
        md.push_str(&format!(
            "| {} | {:.1} / {:.1} / {:.1} | {:.1} / {:.1} / {:.1} | {} | {} | {:.1} | {} → {} |\n",
            i + 1,
            serve::quantile(&r.recorded, 0.5),
            serve::quantile(&r.recorded, 0.99),
            max(&r.recorded),
            serve::quantile(&r.visible, 0.5),
            serve::quantile(&r.visible, 0.99),
            max(&r.visible),
            r.steps,
            r.rebuilds,
            r.server_cpu,
            r.load_before,
            r.load_after
        ));
    }
    let json = serde_json::json!({
        "clocks": clocks,
        "spread_secs": spread,
        "runs": runs.iter().map(|r| serde_json::json!({
            "recorded_ms": {"p50": serve::quantile(&r.recorded, 0.5),
                "p99": serve::quantile(&r.recorded, 0.99), "max": max(&r.recorded)},
            "visible_ms": {"p50": serve::quantile(&r.visible, 0.5),
                "p99": serve::quantile(&r.visible, 0.99), "max": max(&r.visible)},
            "load_secs": r.load_secs,
            "ready_secs": r.ready_secs,
            "rss_ready_bytes": r.rss_ready,
            "rss_peak_bytes": r.rss_peak,
            "clock_steps": r.steps,
            "rebuilds": r.rebuilds,
            "server_cpu_secs": r.server_cpu,
            "load_before": r.load_before,
            "load_after": r.load_after,
        })).collect::<Vec<_>>(),
        "goal_p99_ms": GOAL_P99_MS,
    });
    common::write_results("live_clocks", &json, &md);
    for (i, r) in runs.iter().enumerate() {
        let mut csv = String::from("deadline_s,recorded_ms,visible_ms\n");
        for (s, rec, vis) in &r.trace {
            csv.push_str(&format!("{s:.6},{rec:.3},{vis:.3}\n"));
        }
        let path = bench_dir().join(format!("out/live_clocks-run{}.csv", i + 1));
        std::fs::write(&path, csv).expect("write the lateness trace");
    }
}
