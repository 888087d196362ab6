//! The live clock path of `handoff serve`: the live engine, the clock
//! step, the outbox and restarts, on a hand-set clock (no test sleeps but
//! the one that runs on the wall clock with a 2-second SLA).
//!
//! The history is the shared fixture without its activity and acceptance,
//! worked out by hand in tests/serve_read.rs: on the default policy's New
//! York calendar (09:00-17:00, EST = UTC-5 in early March 2026) a demo
//! request makes `acme` a high-intent MQA; the hand-off to r1 (manager m1)
//! is Monday 2 March 15:00 EST = 20:00Z. First touch is due within 4
//! business hours: 15:00-17:00 Monday (2 h) plus 09:00-11:00 Tuesday (2 h),
//! so the deadline is Tuesday 3 March 11:00 EST = 16:00Z. A touch at the
//! deadline still meets, so the clock breaches only once time is past
//! 16:00:00Z; the rule high-intent-untouched then raises one alert at
//! 16:00:00Z to m1. The attempts clock (due 16 March) raises no alert.

mod common;

use std::path::{Path, PathBuf};

use common::{on_both_backends, TestDb};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use handoff::cli::TokenRole;
use handoff::replay::DEFAULT_POLICY;
use handoff::serve::auth::create_token;
use handoff::serve::clock::{Clock, ManualClock, SystemClock};
use handoff::serve::{clock_loop, AppState, ServeConfig};
use handoff::store::{DeliveryStatus, OutboxEntry};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::oneshot;

const FIXTURE: &str = include_str!("fixtures/events/acme-breach.jsonl");

/// The fixture without its activity `a1` and acceptance `ok`: five events.
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

/// The first-touch deadline worked out above.
const DEADLINE: &str = "2026-03-03T16:00:00Z";
/// The default policy's escalation step, 4 business hours after the
/// breach on the clock's New York calendar (09:00-17:00): 11:00 EST + 4 h
/// = 15:00 EST = 20:00Z, raised because nobody acted on acme in between.
const STEP: &str = "2026-03-03T20:00:00Z";

/// Services started so far, for unique token names.
static STARTS: AtomicUsize = AtomicUsize::new(0);

/// One service on a free port over `db`, with an ingest and a viewer token.
struct App {
    base: String,
    client: reqwest::Client,
    state: AppState,
    ingest: String,
    viewer: String,
    manager: String,
    stop: Option<oneshot::Sender<()>>,
}

impl App {
    async fn start(db: &TestDb, policy: Option<PathBuf>, clock: Arc<dyn Clock>) -> App {
        let mut store = db.open();
        let at = "2026-01-01T00:00:00Z";
        // Tokens are stored hashed, under unique names: each start of a
        // service on the same file makes new ones.
        let n = STARTS.fetch_add(1, Ordering::Relaxed);
        let mut token =
            |name: &str, role| create_token(&mut store, &format!("{name}-{n}"), role, at).unwrap();
        let ingest = token("crm-sync", TokenRole::Ingest);
        let viewer = token("cmo", TokenRole::Viewer);
        let manager = token("m1-phone", TokenRole::Manager);
        drop(store);
        let config = ServeConfig {
            db: db.location.clone(),
            policy,
            max_body_bytes: 1 << 20,
        };
        let state = AppState::open_with_clock(&config, clock).unwrap();
        let (base, stop) = common::serve_in_process(state.clone()).await;
        App {
            base,
            client: reqwest::Client::new(),
            state,
            ingest,
            viewer,
            manager,
            stop: Some(stop),
        }
    }

