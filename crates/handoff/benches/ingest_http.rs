//! HTTP ingest speed of the real `handoff serve`: events per second posted
//! to `POST /v1/events` in batches of 500 by several clients at once, each
//! batch stored in SQLite (committed to disk before the answer) and applied
//! to the live engine. The goal is at least 50,000 events/s.
//!
//! The *feed* is the generated year of `common` in engine order, cut into
//! batches of 500 and written as JSON arrays before anything is timed. An
//! event's instant is a fixed-width *slot* in that text, which a client
//! fills with the current time just before it sends the batch (the events
//! of a batch a microsecond apart, in feed order, all in the past): the
//! service sees a live feed, as from a CRM posting what just happened,
//! rather than a year of history, which belongs to `handoff import`.
//! Filling the slots copies a few bytes per event; no JSON is built while
//! timed.
//!
//! A *run* makes a fresh database, an ingest token (`handoff token
//! create`), starts `handoff serve` (the optimised binary, built-in default
//! policy) on a loopback port and lets `HANDOFF_BENCH_CLIENTS` clients
//! (default 4), one keep-alive connection each, post the whole feed; each
//! client takes the next batch not yet sent. Events/s is the events
//! accepted over the time from the first request sent to the last answer;
//! latency is each request's, from sending to the whole answer read. The
//! server's CPU time and its rebuilds of the live engine (counted from its
//! log) say where the time went.
//!
//! Run: cargo bench -p handoff --bench ingest_http

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Timelike, Utc};
use common::serve::{self, Server};
use handoff_core::engine::sort_events;
use handoff_core::event::Event;

/// Events per request, as issue 3 asks.
const BATCH: usize = 500;
/// Events per second the service should take in.
const GOAL: f64 = 50_000.0;
/// What an event's instant holds until a client stamps it; the stamp has
/// the same width.
const SLOT: &str = "2000-01-01T00:00:00.000000+00:00";
/// The live engine's log line for a rebuild from the store.
const REBUILT: &str = "live engine rebuilt from the log";

/// One request body and where its instants are.
struct Batch {
    body: Vec<u8>,
    /// Byte offset of each event's instant slot.
    slots: Vec<usize>,
}

/// What one run measured.
struct Run {
    events: usize,
    secs: f64,
    latencies: Vec<f64>,
    rebuilds: usize,
    server_cpu: f64,
    client_cpu: f64,
    load_before: String,
    load_after: String,
    db_bytes: u64,
    peak_rss: u64,
}

fn main() {
    let input = common::generate();
    let runs = common::runs();
    let clients = common::env_number("HANDOFF_BENCH_CLIENTS", 4);
    let (batches, events) = build_feed(&input.text);
    println!(
        "ingest_http bench: {} accounts, {events} events in {} batches of {BATCH}, \
         {clients} clients, {runs} runs",
        input.accounts,
        batches.len()
    );

    let batches = Arc::new(batches);
    let mut results = Vec::new();
    for run in 0..runs {
        let r = run_once(&batches, clients);
        let mut lat = r.latencies.clone();
        lat.sort_by(f64::total_cmp);
        println!(
            "  run {}: {:>9.0} events/s, latency p50 {:.1} ms p99 {:.1} ms, {} rebuilds, \
             server CPU {:.1} s, load {} -> {}",
            run + 1,
            r.events as f64 / r.secs,
            serve::quantile(&lat, 0.5) * 1e3,
            serve::quantile(&lat, 0.99) * 1e3,
            r.rebuilds,
            r.server_cpu,
            r.load_before,
            r.load_after
        );
        results.push(r);
    }
    report(&input, clients, &results);
}

/// The generated events in engine order, as request bodies with slots.
fn build_feed(text: &str) -> (Vec<Batch>, usize) {
    let mut events = common::parse(text);
    sort_events(&mut events);
    let batches = events.chunks(BATCH).map(batch_body).collect();
    (batches, events.len())
}

