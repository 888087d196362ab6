//! Notifications: the sender that delivers the alert outbox to channels.
//!
//! A *delivery step* ([`deliver_due`]) claims the outbox entries due at
//! `now`, one at a time, each for a *lease* long enough to send it
//! ([`lease`]): a second service sending from the same database passes a
//! claimed entry over, and should this one die while sending, the entry
//! falls due again when the lease ends. It renders each alert for every channel that *carries* it (one of its
//! recipient roles is in the channel's `roles`) and POSTs it. An *attempt*
//! succeeds when every carrying channel answered 2xx; the entry is then
//! sent. Otherwise the entry waits for its next attempt, `backoff` later
//! (1 s, 2 s, 4 s, ... at most 5 minutes), until `max_attempts` failed
//! attempts, when it is given up (failed). Every request carries the alert
//! id as `Idempotency-Key`, the dedupe key: a retry may reach a channel
//! that already had the alert, and the receiver drops the repeat. An alert
//! no channel carries, or whose JSON cannot be read, fails at once with the
//! reason, rather than being dropped. Email channels send one message per
//! attempt over SMTP instead of a POST (see [`email`]).

pub mod config;
pub mod email;
mod render;
pub mod sign;
pub mod slack;
pub mod webhook;

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, TimeDelta, Utc};
use handoff_core::engine::{Alert, Recipient};

pub use config::{Channel, ChannelKind, Channels, Secret};
pub use sign::verify;

use crate::store::{OutboxEntry, Store};

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Added to a lease beyond the time its requests may take: the store
/// updates around them.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// How long a claimed entry is held for its attempt: every channel may
/// take its whole timeout, one after the other, plus a margin.
pub fn lease(channels: &Channels) -> Duration {
    let requests = u32::try_from(channels.channels.len().max(1)).unwrap_or(u32::MAX);
    Duration::from_secs(channels.timeout_secs).saturating_mul(requests) + LEASE_MARGIN
}

/// How many entries one delivery step took and where they ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Due entries taken from the outbox.
    pub taken: usize,
    /// Delivered to every carrying channel.
    pub sent: usize,
    /// Failed this attempt, to be retried.
    pub retrying: usize,
    /// Given up (or undeliverable).
    pub failed: usize,
}

/// What one attempt at one entry came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Every carrying channel answered 2xx.
    Delivered,
    /// Some channel failed; worth retrying.
    Failed(String),
    /// Retrying cannot help (no channel carries it, or unreadable JSON).
    Undeliverable(String),
}

/// The wait after the `failed`-th failed attempt (1-based): 2^(failed-1)
/// seconds, at most [`MAX_BACKOFF`].
pub fn backoff(failed: u32) -> Duration {
    let exp = failed.saturating_sub(1).min(31);
    Duration::from_secs(1u64 << exp).min(MAX_BACKOFF)
}

/// An HTTP client with the configured per-request timeout.
pub fn client(channels: &Channels) -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(channels.timeout_secs))
        .build()?)
}

/// One delivery step: claims and delivers the entries due at `now`, one
/// at a time (up to the configured batch), and records each outcome. Store
/// calls are short and hold the lock only around themselves, never across
/// a request.
pub async fn deliver_due(
    store: &Mutex<Store>,
    channels: &Channels,
    now: DateTime<Utc>,
    client: &reqwest::Client,
) -> Result<DeliveryReport> {
    let started = std::time::Instant::now();
    let mut report = DeliveryReport::default();
    while report.taken < channels.batch {
        // The lease runs from the time of the claim, not of the step, so a
        // slow step does not claim an entry whose lease is over already.
        let held =
            TimeDelta::from_std(started.elapsed() + lease(channels)).unwrap_or(TimeDelta::MAX);
        let until = now
            .checked_add_signed(held)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let Some(entry) = lock(store)?.outbox_claim(now, until, 1)?.pop() else {
            break;
        };
        report.taken += 1;
        let attempt = attempt(channels, client, &entry, now).await;
        let outcome = record(&mut *lock(store)?, channels, &entry, &attempt, now)?;
        match outcome {
            Recorded::Sent => report.sent += 1,
            Recorded::Retry(_) => report.retrying += 1,
            Recorded::Failed => report.failed += 1,
        }
    }
    Ok(report)
}

fn lock(store: &Mutex<Store>) -> Result<std::sync::MutexGuard<'_, Store>> {
    store
        .lock()
        .map_err(|_| anyhow::anyhow!("the store lock is poisoned by an earlier panic"))
}

/// Where [`record`] left an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Sent,
    /// Pending again, next attempt at this instant.
    Retry(DateTime<Utc>),
    Failed,
}

