//! The weekly review on the policy's schedule, against a real SMTP server
//! (a local aiosmtpd, started here) and a real Slack-compatible receiver,
//! on a hand-set clock: sent at the slot's instant, not a second before,
//! once, and not again after a restart.
//!
//! The slot is Monday 08:00 in New York. On Monday 9 March 2026 summer time
//! has begun (the 8th), so 08:00 EDT is 12:00Z; the slot before, Monday 2
//! March 08:00 EST, is 13:00Z. The review sent on the 9th is that of ISO
//! week 10, 2 to 8 March.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use axum::extract::State;
use axum::Router;
use chrono::{DateTime, Utc};
use handoff::notify::Channels;
use handoff::replay::DEFAULT_POLICY;
use handoff::review::schedule::{dedupe_key, ReviewTask, StepOutcome};
use handoff::serve::clock::{Clock, ManualClock};
use handoff::serve::{AppState, ServeConfig};
use handoff::store::Store;

mod smtp;
use smtp::{free_port, mails, smtpd};

fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// The slot of Monday 9 March 2026.
const SLOT: &str = "2026-03-09T12:00:00Z";

type Seen = Arc<Mutex<Vec<String>>>;

async fn record(State(seen): State<Seen>, body: String) -> &'static str {
    seen.lock().unwrap().push(body);
    "ok"
}

/// A Slack-compatible receiver recording each body; returns its URL.
async fn slack() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new().fallback(record).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), seen)
}

/// The database (the shared fixture), the policy with the Monday slot and
/// a notify file with an email channel for the CMO and a Slack channel for
/// the sales VP.
fn setup(dir: &Path, smtp_port: u16, slack_url: &str) -> (ServeConfig, PathBuf) {
    let events = dir.join("h.jsonl");
    std::fs::write(&events, include_str!("fixtures/events/acme-breach.jsonl")).unwrap();
    let db = dir.join("h.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["import", "--db"])
        .arg(&db)
        .arg(&events)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from = "# schedule = \"mon 08:00\"";
    assert!(DEFAULT_POLICY.contains(from), "the default policy changed");
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        DEFAULT_POLICY.replace(from, "schedule = \"mon 08:00\""),
    )
    .unwrap();
    let notify = dir.join("notify.toml");
    std::fs::write(
        &notify,
        format!(
            "timezone = \"America/New_York\"\n\
             dashboard_url = \"https://dash.example.com/review\"\n\
             [[channel]]\nname = \"mail\"\nkind = \"email\"\nsmtp_host = \"127.0.0.1\"\n\
             smtp_port = {smtp_port}\ntls = \"none\"\nfrom = \"handoff@example.com\"\n\
             to = [\"cmo@example.com\"]\nroles = [\"cmo\"]\n\
             [[channel]]\nname = \"chat\"\nkind = \"slack\"\nurl = \"{slack_url}\"\n\
             roles = [\"sales_vp\"]\n\
             [[channel]]\nname = \"alerts-only\"\nkind = \"slack\"\nurl = \"{slack_url}\"\n\
             roles = [\"sales_manager\"]\n"
        ),
    )
    .unwrap();
    let config = ServeConfig {
        db: handoff::store::Location::Sqlite(db),
        policy: Some(policy),
        max_body_bytes: 1 << 20,
    };
    (config, notify)
}

/// One test's world: a fresh database, the policy and notify files, a
/// Slack receiver, a free port for the SMTP server and a hand-set clock.
struct Rig {
    dir: tempfile::TempDir,
    port: u16,
    chat: Seen,
    config: ServeConfig,
    notify: PathBuf,
    clock: Arc<ManualClock>,
}

async fn rig(start: &str) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (url, chat) = slack().await;
    let (config, notify) = setup(dir.path(), port, &url);
    Rig {
        dir,
        port,
        chat,
        config,
        notify,
        clock: Arc::new(ManualClock::new(t(start))),
    }
}

impl Rig {
    /// The SMTP server on the rig's port, or `None` without aiosmtpd.
    fn smtpd(&self) -> Option<smtp::Smtpd> {
        smtpd(self.dir.path(), self.port)
    }

    /// A service over the rig's database, and its review task.
    fn task(&self) -> ReviewTask {
        let state = AppState::open_with_clock(&self.config, self.clock.clone()).unwrap();
        ReviewTask::new(state, Channels::load(&self.notify).unwrap()).unwrap()
    }