/// A JSON array of `events`, each instant replaced by [`SLOT`].
fn batch_body(events: &[Event]) -> Batch {
    let mut body = Vec::with_capacity(events.len() * 300);
    let mut slots = Vec::with_capacity(events.len());
    body.push(b'[');
    for (i, ev) in events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        let mut value = serde_json::to_value(ev).expect("an event serialises");
        value["at"] = serde_json::Value::String(SLOT.into());
        let text = serde_json::to_string(&value).expect("a value serialises");
        let slot = text
            .find(&format!("\"at\":\"{SLOT}\""))
            .expect("the slot is in the event's JSON")
            + "\"at\":\"".len();
        slots.push(body.len() + slot);
        body.extend_from_slice(text.as_bytes());
    }
    body.push(b']');
    Batch { body, slots }
}

/// Writes instants into the slots: the last event `end` minus 1 µs, each
/// earlier one a microsecond before the next, in the format of [`SLOT`].
fn stamp(body: &mut [u8], slots: &[usize], end: DateTime<Utc>) {
    let n = slots.len() as i64;
    let mut second = i64::MIN;
    let mut prefix = [0u8; 20];
    for (i, &at) in slots.iter().enumerate() {
        let t = end - Duration::microseconds(n - i as i64);
        if t.timestamp() != second {
            second = t.timestamp();
            let text = t.format("%Y-%m-%dT%H:%M:%S.").to_string();
            prefix.copy_from_slice(text.as_bytes());
        }
        body[at..at + 20].copy_from_slice(&prefix);
        let mut micros = t.nanosecond() / 1000 % 1_000_000;
        for d in (0..6).rev() {
            body[at + 20 + d] = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
    }
}

/// One run on a fresh database and a fresh service.
fn run_once(batches: &Arc<Vec<Batch>>, clients: usize) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("ingest.db");
    let token = serve::create_token(&db, "ingest", "bench");
    let filter = "warn,handoff::serve::live=info";
    let server = Server::start(&db, None, filter, &[REBUILT]);
    let url = format!("{}/v1/events", server.base);
    let load_before = serve::load_average();
    let cpu_before = server.cpu_secs();
    let client_cpu_before = serve::proc_cpu_secs(std::process::id());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    let (secs, latencies, events) = runtime.block_on(post_all(batches, clients, url, token));

    let run = Run {
        events,
        secs,
        latencies,
        rebuilds: server.count(REBUILT).saturating_sub(1),
        server_cpu: server.cpu_secs() - cpu_before,
        client_cpu: serve::proc_cpu_secs(std::process::id()) - client_cpu_before,
        load_before,
        load_after: serve::load_average(),
        db_bytes: 0,
        peak_rss: server.memory().1,
    };
    server.stop();
    let size = |name: &str| std::fs::metadata(dir.path().join(name)).map_or(0, |m| m.len());
    Run {
        db_bytes: size("ingest.db") + size("ingest.db-wal"),
        ..run
    }
}

/// Posts every batch with `clients` concurrent clients; answers the
/// seconds taken, each request's latency and the events accepted.
async fn post_all(
    batches: &Arc<Vec<Batch>>,
    clients: usize,
    url: String,
    token: String,
) -> (f64, Vec<f64>, usize) {
    let http = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, url, token) = (http.clone(), url.clone(), token.clone());
            let (next, batches) = (next.clone(), batches.clone());
            tokio::spawn(async move { client(&http, &url, &token, &next, &batches).await })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut accepted = 0;
    for t in tasks {
        let (lat, n) = t.await.expect("a client task");
        latencies.extend(lat);
        accepted += n;
    }
    (started.elapsed().as_secs_f64(), latencies, accepted)
}

/// One client: posts the next unsent batch until none is left.
async fn client(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    next: &AtomicUsize,
    batches: &[Batch],
) -> (Vec<f64>, usize) {
    let mut latencies = Vec::new();
    let mut accepted = 0;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(batch) = batches.get(i) else {
            break;
        };
        let mut body = batch.body.clone();
        stamp(&mut body, &batch.slots, Utc::now());
        let sent = Instant::now();
        let response = http
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST /v1/events");
        let status = response.status();
        let answer = response.bytes().await.expect("the answer's body");
        latencies.push(sent.elapsed().as_secs_f64());
        let report: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
        let n = report["accepted"].as_u64().unwrap_or(0) as usize;
        assert!(
            status.is_success() && n == batch.slots.len(),
            "batch {i}: {status}, expected {} accepted: {}",
            batch.slots.len(),
            String::from_utf8_lossy(&answer)
        );
        accepted += n;
    }
    (latencies, accepted)
}

