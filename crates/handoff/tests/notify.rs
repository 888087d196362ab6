//! The notification sender against a real local HTTP receiver: an axum
//! router on 127.0.0.1:0 that records every request and answers with a
//! scripted list of statuses. Time is passed in; nothing sleeps.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use chrono::{DateTime, TimeZone, Utc};
use handoff::notify::{self, Channels};
use handoff::store::{DeliveryStatus, NewAlert, Store};
use serde_json::json;

mod smtp;
use smtp::{free_port, smtpd};

/// One request the receiver saw.
#[derive(Debug, Clone)]
struct Seen {
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Default)]
struct Script {
    /// Statuses to answer, in order; after the last, 200.
    statuses: Vec<u16>,
    seen: Vec<Seen>,
}

type Shared = Arc<Mutex<Script>>;

async fn record(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut s = state.lock().unwrap();
    let n = s.seen.len();
    s.seen.push(Seen { headers, body });
    let code = s.statuses.get(n).copied().unwrap_or(200);
    StatusCode::from_u16(code).unwrap()
}

/// Starts a receiver answering `statuses` then 200; returns its URL.
async fn receiver(statuses: Vec<u16>) -> (String, Shared) {
    let state: Shared = Arc::new(Mutex::new(Script {
        statuses,
        seen: Vec::new(),
    }));
    let app = Router::new().fallback(record).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), state)
}

fn seen(state: &Shared) -> Vec<Seen> {
    state.lock().unwrap().seen.clone()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 19, 0, 0).unwrap()
}

/// An alert as the engine's `Alert` serialises, for one recipient role.
fn alert(id: &str, role: &str) -> serde_json::Value {
    json!({
        "id": id,
        "rule": "first_touch",
        "at": "2026-03-02T19:00:00Z",
        "kind": "breach",
        "account": "acct-9",
        "commitment": "c-1",
        "tier": "tier_1",
        "owner": "rep-3",
        "recipients": [{"role": role, "who": "mgr-7"}],
        "reassign": false,
        "message": "First touch missed",
        "metric": null,
        "evidence": ["ev-1"]
    })
}

fn store_with(alerts: &[serde_json::Value]) -> Mutex<Store> {
    let mut store = Store::open_in_memory().unwrap();
    let new: Vec<NewAlert> = alerts
        .iter()
        .map(|a| NewAlert {
            id: a["id"].as_str().unwrap().to_string(),
            json: a.to_string(),
            status: DeliveryStatus::Pending,
            not_before: None,
        })
        .collect();
    store.outbox_record(&new, t0()).unwrap();
    Mutex::new(store)
}

/// Writes `notify.toml` (and a secret file) into `dir` and loads it.
fn channels(dir: &Path, toml: &str) -> Channels {
    std::fs::write(dir.join("hook.secret"), "s3cret-value\n").unwrap();
    let path = dir.join("notify.toml");
    std::fs::write(&path, toml).unwrap();
    Channels::load(&path).unwrap()
}

fn webhook_toml(url: &str, extra: &str) -> String {
    format!(
        "timezone = \"America/New_York\"\n{extra}\n[[channel]]\nname = \"ops\"\n\
         kind = \"webhook\"\nurl = \"{url}\"\nsecret_file = \"hook.secret\"\n"
    )
}

fn header<'a>(seen: &'a Seen, name: &str) -> &'a str {
    seen.headers.get(name).unwrap().to_str().unwrap()
}

