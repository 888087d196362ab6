//! The OpenAPI document of `handoff serve` against the service itself.
//!
//! Each check compares the document with something it was not generated
//! from: the router's construction in the source, the answers of the
//! running service (routing, the roles it enforces, the bodies it sends and
//! accepts), and two Python tools, openapi-spec-validator for the document
//! and openapi-schema-validator for the answers (scripts/test installs
//! them; without them those two tests skip with a message).
//!
//! The history is the shared fixture without its activity and acceptance,
//! as in tests/serve_live.rs, which works it out by hand: `acme`, handed to
//! r1 (manager m1) on Monday 2 March 2026 20:00Z, breaches its first-touch
//! clock at 16:00Z on Tuesday 3 March, and the rule high-intent-untouched
//! raises one alert then.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use handoff::cli::TokenRole;
use handoff::serve::auth::create_scoped_token;
use handoff::serve::clock::ManualClock;
use handoff::serve::openapi::document_json;
use handoff::serve::{AppState, ServeConfig};
use handoff::store::Store;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

const FIXTURE: &str = include_str!("fixtures/events/acme-breach.jsonl");

/// The fixture without its activity `a1` and acceptance `ok`, as NDJSON.
fn history() -> String {
    let lines: Vec<&str> = FIXTURE
        .lines()
        .filter(|l| !l.starts_with(r#"{"id":"ok","#) && !l.starts_with(r#"{"id":"a1","#))
        .collect();
    assert_eq!(lines.len(), 5, "the fixture changed: {FIXTURE}");
    lines.join("\n")
}

fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// The roles in the order `handoff token create --role` lists them.
const ROLES: [(&str, TokenRole); 6] = [
    ("admin", TokenRole::Admin),
    ("ingest", TokenRole::Ingest),
    ("manager", TokenRole::Manager),
    ("rep", TokenRole::Rep),
    ("marketing", TokenRole::Marketing),
    ("viewer", TokenRole::Viewer),
];

/// The service in this process over a fresh database, on a hand-set clock
/// standing at Monday 2 March 2026 21:00Z, with one token per role.
struct App {
    base: String,
    client: reqwest::Client,
    state: AppState,
    clock: Arc<ManualClock>,
    /// Token text by role, in the order of [`ROLES`].
    tokens: Vec<String>,
    stop: Option<oneshot::Sender<()>>,
    dir: tempfile::TempDir,
}

/// One answer, as the Python check reads it.
struct Answer {
    status: StatusCode,
    content_type: String,
    body: Value,
}

impl App {
    async fn start(max_body_bytes: usize) -> App {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("openapi.db");
        let mut store = Store::open(&db).unwrap();
        let tokens = ROLES
            .iter()
            .map(|(name, role)| {
                // A rep's token names the rep whose accounts it sees.
                let scope = (*role == TokenRole::Rep).then(|| "r1".to_string());
                create_scoped_token(&mut store, name, *role, scope, "2026-01-01T00:00:00Z").unwrap()
            })
            .collect();
        drop(store);
        let config = ServeConfig {
            db: db.into(),
            policy: None,
            max_body_bytes,
        };
        let clock = Arc::new(ManualClock::new(t("2026-03-02T21:00:00Z")));
        let state = AppState::open_with_clock(&config, clock.clone()).unwrap();
        let (base, stop) = common::serve_in_process(state.clone()).await;
        App {
            base,
            client: reqwest::Client::new(),
            state,
            clock,
            tokens,
            stop: Some(stop),
            dir,
        }
    }

    fn token(&self, role: &str) -> &str {
        let i = ROLES.iter().position(|(name, _)| *name == role).unwrap();
        &self.tokens[i]
    }

    /// Sends `method path` with an optional token and body.
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, String)>,
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some((content_type, body)) = body {
            request = request.header(CONTENT_TYPE, content_type).body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            content_type,
            body,
        }
    }
}

