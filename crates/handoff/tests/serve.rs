//! `handoff serve` in-process on 127.0.0.1:0 over a fresh store, SQLite and
//! PostgreSQL alike (tests/common/db.rs), driven through real HTTP; and
//! `handoff token create` through the binary.
//!
//! The scorecard history is the one of tests/report.rs, worked out by hand
//! there: on the default policy's New York calendar (09:00-17:00, EST =
//! UTC-5 in early March 2026) a demo request Monday 2 March 09:00 EST makes
//! `acme` a high-intent MQA; hand-off 15:00 EST (20:00Z) to r1. Four
//! business hours: 15:00-17:00 Monday plus 09:00-11:00 Tuesday, so the
//! first-touch deadline is Tuesday 11:00 EST = 16:00Z. The call comes at
//! 11:30 EST (16:30Z): breached (first touch met 0 of 1), one alert at
//! 16:00Z to r1's manager m1.

mod common;

use std::process::Command;

use common::{on_both_backends, TestDb};
use handoff::cli::TokenRole;
use handoff::serve::auth::create_token;
use handoff::serve::{AppState, ServeConfig};
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

/// The hand-worked history of tests/report.rs (its module doc works it out).
const HISTORY: &str = include_str!("fixtures/events/acme-breach.jsonl");

/// Three valid events, then one whose `at` has no offset, then one of an
/// unknown type.
fn five_items() -> String {
    let lines: Vec<&str> = HISTORY.lines().take(3).collect();
    format!(
        "[{}, {}, {},\n {}, {}]",
        lines[0],
        lines[1],
        lines[2],
        r#"{"id":"n1","type":"nurture","at":"2026-03-02 09:30","account":"acme"}"#,
        r#"{"id":"m1","type":"meeting","at":"2026-03-02T09:00:00Z","account":"acme"}"#
    )
}

/// The service on a free port with a fresh database and three tokens.
struct TestApp {
    base: String,
    client: reqwest::Client,
    db: TestDb,
    admin: String,
    ingest: String,
    viewer: String,
    stop: Option<oneshot::Sender<()>>,
}

/// A response: status, headers, JSON body.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    json: Value,
}

impl TestApp {
    async fn start(db: TestDb) -> TestApp {
        TestApp::start_with_limit(db, 10 * 1024 * 1024).await
    }

    async fn start_with_limit(db: TestDb, max_body_bytes: usize) -> TestApp {
        let (admin, ingest, viewer) = {
            let mut store = db.open();
            let at = "2026-01-01T00:00:00Z";
            (
                create_token(&mut store, "ops", TokenRole::Admin, at).unwrap(),
                create_token(&mut store, "crm-sync", TokenRole::Ingest, at).unwrap(),
                create_token(&mut store, "cmo", TokenRole::Viewer, at).unwrap(),
            )
        };
        let config = ServeConfig {
            db: db.location.clone(),
            policy: None,
            max_body_bytes,
        };
        let state = AppState::open(&config).unwrap();
        let (base, stop) = common::serve_in_process(state).await;
        TestApp {
            base,
            client: reqwest::Client::new(),
            db,
            admin,
            ingest,
            viewer,
            stop: Some(stop),
        }
    }