/// Records an attempt's outcome on the entry: sent, pending with the next
/// attempt `backoff` after `now`, or failed after `max_attempts`.
pub fn record(
    store: &mut Store,
    channels: &Channels,
    entry: &OutboxEntry,
    attempt: &Attempt,
    now: DateTime<Utc>,
) -> Result<Recorded> {
    let id = entry.alert_id.as_str();
    let failed = entry.attempts + 1;
    match attempt {
        Attempt::Delivered => {
            store.outbox_mark_sent(id, now)?;
            tracing::info!(alert_id = id, attempt = failed, "alert sent");
            Ok(Recorded::Sent)
        }
        Attempt::Undeliverable(why) => {
            store.outbox_mark_attempt_failed(id, why, None)?;
            tracing::warn!(alert_id = id, error = %why, "alert undeliverable");
            Ok(Recorded::Failed)
        }
        Attempt::Failed(why) if failed >= channels.max_attempts => {
            store.outbox_mark_attempt_failed(id, why, None)?;
            tracing::warn!(alert_id = id, attempt = failed, error = %why, "alert given up");
            Ok(Recorded::Failed)
        }
        Attempt::Failed(why) => {
            // `backoff` is at most 300 s, so the conversion cannot fail.
            let wait = TimeDelta::from_std(backoff(failed)).unwrap_or(TimeDelta::MAX);
            let retry_at = now + wait;
            store.outbox_mark_attempt_failed(id, why, Some(retry_at))?;
            tracing::warn!(alert_id = id, attempt = failed, %retry_at, error = %why,
                "alert delivery failed; will retry");
            Ok(Recorded::Retry(retry_at))
        }
    }
}

/// Sends one entry to every channel that carries it. Channels are tried in
/// order; all are tried even after one fails, so each error is reported.
pub async fn attempt(
    channels: &Channels,
    client: &reqwest::Client,
    entry: &OutboxEntry,
    now: DateTime<Utc>,
) -> Attempt {
    let (alert, json) = match parse_alert(&entry.alert) {
        Ok(parsed) => parsed,
        Err(why) => return Attempt::Undeliverable(why),
    };
    let mut carried_any = false;
    let mut errors = Vec::new();
    for channel in &channels.channels {
        let carried: Vec<Recipient> = alert
            .recipients
            .iter()
            .filter(|r| channel.carries(&r.role))
            .cloned()
            .collect();
        if carried.is_empty() {
            continue;
        }
        carried_any = true;
        if let Err(why) = send(channels, client, channel, &alert, &json, &carried, now).await {
            errors.push(format!("channel {}: {why}", channel.name));
        }
    }
    if !carried_any {
        let roles: Vec<&str> = alert.recipients.iter().map(|r| r.role.as_str()).collect();
        return Attempt::Undeliverable(format!(
            "no configured channel carries the recipient roles {roles:?}"
        ));
    }
    if errors.is_empty() {
        Attempt::Delivered
    } else {
        Attempt::Failed(errors.join("; "))
    }
}

fn parse_alert(text: &str) -> std::result::Result<(Alert, serde_json::Value), String> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("the alert JSON is unreadable: {e}"))?;
    let alert = serde_json::from_value(json.clone())
        .map_err(|e| format!("the alert JSON is not an alert: {e}"))?;
    Ok((alert, json))
}

/// Renders and POSTs the alert to one channel; `Err` says why it failed.
async fn send(
    channels: &Channels,
    client: &reqwest::Client,
    channel: &Channel,
    alert: &Alert,
    json: &serde_json::Value,
    carried: &[Recipient],
    now: DateTime<Utc>,
) -> std::result::Result<(), String> {
    let env = &channels.templates;
    let text = render::render(
        env,
        channel.template_name(),
        alert,
        carried,
        channels.timezone,
    )
    .map_err(|e| format!("template: {e}"))?;
    let body = match (channel.kind, &channel.email) {
        (ChannelKind::Email, Some(target)) => {
            let subject_name = format!("{}{}", channel.name, render::SUBJECT_SUFFIX);
            let subject = render::render(env, &subject_name, alert, carried, channels.timezone)
                .map_err(|e| format!("subject template: {e}"))?;
            let timeout = Duration::from_secs(channels.timeout_secs);
            return email::send(target, &alert.id, &subject, &text, timeout).await;
        }
        (ChannelKind::Email, None) => return Err("email channel without a server".into()),
        (ChannelKind::Slack, _) => slack::body(&text),
        (ChannelKind::Webhook, _) => webhook::body(&channel.name, &text, json),
    };
    post(client, channel, &alert.id, body, now).await
}

/// POSTs a JSON `body` to a Slack or webhook channel under the dedupe key
/// `key` (the Idempotency-Key), signed when the channel has a secret;
/// `Err` says why it failed, never naming the URL.
pub async fn post(
    client: &reqwest::Client,
    channel: &Channel,
    key: &str,
    body: Vec<u8>,
    now: DateTime<Utc>,
) -> std::result::Result<(), String> {
    let mut request = client
        .post(&channel.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(sign::IDEMPOTENCY_HEADER, key);
    if let Some(secret) = &channel.secret {
        let timestamp = now.timestamp();
        request = request
            .header(sign::TIMESTAMP_HEADER, timestamp.to_string())
            .header(
                sign::SIGNATURE_HEADER,
                sign::sign(secret.expose(), timestamp, &body),
            );
    }
    // Errors drop the URL: a Slack hook's URL is itself a credential.
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        let text = response.text().await.unwrap_or_default();
        let snippet: String = text.chars().take(200).collect();
        Err(format!("HTTP {status}: {snippet}"))
    }
}
