//! Two `handoff serve` processes on one store, through the real binary, the
//! wall clock and a real local webhook receiver: they share the work. Run
//! on PostgreSQL (the way to run several services) and on SQLite (one file,
//! several processes) alike.
//!
//! Under a policy whose first-touch clock is 4 calendar seconds, six
//! high-intent accounts s0-s5 are handed off to r1 (manager m1, so each
//! alert has a recipient): s0-s2 through server A, s3-s5 through B. r1 calls
//! s1 through B and s4 through A, at once, well inside the 4 seconds. So
//! s1 and s4 meet their clocks, and s0, s2, s3, s5 breach: four alerts,
//! `high-intent-untouched:<account>:1:0`. Each must reach the receiver
//! exactly once, though both servers judge every clock (each learns the
//! other's events from the log) and both senders look at the outbox. A
//! call posted to one server stops the clock on the other, or the other
//! would raise the alert. The servers sign with different secrets, so the
//! receiver can tell who sent what.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use common::{on_both_backends, TestDb};
use handoff::store::DeliveryStatus;
use serde_json::{json, Value};

/// The signing secrets of servers A and B.
const SECRETS: [&str; 2] = ["server-a", "server-b"];

/// An account's firmographics, its demo request a minute ago and its
/// hand-off to r1 now.
fn hand_off(account: &str) -> Vec<Value> {
    let now = Utc::now();
    let demo = now - TimeDelta::minutes(1);
    vec![
        json!({"id": format!("{account}-acc"), "type": "account", "at": "2026-01-01T00:00:00Z",
               "account": account, "industry": "Software", "employees": 300}),
        json!({"id": format!("{account}-demo"), "type": "engagement",
               "at": demo.to_rfc3339(), "account": account, "kind": "demo_request",
               "channel": "paid_search"}),
        json!({"id": format!("{account}-h"), "type": "handoff", "at": now.to_rfc3339(),
               "account": account, "rep": "r1"}),
    ]
}

/// r1's call on `account`, now.
fn call(account: &str) -> Value {
    json!({"id": format!("{account}-call"), "type": "activity", "at": Utc::now().to_rfc3339(),
           "account": account, "rep": "r1", "kind": "call"})
}

async fn post_events(base: &str, token: &str, events: Vec<Value>) {
    let n = events.len();
    let answer = reqwest::Client::new()
        .post(format!("{base}/v1/events"))
        .bearer_auth(token)
        .json(&events)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let counts: Value = answer.json().await.unwrap();
    assert_eq!(counts["accepted"], n, "{counts}");
}

async fn two_servers_on_one_store_fire_each_clock_once_and_send_each_alert_once(db: TestDb) {
    // Arrange: a real receiver, the 4-second policy, a token, two servers.
    let (hook, seen) = common::signed_receiver(&SECRETS).await;
    let policy = common::first_touch_policy(db.dir.path(), 4);
    let notify = common::webhook_notify(db.dir.path(), &hook, "SHARED_SECRET");
    let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["token", "create", "--db", db.arg(), "--role", "ingest"])
        .args(["--name", "crm"])
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("hdf_"), "{token}");
    let (server_a, a) =
        common::start_server(db.arg(), &policy, &notify, "SHARED_SECRET", SECRETS[0]);
    let (server_b, b) =
        common::start_server(db.arg(), &policy, &notify, "SHARED_SECRET", SECRETS[1]);

    // Act: the rep, the hand-offs through both servers, and the two calls
    // each through the server that did not take the account's hand-off.
    let rep = json!({"id": "rep-r1", "type": "rep", "at": "2026-01-01T00:00:00Z",
                     "rep": "r1", "manager": "m1"});
    post_events(&a, &token, vec![rep]).await;
    let accounts = |range: std::ops::Range<u32>| -> Vec<Value> {
        range.flat_map(|i| hand_off(&format!("s{i}"))).collect()
    };
    post_events(&a, &token, accounts(0..3)).await;
    post_events(&b, &token, accounts(3..6)).await;
    post_events(&b, &token, vec![call("s1")]).await;
    post_events(&a, &token, vec![call("s4")]).await;

    // The deadlines are 4 s away; the clock tasks fire just after them and
    // the senders look every 0.5 s: allow 12 s in all, then two more
    // sender rounds, in which a second copy would arrive.
    let expected: Vec<String> = ["s0", "s2", "s3", "s5"]
        .iter()
        .map(|a| format!("high-intent-untouched:{a}:1:0"))
        .collect();
    let started = Instant::now();
    while seen.lock().unwrap().len() < expected.len() && started.elapsed() < Duration::from_secs(12)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    drop((server_a, server_b));

    // Assert: each breached account's alert arrived once, signed by one of
    // the two servers; the touched ones raised nothing.
    let deliveries = seen.lock().unwrap().clone();
    let mut per_key: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (key, server) in &deliveries {
        per_key.entry(key.clone()).or_default().push(*server);
    }
    let keys: Vec<String> = per_key.keys().cloned().collect();
    assert_eq!(keys, expected, "deliveries: {deliveries:?}");
    for (key, servers) in &per_key {
        assert_eq!(servers.len(), 1, "{key} delivered {} times", servers.len());
        assert!(
            servers[0] == 1 || servers[0] == 2,
            "{key}: signed by neither"
        );
    }
    // The outbox holds each alert once, sent after one attempt.
    let outbox = db.open().outbox_all().unwrap();
    let mut ids: Vec<String> = outbox.iter().map(|e| e.alert_id.clone()).collect();
    ids.sort();
    assert_eq!(ids, expected);
    for e in &outbox {
        assert_eq!(
            (e.status, e.attempts),
            (DeliveryStatus::Sent, 1),
            "{}",
            e.alert_id
        );
    }
    eprintln!(
        "shared store: {} deliveries, {} by A, {} by B",
        deliveries.len(),
        deliveries.iter().filter(|d| d.1 == 1).count(),
        deliveries.iter().filter(|d| d.1 == 2).count()
    );
}

on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    two_servers_on_one_store_fire_each_clock_once_and_send_each_alert_once,
);