    async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text}"));
        Answer {
            status,
            headers,
            json,
        }
    }

    /// POST /v1/events with an optional token and content type.
    async fn post_events(&self, token: Option<&str>, content_type: &str, body: String) -> Answer {
        let mut request = self
            .client
            .post(format!("{}/v1/events", self.base))
            .header(CONTENT_TYPE, content_type)
            .body(body);
        if let Some(t) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        TestApp::answer(request.send().await.unwrap()).await
    }

    /// POST a JSON array with the ingest token; expects 200.
    async fn ingest_json(&self, body: String) -> Value {
        let a = self
            .post_events(Some(&self.ingest), "application/json", body)
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.json);
        a.json
    }

    /// GET a path (with its query) with an optional token.
    async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        TestApp::answer(request.send().await.unwrap()).await
    }

    /// The ids in the store's log, in the log's order.
    fn stored(&self) -> Vec<String> {
        let store = self.db.open();
        let events = store.events_ordered().unwrap();
        events.into_iter().map(|e| e.id).collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn a_batch_stores_its_valid_items_and_names_the_rejected_ones(db: TestDb) {
    let app = TestApp::start(db).await;
    let r = app.ingest_json(five_items()).await;
    assert_eq!(
        (
            &r["accepted"],
            &r["duplicate"],
            &r["conflicting"],
            &r["rejected"]
        ),
        (&json!(3), &json!(0), &json!(0), &json!(2))
    );
    let rejections = r["rejections"].as_array().unwrap();
    assert_eq!(rejections.len(), 2);
    assert_eq!(rejections[0]["index"], 3);
    assert_eq!(
        rejections[0]["reason"],
        "field \"at\": \"2026-03-02 09:30\" has no UTC offset; write RFC 3339 with an \
         offset, e.g. 2026-03-02T09:30:00-05:00"
    );
    assert_eq!(rejections[1]["index"], 4);
    assert_eq!(
        rejections[1]["reason"],
        "field \"type\": unknown event type \"meeting\"; expected one of account, contact, \
         rep, engagement, stage, handoff, accepted, rejected, nurture, activity, \
         disposition, opportunity, reassign"
    );
    // Log order is (instant, id): the two reps at New Year, then acme.
    assert_eq!(app.stored(), ["rep-m1", "rep-r1", "acc"]);

    // The same batch again: the three are recognised, not stored twice.
    let r = app.ingest_json(five_items()).await;
    assert_eq!(
        (&r["accepted"], &r["duplicate"], &r["rejected"]),
        (&json!(0), &json!(3), &json!(2))
    );
    assert_eq!(app.stored().len(), 3);

    // Same id, another payload: a conflict at its index; the first stays.
    let other = r#"{"id":"acc","type":"account","at":"2026-02-01T00:00:00Z","account":"acme","employees":300}"#;
    let nurture = r#"{"id":"n2","type":"nurture","at":"2026-03-09T09:00:00Z","account":"acme"}"#;
    let r = app.ingest_json(format!("[{nurture}, {other}]")).await;
    assert_eq!(
        (&r["accepted"], &r["duplicate"], &r["conflicting"]),
        (&json!(1), &json!(0), &json!(1))
    );
    assert_eq!(r["conflicts"], json!([{ "index": 1, "id": "acc" }]));
    let store = app.db.open();
    let acc = store
        .events_ordered()
        .unwrap()
        .into_iter()
        .find(|e| e.id == "acc")
        .unwrap();
    assert!(
        serde_json::to_string(&acc)
            .unwrap()
            .contains("\"employees\":200"),
        "{acc:?}"
    );
    assert_eq!(store.conflicts().unwrap().len(), 1);
    assert_eq!(
        store.conflicts().unwrap()[0].source,
        "POST /v1/events by crm-sync item 1"
    );
}

async fn ndjson_history_gives_the_reports_scorecard(db: TestDb) {
    let app = TestApp::start(db).await;
    // Four lines declared as NDJSON, three more sniffed (no `[`).
    let lines: Vec<&str> = HISTORY.lines().collect();
    let a = app
        .post_events(
            Some(&app.admin),
            "application/x-ndjson",
            lines[..4].join("\n"),
        )
        .await;
    assert_eq!((a.status, &a.json["accepted"]), (StatusCode::OK, &json!(4)));
    let a = app
        .post_events(
            Some(&app.ingest),
            "text/plain",
            lines[4..].join("\r\n") + "\r\n",
        )
        .await;
    assert_eq!((a.status, &a.json["accepted"]), (StatusCode::OK, &json!(3)));
    assert_eq!(app.stored().len(), 7);

    let query = "/v1/scorecard?month=2026-03&as_of=2026-05-01T00:00:00Z";
    let a = app.get(query, Some(&app.viewer)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    let card = &a.json;
    let ft = card["commitments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "first-touch")
        .unwrap();
    assert_eq!(
        (ft["actual"].as_f64(), ft["n"].as_u64()),
        (Some(0.0), Some(1))
    );
    let alerts = card["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["at"], "2026-03-03T16:00:00Z");
    assert_eq!(alerts[0]["recipients"][0]["who"], "m1");

    // The same JSON as the command line's report on the same database.
    let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["report", "--db", app.db.arg()])
        .args(["--month", "2026-03", "--as-of", "2026-05-01T00:00:00Z"])
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(card, &report);

    // A breakdown names its dimension; a bad parameter is a 400 naming it.
    let a = app.get(&format!("{query}&by=rep"), Some(&app.viewer)).await;
    assert_eq!((a.status, &a.json["by"]), (StatusCode::OK, &json!("rep")));
    let a = app
        .get("/v1/scorecard?month=2026-13", Some(&app.viewer))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json["detail"], json!({ "parameter": "month" }));
    let a = app
        .get("/v1/scorecard?months=2026-03", Some(&app.viewer))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.json["error"].as_str().unwrap().contains("months"),
        "{}",
        a.json
    );
}

async fn tokens_and_roles_guard_every_endpoint_but_health(db: TestDb) {
    let app = TestApp::start(db).await;
    let no_token = app
        .post_events(None, "application/json", five_items())
        .await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    assert!(no_token.headers[WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert!(
        no_token.json["error"]
            .as_str()
            .unwrap()
            .starts_with("no bearer token"),
        "{}",
        no_token.json
    );
    let unknown = app
        .post_events(Some("hdf_00"), "application/json", five_items())
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(unknown.json["error"]
        .as_str()
        .unwrap()
        .starts_with("unknown token"));

    let viewer = app
        .post_events(Some(&app.viewer), "application/json", five_items())
        .await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        viewer.json["detail"],
        json!({ "role": "viewer", "roles_allowed": ["admin", "ingest"] })
    );
    assert!(app.stored().is_empty());

    let scorecard = app.get("/v1/scorecard?month=2026-03", None).await;
    assert_eq!(scorecard.status, StatusCode::UNAUTHORIZED);

    let health = app.get("/healthz", None).await;
    assert_eq!(
        (health.status, health.json),
        (StatusCode::OK, json!({ "status": "ok" }))
    );
    let ready = app.get("/readyz", None).await;
    assert_eq!(
        (ready.status, &ready.json["status"]),
        (StatusCode::OK, &json!("ready"))
    );
}

async fn an_oversized_or_malformed_body_is_refused_whole(db: TestDb) {
    let app = TestApp::start_with_limit(db, 1024).await;
    // 20 copies of a 73-byte event: about 1,500 bytes, over 1,024.
    let one = r#"{"id":"n1","type":"nurture","at":"2026-03-02T09:00:00Z","account":"acme"}"#;
    let big = format!("[{}]", vec![one; 20].join(","));
    assert!(big.len() > 1024);
    let a = app
        .post_events(Some(&app.ingest), "application/json", big)
        .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.json["detail"], json!({ "max_body_bytes": 1024 }));

    // The array is cut off inside the second item: the end of the input,
    // after column 7 of line 2, is where the parser stopped.
    let cut = format!("[{one},\n {{\"id\":");
    let a = app
        .post_events(Some(&app.ingest), "application/json", cut)
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json["detail"], json!({ "line": 2, "column": 7 }));
    assert!(app.stored().is_empty());
}