#[tokio::test]
async fn a_pending_alert_is_delivered_once_signed_and_marked_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (url, state) = receiver(vec![]).await;
    let chans = channels(dir.path(), &webhook_toml(&url, ""));
    let a = alert("al-1", "sales_manager");
    let store = store_with(std::slice::from_ref(&a));
    let client = notify::client(&chans).unwrap();

    let report = notify::deliver_due(&store, &chans, t0(), &client)
        .await
        .unwrap();
    assert_eq!((report.taken, report.sent), (1, 1));

    let got = seen(&state);
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(header(req, "idempotency-key"), "al-1");
    // 2026-03-02T19:00:00Z is 1772478000 s after the epoch
    // (python: datetime(2026,3,2,19,tzinfo=timezone.utc).timestamp()).
    let ts: i64 = header(req, "x-handoff-timestamp").parse().unwrap();
    assert_eq!(ts, 1_772_478_000);
    let sig = header(req, "x-handoff-signature");
    assert!(notify::verify(b"s3cret-value", ts, &req.body, sig, ts, 300));
    assert!(!notify::verify(b"wrong", ts, &req.body, sig, ts, 300));
    // Six minutes later the same request is refused as too old.
    assert!(!notify::verify(
        b"s3cret-value",
        ts,
        &req.body,
        sig,
        ts + 360,
        300
    ));

    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["alert"], a);
    assert_eq!(body["channel"], "ops");
    // 19:00 UTC on 2 March is 14:00 EST (UTC-5; DST starts 8 March).
    assert_eq!(
        body["text"],
        "SLA breach: first_touch on account acct-9 (owner rep-3) at 2026-03-02 14:00 EST \
         for sales_manager mgr-7"
    );

    let entry = store.lock().unwrap().outbox_entry("al-1").unwrap().unwrap();
    assert_eq!(entry.status, DeliveryStatus::Sent);
    assert_eq!(entry.attempts, 1);
    assert_eq!(entry.sent_at, Some(t0()));

    // A later step finds nothing due and sends nothing again.
    let later = t0() + chrono::TimeDelta::minutes(10);
    let again = notify::deliver_due(&store, &chans, later, &client)
        .await
        .unwrap();
    assert_eq!(again.taken, 0);
    assert_eq!(seen(&state).len(), 1);
}

#[tokio::test]
async fn two_failures_back_off_one_then_two_seconds_then_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (url, state) = receiver(vec![500, 500]).await;
    let chans = channels(dir.path(), &webhook_toml(&url, ""));
    let store = store_with(&[alert("al-2", "sales_manager")]);
    let client = notify::client(&chans).unwrap();
    let sec = chrono::TimeDelta::seconds;
    let entry = |s: &Mutex<Store>| s.lock().unwrap().outbox_entry("al-2").unwrap().unwrap();

    // Attempt 1 at t0 fails: retry at t0 + 1 s.
    let r = notify::deliver_due(&store, &chans, t0(), &client)
        .await
        .unwrap();
    assert_eq!((r.taken, r.retrying), (1, 1));
    let e = entry(&store);
    assert_eq!((e.status, e.attempts), (DeliveryStatus::Pending, 1));
    assert_eq!(e.next_attempt_at, Some(t0() + sec(1)));
    assert!(e.last_error.unwrap().contains("HTTP 500"));

    // Not due half a second later.
    let half = t0() + chrono::TimeDelta::milliseconds(500);
    let r = notify::deliver_due(&store, &chans, half, &client)
        .await
        .unwrap();
    assert_eq!(r.taken, 0);

    // Attempt 2 at t0 + 1 s fails: retry 2 s later, at t0 + 3 s.
    let now = t0() + sec(1);
    notify::deliver_due(&store, &chans, now, &client)
        .await
        .unwrap();
    let e = entry(&store);
    assert_eq!(e.attempts, 2);
    assert_eq!(e.next_attempt_at, Some(now + sec(2)));

    // Attempt 3 at t0 + 3 s is answered 200: sent.
    let now = t0() + sec(3);
    let r = notify::deliver_due(&store, &chans, now, &client)
        .await
        .unwrap();
    assert_eq!(r.sent, 1);
    let e = entry(&store);
    assert_eq!((e.status, e.attempts), (DeliveryStatus::Sent, 3));
    assert_eq!(e.sent_at, Some(now));
    let got = seen(&state);
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|s| header(s, "idempotency-key") == "al-2"));
}

