//! A real webhook receiver on a loopback port that tells which server
//! signed each delivery, for the tests that run several `handoff serve`
//! processes, each signing with a secret of its own.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use chrono::Utc;

/// Every delivery received: its Idempotency-Key and the 1-based index of
/// the secret whose signature verifies it, 0 when none does.
pub type Signed = Arc<Mutex<Vec<(String, u8)>>>;

#[derive(Clone)]
struct Receiver {
    seen: Signed,
    secrets: &'static [&'static str],
}

async fn record(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let timestamp: i64 = header("x-handoff-timestamp").parse().unwrap_or(0);
    let signature = header("x-handoff-signature");
    let now = Utc::now().timestamp();
    let signer = r
        .secrets
        .iter()
        .position(|s| handoff::notify::verify(s.as_bytes(), timestamp, &body, &signature, now, 300))
        .map_or(0, |i| i as u8 + 1);
    r.seen
        .lock()
        .unwrap()
        .push((header("idempotency-key"), signer));
    StatusCode::OK
}

/// Starts a receiver that answers 200 to every POST to `/hook`; returns
/// the hook's URL and what it received.
pub async fn signed_receiver(secrets: &'static [&'static str]) -> (String, Signed) {
    let seen = Signed::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(record))
        .with_state(Receiver {
            seen: seen.clone(),
            secrets,
        });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (hook, seen)
}