    fn chat_count(&self) -> usize {
        self.chat.lock().unwrap().len()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_review_goes_out_at_the_slot_once_and_not_again_after_a_restart() {
    let rig = rig("2026-03-08T12:00:00Z").await;
    let Some(server) = rig.smtpd() else {
        return;
    };
    let (clock, review) = (rig.clock.clone(), rig.task());

    // Sunday, and one second before the slot: the last slot (2 March) is
    // over a day ago, nothing is due.
    let not_due = StepOutcome::NotDue { next: t(SLOT) };
    assert_eq!(review.step(clock.now()).await.unwrap(), not_due);
    clock.set(t("2026-03-09T11:59:59Z"));
    assert_eq!(review.step(clock.now()).await.unwrap(), not_due);
    assert!(mails(&server).is_empty() && rig.chat_count() == 0);

    // At the slot: week 10 to both carrying channels, not to the channel
    // that carries only alerts' roles.
    clock.set(t(SLOT));
    assert_eq!(
        review.step(clock.now()).await.unwrap(),
        StepOutcome::Sent {
            week: "2026-W10".into(),
            sent: vec!["mail".into(), "chat".into()],
            failed: vec![],
        }
    );
    let got = mails(&server);
    assert_eq!(got.len(), 1);
    let mail = got[0].replace("=\r\n", "").replace("=\n", "");
    assert!(
        mail.contains("Message-ID: <review-2026-W10.mail@handoff>"),
        "{mail}"
    );
    assert!(mail.contains("X-RcptTo: cmo@example.com"), "{mail}");
    assert!(
        mail.contains("Subject: [handoff] Weekly revenue review 2026-W10: "),
        "{mail}"
    );
    assert!(mail.contains("multipart/alternative"), "{mail}");
    assert!(mail.contains("Content-Type: text/plain"), "{mail}");
    assert!(mail.contains("Content-Type: text/html"), "{mail}");
    assert!(
        mail.contains("<svg"),
        "the HTML part carries its charts inline"
    );
    let bodies = rig.chat.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    let text: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    let text = text["text"].as_str().unwrap();
    assert!(
        text.starts_with("*Weekly revenue review 2026-W10*"),
        "{text}"
    );
    assert!(
        text.ends_with("<https://dash.example.com/review|Open the dashboard>"),
        "{text}"
    );
    // acme's first touch came half an hour late in week 10.
    assert!(
        text.contains("• Missed: first-touch (sales) 0.0% against >= 100%"),
        "{text}"
    );

    // The same slot again: already sent, nothing new.
    clock.set(t("2026-03-09T12:00:30Z"));
    assert_eq!(
        review.step(clock.now()).await.unwrap(),
        StepOutcome::AlreadySent {
            week: "2026-W10".into()
        }
    );

    // A restart: a new service on the same file finds the dedupe keys.
    drop(review);
    clock.set(t("2026-03-09T12:05:00Z"));
    let restarted = rig.task();
    assert_eq!(
        restarted.step(clock.now()).await.unwrap(),
        StepOutcome::AlreadySent {
            week: "2026-W10".into()
        }
    );
    assert_eq!(mails(&server).len(), 1);
    assert_eq!(rig.chat_count(), 1);
    let store = Store::open_at(&rig.config.db).unwrap();
    assert!(store
        .meta(&dedupe_key("2026-W10", "mail"))
        .unwrap()
        .is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_channel_that_failed_is_retried_and_the_others_are_not_resent() {
    // Nothing listens on the SMTP port yet.
    let rig = rig(SLOT).await;
    let (clock, review) = (rig.clock.clone(), rig.task());
    let StepOutcome::Sent { sent, failed, .. } = review.step(clock.now()).await.unwrap() else {
        panic!("the slot has come");
    };
    assert_eq!(sent, ["chat"]);
    assert_eq!(failed.len(), 1);
    assert!(failed[0].starts_with("mail: smtp 127.0.0.1:"), "{failed:?}");

    // The server comes up; a minute later only the mail is sent.
    let Some(server) = rig.smtpd() else {
        return;
    };
    clock.set(t("2026-03-09T12:01:00Z"));
    assert_eq!(
        review.step(clock.now()).await.unwrap(),
        StepOutcome::Sent {
            week: "2026-W10".into(),
            sent: vec!["mail".into()],
            failed: vec![],
        }
    );
    assert_eq!(mails(&server).len(), 1);
    assert_eq!(rig.chat_count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_running_task_sends_on_the_injected_clock() {
    // The wall clock is far from March 2026: only the injected one can
    // make the slot come.
    let rig = rig("2026-03-09T11:59:00Z").await;
    let Some(server) = rig.smtpd() else {
        return;
    };
    let (clock, mut review) = (rig.clock.clone(), rig.task());
    review.poll = StdDuration::from_millis(20);
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let running = tokio::spawn(review.run(stopped));

    tokio::time::sleep(StdDuration::from_millis(200)).await;
    assert!(mails(&server).is_empty(), "nothing before the slot");
    clock.set(t(SLOT));
    for _ in 0..500 {
        if !mails(&server).is_empty() && rig.chat_count() > 0 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    // Many more steps pass; still one of each.
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    assert_eq!(mails(&server).len(), 1);
    assert_eq!(rig.chat_count(), 1);
    let _ = stop.send(());
    running.await.unwrap();
}