#[tokio::test]
async fn a_receiver_that_always_fails_gives_up_after_eight_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let (url, state) = receiver(vec![503; 100]).await;
    let chans = channels(dir.path(), &webhook_toml(&url, ""));
    assert_eq!(chans.max_attempts, 8);
    let store = store_with(&[alert("al-3", "sales_manager")]);
    let client = notify::client(&chans).unwrap();

    // Waits after failures 1..7: 1, 2, 4, 8, 16, 32, 64 s; the retries
    // happen at t0 + 1, 3, 7, 15, 31, 63, 127 s; the 8th attempt gives up.
    let expected_retries = [1, 3, 7, 15, 31, 63, 127];
    let mut now = t0();
    for (i, at) in expected_retries.iter().enumerate() {
        notify::deliver_due(&store, &chans, now, &client)
            .await
            .unwrap();
        let e = store.lock().unwrap().outbox_entry("al-3").unwrap().unwrap();
        assert_eq!(e.attempts as usize, i + 1);
        assert_eq!(e.status, DeliveryStatus::Pending);
        let next = e.next_attempt_at.unwrap();
        assert_eq!(next, t0() + chrono::TimeDelta::seconds(*at));
        now = next;
    }
    let r = notify::deliver_due(&store, &chans, now, &client)
        .await
        .unwrap();
    assert_eq!(r.failed, 1);
    let e = store.lock().unwrap().outbox_entry("al-3").unwrap().unwrap();
    assert_eq!((e.status, e.attempts), (DeliveryStatus::Failed, 8));
    assert_eq!(e.next_attempt_at, None);

    // Failed entries are never due again.
    let far = now + chrono::TimeDelta::days(1);
    let r = notify::deliver_due(&store, &chans, far, &client)
        .await
        .unwrap();
    assert_eq!(r.taken, 0);
    assert_eq!(seen(&state).len(), 8);
}

#[test]
fn backoff_doubles_from_one_second_and_caps_at_five_minutes() {
    let secs: Vec<u64> = (1..=11).map(|n| notify::backoff(n).as_secs()).collect();
    // 2^0 .. 2^8 = 256, then 2^9 = 512 and 2^10 are capped at 300.
    assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
}

#[tokio::test]
async fn a_channel_carries_only_its_roles() {
    let dir = tempfile::tempdir().unwrap();
    let (vp_url, vp) = receiver(vec![]).await;
    let (mgr_url, mgr) = receiver(vec![]).await;
    let toml = format!(
        "[[channel]]\nname = \"vp\"\nkind = \"slack\"\nurl = \"{vp_url}\"\n\
         roles = [\"marketing_vp\"]\n\n[[channel]]\nname = \"managers\"\nkind = \"slack\"\n\
         url = \"{mgr_url}\"\nroles = [\"sales_manager\"]\n"
    );
    let chans = channels(dir.path(), &toml);
    let store = store_with(&[alert("al-4", "sales_manager")]);
    let client = notify::client(&chans).unwrap();

    let r = notify::deliver_due(&store, &chans, t0(), &client)
        .await
        .unwrap();
    assert_eq!(r.sent, 1);
    assert_eq!(seen(&vp).len(), 0);
    let got = seen(&mgr);
    assert_eq!(got.len(), 1);
    // Slack-compatible body; the zone defaults to UTC.
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(
        body,
        json!({"text": "SLA breach: first_touch on account acct-9 (owner rep-3) at \
                        2026-03-02 19:00 UTC for sales_manager mgr-7. First touch missed"})
    );
    assert!(got[0].headers.get("x-handoff-signature").is_none());
}

#[tokio::test]
async fn an_alert_no_channel_carries_fails_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (vp_url, vp) = receiver(vec![]).await;
    let toml = format!(
        "[[channel]]\nname = \"vp\"\nkind = \"slack\"\nurl = \"{vp_url}\"\n\
         roles = [\"marketing_vp\"]\n"
    );
    let chans = channels(dir.path(), &toml);
    let store = store_with(&[alert("al-5", "sales_manager")]);
    let client = notify::client(&chans).unwrap();

    let r = notify::deliver_due(&store, &chans, t0(), &client)
        .await
        .unwrap();
    assert_eq!(r.failed, 1);
    assert_eq!(seen(&vp).len(), 0);
    let e = store.lock().unwrap().outbox_entry("al-5").unwrap().unwrap();
    assert_eq!(e.status, DeliveryStatus::Failed);
    assert!(e.last_error.unwrap().contains("\"sales_manager\""));
}

#[test]
fn the_secret_never_shows_in_debug_output() {
    let dir = tempfile::tempdir().unwrap();
    let chans = channels(dir.path(), &webhook_toml("http://127.0.0.1:9/x", ""));
    let debug = format!("{chans:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(debug.contains("***"), "{debug}");
    let secret = chans.channels[0].secret.as_ref().unwrap();
    assert_eq!(format!("{secret:?} {secret}"), "*** ***");
    // The file's trailing newline is not part of the secret.
    assert_eq!(secret.expose(), b"s3cret-value");
}

#[test]
fn a_secret_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    // A variable name no other test uses.
    std::env::set_var("HANDOFF_TEST_NOTIFY_SECRET_ENV", "from-env");
    let toml = "[[channel]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"http://x\"\n\
                secret_env = \"HANDOFF_TEST_NOTIFY_SECRET_ENV\"\n";
    let chans = channels(dir.path(), toml);
    assert_eq!(
        chans.channels[0].secret.as_ref().unwrap().expose(),
        b"from-env"
    );
}