impl App {
    /// POSTs a JSON value with the token of `role`.
    async fn post_json(&self, url: &str, role: &str, body: &Value) -> Answer {
        let body = Some(("application/json", body.to_string()));
        self.send(Method::POST, url, Some(self.token(role)), body)
            .await
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The document as the code generates it.
fn document() -> Value {
    serde_json::from_str(document_json()).unwrap()
}

/// Every (method, path) of the document, methods in upper case.
fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

/// A documented path with its parameters filled in.
fn concrete(path: &str, id: &str) -> String {
    path.replace("{id}", id)
}

// ---------------------------------------------------------------------------
// The router's routes, read from the source that builds it.

/// Every `.route("PATH", get(..).post(..))` in src/serve, as (METHOD, PATH):
/// what the router is built from, read without the OpenAPI generator.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/serve");
    let mut out = BTreeSet::new();
    // The dashboard's page, assets and session routes are not the JSON API;
    // docs/dashboard.md describes them.
    let dashboard = dir.join("dashboard");
    for file in rust_files(&dir)
        .into_iter()
        .filter(|f| !f.starts_with(&dashboard))
    {
        let text = std::fs::read_to_string(&file).unwrap();
        // Comments may mention `.route(` in prose; drop them first.
        let code: String = text
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let mut rest = code.as_str();
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + ".route(".len()..];
            let args = &rest[..closing_paren(rest)];
            let path = args
                .split('"')
                .nth(1)
                .unwrap_or_else(|| panic!("{}: a .route( without a path literal", file.display()));
            let after_path = &args[args.find(',').unwrap() + 1..];
            let methods = method_calls(after_path);
            assert!(
                !methods.is_empty(),
                "{}: route {path} has no method this test knows",
                file.display()
            );
            for method in methods {
                out.insert((method, path.to_string()));
            }
        }
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The index of the `)` that closes a call whose arguments start `text`.
fn closing_paren(text: &str) -> usize {
    let mut depth = 1;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses after .route(");
}

/// The axum method-routing calls in a route's second argument:
/// `get(h)`, `post(h)`, `get(h).post(g)`, `routing::get(h)`.
fn method_calls(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for method in ["get", "post", "put", "patch", "delete"] {
        let call = format!("{method}(");
        let mut from = 0;
        while let Some(at) = text[from..].find(&call) {
            let start = from + at;
            let before = text[..start].chars().next_back();
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                out.push(method.to_uppercase());
            }
            from = start + call.len();
        }
    }
    out
}

#[test]
fn every_route_of_the_router_is_documented_and_nothing_else() {
    let routes = routes_in_source();
    // Two routes named by hand, so that a parser finding nothing fails.
    assert!(routes.contains(&("GET".into(), "/healthz".into())));
    assert!(routes.contains(&("POST".into(), "/v1/accounts/{id}/reassign".into())));
    let documented = documented_operations(&document());
    let undocumented: Vec<_> = routes.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routes).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routes without a #[utoipa::path] listed in serve::openapi::ApiDoc: {undocumented:?}; \
         documented operations the router does not build: {unrouted:?}"
    );
    // 15 routes: health, readiness, metrics, this document, events,
    // scorecard, one account, five actions, clocks, breaches, alerts.
    assert_eq!(routes.len(), 15, "{routes:?}");
}

// ---------------------------------------------------------------------------
// The running service against the document.

#[tokio::test]
async fn every_documented_operation_is_routed_and_asks_for_its_token() {
    let app = App::start(1 << 20).await;
    let doc = document();
    for (method, path) in documented_operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let open = op["security"] == json!([{}]);
        let url = concrete(&path, "acme");
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let a = app.send(m, &url, None, None).await;
        // Without a token: the health endpoints answer, every other one
        // asks for a token (never the 404 of a path no route serves).
        let expected = if open {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(a.status, expected, "{method} {url}: {}", a.body);
        // A method the path does not document is refused by the router.
        let d = app.send(Method::DELETE, &url, None, None).await;
        assert_eq!(d.status, StatusCode::METHOD_NOT_ALLOWED, "DELETE {url}");
    }
}