    async fn post_events(&self, body: &str) -> Value {
        let response = self
            .client
            .post(format!("{}/v1/events", self.base))
            .bearer_auth(&self.ingest)
            .header("content-type", "application/x-ndjson")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    async fn alerts(&self) -> Vec<Value> {
        let response = self
            .client
            .get(format!("{}/v1/alerts", self.base))
            .bearer_auth(&self.viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let v: Value = response.json().await.unwrap();
        v["alerts"].as_array().unwrap().clone()
    }

    async fn tick(&self) -> usize {
        self.state.tick().await.unwrap()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Each outbox entry of the database as (alert instant, what `pick` takes
/// of the entry and its alert), by instant.
fn outbox_by_instant<T>(
    db: &TestDb,
    pick: impl Fn(&OutboxEntry, &Value) -> T,
) -> Vec<(DateTime<Utc>, T)> {
    let store = db.open();
    let mut rows: Vec<_> = store
        .outbox_all()
        .unwrap()
        .iter()
        .map(|e| {
            let alert: Value = serde_json::from_str(&e.alert).unwrap();
            (t(alert["at"].as_str().unwrap()), pick(e, &alert))
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    rows
}

/// The outbox as (alert instant, status), by instant.
fn outbox(db: &TestDb) -> Vec<(DateTime<Utc>, DeliveryStatus)> {
    outbox_by_instant(db, |e, _| e.status)
}

/// The one alert the history raises, as GET /v1/alerts shows it.
fn assert_the_breach_alert(alert: &Value, status: &str) {
    assert_eq!(
        (&alert["at"], &alert["rule"], &alert["account"]),
        (
            &json!(DEADLINE),
            &json!("high-intent-untouched"),
            &json!("acme")
        )
    );
    assert_eq!(alert["recipients"][0]["who"], "m1");
    assert_eq!(alert["delivery"]["status"], status);
    assert_eq!(alert["delivery"]["attempts"], 0);
    assert_eq!(alert["delivery"]["sent_at"], Value::Null);
}

async fn a_deadline_fires_once_just_after_it_passes_and_a_restart_adds_nothing(db: TestDb) {
    let clock = Arc::new(ManualClock::new(t("2026-03-02T21:00:00Z")));
    let app = App::start(&db, None, clock.clone()).await;

    // An hour after the hand-off: nothing due.
    assert_eq!(app.post_events(&history()).await["accepted"], 5);
    assert_eq!(app.tick().await, 0);
    assert!(app.alerts().await.is_empty());

    // At the deadline itself a touch would still meet: no breach yet.
    clock.set(t(DEADLINE));
    assert_eq!(app.tick().await, 0);
    assert!(app.alerts().await.is_empty());

    // One second past: breached at 16:00:00Z, one pending alert (after
    // live_since, 2 March 21:00Z).
    clock.set(t("2026-03-03T16:00:01Z"));
    assert_eq!(app.tick().await, 1);
    let alerts = app.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_the_breach_alert(&alerts[0], "pending");

    // Another step records nothing new.
    assert_eq!(app.tick().await, 0);
    assert_eq!(outbox(&db), [(t(DEADLINE), DeliveryStatus::Pending)]);
    drop(app);

    // A restart a day later replays the log, finds the same alert id in
    // the outbox and inserts it not again; the escalation step that fell
    // due while it was down (20:00Z, nobody acted) is recorded once.
    clock.set(t("2026-03-04T16:00:00Z"));
    let app = App::start(&db, None, clock.clone()).await;
    assert_eq!(app.tick().await, 0);
    let both = [
        (t(DEADLINE), DeliveryStatus::Pending),
        (t(STEP), DeliveryStatus::Pending),
    ];
    assert_eq!(outbox(&db), both);
    assert_eq!(app.alerts().await.len(), 2);
}

async fn a_deadline_passed_while_down_is_recorded_at_start_up_with_its_true_instant(db: TestDb) {
    let clock = Arc::new(ManualClock::new(t("2026-03-02T21:00:00Z")));
    let app = App::start(&db, None, clock.clone()).await;
    assert_eq!(app.post_events(&history()).await["accepted"], 5);
    assert_eq!(app.tick().await, 0);
    drop(app);
    assert!(outbox(&db).is_empty());

    // Down from Monday 21:00Z to Tuesday 18:00Z, two hours past the
    // deadline: the start-up replay records the breach of 16:00:00Z,
    // pending, before any step of the clock.
    clock.set(t("2026-03-03T18:00:00Z"));
    let app = App::start(&db, None, clock.clone()).await;
    assert_eq!(outbox(&db), [(t(DEADLINE), DeliveryStatus::Pending)]);
    assert_eq!(app.tick().await, 0);
    assert_the_breach_alert(&app.alerts().await[0], "pending");
    drop(app);

    // And once only, however often it restarts (with the escalation step
    // of 20:00Z that fell due meanwhile).
    clock.set(t("2026-03-05T09:00:00Z"));
    let app = App::start(&db, None, clock.clone()).await;
    assert_eq!(app.tick().await, 0);
    assert_eq!(outbox(&db).len(), 2);
}

async fn history_from_before_going_live_is_historical_and_never_pending(db: TestDb) {
    // Live since Thursday 5 March: the breach of Tuesday 16:00Z is history.
    let clock = Arc::new(ManualClock::new(t("2026-03-05T12:00:00Z")));
    let app = App::start(&db, None, clock.clone()).await;
    assert_eq!(app.post_events(&history()).await["accepted"], 5);
    // The events are applied as they sort; the deadline, already passed,
    // is judged at the next step.
    // The breach and its escalation step (20:00Z), both history.
    assert_eq!(app.tick().await, 2);
    let both = [
        (t(DEADLINE), DeliveryStatus::Historical),
        (t(STEP), DeliveryStatus::Historical),
    ];
    assert_eq!(outbox(&db), both);
    assert_the_breach_alert(&app.alerts().await[1], "historical");
    // Posting the same history again stores nothing and raises nothing.
    let r = app.post_events(&history()).await;
    assert_eq!((&r["accepted"], &r["duplicate"]), (&json!(0), &json!(5)));
    assert_eq!(app.tick().await, 0);
    assert_eq!(outbox(&db).len(), 2);
}

async fn an_event_older_than_what_the_engine_settled_rebuilds_it(db: TestDb) {
    let clock = Arc::new(ManualClock::new(t("2026-03-02T19:00:00Z")));
    let app = App::start(&db, None, clock.clone()).await;
    clock.set(t("2026-03-03T21:00:00Z"));
    // A later engagement of another account is applied first.
    let globex = r#"{"id":"g1","type":"engagement","at":"2026-03-03T20:00:00Z","account":"globex","kind":"webinar","channel":"events"}"#;
    assert_eq!(app.post_events(globex).await["accepted"], 1);
    // acme's history sorts before it: the engine is rebuilt up to now
    // (Tuesday 21:00Z), which judges the first-touch deadline of 16:00Z
    // and records its alert with the batch, before any clock step; so is
    // the escalation step of 20:00Z.
    assert_eq!(app.post_events(&history()).await["accepted"], 5);
    let both = [
        (t(DEADLINE), DeliveryStatus::Pending),
        (t(STEP), DeliveryStatus::Pending),
    ];
    assert_eq!(outbox(&db), both);
    assert_eq!(app.tick().await, 0);
    assert_eq!(outbox(&db).len(), 2);
}

async fn an_event_dated_after_now_waits_for_the_clock(db: TestDb) {
    let clock = Arc::new(ManualClock::new(t("2026-03-02T21:00:00Z")));
    let app = App::start(&db, None, clock.clone()).await;
    assert_eq!(app.post_events(&history()).await["accepted"], 5);
    // An engagement dated Tuesday 17:00Z, after the deadline, arrives on
    // Monday 21:00Z. Applied now, it would move the engine past 16:00Z and
    // call the breach a day early; it is stored and held back instead.
    let globex = r#"{"id":"g1","type":"engagement","at":"2026-03-03T17:00:00Z","account":"globex","kind":"webinar","channel":"events"}"#;
    assert_eq!(app.post_events(globex).await["accepted"], 1);
    assert_eq!(app.tick().await, 0);
    assert!(outbox(&db).is_empty());
    // Tuesday 16:00:01Z: the deadline has passed; the engagement waits on.
    clock.set(t("2026-03-03T16:00:01Z"));
    assert_eq!(app.tick().await, 1);
    // 17:00Z: the engagement is applied; nothing more is raised.
    clock.set(t("2026-03-03T17:00:00Z"));
    assert_eq!(app.tick().await, 0);
    assert_eq!(outbox(&db), [(t(DEADLINE), DeliveryStatus::Pending)]);
    assert_the_breach_alert(&app.alerts().await[0], "pending");
}

async fn a_persons_action_reaches_the_live_engine_at_the_injected_now(db: TestDb) {
    let clock = Arc::new(ManualClock::new(t("2026-03-02T21:00:00Z")));
    let app = App::start(&db, None, clock.clone()).await;
    assert_eq!(app.post_events(&history()).await["accepted"], 5);
    // r1 calls at Tuesday 15:30Z, half an hour before the deadline; the
    // action has no `at`, so it happens at the service's now.
    clock.set(t("2026-03-03T15:30:00Z"));
    let response = app
        .client
        .post(format!("{}/v1/accounts/acme/activity", app.base))
        .bearer_auth(&app.manager)
        .json(&json!({ "kind": "call", "rep": "r1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let event: Value = response.json().await.unwrap();
    assert_eq!(t(event["at"].as_str().unwrap()), t("2026-03-03T15:30:00Z"));
    // The first touch met the clock: past the deadline, nothing is raised.
    clock.set(t("2026-03-03T16:00:01Z"));
    assert_eq!(app.tick().await, 0);
    assert!(outbox(&db).is_empty());
}

async fn on_the_wall_clock_a_two_second_sla_breaches_within_seconds(db: TestDb) {
    let policy = common::two_second_policy(db.dir.path());
    let app = App::start(&db, Some(policy), Arc::new(SystemClock)).await;
    let (stop_clock, clock_stopped) = oneshot::channel();
    tokio::spawn(clock_loop(app.state.clone(), clock_stopped));

    // The fixture's organisation and account, a demo request a minute ago
    // and the hand-off now (whole seconds): due 2 seconds later.
    let handoff_at = Utc::now().trunc_subsecs(0);
    let demo_at = handoff_at - Duration::minutes(1);
    let mut lines: Vec<String> = FIXTURE.lines().take(3).map(str::to_string).collect();
    lines.push(format!(
        r#"{{"id":"d1","type":"engagement","at":"{}","account":"acme","kind":"demo_request","channel":"paid_search"}}"#,
        demo_at.to_rfc3339()
    ));
    lines.push(format!(
        r#"{{"id":"h1","type":"handoff","at":"{}","account":"acme","rep":"r1"}}"#,
        handoff_at.to_rfc3339()
    ));
    assert_eq!(app.post_events(&lines.join("\n")).await["accepted"], 5);

    let started = Instant::now();
    let alerts = loop {
        let alerts = app.alerts().await;
        if !alerts.is_empty() || started.elapsed() > StdDuration::from_secs(5) {
            break alerts;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    };
    let _ = stop_clock.send(());
    assert_eq!(alerts.len(), 1, "no alert within 5 s: {alerts:?}");
    let due = handoff_at + Duration::seconds(2);
    assert_eq!(t(alerts[0]["at"].as_str().unwrap()), due);
    assert_eq!(alerts[0]["rule"], "high-intent-untouched");
    assert_eq!(alerts[0]["delivery"]["status"], "pending");
    // Recorded a little after the deadline, not before it.
    let recorded = t(alerts[0]["delivery"]["recorded_at"].as_str().unwrap());
    assert!(
        recorded > due,
        "recorded {recorded} before the deadline {due}"
    );
}

// Automatic reassignment. Team east gets two more reps besides r1 (an
// ae), both under m1: r2 and r3. m1 is a sales_manager and never takes an
// account. `[reps.ID]` in the test policy picks a rep's calendar.

/// Rep events for r2 and r3 in team east.
const MORE_REPS: &str = concat!(
    r#"{"id":"rep-r2","type":"rep","at":"2026-01-01T00:00:00Z","rep":"r2","team":"east","manager":"m1"}"#,
    "\n",
    r#"{"id":"rep-r3","type":"rep","at":"2026-01-01T00:00:00Z","rep":"r3","team":"east","manager":"m1"}"#,
);

/// The default policy with `london_rep` on the London calendar.
fn london_rep_policy(dir: &Path, london_rep: &str) -> PathBuf {
    let text = format!("{DEFAULT_POLICY}\n[reps.{london_rep}]\ncalendar = \"london\"\n");
    let path = dir.join(format!("{london_rep}-in-london.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Every stored event with an id starting `auto-reassign:`, as JSON.
fn auto_reassignments(db: &TestDb) -> Vec<Value> {
    let store = db.open();
    store
        .events_ordered()
        .unwrap()
        .into_iter()
        .filter(|e| e.id.starts_with("auto-reassign:"))
        .map(|e| serde_json::to_value(&e).unwrap())
        .collect()
}

impl App {
    async fn account(&self, id: &str) -> Value {
        let response = self
            .client
            .get(format!("{}/v1/accounts/{id}", self.base))
            .bearer_auth(&self.viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}

async fn a_breach_reassigns_round_robin_once_however_often_it_ticks_or_restarts(db: TestDb) {
    let policy = london_rep_policy(db.dir.path(), "r3");
    let clock = Arc::new(ManualClock::new(t("2026-03-02T21:00:00Z")));
    let app = App::start(&db, Some(policy.clone()), clock.clone()).await;
    let body = format!("{}\n{MORE_REPS}", history());
    assert_eq!(app.post_events(&body).await["accepted"], 7);
    assert_eq!(app.tick().await, 0);
    assert!(auto_reassignments(&db).is_empty());

    // The deadline is 16:00:00Z (worked out at the top): 11:00 in New
    // York (r2, by team east's headquarters calendar) and 16:00 in London
    // (r3), both inside 09:00-17:00. In rep-id order after the owner r1
    // comes r2.
    clock.set(t("2026-03-03T16:00:01Z"));
    assert_eq!(app.tick().await, 1);
    let moved = auto_reassignments(&db);
    assert_eq!(moved.len(), 1, "{moved:?}");
    let expected = json!({
        "id": "auto-reassign:high-intent-untouched:acme:1:0",
        "type": "reassign",
        "at": "2026-03-03T16:00:01Z",
        "account": "acme",
        "rep": "r2",
        "reason": "first-touch breached: reassigned round robin by rule high-intent-untouched",
    });
    assert_eq!(moved[0], expected);
    let r = app.account("acme").await;
    assert_eq!(r["account"]["owner"], "r2", "{r}");
    // The breach stays r1's: it happened before the reassignment.
    let clock0 = &r["account"]["cycles"][0]["clocks"][0];
    assert_eq!(clock0["commitment"], "first-touch", "{r}");
    assert_eq!(clock0["breach_owner"], "r1", "{r}");
    // The alert still went to m1, who manages r1 and r2 alike.
    assert_the_breach_alert(&app.alerts().await[0], "pending");

    // A second step and a restart add nothing.
    assert_eq!(app.tick().await, 0);
    assert_eq!(auto_reassignments(&db), std::slice::from_ref(&expected));
    drop(app);
    clock.set(t("2026-03-04T16:00:00Z"));
    let app = App::start(&db, Some(policy), clock.clone()).await;
    assert_eq!(app.tick().await, 0);
    assert_eq!(auto_reassignments(&db), [expected]);
    // The automatic reassignment is nobody acting: the escalation step of
    // 20:00Z is recorded too.
    assert_eq!(
        outbox(&db).iter().map(|r| r.0).collect::<Vec<_>>(),
        [t(DEADLINE), t(STEP)]
    );
    assert_eq!(app.account("acme").await["account"]["owner"], "r2");
    let store = db.open();
    let rotation = store.meta("reassign_rotation:east").unwrap();
    assert_eq!(rotation.as_deref(), Some("r2"));
}

async fn a_rep_whose_calendar_is_closed_at_the_breach_is_skipped(db: TestDb) {
    // Now r2 is the one in London. The hand-off moves to Tuesday 3 March
    // 14:00Z = 09:00 EST, so four business hours on the New York calendar
    // end at 13:00 EST = 18:00Z: 18:00 in London (GMT), past its 17:00
    // close, so r2 is skipped; r3 (New York, 13:00) takes the account.
    let policy = london_rep_policy(db.dir.path(), "r2");
    let from = r#""at":"2026-03-02T20:00:00Z","account":"acme","rep":"r1""#;
    let history = history();
    assert!(history.contains(from), "the fixture changed");
    let to = r#""at":"2026-03-03T14:00:00Z","account":"acme","rep":"r1""#;
    let body = format!("{}\n{MORE_REPS}", history.replace(from, to));
    let clock = Arc::new(ManualClock::new(t("2026-03-03T15:00:00Z")));
    let app = App::start(&db, Some(policy), clock.clone()).await;
    assert_eq!(app.post_events(&body).await["accepted"], 7);
    assert_eq!(app.tick().await, 0);

    clock.set(t("2026-03-03T18:00:00Z"));
    assert_eq!(app.tick().await, 0, "a touch at the deadline still meets");
    clock.set(t("2026-03-03T18:00:01Z"));
    assert_eq!(app.tick().await, 1);
    let moved = auto_reassignments(&db);
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(
        (&moved[0]["rep"], &moved[0]["at"]),
        (&json!("r3"), &json!("2026-03-03T18:00:01Z"))
    );
    assert_eq!(app.account("acme").await["account"]["owner"], "r3");
}

async fn a_breach_raised_on_ingest_reassigns_before_any_clock_step(db: TestDb) {
    let policy = london_rep_policy(db.dir.path(), "r3");
    let clock = Arc::new(ManualClock::new(t("2026-03-02T21:00:00Z")));
    let app = App::start(&db, Some(policy), clock.clone()).await;
    let body = format!("{}\n{MORE_REPS}", history());
    assert_eq!(app.post_events(&body).await["accepted"], 7);

    // At 16:30Z, before the clock task steps, an engagement dated 16:30Z
    // arrives: applying it judges the 16:00:00Z deadline first, so the
    // breach (and its reassignment to r2, as above) comes with the batch.
    clock.set(t("2026-03-03T16:30:00Z"));
    let late = r#"{"id":"d2","type":"engagement","at":"2026-03-03T16:30:00Z","account":"acme","kind":"demo_request","channel":"paid_search"}"#;
    assert_eq!(app.post_events(late).await["accepted"], 1);
    let moved = auto_reassignments(&db);
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(
        (&moved[0]["rep"], &moved[0]["at"]),
        (&json!("r2"), &json!("2026-03-03T16:00:01Z"))
    );
    assert_eq!(outbox(&db), [(t(DEADLINE), DeliveryStatus::Pending)]);
    assert_eq!(app.tick().await, 0);
    assert_eq!(auto_reassignments(&db).len(), 1);
    assert_eq!(app.account("acme").await["account"]["owner"], "r2");
}

/// The default policy with `rep` working on `calendar`.
fn rep_calendar_policy(dir: &Path, rep: &str, calendar: &str) -> PathBuf {
    let text = format!("{DEFAULT_POLICY}\n[reps.{rep}]\ncalendar = \"{calendar}\"\n");
    let path = dir.join(format!("{rep}-on-{calendar}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

async fn a_late_first_touch_retracts_the_pending_breach_alert(db: TestDb) {
    let clock = Arc::new(ManualClock::new(t("2026-03-02T21:00:00Z")));
    let app = App::start(&db, None, clock.clone()).await;
    assert_eq!(app.post_events(&history()).await["accepted"], 5);
    clock.set(t("2026-03-03T16:00:01Z"));
    assert_eq!(app.tick().await, 1);
    assert_eq!(outbox(&db), [(t(DEADLINE), DeliveryStatus::Pending)]);

    // At 16:05Z the CRM sync delivers a call logged at 15:30Z, before the
    // deadline: the clock was met, the breach never happened. The pending
    // alert is kept, retracted, and never sent.
    clock.set(t("2026-03-03T16:05:00Z"));
    let call = r#"{"id":"a0","type":"activity","at":"2026-03-03T15:30:00Z","account":"acme","rep":"r1","kind":"call"}"#;
    assert_eq!(app.post_events(call).await["accepted"], 1);
    assert_eq!(outbox(&db), [(t(DEADLINE), DeliveryStatus::Retracted)]);
    let store = db.open();
    assert!(store
        .outbox_due(t("2026-03-04T00:00:00Z"), 10)
        .unwrap()
        .is_empty());
    let alerts = app.alerts().await;
    assert_eq!(alerts[0]["delivery"]["status"], "retracted");
    let why = alerts[0]["delivery"]["last_error"].as_str().unwrap();
    assert!(why.contains("event dated before the breach"), "{why}");
    // The clock reads met, and no later step comes.
    let r = app.account("acme").await;
    assert_eq!(
        r["account"]["cycles"][0]["clocks"][0]["state"], "met",
        "{r}"
    );
    clock.set(t("2026-03-04T16:00:00Z"));
    assert_eq!(app.tick().await, 0);
    assert_eq!(outbox(&db).len(), 1);
}

async fn a_breach_before_the_managers_day_starts_waits_for_it(db: TestDb) {
    // m1 works on the Pacific calendar, 09:00-17:00. The breach of
    // 16:00Z is 08:00 PST (UTC-8 until 8 March): their day starts at
    // 09:00 PST = 17:00Z.
    let policy = rep_calendar_policy(db.dir.path(), "m1", "pacific");
    let clock = Arc::new(ManualClock::new(t("2026-03-02T21:00:00Z")));
    let app = App::start(&db, Some(policy), clock.clone()).await;
    assert_eq!(app.post_events(&history()).await["accepted"], 5);
    clock.set(t("2026-03-03T16:00:01Z"));
    assert_eq!(app.tick().await, 1);
    let store = db.open();
    let entry = store
        .outbox_entry("high-intent-untouched:acme:1:0")
        .unwrap()
        .unwrap();
    assert_eq!(entry.status, DeliveryStatus::Pending);
    assert_eq!(entry.next_attempt_at, Some(t("2026-03-03T17:00:00Z")));
    assert!(store
        .outbox_due(t("2026-03-03T16:59:59Z"), 10)
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .outbox_due(t("2026-03-03T17:00:00Z"), 10)
            .unwrap()
            .len(),
        1
    );
    let alerts = app.alerts().await;
    assert_eq!(
        alerts[0]["recipients"][0]["deliver_at"], "2026-03-03T17:00:00Z",
        "{alerts:?}"
    );
}

/// globex: acme's account, engagement and hand-off under other ids.
fn globex() -> String {
    let lines: Vec<String> = history()
        .lines()
        .filter(|l| l.contains(r#""account":"acme""#))
        .map(|l| {
            l.replace(r#""account":"acme""#, r#""account":"globex""#)
                .replace(r#""id":""#, r#""id":"g-"#)
        })
        .collect();
    assert_eq!(lines.len(), 3, "the fixture changed: {FIXTURE}");
    lines.join("\n")
}

async fn two_services_on_one_store_judge_each_clock_once(db: TestDb) {
    // Arrange: two services on one store and one clock, Monday 21:00Z.
    // acme's history goes to A, globex's to B: both hand-offs are at 20:00Z
    // and both first-touch deadlines Tuesday 16:00Z (worked out above).
    let clock = Arc::new(ManualClock::new(t("2026-03-02T21:00:00Z")));
    let a = App::start(&db, None, clock.clone()).await;
    let b = App::start(&db, None, clock.clone()).await;
    assert_eq!(a.post_events(&history()).await["accepted"], 5);
    assert_eq!(b.post_events(&globex()).await["accepted"], 3);
    // r1 calls acme at 15:30Z, through B.
    clock.set(t("2026-03-03T15:30:00Z"));
    let call = r#"{"id":"c1","type":"activity","at":"2026-03-03T15:30:00Z","account":"acme","rep":"r1","kind":"call"}"#;
    assert_eq!(b.post_events(call).await["accepted"], 1);

    // Act: one second past the deadline, both step.
    clock.set(t("2026-03-03T16:00:01Z"));
    let fired = a.tick().await + b.tick().await;

    // Assert: A learnt of the call from the log, so acme's clock met on
    // both; globex's breach was recorded once, by whichever stepped first.
    assert_eq!(fired, 1);
    assert_eq!(outbox(&db), [(t(DEADLINE), DeliveryStatus::Pending)]);
    let alerts = b.alerts().await;
    assert_eq!(alerts[0]["account"], "globex", "{alerts:?}");
    assert_eq!((a.tick().await, b.tick().await), (0, 0));
}

/// The policy versions of a store as (version, alert instant) of each
/// outbox entry, by instant.
fn outbox_versions(db: &TestDb) -> Vec<(DateTime<Utc>, u64)> {
    outbox_by_instant(db, |_, alert| alert["policy_version"].as_u64().unwrap_or(0))
}

async fn alerts_recorded_under_a_version_keep_it_when_a_new_one_is_applied(db: TestDb) {
    // Version 1 (the default policy) from the beginning; the live engine
    // follows the store's versions.
    let recorded_at = t("2026-03-01T00:00:00Z");
    {
        let mut store = db.open();
        let v1 = handoff::versions::apply(
            &mut store,
            DEFAULT_POLICY,
            "v1.toml",
            None,
            "ops",
            recorded_at,
        );
        assert_eq!(v1.unwrap(), handoff::store::VersionOutcome::Recorded(1));
    }
    let clock = Arc::new(ManualClock::new(t("2026-03-02T21:00:00Z")));
    let app = App::start(&db, None, clock.clone()).await;
    app.post_events(&history()).await;
    clock.set(t("2026-03-03T16:00:01Z"));
    assert_eq!(app.tick().await, 1);
    let alerts = app.alerts().await;
    assert_the_breach_alert(&alerts[0], "pending");
    assert_eq!(alerts[0]["policy_version"], 1);
    drop(app);

    // Version 2 asks for first touch within 2 business hours. It is
    // applied at 17:00Z but takes effect from 12:00Z, before the breach:
    // the clock, started on Monday under version 1, keeps its 4-hour
    // deadline, but the breach at 16:00Z now falls under version 2's rules.
    let v2 = DEFAULT_POLICY.replace("within = \"4h\"", "within = \"2h\"");
    let v3 = v2.replace("within = \"2h\"", "within = \"3h\"");
    {
        let mut store = db.open();
        let now = t("2026-03-03T17:00:00Z");
        let from = Some(t("2026-03-03T12:00:00Z"));
        let applied = handoff::versions::apply(&mut store, &v2, "v2.toml", from, "ops", now);
        assert_eq!(
            applied.unwrap(),
            handoff::store::VersionOutcome::Recorded(2)
        );
        // Nothing may begin before version 2 does.
        let before = Some(t("2026-03-03T11:00:00Z"));
        let refused = handoff::versions::apply(&mut store, &v3, "v3.toml", before, "ops", now);
        assert!(refused
            .unwrap_err()
            .to_string()
            .contains("would begin before version 2"));
    }

    // A restart follows both versions. The breach alert in the outbox
    // keeps the version it was recorded under, 1, though a replay now
    // raises it under version 2; the escalation step, first recorded now
    // (due 20:00Z), belongs to the chain version 2's rule raised.
    clock.set(t("2026-03-04T16:00:00Z"));
    let app = App::start(&db, None, clock.clone()).await;
    assert_eq!(app.tick().await, 0);
    assert_eq!(outbox_versions(&db), [(t(DEADLINE), 1), (t(STEP), 2)]);
    let alerts = app.alerts().await;
    let breach = alerts.iter().find(|a| a["at"] == DEADLINE).unwrap();
    assert_eq!(breach["policy_version"], 1, "{alerts:?}");
}

on_both_backends!(
    #[tokio::test]
    alerts_recorded_under_a_version_keep_it_when_a_new_one_is_applied,
    a_deadline_fires_once_just_after_it_passes_and_a_restart_adds_nothing,
    a_deadline_passed_while_down_is_recorded_at_start_up_with_its_true_instant,
    history_from_before_going_live_is_historical_and_never_pending,
    an_event_older_than_what_the_engine_settled_rebuilds_it,
    an_event_dated_after_now_waits_for_the_clock,
    a_persons_action_reaches_the_live_engine_at_the_injected_now,
    on_the_wall_clock_a_two_second_sla_breaches_within_seconds,
    a_breach_reassigns_round_robin_once_however_often_it_ticks_or_restarts,
    a_rep_whose_calendar_is_closed_at_the_breach_is_skipped,
    a_breach_raised_on_ingest_reassigns_before_any_clock_step,
    a_late_first_touch_retracts_the_pending_breach_alert,
    a_breach_before_the_managers_day_starts_waits_for_it,
    two_services_on_one_store_judge_each_clock_once,
);