fn load_error(toml: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hook.secret"), "x").unwrap();
    let path = dir.path().join("notify.toml");
    std::fs::write(&path, toml).unwrap();
    format!("{:#}", Channels::load(&path).unwrap_err())
}

#[test]
fn an_unknown_key_is_an_error_naming_file_and_line() {
    // The misspelt `role` is on line 5, column 1.
    let err = load_error(
        "max_attempts = 3\n\n[[channel]]\nname = \"a\"\nrole = [\"x\"]\nkind = \"slack\"\n\
         url = \"http://x\"\n",
    );
    assert!(err.contains("notify.toml:5:1"), "{err}");
    assert!(err.contains("unknown field `role`"), "{err}");
}

#[test]
fn bad_channels_are_errors_naming_where_and_what() {
    // A webhook without a secret: the channel table starts on line 1.
    let err = load_error("[[channel]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"http://x\"\n");
    assert!(err.contains("notify.toml:1:1"), "{err}");
    assert!(err.contains("needs secret_env"), "{err}");

    // An inline secret is refused with the reason.
    let err = load_error(
        "[[channel]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"http://x\"\nsecret = \"s\"\n",
    );
    // The value `"s"` starts at line 5, column 10.
    assert!(err.contains("notify.toml:5:10:"), "{err}");
    assert!(err.contains("never written inline"), "{err}");

    // A template using an unknown variable fails at load, not at send.
    let err = load_error(
        "\n[[channel]]\nname = \"a\"\nkind = \"slack\"\nurl = \"http://x\"\n\
         template = \"{{ acount }}\"\n",
    );
    assert!(err.contains("notify.toml:2:1"), "{err}");
    assert!(err.contains("template: undefined value"), "{err}");
    assert!(err.contains("at_local"), "{err}");

    let err = load_error("timezone = \"Mars/Olympus\"\n");
    assert!(err.contains("notify.toml:1:12"), "{err}");
}

#[tokio::test]
async fn a_users_template_overrides_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let (url, state) = receiver(vec![]).await;
    std::fs::write(
        dir.path().join("short.j2"),
        "{{ rule }}/{{ account }} -> {% for r in recipient_list %}{{ r.who }}{% endfor %}",
    )
    .unwrap();
    let toml = format!(
        "[[channel]]\nname = \"s\"\nkind = \"slack\"\nurl = \"{url}\"\n\
         template_file = \"short.j2\"\n"
    );
    let chans = channels(dir.path(), &toml);
    let store = store_with(&[alert("al-6", "sales_manager")]);
    let client = notify::client(&chans).unwrap();
    notify::deliver_due(&store, &chans, t0(), &client)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&seen(&state)[0].body).unwrap();
    assert_eq!(body["text"], "first_touch/acct-9 -> mgr-7");
}

#[tokio::test]
async fn a_retry_goes_to_every_carrying_channel_under_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let (ok_url, ok) = receiver(vec![]).await;
    let (flaky_url, flaky) = receiver(vec![502]).await;
    let toml = format!(
        "[[channel]]\nname = \"ok\"\nkind = \"slack\"\nurl = \"{ok_url}\"\n\n\
         [[channel]]\nname = \"flaky\"\nkind = \"slack\"\nurl = \"{flaky_url}\"\n"
    );
    let chans = channels(dir.path(), &toml);
    let store = store_with(&[alert("al-7", "sales_manager")]);
    let client = notify::client(&chans).unwrap();

    let r = notify::deliver_due(&store, &chans, t0(), &client)
        .await
        .unwrap();
    assert_eq!(r.retrying, 1);
    let e = store.lock().unwrap().outbox_entry("al-7").unwrap().unwrap();
    let err = e.last_error.unwrap();
    assert!(err.starts_with("channel flaky: HTTP 502"), "{err}");

    let now = t0() + chrono::TimeDelta::seconds(1);
    let r = notify::deliver_due(&store, &chans, now, &client)
        .await
        .unwrap();
    assert_eq!(r.sent, 1);
    // Both channels saw both attempts, each under the alert id.
    for state in [&ok, &flaky] {
        let keys: Vec<String> = seen(state)
            .iter()
            .map(|s| header(s, "idempotency-key").to_string())
            .collect();
        assert_eq!(keys, ["al-7", "al-7"]);
    }
}

