//! The dashboard at `/` in a real headless Chromium, driven through the
//! Chrome DevTools Protocol by scripts/cdp.py, against the service in this
//! process on a hand-set clock.
//!
//! The history is tests/serve_read.rs's (hand-worked there): `acme`, a
//! high-intent MQA, handed off Monday 2 March 2026 20:00Z to r1 (team
//! east, manager m1); first touch due Tuesday 16:00Z, made at 16:30Z, so
//! first-touch is breached; the attempts clock runs to 16 March 19:00Z.
//! Added here: r2 in team east, and in team west r9 (manager m9) with
//! `globex`, a demo request Wednesday 4 March 14:00Z (09:00 EST) and its
//! hand-off at 15:00Z (10:00 EST, 07:00 PST) to r9. Team west works on the
//! policy's pacific calendar (09:00-17:00): the 4 business hours run from
//! 09:00 to 13:00 PST, so first touch is due at 21:00Z. The clock stands at
//! Wednesday 17:00Z.
//!
//! In ISO week 2026-W10 (2-8 March, New York) the first-touch commitment
//! then has one decided clock, acme's, missed: actual 0 of n 1, with
//! globex's pending. A first touch on globex at 17:30Z, posted while the
//! page is open, meets its clock: actual 1 of 2 = 0.5, n 2.

mod common;

use common::{artifacts, browser, serve_in_process};

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use handoff::cli::TokenRole;
use handoff::serve::auth::{create_scoped_token, create_token, create_user};
use handoff::serve::clock::ManualClock;
use handoff::serve::{AppState, ServeConfig};
use handoff::store::Store;
use reqwest::StatusCode;
use serde_json::{json, Value};

const FIXTURE: &str = include_str!("fixtures/events/acme-breach.jsonl");

const MORE: &str = r#"{"id":"rep-r2","type":"rep","at":"2026-01-01T00:00:00Z","rep":"r2","team":"east","manager":"m1"}
{"id":"rep-m9","type":"rep","at":"2026-01-01T00:00:00Z","rep":"m9","team":"west","role":"sales_manager"}
{"id":"rep-r9","type":"rep","at":"2026-01-01T00:00:00Z","rep":"r9","team":"west","manager":"m9"}
{"id":"acc-g","type":"account","at":"2026-02-01T00:00:00Z","account":"globex","industry":"Software","employees":300}
{"id":"d-g","type":"engagement","at":"2026-03-04T14:00:00Z","account":"globex","kind":"demo_request","channel":"events"}
{"id":"h-g","type":"handoff","at":"2026-03-04T15:00:00Z","account":"globex","rep":"r9"}"#;

fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().into()
}