#[tokio::test]
async fn each_operation_admits_exactly_the_roles_it_documents() {
    let app = App::start(1 << 20).await;
    let doc = document();

    // The roles of docs/api.md, by hand: events by admin and ingest, people's
    // actions by admin, manager and rep, the alerts and the metrics (every
    // account's) by the roles not narrowed to some accounts, everything else
    // read by every role.
    let all = json!(["admin", "ingest", "manager", "rep", "marketing", "viewer"]);
    for (method, path) in documented_operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let roles = &op["x-handoff-roles"];
        let expected = if path == "/v1/events" {
            json!(["admin", "ingest"])
        } else if path.starts_with("/v1/accounts/{id}/") {
            json!(["admin", "manager", "rep"])
        } else if path == "/v1/alerts" || path == "/metrics" {
            json!(["admin", "ingest", "manager", "viewer"])
        } else if path == "/healthz" || path == "/readyz" {
            Value::Null
        } else {
            all.clone()
        };
        assert_eq!(roles, &expected, "{method} {path}");
        if !roles.is_null() {
            let line = format!(
                "Roles: {}.",
                expected
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let description = op["description"].as_str().unwrap();
            assert!(description.ends_with(&line), "{path}: {description}");
        }
    }

    // And the service enforces them: 403 exactly for a role not listed. An
    // account that does not exist and an empty array keep every allowed
    // call from changing the store.
    for (method, path) in documented_operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let Some(roles) = op["x-handoff-roles"].as_array() else {
            continue;
        };
        let url = concrete(&path, "no-such-account");
        for (role, _) in ROLES {
            let body = (method == "POST").then(|| ("application/json", "[]".to_string()));
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let a = app.send(m, &url, Some(app.token(role)), body).await;
            let admitted = roles.contains(&json!(role));
            assert_eq!(
                a.status == StatusCode::FORBIDDEN,
                !admitted,
                "{method} {url} as {role}: {} {}",
                a.status,
                a.body
            );
        }
    }
}