#[tokio::test]
async fn a_metric_alert_renders_its_reading() {
    let dir = tempfile::tempdir().unwrap();
    let (url, state) = receiver(vec![]).await;
    let toml = format!("[[channel]]\nname = \"vp\"\nkind = \"slack\"\nurl = \"{url}\"\n");
    let chans = channels(dir.path(), &toml);
    let mut a = alert("al-8", "marketing_vp");
    a["kind"] = json!("metric");
    a["rule"] = json!("acceptance_low");
    a["account"] = json!(null);
    a["owner"] = json!(null);
    a["metric"] = json!({"value": 0.7, "n": 20, "period": "2026-W10"});
    a["message"] = json!("Acceptance under 75%");
    let store = store_with(&[a]);
    let client = notify::client(&chans).unwrap();
    notify::deliver_due(&store, &chans, t0(), &client)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&seen(&state)[0].body).unwrap();
    assert_eq!(
        body["text"],
        "Metric alert: acceptance_low at 2026-03-02 19:00 UTC (0.7 over 20, 2026-W10) \
         for marketing_vp mgr-7. Acceptance under 75%"
    );
}

#[tokio::test]
async fn an_unreadable_alert_fails_at_once_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (url, state) = receiver(vec![]).await;
    let toml = format!("[[channel]]\nname = \"s\"\nkind = \"slack\"\nurl = \"{url}\"\n");
    let chans = channels(dir.path(), &toml);
    let store = store_with(&[json!({"id": "al-9", "rule": "x"})]);
    let client = notify::client(&chans).unwrap();
    let r = notify::deliver_due(&store, &chans, t0(), &client)
        .await
        .unwrap();
    assert_eq!(r.failed, 1);
    assert!(seen(&state).is_empty());
    let e = store.lock().unwrap().outbox_entry("al-9").unwrap().unwrap();
    assert_eq!((e.status, e.attempts), (DeliveryStatus::Failed, 1));
    assert!(e.last_error.unwrap().contains("not an alert"));
}