fn token_create_prints_the_token_once_and_stores_only_its_hash(db: TestDb) {
    let create = || {
        Command::new(env!("CARGO_BIN_EXE_handoff"))
            .args(["token", "create", "--role", "ingest", "--name", "crm-sync"])
            .args(["--db", db.arg()])
            .output()
            .unwrap()
    };
    let out = create();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let token = stdout.trim();
    // hdf_ and 32 bytes as 64 hex digits.
    assert_eq!(token.len(), 4 + 64);
    assert!(token.starts_with("hdf_"));

    let hash: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let store = db.open();
    let stored = store.find_token(&hash).unwrap().unwrap();
    assert_eq!(
        (stored.name.as_str(), stored.role.as_str()),
        ("crm-sync", "ingest")
    );
    drop(store);
    let bytes = db.contents();
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(contains(&hash));
    assert!(!contains(token));
    assert!(!contains(&token[4..]));

    // A second token of the same name is refused and nothing is printed.
    let again = create();
    assert_eq!(again.status.code(), Some(2));
    assert!(again.stdout.is_empty());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
}

on_both_backends!(
    #[tokio::test]
    a_batch_stores_its_valid_items_and_names_the_rejected_ones,
    ndjson_history_gives_the_reports_scorecard,
    tokens_and_roles_guard_every_endpoint_but_health,
    an_oversized_or_malformed_body_is_refused_whole,
);

on_both_backends!(fn token_create_prints_the_token_once_and_stores_only_its_hash);