/// Whether `python3` can import `module`; says why a test skips when not.
fn python_has(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "SKIPPED: python3 module {module} is not installed (scripts/test installs it: \
             pip install openapi-spec-validator)"
        );
    }
    ok
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs python3 with `args`: (passed, what it printed on both streams).
fn python(args: &[&std::ffi::OsStr]) -> (bool, String) {
    let out = Command::new("python3").args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs openapi-spec-validator on a file.
fn spec_validator(file: &Path) -> (bool, String) {
    python(&[
        "-m".as_ref(),
        "openapi_spec_validator".as_ref(),
        file.as_ref(),
    ])
}

#[tokio::test]
async fn the_served_document_is_the_printed_one_and_a_valid_openapi_document() {
    let app = App::start(1 << 20).await;

    // Served with a token of any role, refused without one.
    let served = app
        .send(
            Method::GET,
            "/v1/openapi.json",
            Some(app.token("viewer")),
            None,
        )
        .await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.content_type, "application/json");
    let anonymous = app.send(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    // `handoff openapi` prints the same document, no server needed.
    let printed = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(printed.status.success());
    let printed: Value = serde_json::from_slice(&printed.stdout).unwrap();
    assert_eq!(printed, served.body);
    assert_eq!(printed["openapi"], "3.1.0");
    assert_eq!(
        printed["components"]["securitySchemes"]["bearer"],
        json!({
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "hdf_ and 64 hex digits",
            "description": "A token made by `handoff token create --role ROLE --name NAME`; \
                            the service keeps only its SHA-256."
        })
    );

    if !python_has("openapi_spec_validator") {
        return;
    }
    let file = app.dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_string(&served.body).unwrap()).unwrap();
    let (ok, text) = spec_validator(&file);
    assert!(ok, "openapi-spec-validator refused the document:\n{text}");

    // The validator is not a rubber stamp: a reference to a schema the
    // document lacks is refused.
    let mut broken = served.body.clone();
    broken["paths"]["/healthz"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"] = json!({ "$ref": "#/components/schemas/NoSuchSchema" });
    let file = app.dir.path().join("broken.json");
    std::fs::write(&file, serde_json::to_string(&broken).unwrap()).unwrap();
    let (ok, text) = spec_validator(&file);
    assert!(!ok, "a dangling $ref passed:\n{text}");
}

// ---------------------------------------------------------------------------
// Real answers against their documented schemas.

/// Answers recorded for the Python check: documented path, method, answer.
#[derive(Default)]
struct Recorded(Vec<Value>);

impl Recorded {
    fn push(&mut self, method: &str, path: &str, a: &Answer, expected: StatusCode) {
        assert_eq!(a.status, expected, "{method} {path}: {}", a.body);
        self.0.push(json!({
            "method": method,
            "path": path,
            "status": a.status.as_u16(),
            "content_type": a.content_type,
            "body": a.body,
        }));
    }
}

/// Runs scripts/check_openapi_answers.py on `answers`.
fn check_answers(dir: &Path, doc: &Value, answers: &[Value]) -> (bool, String) {
    let doc_file = dir.join("doc.json");
    let answers_file = dir.join("answers.json");
    std::fs::write(&doc_file, serde_json::to_string(doc).unwrap()).unwrap();
    std::fs::write(&answers_file, serde_json::to_string(answers).unwrap()).unwrap();
    let script = repo().join("scripts/check_openapi_answers.py");
    python(&[script.as_ref(), doc_file.as_ref(), answers_file.as_ref()])
}

/// A body for an action with only its required fields, each given a
/// [`sample`] value.
fn required_only(doc: &Value, op: &Value) -> Value {
    let schema = body_schema(doc, op);
    let mut body = serde_json::Map::new();
    for field in schema["required"].as_array().into_iter().flatten() {
        let field = field.as_str().unwrap();
        let value = sample(&resolve(doc, &schema["properties"][field]));
        body.insert(field.to_string(), value);
    }
    Value::Object(body)
}

/// A value a body field's schema admits: the first of an enum, an instant
/// for a date-time, else a rep id (every text field of an action takes
/// one).
fn sample(property: &Value) -> Value {
    if let Some(first) = property["enum"].get(0) {
        first.clone()
    } else if property["format"] == "date-time" {
        json!("2026-03-03T12:00:00-05:00")
    } else {
        json!("r1")
    }
}

/// An operation's JSON request body schema, its reference followed.
fn body_schema(doc: &Value, op: &Value) -> Value {
    resolve(
        doc,
        &op["requestBody"]["content"]["application/json"]["schema"],
    )
}

fn resolve(doc: &Value, node: &Value) -> Value {
    match node["$ref"].as_str() {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling {r}"))
            .clone(),
        None => node.clone(),
    }
}

/// The five actions, as documented paths.
fn action_paths(doc: &Value) -> Vec<String> {
    let paths: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|p| p.starts_with("/v1/accounts/{id}/"))
        .cloned()
        .collect();
    assert_eq!(paths.len(), 5, "{paths:?}");
    paths
}