fn email_toml(port: u16) -> String {
    format!(
        "[[channel]]\nname = \"mail\"\nkind = \"email\"\nsmtp_host = \"127.0.0.1\"\n\
         smtp_port = {port}\ntls = \"none\"\nfrom = \"handoff@example.com\"\n\
         to = [\"managers@example.com\", \"revops@example.com\"]\n\
         roles = [\"sales_manager\"]\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_email_reaches_a_real_smtp_server_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = smtpd(dir.path(), free_port()) else {
        return;
    };
    let chans = channels(dir.path(), &email_toml(server.port));
    let store = store_with(&[alert("al-e1", "sales_manager")]);
    let client = notify::client(&chans).unwrap();
    let r = notify::deliver_due(&store, &chans, t0(), &client)
        .await
        .unwrap();
    assert_eq!(
        r.sent,
        1,
        "{:?}",
        store.lock().unwrap().outbox_entry("al-e1")
    );
    let e = store
        .lock()
        .unwrap()
        .outbox_entry("al-e1")
        .unwrap()
        .unwrap();
    assert_eq!(e.status, DeliveryStatus::Sent);

    let files: Vec<_> = std::fs::read_dir(server.maildir.join("new"))
        .unwrap()
        .map(|f| f.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let mail = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        mail.contains("Subject: [handoff] SLA breach: first_touch on account acct-9"),
        "{mail}"
    );
    assert!(mail.contains("Message-ID: <al-e1@handoff>"), "{mail}");
    assert!(mail.contains("X-MailFrom: handoff@example.com"), "{mail}");
    assert!(
        mail.contains("X-RcptTo: managers@example.com, revops@example.com"),
        "{mail}"
    );
    // Undo quoted-printable soft line breaks before reading the text.
    let unfolded = mail.replace("=\r\n", "").replace("=\n", "");
    assert!(
        unfolded.contains(
            "SLA breach: first_touch on account acct-9 (owner rep-3) at 2026-03-02 19:00 UTC \
             for sales_manager mgr-7. First touch missed"
        ),
        "{mail}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_smtp_server_that_is_down_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on a port just freed.
    let chans = channels(dir.path(), &email_toml(free_port()));
    let store = store_with(&[alert("al-e2", "sales_manager")]);
    let client = notify::client(&chans).unwrap();
    let r = notify::deliver_due(&store, &chans, t0(), &client)
        .await
        .unwrap();
    assert_eq!(r.retrying, 1);
    let e = store
        .lock()
        .unwrap()
        .outbox_entry("al-e2")
        .unwrap()
        .unwrap();
    assert_eq!(
        e.next_attempt_at,
        Some(t0() + chrono::TimeDelta::seconds(1))
    );
    assert!(e
        .last_error
        .unwrap()
        .starts_with("channel mail: smtp 127.0.0.1:"));
}

#[test]
fn bad_email_channels_are_errors() {
    let err = load_error(
        "[[channel]]\nname = \"m\"\nkind = \"email\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\"]\n",
    );
    assert!(err.contains("notify.toml:1:1"), "{err}");
    assert!(err.contains("needs smtp_host"), "{err}");
    let err = load_error(
        "[[channel]]\nname = \"m\"\nkind = \"email\"\nsmtp_host = \"h\"\nfrom = \"a@b.c\"\n\
         to = [\"not an address\"]\n",
    );
    assert!(err.contains("address \"not an address\""), "{err}");
    let err = load_error(
        "[[channel]]\nname = \"s\"\nkind = \"slack\"\nurl = \"http://x\"\nto = [\"d@e.f\"]\n",
    );
    assert!(err.contains("belong to email channels only"), "{err}");
    let err = load_error(
        "[[channel]]\nname = \"m\"\nkind = \"email\"\nsmtp_host = \"h\"\nfrom = \"a@b.c\"\n\
         to = [\"d@e.f\"]\nusername = \"u\"\n",
    );
    assert!(err.contains("needs both username and password"), "{err}");
}

#[test]
fn an_smtp_password_never_shows_in_debug_output() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("smtp.pass"), "pa55word").unwrap();
    let toml = format!(
        "{}username = \"u\"\npassword_file = \"smtp.pass\"\n",
        email_toml(25)
    );
    let chans = channels(dir.path(), &toml);
    let debug = format!("{chans:?}");
    assert!(!debug.contains("pa55word"), "{debug}");
    let target = chans.channels[0].email.as_ref().unwrap();
    assert_eq!(target.password.as_ref().unwrap().expose(), b"pa55word");
}

#[tokio::test]
async fn an_alert_another_sender_claimed_waits_for_the_end_of_its_lease() {
    let dir = tempfile::tempdir().unwrap();
    let (url, state) = receiver(vec![]).await;
    let chans = channels(dir.path(), &webhook_toml(&url, "timeout_secs = 3"));
    // One webhook channel with a 3-second timeout: a lease of 3 + 5 = 8 s.
    assert_eq!(notify::lease(&chans), std::time::Duration::from_secs(8));
    let store = store_with(&[alert("al-1", "sales_manager")]);
    let client = notify::client(&chans).unwrap();

    // Another sender (say a second service) claimed it until t0 + 8 s and
    // then died before marking it.
    let until = t0() + chrono::TimeDelta::seconds(8);
    let claimed = store.lock().unwrap().outbox_claim(t0(), until, 10).unwrap();
    assert_eq!(claimed.len(), 1);
    let just_before = until - chrono::TimeDelta::milliseconds(1);
    let r = notify::deliver_due(&store, &chans, just_before, &client)
        .await
        .unwrap();
    assert_eq!((r.taken, seen(&state).len()), (0, 0));

    // When the lease ends the entry is due again, and sent once.
    let r = notify::deliver_due(&store, &chans, until, &client)
        .await
        .unwrap();
    assert_eq!((r.taken, r.sent, seen(&state).len()), (1, 1, 1));
    let entry = store.lock().unwrap().outbox_entry("al-1").unwrap().unwrap();
    assert_eq!((entry.status, entry.attempts), (DeliveryStatus::Sent, 1));
    assert_eq!(entry.next_attempt_at, None);
}