/// Prints the summary and writes `bench/out/ingest_http.{json,md}`.
fn report(input: &common::Input, clients: usize, runs: &[Run]) {
    let rates: Vec<f64> = runs.iter().map(|r| r.events as f64 / r.secs).collect();
    let per_run = |q: f64| -> Vec<f64> {
        runs.iter()
            .map(|r| {
                let mut l = r.latencies.clone();
                l.sort_by(f64::total_cmp);
                serve::quantile(&l, q) * 1e3
            })
            .collect()
    };
    let (p50, p99) = (per_run(0.5), per_run(0.99));
    let (rate, rate_min, rate_max) = serve::summary(&rates);
    let (p50_med, p50_min, p50_max) = serve::summary(&p50);
    let (p99_med, p99_min, p99_max) = serve::summary(&p99);
    let events = runs[0].events;
    let goal = if rate >= GOAL { "met" } else { "**missed**" };
    println!(
        "  ingest median {} events/s (min {}, max {}), p50 {p50_med:.1} ms, p99 {p99_med:.1} ms",
        common::thousands(rate),
        common::thousands(rate_min),
        common::thousands(rate_max)
    );

    let json = serde_json::json!({
        "accounts": input.accounts,
        "events_per_run": events,
        "batch": BATCH,
        "clients": clients,
        "runs": runs.iter().zip(&rates).zip(p50.iter().zip(&p99)).map(|((r, rate), (a, b))| {
            serde_json::json!({
                "events_per_s": rate.round(),
                "secs": r.secs,
                "latency_p50_ms": a,
                "latency_p99_ms": b,
                "rebuilds": r.rebuilds,
                "server_cpu_secs": r.server_cpu,
                "client_cpu_secs": r.client_cpu,
                "peak_rss_bytes": r.peak_rss,
                "database_bytes": r.db_bytes,
                "load_before": r.load_before,
                "load_after": r.load_after,
            })
        }).collect::<Vec<_>>(),
        "median_events_per_s": rate.round(),
        "goal_events_per_s": GOAL,
    });

    let mut md = format!(
        "### HTTP ingest (`cargo bench -p handoff --bench ingest_http`)\n\n\
         Input: the generated year for {} accounts, {} events in engine order, posted as a \
         live feed (each event stamped with the time of sending) in JSON arrays of {BATCH} to \
         `POST /v1/events` of `handoff serve` on loopback by {clients} concurrent clients; a \
         fresh database per run, built-in default policy, `synchronous = FULL`.\n\n\
         | measure | median | range (min – max) | spread | goal |\n|---|---|---|---|---|\n\
         | events/s | {} | {} – {} | {:.1}% | ≥ {} — {goal} |\n\
         | request latency p50 | {p50_med:.1} ms | {p50_min:.1} – {p50_max:.1} ms | | |\n\
         | request latency p99 | {p99_med:.1} ms | {p99_min:.1} – {p99_max:.1} ms | | |\n\n\
         | run | events/s | p50 ms | p99 ms | rebuilds | server CPU s | client CPU s | \
         peak RSS | database | load before → after |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        common::thousands(input.accounts as f64),
        common::thousands(events as f64),
        common::thousands(rate),
        common::thousands(rate_min),
        common::thousands(rate_max),
        (rate_max - rate_min) / rate * 100.0,
        common::thousands(GOAL),
    );
    for (i, r) in runs.iter().enumerate() {
        md.push_str(&format!(
            "| {} | {} | {:.1} | {:.1} | {} | {:.1} | {:.1} | {:.0} MB | {:.0} MB | {} → {} |\n",
            i + 1,
            common::thousands(rates[i]),
            p50[i],
            p99[i],
            r.rebuilds,
            r.server_cpu,
            r.client_cpu,
            r.peak_rss as f64 / 1e6,
            r.db_bytes as f64 / 1e6,
            r.load_before,
            r.load_after
        ));
    }
    common::write_results("ingest_http", &json, &md);
}
