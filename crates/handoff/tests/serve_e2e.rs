//! End to end through the real binary: `handoff serve` with a notification
//! file, a real local HTTP receiver, the wall clock and a policy whose
//! first-touch clock is 2 calendar seconds. A high-intent hand-off nobody
//! touches must reach the receiver, signed, within a few seconds of its
//! deadline, exactly once. On SQLite and on PostgreSQL alike.

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use chrono::Utc;
use common::{on_both_backends, TestDb};

type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn record(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> StatusCode {
    seen.lock().unwrap().push((headers, body));
    StatusCode::OK
}

async fn an_untouched_hand_off_reaches_the_webhook_signed_and_once(db: TestDb) {
    // A real receiver on a free port.
    let seen: Seen = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(record))
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // The policy: the default with a 2-second calendar first-touch clock.
    let policy = common::two_second_policy(db.dir.path());
    let notify = common::webhook_notify(db.dir.path(), &hook, "E2E_SECRET");
    let bin = env!("CARGO_BIN_EXE_handoff");

    let out = Command::new(bin)
        .args([
            "token",
            "create",
            "--db",
            db.arg(),
            "--role",
            "ingest",
            "--name",
            "crm",
        ])
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("hdf_"), "{token}");

    // The server on a free port.
    let (server, base) = common::start_server(db.arg(), &policy, &notify, "E2E_SECRET", "s3cret");

    // A high-intent hand-off now; nobody touches it.
    let now = Utc::now().to_rfc3339();
    let events = serde_json::json!([
        {"id":"r1","type":"rep","at":"2026-01-01T00:00:00Z","rep":"r1","manager":"m1"},
        {"id":"a","type":"account","at":"2026-01-01T00:00:00Z","account":"acme",
         "industry":"software","employees":300},
        {"id":"d","type":"engagement","at":now,"account":"acme","kind":"demo_request"},
        {"id":"h","type":"handoff","at":now,"account":"acme","rep":"r1"}
    ]);
    let answer = reqwest::Client::new()
        .post(format!("{base}/v1/events"))
        .bearer_auth(&token)
        .json(&events)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    // The deadline is 2 s away; the clock task fires just after it and the
    // sender looks every 0.5 s: allow 8 s in all.
    let started = Instant::now();
    while seen.lock().unwrap().is_empty() && started.elapsed() < Duration::from_secs(8) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Two more sender rounds: a second copy would have arrived by then.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let deliveries = seen.lock().unwrap().clone();
    assert_eq!(deliveries.len(), 1, "deliveries: {}", deliveries.len());
    let (headers, body) = &deliveries[0];
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_string();
    assert_eq!(header("idempotency-key"), "high-intent-untouched:acme:1:0");
    let timestamp = header("x-handoff-timestamp");
    let signature = header("x-handoff-signature");
    let ok = handoff::notify::verify(
        b"s3cret",
        timestamp.parse().unwrap(),
        body,
        &signature,
        Utc::now().timestamp(),
        300,
    );
    assert!(ok, "signature {signature} over timestamp {timestamp}");

    // The outbox says so in /metrics.
    let metrics = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "handoff_alerts{status=\"sent\"} 1"),
        "{metrics}"
    );
    drop(server);
}

on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    an_untouched_hand_off_reaches_the_webhook_signed_and_once,
);