#[tokio::test]
async fn real_answers_fit_their_documented_schemas() {
    // A 64 KiB limit, so that a 413 costs little to provoke.
    let app = App::start(64 * 1024).await;
    let doc = document();
    let mut rec = Recorded::default();
    let admin = Some(app.token("admin"));
    let viewer = Some(app.token("viewer"));
    let ndjson = |body: String| Some(("application/x-ndjson", body));
    let json_body = |body: String| Some(("application/json", body));

    // Ingest: five new events, one rejected item; then the same again with
    // one conflicting copy, so every list of the report has an entry.
    let first = format!(
        "{}\n{}",
        history(),
        r#"{"id":"x","type":"meeting","at":"2026-03-02T09:00:00Z"}"#
    );
    let a = app
        .send(Method::POST, "/v1/events", admin, ndjson(first))
        .await;
    assert_eq!(
        (a.body["accepted"].clone(), a.body["rejected"].clone()),
        (json!(5), json!(1))
    );
    rec.push("post", "/v1/events", &a, StatusCode::OK);
    let again = history().replace(r#""employees":200"#, r#""employees":300"#);
    let a = app
        .send(Method::POST, "/v1/events", admin, ndjson(again))
        .await;
    assert_eq!(
        (a.body["duplicate"].clone(), a.body["conflicting"].clone()),
        (json!(4), json!(1))
    );
    rec.push("post", "/v1/events", &a, StatusCode::OK);

    // The deadline passes: one alert, pending, in the outbox.
    app.clock.set(t("2026-03-03T16:00:01Z"));
    assert_eq!(app.state.tick().await.unwrap(), 1);

    // Reads, as of a later instant.
    let as_of = "as_of=2026-05-01T00:00:00Z";
    for (path, query) in [
        ("/v1/scorecard", format!("month=2026-03&{as_of}")),
        ("/v1/scorecard", format!("month=2026-03&by=rep&{as_of}")),
        ("/v1/accounts/{id}", as_of.to_string()),
        ("/v1/clocks", as_of.to_string()),
        ("/v1/breaches", as_of.to_string()),
        ("/v1/alerts", String::new()),
    ] {
        let url = format!("{}?{query}", concrete(path, "acme"));
        let a = app.send(Method::GET, &url, viewer, None).await;
        rec.push("get", path, &a, StatusCode::OK);
    }
    for path in ["/healthz", "/readyz", "/metrics", "/v1/openapi.json"] {
        let a = app.send(Method::GET, path, viewer, None).await;
        rec.push("get", path, &a, StatusCode::OK);
    }

    // Each action with only its required fields, as its schema gives them.
    for path in action_paths(&doc) {
        let body = required_only(&doc, &doc["paths"][&path]["post"]);
        let url = concrete(&path, "acme");
        let a = app.post_json(&url, "manager", &body).await;
        rec.push("post", &path, &a, StatusCode::CREATED);
    }

    // Errors, one of each 4xx.
    let a = app.send(Method::GET, "/v1/clocks", None, None).await;
    rec.push("get", "/v1/clocks", &a, StatusCode::UNAUTHORIZED);
    let a = app
        .send(Method::POST, "/v1/events", viewer, json_body("[]".into()))
        .await;
    rec.push("post", "/v1/events", &a, StatusCode::FORBIDDEN);
    let a = app
        .send(
            Method::POST,
            "/v1/events",
            admin,
            json_body("[{\"id\":".into()),
        )
        .await;
    rec.push("post", "/v1/events", &a, StatusCode::BAD_REQUEST);
    let a = app
        .send(Method::GET, "/v1/scorecard?month=March", viewer, None)
        .await;
    rec.push("get", "/v1/scorecard", &a, StatusCode::BAD_REQUEST);
    let a = app
        .send(Method::GET, "/v1/alerts?asof=now", viewer, None)
        .await;
    rec.push("get", "/v1/alerts", &a, StatusCode::BAD_REQUEST);
    let a = app
        .send(Method::GET, "/v1/accounts/nobody", viewer, None)
        .await;
    rec.push("get", "/v1/accounts/{id}", &a, StatusCode::NOT_FOUND);
    let big = format!("[{}]", " ".repeat(64 * 1024));
    let a = app
        .send(Method::POST, "/v1/events", admin, json_body(big))
        .await;
    rec.push("post", "/v1/events", &a, StatusCode::PAYLOAD_TOO_LARGE);
    let a = app
        .post_json("/v1/accounts/acme/reject", "admin", &json!({}))
        .await;
    rec.push(
        "post",
        "/v1/accounts/{id}/reject",
        &a,
        StatusCode::UNPROCESSABLE_ENTITY,
    );

    if !python_has("openapi_schema_validator") {
        return;
    }
    let (ok, text) = check_answers(app.dir.path(), &doc, &rec.0);
    assert!(ok, "answers that do not fit the document:\n{text}");
    assert_eq!(
        text.trim(),
        format!("{} answers fit the document", rec.0.len())
    );
}

#[test]
fn the_answer_check_refuses_what_the_document_does_not_say() {
    if !python_has("openapi_schema_validator") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let doc = document();
    let answer = |status: u16, content_type: &str, body: Value| {
        json!({ "method": "get", "path": "/readyz", "status": status,
                "content_type": content_type, "body": body })
    };
    let cases = [
        // A field the schema does not name.
        (
            answer(
                200,
                "application/json",
                json!({"status": "ready", "schema": 5, "x": 1}),
            ),
            "$.x: field not declared by the document",
        ),
        // A count that is not a count.
        (
            answer(
                200,
                "application/json",
                json!({"status": "ready", "schema": "5"}),
            ),
            "$.schema: '5' is not of type 'integer'",
        ),
        // A status the operation does not document.
        (
            answer(
                404,
                "application/json",
                json!({"error": "x", "detail": null}),
            ),
            "status not documented",
        ),
        // An error body without its detail, which is always sent.
        (
            answer(503, "application/json", json!({"error": "x"})),
            "'detail' is a required property",
        ),
        // The right body under another content type.
        (
            answer(200, "text/plain", json!({"status": "ready", "schema": 5})),
            "content type 'text/plain' not documented",
        ),
    ];
    for (answer, expected) in cases {
        let (ok, text) = check_answers(dir.path(), &doc, std::slice::from_ref(&answer));
        assert!(!ok && text.contains(expected), "{answer}: {text}");
    }
    let good = answer(
        200,
        "application/json",
        json!({"status": "ready", "schema": 5}),
    );
    let (ok, text) = check_answers(dir.path(), &doc, &[good]);
    assert!(ok, "{text}");
}

#[tokio::test]
async fn each_required_field_of_an_action_body_is_enforced_and_no_other_field_is_known() {
    let app = App::start(1 << 20).await;
    let doc = document();
    let a = app
        .send(
            Method::POST,
            "/v1/events",
            Some(app.token("ingest")),
            Some(("application/x-ndjson", history())),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    // The account must exist as of the service's now.
    app.clock.set(t("2026-03-03T12:00:00Z"));

    // By hand, from docs/api.md: reject needs reason, activity kind,
    // disposition status, reassign rep; accept needs nothing.
    let mut required = Vec::new();
    for path in action_paths(&doc) {
        let op = &doc["paths"][&path]["post"];
        let schema = body_schema(&doc, op);
        let fields: Vec<String> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| f.as_str().unwrap().to_string())
            .collect();
        required.push((path.clone(), fields.clone()));
        let url = concrete(&path, "acme");
        let full = required_only(&doc, op);

        // Each required field left out: a 422 naming it.
        for field in &fields {
            let mut body = full.clone();
            body.as_object_mut().unwrap().remove(field);
            let a = app.post_json(&url, "manager", &body).await;
            assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{url} {body}");
            assert_eq!(a.body["detail"], json!({ "field": field }), "{url} {body}");
        }

        // The schema closes the object, and so does the service: a field
        // it does not list is a 422 naming it.
        assert_eq!(schema["additionalProperties"], json!(false), "{path}");
        let mut body = full.clone();
        body["priority"] = json!("high");
        let a = app.post_json(&url, "manager", &body).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{url} {body}");
        assert_eq!(a.body["detail"], json!({ "field": "priority" }));

        // Every documented optional field is known: given a value, the
        // action is stored.
        let mut body = full.clone();
        for (field, property) in schema["properties"].as_object().unwrap() {
            if !fields.contains(field) {
                body[field] = sample(&resolve(&doc, property));
            }
        }
        let a = app.post_json(&url, "manager", &body).await;
        assert_eq!(a.status, StatusCode::CREATED, "{url} {body}: {}", a.body);
    }
    required.sort();
    assert_eq!(
        required,
        [
            ("/v1/accounts/{id}/accept".to_string(), vec![]),
            (
                "/v1/accounts/{id}/activity".to_string(),
                vec!["kind".to_string()]
            ),
            (
                "/v1/accounts/{id}/disposition".to_string(),
                vec!["status".to_string()]
            ),
            (
                "/v1/accounts/{id}/reassign".to_string(),
                vec!["rep".to_string()]
            ),
            (
                "/v1/accounts/{id}/reject".to_string(),
                vec!["reason".to_string()]
            ),
        ]
    );
}
