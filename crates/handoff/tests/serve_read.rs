//! The read endpoints, people's actions and /metrics of `handoff serve`,
//! in-process on 127.0.0.1:0 over a fresh store, SQLite and PostgreSQL
//! alike (tests/common/db.rs), through HTTP.
//!
//! The history is the one of tests/report.rs without its acceptance,
//! worked out by hand there: on the default policy's New York calendar
//! (09:00-17:00, EST = UTC-5 in early March 2026) a demo request Monday 2
//! March 09:00 EST makes `acme` a high-intent MQA; hand-off 15:00 EST
//! (20:00Z) to r1, whose manager is m1. Two clocks start at the hand-off:
//!
//! - first-touch, 4 business hours: 15:00-17:00 Monday plus 09:00-11:00
//!   Tuesday, so the deadline is Tuesday 3 March 11:00 EST = 16:00Z. The
//!   call comes at 11:30 EST (16:30Z): breached at 16:00Z, held by r1; the
//!   rule high-intent-untouched raises one alert then, to r1's manager m1.
//! - attempts, 7 activities within 14 calendar days. N days end at the same
//!   local wall-clock time N dates later (docs/clocks.md, rule 6): Monday 16
//!   March 15:00, which is EDT (UTC-4) after the change of 8 March, so
//!   19:00Z, not 20:00Z. One call of 7: breached at that deadline.

mod common;