/// scripts/cdp.py with one headless Chromium page.
struct Page {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Page {
    fn open(browser: &str) -> Page {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/cdp.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(browser)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs scripts/cdp.py");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut page = Page {
            child,
            stdin,
            stdout,
        };
        let ready = page.read();
        assert_eq!(ready["ready"], true, "cdp.py: {ready}");
        page
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("cdp.py said {line:?}: {e}"))
    }

    fn send(&mut self, cmd: Value) -> Value {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{cmd}").unwrap();
        stdin.flush().unwrap();
        let answer = self.read();
        assert!(answer.get("error").is_none(), "{cmd}: {answer}");
        answer
    }

    fn eval(&mut self, js: &str) -> Value {
        self.send(json!({ "eval": js }))["value"].clone()
    }

    /// Polls `js` until it is true; fails after 15 s. Returns how long.
    fn wait_for(&mut self, js: &str) -> Duration {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if self.eval(js) == json!(true) {
                return start.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the page never satisfied {js}");
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

struct App {
    base: String,
    db: PathBuf,
    tokens: Vec<(&'static str, String)>,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl App {
    fn token(&self, name: &str) -> &str {
        &self.tokens.iter().find(|(n, _)| *n == name).unwrap().1
    }
}

async fn start() -> App {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dash.db");
    let mut store = Store::open(&db).unwrap();
    let mut tokens = Vec::new();
    for (name, role) in [
        ("ops", TokenRole::Admin),
        ("m1-desk", TokenRole::Manager),
        ("cmo", TokenRole::Viewer),
    ] {
        tokens.push((
            name,
            create_token(&mut store, name, role, "2026-01-01T00:00:00Z").unwrap(),
        ));
    }
    // Narrowed callers: r1's own token, team west's manager, marketing.
    for (name, role, scope) in [
        ("r1-desk", TokenRole::Rep, Some("r1")),
        ("west-desk", TokenRole::Manager, Some("west")),
        ("mkt", TokenRole::Marketing, None),
    ] {
        let token = create_scoped_token(
            &mut store,
            name,
            role,
            scope.map(String::from),
            "2026-01-01T00:00:00Z",
        )
        .unwrap();
        tokens.push((name, token));
    }
    // r1 signs in with a name and a password.
    create_user(
        &mut store,
        "rita",
        TokenRole::Rep,
        Some("r1".into()),
        "correct horse battery",
        "2026-01-01T00:00:00Z",
    )
    .unwrap();
    let events: Vec<handoff_core::Event> = FIXTURE
        .lines()
        .filter(|l| !l.starts_with(r#"{"id":"ok","#))
        .chain(MORE.lines())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 12);
    store.append(&events).unwrap();
    drop(store);
    let config = ServeConfig {
        db: db.clone().into(),
        policy: None,
        max_body_bytes: 1 << 20,
    };
    let clock = Arc::new(ManualClock::new(t("2026-03-04T17:00:00Z")));
    let state = AppState::open_with_clock(&config, clock).unwrap();
    let (base, stop) = serve_in_process(state).await;
    App {
        base,
        db,
        tokens,
        _stop: stop,
        _dir: dir,
    }
}

/// The tiles the page shows: id -> (actual, n, status).
fn tiles(page: &mut Page) -> Value {
    page.eval(
        "Object.fromEntries([...document.querySelectorAll('.tile')].map(t => [t.dataset.commitment, \
         {actual: t.dataset.actual === '' ? null : Number(t.dataset.actual), n: Number(t.dataset.n), \
          status: t.dataset.status}]))",
    )
}

fn sign_in(page: &mut Page, base: &str, token: &str) {
    page.send(json!({ "navigate": format!("{base}/?period=week&at=2026-W10") }));
    page.wait_for("!document.querySelector('#signin').hidden");
    page.eval(&format!(
        "document.querySelector('#token').value = {}; \
         document.querySelector('#signin-form').requestSubmit(); true",
        json!(token)
    ));
    page.wait_for("document.querySelectorAll('.tile').length > 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_signs_in_shows_the_scorecard_updates_live_and_reassigns() {
    let Some(browser) = browser() else {
        return;
    };
    let app = start().await;
    let client = reqwest::Client::new();
    let mut page = Page::open(browser);

    // Signed out, the data is refused.
    let anon = client
        .get(format!("{}/dashboard/data", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);

    sign_in(&mut page, &app.base, app.token("m1-desk"));
    assert_eq!(
        page.eval("document.querySelector('#who').textContent"),
        "m1-desk (manager)"
    );
    // The filters are in the URL, and read back from it.
    assert_eq!(page.eval("location.search"), "?period=week&at=2026-W10");
    assert_eq!(
        page.eval("document.querySelector('#period-label').textContent"),
        "2026-W10"
    );

    // The tiles equal the scorecard API's for the same week and instant.
    let as_of = page.eval("document.body.dataset.asOf");
    let as_of = as_of.as_str().unwrap().to_string();
    assert_eq!(t(&as_of), t("2026-03-04T17:00:00Z"));
    let api: Value = client
        .get(format!("{}/v1/scorecard", app.base))
        .query(&[("week", "2026-W10"), ("as_of", as_of.as_str())])
        .bearer_auth(app.token("cmo"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shown = tiles(&mut page);
    let commitments = api["commitments"].as_array().unwrap();
    assert_eq!(
        shown.as_object().unwrap().len(),
        commitments.len(),
        "{shown}"
    );
    for c in commitments {
        let tile = &shown[c["id"].as_str().unwrap()];
        // JSON numbers: the page's 0 is the API's 0.0.
        assert_eq!(
            tile["actual"].as_f64(),
            c["actual"].as_f64(),
            "{}: {tile} vs {c}",
            c["id"]
        );
        assert_eq!(tile["n"], c["n"], "{}", c["id"]);
        assert_eq!(tile["status"], c["status"], "{}", c["id"]);
    }
    // By hand (module text): acme's first touch missed, globex's pending.
    assert_eq!(shown["first-touch"]["actual"].as_f64(), Some(0.0));
    assert_eq!(shown["first-touch"]["n"], json!(1));
    // Sparklines: 12 weeks each.
    assert_eq!(
        page.eval("document.querySelectorAll('.tile svg').length"),
        json!(commitments.len())
    );

    // The charts the issue lists, their lines where the default policy
    // puts them: acceptance target "> 80%", alert "below 75%"; the
    // first-touch clock's "4h" on the high tier it covers.
    let charts = page.eval("[...document.querySelectorAll('.chart')].map(c => c.dataset.chart)");
    for id in [
        "sal-volume",
        "acceptance",
        "first-touch-high",
        "compliance-attempts",
        "funnel",
        "velocity",
        "influence",
    ] {
        assert!(
            charts.as_array().unwrap().contains(&json!(id)),
            "{id} in {charts}"
        );
    }
    assert_eq!(
        page.eval("[...document.querySelectorAll('[data-chart=acceptance] .ref-label')].map(t => t.textContent)"),
        json!(["target 80%", "alert 75%"])
    );
    assert_eq!(
        page.eval("document.querySelector('[data-chart=first-touch-high] .ref-label').textContent"),
        json!("SLA 4h")
    );
    // The funnel of week 10: 2 MQAs (acme, globex); both handed off, none
    // accepted yet, so 0 SALs.
    assert_eq!(
        page.eval("[...document.querySelectorAll('[data-chart=funnel] text.value')].map(t => t.textContent)"),
        json!(["2", "0", "0", "0"])
    );

    // The breach queue: open clocks by deadline first, then breaches.
    let rows = page.eval(
        "[...document.querySelectorAll('#queue tbody tr')].map(r => \
         [r.dataset.account, r.dataset.commitment, r.dataset.state])",
    );
    let rows = rows.as_array().unwrap();
    let open_ft = json!(["globex", "first-touch", "open"]);
    assert_eq!(rows[0], open_ft, "{rows:?}");
    assert!(
        rows.contains(&json!(["acme", "first-touch", "breached"])),
        "{rows:?}"
    );
    assert!(
        rows.contains(&json!(["acme", "attempts", "open"])),
        "{rows:?}"
    );
    // globex's first touch is due at 21:00Z, four hours after the clock
    // (the page counts down on the browser's clock, set to the service's).
    let due = page.eval("document.querySelector('#queue tbody tr td.due').textContent");
    let due = due.as_str().unwrap();
    assert!(due.starts_with("in 03:5") || due == "in 04:00:00", "{due}");

    // A first touch posted through the API reaches the page without a
    // reload: the marker set on this window survives.
    page.eval("window.__sameWindow = 1; true");
    let loads = page.eval("Number(document.body.dataset.loads)");
    let posted = Instant::now();
    let answer = client
        .post(format!("{}/v1/events", app.base))
        .bearer_auth(app.token("ops"))
        .json(
            &json!([{"id": "g-call", "type": "activity", "at": "2026-03-04T16:30:00Z",
                       "account": "globex", "rep": "r9", "kind": "call"}]),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let waited = page.wait_for(
        "document.querySelector('.tile[data-commitment=\"first-touch\"]').dataset.n === '2'",
    );
    eprintln!(
        "the page showed the posted event {:?} after the POST returned, {:?} after it was sent",
        waited,
        posted.elapsed()
    );
    assert_eq!(page.eval("window.__sameWindow"), json!(1));
    assert!(page.eval("Number(document.body.dataset.loads)").as_f64() > loads.as_f64());
    // 1 met of 2 decided.
    assert_eq!(
        tiles(&mut page)["first-touch"]["actual"].as_f64(),
        Some(0.5)
    );

    // Reassign acme's open attempts clock from the queue to r2.
    page.eval(
        "const row = document.querySelector('#queue tr[data-account=\"acme\"][data-commitment=\"attempts\"]'); \
         row.querySelector('input.reassign-rep').value = 'r2'; \
         row.querySelector('input.reason').value = 'r1 on leave'; \
         row.querySelector('button.reassign').click(); true",
    );
    page.wait_for(
        "(document.querySelector('#action-result').dataset.eventId || '').startsWith('api:')",
    );
    let event_id = page.eval("document.querySelector('#action-result').dataset.eventId");
    page.wait_for(
        "document.querySelector('#queue tr[data-account=\"acme\"][data-commitment=\"attempts\"] td.owner').textContent === 'r2'",
    );
    let store = Store::open(&app.db).unwrap();
    let stored: Vec<Value> = store
        .events_for_account("acme")
        .unwrap()
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .filter(|e| e["type"] == "reassign")
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["id"], event_id);
    assert_eq!(stored[0]["rep"], "r2");
    assert_eq!(stored[0]["reason"], "r1 on leave");

    // A write from the signed-in page without the CSRF token is refused,
    // and stores nothing.
    let status = page.eval(
        "fetch('/v1/accounts/acme/accept', {method: 'POST', headers: {'Content-Type': \
         'application/json'}, body: '{}'}).then(r => r.status)",
    );
    assert_eq!(status, json!(403));
    // acme's four events of the fixture (account, d1, h1, a1) and the
    // reassignment: no accept.
    assert_eq!(store.events_for_account("acme").unwrap().len(), 5);

    let shot = artifacts().join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    page.send(json!({ "screenshot": shot.display().to_string(), "width": 1400, "height": 900 }));
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_the_board_but_no_actions_and_cannot_act() {
    let Some(browser) = browser() else {
        return;
    };
    let app = start().await;
    let mut page = Page::open(browser);
    sign_in(&mut page, &app.base, app.token("cmo"));
    assert!(
        page.eval("document.querySelectorAll('#queue tbody tr').length")
            .as_u64()
            > Some(0)
    );
    assert_eq!(
        page.eval("document.querySelectorAll('button.reassign').length"),
        json!(0)
    );
    // Calling the action from the page, CSRF token and all: 403 by role.
    let answer = page.eval(
        "fetch('/dashboard/session').then(r => r.json()).then(s => \
         fetch('/v1/accounts/acme/accept', {method: 'POST', headers: {'Content-Type': \
         'application/json', 'X-CSRF-Token': s.csrf}, body: '{}'})).then(r => r.status)",
    );
    assert_eq!(answer, json!(403));
    // A wrong token does not sign in.
    page.send(json!({ "navigate": format!("{}/", app.base) }));
    page.eval("fetch('/dashboard/logout', {method: 'POST'}).then(r => r.status)");
    let bad = page.eval(
        "fetch('/dashboard/login', {method: 'POST', headers: {'Content-Type': 'application/json'}, \
         body: JSON.stringify({token: 'hdf_nope'})}).then(r => r.status)",
    );
    assert_eq!(bad, json!(401));
}

/// GET `path` with a bearer token: status and JSON body.
async fn get_as(app: &App, token: &str, path: &str) -> (StatusCode, Value) {
    let answer = reqwest::Client::new()
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = answer.status();
    (status, answer.json().await.unwrap_or(Value::Null))
}

fn accounts_in(list: &Value) -> Vec<String> {
    let mut out: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["account"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Row-level visibility on the /v1 API, without a browser: acme is r1's
/// (team east), globex r9's (team west), both marketing-sourced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_caller_sees_and_acts_on_its_own_accounts_only_through_the_api() {
    let app = start().await;
    let as_of = "as_of=2026-03-04T17:00:00Z";
    for (who, want) in [
        ("ops", vec!["acme", "globex"]),
        ("cmo", vec!["acme", "globex"]),
        ("r1-desk", vec!["acme"]),
        ("m1-desk", vec!["acme", "globex"]), // a manager without a team: all
        ("west-desk", vec!["globex"]),
        ("mkt", vec!["acme", "globex"]),
    ] {
        let (status, body) = get_as(&app, app.token(who), &format!("/v1/clocks?{as_of}")).await;
        assert_eq!(status, StatusCode::OK, "{who}: {body}");
        assert_eq!(accounts_in(&body["clocks"]), want, "{who}");
    }
    // Another team's account is not there for r1: 404, as if unknown.
    let (status, _) = get_as(&app, app.token("r1-desk"), "/v1/accounts/globex").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = get_as(&app, app.token("r1-desk"), "/v1/accounts/acme").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = get_as(&app, app.token("west-desk"), "/v1/accounts/acme").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The breaches: acme's first touch is r1's; west sees none.
    let (_, body) = get_as(&app, app.token("r1-desk"), &format!("/v1/breaches?{as_of}")).await;
    assert_eq!(accounts_in(&body["breaches"]), vec!["acme"], "{body}");
    let (_, body) = get_as(
        &app,
        app.token("west-desk"),
        &format!("/v1/breaches?{as_of}"),
    )
    .await;
    assert_eq!(
        accounts_in(&body["breaches"]),
        Vec::<String>::new(),
        "{body}"
    );
    // The scorecard counts only what the caller sees. Week 10 by hand: all
    // see 2 hand-offs (acme Monday, globex Wednesday); r1 1, west 1.
    for (who, handoffs) in [("ops", 2), ("r1-desk", 1), ("west-desk", 1)] {
        let (status, body) = get_as(
            &app,
            app.token(who),
            &format!("/v1/scorecard?week=2026-W10&{as_of}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{who}: {body}");
        assert_eq!(body["funnel"]["handoffs"], json!(handoffs), "{who}");
    }
    // The outbox and the metrics cover every account: refused to r1.
    let (status, _) = get_as(&app, app.token("r1-desk"), "/v1/alerts").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = get_as(&app, app.token("r1-desk"), "/metrics").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The dashboard's data too, whatever filter is asked for.
    let (_, body) = get_as(
        &app,
        app.token("r1-desk"),
        &format!("/dashboard/data?period=week&at=2026-W10&team=west&{as_of}"),
    )
    .await;
    assert_eq!(
        accounts_in(&body["queue"]["clocks"]),
        Vec::<String>::new(),
        "{body}"
    );
    assert_eq!(body["funnel"]["handoffs"], json!(0));

    // Acting on another team's account: 404 and nothing stored; on one's
    // own: recorded. Marketing may not act at all.
    let client = reqwest::Client::new();
    let before = Store::open(&app.db)
        .unwrap()
        .events_for_account("globex")
        .unwrap()
        .len();
    for (who, account, status) in [
        ("r1-desk", "globex", StatusCode::NOT_FOUND),
        ("west-desk", "acme", StatusCode::NOT_FOUND),
        ("mkt", "acme", StatusCode::FORBIDDEN),
        ("r1-desk", "acme", StatusCode::CREATED),
    ] {
        let answer = client
            .post(format!("{}/v1/accounts/{account}/activity", app.base))
            .bearer_auth(app.token(who))
            .json(&json!({ "kind": "call" }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status, "{who} on {account}");
    }
    let after = Store::open(&app.db)
        .unwrap()
        .events_for_account("globex")
        .unwrap()
        .len();
    assert_eq!(before, after);

    // Reassigning within one's team only: r1 (east) may not hand acme to
    // r9 (west), nor west's manager globex to r1 (east); r1 to r2 (east)
    // is recorded. Nothing of a refused one is stored.
    let reassigns = |account: &str| {
        Store::open(&app.db)
            .unwrap()
            .events_for_account(account)
            .unwrap()
            .into_iter()
            .filter(|e| e.body.type_name() == "reassign")
            .count()
    };
    let (acme_before, globex_before) = (reassigns("acme"), reassigns("globex"));
    for (who, account, rep, status) in [
        ("r1-desk", "acme", "r9", StatusCode::FORBIDDEN),
        ("west-desk", "globex", "r1", StatusCode::FORBIDDEN),
        ("r1-desk", "acme", "r2", StatusCode::CREATED),
    ] {
        let answer = client
            .post(format!("{}/v1/accounts/{account}/reassign", app.base))
            .bearer_auth(app.token(who))
            .json(&json!({ "rep": rep }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status, "{who}: {account} to {rep}");
        if status == StatusCode::FORBIDDEN {
            let body: Value = answer.json().await.unwrap();
            assert_eq!(body["detail"]["field"], "rep", "{body}");
        }
    }
    assert_eq!(reassigns("acme"), acme_before + 1);
    assert_eq!(reassigns("globex"), globex_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_signs_in_with_a_password_and_sees_only_their_accounts_on_the_page() {
    let Some(browser) = browser() else {
        return;
    };
    let app = start().await;
    let mut page = Page::open(browser);
    page.send(json!({ "navigate": format!("{}/?period=week&at=2026-W10", app.base) }));
    page.wait_for("!document.querySelector('#signin').hidden");
    // A wrong password is refused, with the same words as an unknown name.
    let wrong = page.eval(
        "fetch('/dashboard/login', {method: 'POST', headers: {'Content-Type': 'application/json'}, \
         body: JSON.stringify({user: 'rita', password: 'wrong horse'})}).then(r => r.json()).then(j => j.error)",
    );
    let unknown = page.eval(
        "fetch('/dashboard/login', {method: 'POST', headers: {'Content-Type': 'application/json'}, \
         body: JSON.stringify({user: 'nobody', password: 'wrong horse'})}).then(r => r.json()).then(j => j.error)",
    );
    assert_eq!(wrong, unknown);
    page.eval(
        "document.querySelector('#user').value = 'rita'; \
         document.querySelector('#password').value = 'correct horse battery'; \
         document.querySelector('#signin-form').requestSubmit(); true",
    );
    page.wait_for("document.querySelectorAll('.tile').length > 0");
    assert_eq!(
        page.eval("document.querySelector('#who').textContent"),
        "rita (rep)"
    );
    // The cookie is out of the page's reach.
    assert_eq!(page.eval("document.cookie"), "");
    let accounts = page.eval(
        "[...new Set([...document.querySelectorAll('#queue tbody tr')].map(r => r.dataset.account))]",
    );
    assert_eq!(accounts, json!(["acme"]));
    // globex through the page's own session: not there.
    let status = page.eval("fetch('/v1/accounts/globex').then(r => r.status)");
    assert_eq!(status, json!(404));
    let status = page.eval(
        "fetch('/dashboard/session').then(r => r.json()).then(s => \
         fetch('/v1/accounts/globex/accept', {method: 'POST', headers: {'Content-Type': \
         'application/json', 'X-CSRF-Token': s.csrf}, body: '{}'})).then(r => r.status)",
    );
    assert_eq!(status, json!(404));
    // The west team's filter in the URL shows nothing of theirs.
    page.send(json!({ "navigate": format!("{}/?period=week&at=2026-W10&team=west", app.base) }));
    page.wait_for("document.querySelectorAll('.tile').length > 0");
    assert_eq!(
        page.eval("document.querySelectorAll('#queue tbody tr').length"),
        json!(0)
    );
}