use common::{on_both_backends, TestDb};
use handoff::cli::TokenRole;
use handoff::serve::auth::create_token;
use handoff::serve::{AppState, ServeConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// The hand-worked history of tests/report.rs.
const FIXTURE: &str = include_str!("fixtures/events/acme-breach.jsonl");

/// The fixture without its acceptance `ok`, as NDJSON: six events.
fn history() -> String {
    let lines: Vec<&str> = FIXTURE
        .lines()
        .filter(|l| !l.starts_with(r#"{"id":"ok","#))
        .collect();
    assert_eq!(lines.len(), 6, "the fixture changed: {FIXTURE}");
    lines.join("\n")
}

/// Long after every deadline of the history.
const LATER: &str = "2026-05-01T00:00:00Z";

/// The service on a free port with a fresh database and four tokens.
struct TestApp {
    base: String,
    client: reqwest::Client,
    db: TestDb,
    admin: String,
    ingest: String,
    manager: String,
    viewer: String,
    stop: Option<oneshot::Sender<()>>,
}

/// A response's status and body (JSON, or text for /metrics).
struct Answer {
    status: StatusCode,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("status {}: not JSON ({e}): {}", self.status, self.text))
    }
}

impl TestApp {
    async fn start(db: TestDb) -> TestApp {
        let mut store = db.open();
        let at = "2026-01-01T00:00:00Z";
        let mut token = |name, role| create_token(&mut store, name, role, at).unwrap();
        let admin = token("ops", TokenRole::Admin);
        let ingest = token("crm-sync", TokenRole::Ingest);
        let manager = token("m1-phone", TokenRole::Manager);
        let viewer = token("cmo", TokenRole::Viewer);
        drop(store);
        let config = ServeConfig {
            db: db.location.clone(),
            policy: None,
            max_body_bytes: 1 << 20,
        };
        let state = AppState::open(&config).unwrap();
        let (base, stop) = common::serve_in_process(state).await;
        TestApp {
            base,
            client: reqwest::Client::new(),
            db,
            admin,
            ingest,
            manager,
            viewer,
            stop: Some(stop),
        }
    }

    async fn answer(request: reqwest::RequestBuilder, token: &str) -> Answer {
        let response = request.bearer_auth(token).send().await.unwrap();
        Answer {
            status: response.status(),
            text: response.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str, token: &str) -> Answer {
        TestApp::answer(self.client.get(format!("{}{path}", self.base)), token).await
    }

    /// GET with the viewer's token; expects 200 and JSON.
    async fn read(&self, path: &str) -> Value {
        let a = self.get(path, &self.viewer).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text);
        a.json()
    }

    async fn post(&self, path: &str, token: &str, body: &str) -> Answer {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        TestApp::answer(request, token).await
    }

    /// Posts the history with the ingest token.
    async fn with_history(self) -> TestApp {
        let a = self.post("/v1/events", &self.ingest, &history()).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        assert_eq!(a.json()["accepted"], 6, "{}", a.text);
        self
    }

    fn stored(&self) -> usize {
        self.db.open().events_ordered().unwrap().len()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The (commitment, deadline) of each clock of a list.
fn deadlines(clocks: &Value) -> Vec<(String, String)> {
    clocks
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["commitment"].as_str().unwrap().to_string(),
                k["deadline"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

async fn breached_clocks_breaches_and_alerts_of_the_hand_worked_history(db: TestDb) {
    let app = TestApp::start(db).await.with_history().await;

    let r = app
        .read(&format!("/v1/clocks?state=breached&as_of={LATER}"))
        .await;
    // Deadline order: first-touch (3 March 16:00Z), then attempts.
    assert_eq!(
        deadlines(&r["clocks"]),
        [
            pair("first-touch", "2026-03-03T16:00:00Z"),
            pair("attempts", "2026-03-16T19:00:00Z")
        ]
    );
    let ft = &r["clocks"][0];
    assert_eq!(
        (&ft["account"], &ft["state"], &ft["calendar"]),
        (&json!("acme"), &json!("breached"), &json!("headquarters"))
    );
    assert_eq!(
        (&ft["start_at"], &ft["breach_at"], &ft["breach_owner"]),
        (
            &json!("2026-03-02T20:00:00Z"),
            &json!("2026-03-03T16:00:00Z"),
            &json!("r1")
        )
    );
    // The late call stopped it at 16:30Z.
    assert_eq!(
        (&ft["stop_at"], &ft["stop_event"]),
        (&json!("2026-03-03T16:30:00Z"), &json!("a1"))
    );
    let only_ft = app
        .read(&format!(
            "/v1/clocks?state=breached&commitment=first-touch&as_of={LATER}"
        ))
        .await;
    assert_eq!(only_ft["clocks"].as_array().unwrap().len(), 1);

    // Newest breach first, with r1's manager.
    let r = app.read(&format!("/v1/breaches?as_of={LATER}")).await;
    assert_eq!(
        deadlines(&r["breaches"]),
        [
            pair("attempts", "2026-03-16T19:00:00Z"),
            pair("first-touch", "2026-03-03T16:00:00Z")
        ]
    );
    assert_eq!(
        (
            &r["breaches"][1]["breach_owner"],
            &r["breaches"][1]["manager"]
        ),
        (&json!("r1"), &json!("m1"))
    );

    // One alert: the first-touch breach, to m1, recorded in the outbox.
    let r = app.read(&format!("/v1/alerts?as_of={LATER}")).await;
    let alerts = r["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{r}");
    assert_eq!(
        (&alerts[0]["at"], &alerts[0]["rule"], &alerts[0]["account"]),
        (
            &json!("2026-03-03T16:00:00Z"),
            &json!("high-intent-untouched"),
            &json!("acme")
        )
    );
    assert_eq!(alerts[0]["recipients"][0]["who"], "m1");
    // Breached on 3 March, before the service went live (now): historical.
    assert_eq!(alerts[0]["delivery"]["status"], "historical");
}

async fn open_clocks_come_deadline_nearest_first(db: TestDb) {
    let app = TestApp::start(db).await.with_history().await;
    // Tuesday 10:00 EST, an hour before the first-touch deadline: both
    // clocks run, held by r1; no breach, no alert yet.
    let as_of = "2026-03-03T15:00:00Z";
    let r = app
        .read(&format!("/v1/clocks?state=open&as_of={as_of}"))
        .await;
    assert_eq!(
        deadlines(&r["clocks"]),
        [
            pair("first-touch", "2026-03-03T16:00:00Z"),
            pair("attempts", "2026-03-16T19:00:00Z")
        ]
    );
    assert_eq!(r["clocks"][0]["owner"], "r1");
    assert_eq!(r["clocks"][0]["breach_at"], Value::Null);
    let r = app.read(&format!("/v1/breaches?as_of={as_of}")).await;
    assert_eq!(r["breaches"], json!([]));
    let r = app.read(&format!("/v1/alerts?as_of={as_of}")).await;
    assert_eq!(r["alerts"], json!([]));

    let bad = app.get("/v1/clocks?state=late", &app.viewer).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json()["detail"], json!({ "parameter": "state" }));
}

async fn an_account_reads_as_explain_tells_it_and_a_rejection_moves_it(db: TestDb) {
    let app = TestApp::start(db).await.with_history().await;
    let r = app.read(&format!("/v1/accounts/acme?as_of={LATER}")).await;
    let acme = &r["account"];
    assert_eq!(
        (&acme["id"], &acme["stage"], &acme["owner"]),
        (&json!("acme"), &json!("handed_off"), &json!("r1"))
    );
    assert_eq!(acme["facts"]["employees"], 200);
    let ft = &acme["cycles"][0]["clocks"][0];
    assert_eq!(
        (&ft["commitment"], &ft["deadline"], &ft["state"]),
        (
            &json!("first-touch"),
            &json!("2026-03-03T16:00:00Z"),
            &json!("breached")
        )
    );
    assert_eq!(r["alerts"].as_array().unwrap().len(), 1);

    // An unknown account is a 404 with a hint.
    let a = app.get("/v1/accounts/acm", &app.viewer).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.json()["error"]
        .as_str()
        .unwrap()
        .contains("no account \"acm\""));

    // A rejection needs a reason: 422 naming the field, nothing stored.
    for body in ["", "{}", r#"{"reason":"  "}"#] {
        let a = app
            .post("/v1/accounts/acme/reject", &app.manager, body)
            .await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            a.text
        );
        assert_eq!(a.json()["detail"], json!({ "field": "reason" }));
    }
    assert_eq!(app.stored(), 6);

    // Viewer and ingest tokens may not act: 403, nothing stored.
    for token in [&app.viewer, &app.ingest] {
        let a = app.post("/v1/accounts/acme/accept", token, "").await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
        assert_eq!(
            a.json()["detail"]["roles_allowed"],
            json!(["admin", "manager", "rep"])
        );
    }
    assert_eq!(app.stored(), 6);

    // With a reason, as the manager: 201 and the stored event, at now.
    let a = app
        .post(
            "/v1/accounts/acme/reject",
            &app.manager,
            r#"{"reason":"no budget this year","rep":"r1"}"#,
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let event = a.json();
    assert_eq!(
        (&event["type"], &event["account"], &event["reason"]),
        (
            &json!("rejected"),
            &json!("acme"),
            &json!("no budget this year")
        )
    );
    let id = event["id"].as_str().unwrap();
    assert!(id.starts_with("api:") && id.len() == 36, "{id}");
    assert_eq!(app.stored(), 7);

    // As of now the account is rejected, with the reason in its history.
    let r = app.read("/v1/accounts/acme").await;
    assert_eq!(r["account"]["stage"], "rejected", "{r}");
    let last = r["account"]["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (&last["to"], &last["event_id"], &last["reason"]),
        (
            &json!("rejected"),
            &json!(id),
            &json!("no budget this year")
        )
    );
    // An action on an account the log does not name is a 404.
    let a = app
        .post(
            "/v1/accounts/acm/activity",
            &app.admin,
            r#"{"kind":"call"}"#,
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text);
    assert_eq!(app.stored(), 7);
}

async fn metrics_count_ingested_events_and_answers(db: TestDb) {
    let app = TestApp::start(db).await;
    let a = app.get("/metrics", "hdf_00").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    let app = app.with_history().await;
    // The same history again: 6 duplicates, nothing new.
    let a = app.post("/v1/events", &app.ingest, &history()).await;
    assert_eq!(a.json()["duplicate"], 6);
    let a = app
        .post(
            "/v1/accounts/acme/activity",
            &app.manager,
            r#"{"kind":"email"}"#,
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);

    let a = app.get("/metrics", &app.viewer).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let has = |line: &str| a.text.lines().any(|l| l == line);
    // 6 from the first batch and 1 action; the second batch's 6 duplicates.
    for line in [
        "handoff_events_ingested_total{outcome=\"accepted\"} 7",
        "handoff_events_ingested_total{outcome=\"duplicate\"} 6",
        "handoff_events_ingested_total{outcome=\"rejected\"} 0",
        "handoff_http_requests_total{route=\"/metrics\",status=\"401\"} 1",
        "handoff_http_requests_total{route=\"/v1/events\",status=\"200\"} 2",
        "handoff_http_requests_total{route=\"/v1/accounts/{id}/activity\",status=\"201\"} 1",
        "handoff_http_request_duration_seconds_count{route=\"/v1/events\"} 2",
        // As of now both clocks of March are long breached; none is open.
        "handoff_clocks_open 0",
        "handoff_breaches_total 2",
    ] {
        assert!(has(line), "{line} not in\n{}", a.text);
    }
}

async fn a_lone_leads_account_is_named_in_the_hint_and_can_be_acted_on(db: TestDb) {
    let app = TestApp::start(db).await;
    // A contact with no company: the engine files it under `lead:jo`.
    let contact = r#"[{"id":"c1","type":"contact","at":"2026-03-01T00:00:00Z","contact":"jo"}]"#;
    let a = app.post("/v1/events", &app.ingest, contact).await;
    assert_eq!(a.json()["accepted"], 1, "{}", a.text);

    let hint = "a lone lead's account \"lead:jo\" exists";
    let a = app.get("/v1/accounts/jo", &app.viewer).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(
        a.json()["error"].as_str().unwrap().contains(hint),
        "{}",
        a.text
    );
    let a = app.post("/v1/accounts/jo/accept", &app.admin, "").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(
        a.json()["error"].as_str().unwrap().contains(hint),
        "{}",
        a.text
    );
    assert_eq!(app.stored(), 1);

    // No event names `lead:jo` as its account, yet the account exists.
    let a = app
        .post(
            "/v1/accounts/lead:jo/disposition",
            &app.admin,
            r#"{"status":"working","next_step":"call Friday","at":"2026-03-02T10:00:00-05:00"}"#,
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(
        (&a.json()["account"], &a.json()["at"]),
        (&json!("lead:jo"), &json!("2026-03-02T10:00:00-05:00"))
    );
    assert_eq!(app.stored(), 2);
}

on_both_backends!(
    #[tokio::test]
    breached_clocks_breaches_and_alerts_of_the_hand_worked_history,
    open_clocks_come_deadline_nearest_first,
    an_account_reads_as_explain_tells_it_and_a_rejection_moves_it,
    metrics_count_ingested_events_and_answers,
    a_lone_leads_account_is_named_in_the_hint_and_can_be_acted_on,
);
