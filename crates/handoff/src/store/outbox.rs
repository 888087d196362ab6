//! The alert outbox: alerts waiting for delivery, and how delivery went.
//!
//! An *outbox entry* is one alert under its stable id (the dedupe key).
//! Entries are written in the same transaction as the events whose state
//! change raised them ([`Store::append_with_alerts`]) or, for alerts raised
//! by time passing, on their own ([`Store::outbox_record`]). A sender
//! *claims* due ones ([`Store::outbox_claim`]): each claimed entry's next
//! attempt moves to the end of a *lease*, so that another sender on the
//! same database (a second service) passes it over while it is being sent;
//! the sender then marks it sent, to retry, or failed. Should the sender
//! die first, the entry falls due again when the lease ends. On PostgreSQL
//! the claim locks the rows it takes and skips rows another sender has
//! locked (`FOR UPDATE SKIP LOCKED`); SQLite lets one writer at a time
//! claim. An alert already in the outbox is never inserted again.

use anyhow::Result;
use chrono::{DateTime, Utc};
use handoff_core::event::Event;
use serde::Serialize;

use super::{prepare, AppendOutcome, Provenance, Store};

/// Where an alert's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for the sender, or for its next attempt.
    Pending,
    /// Delivered to every channel.
    Sent,
    /// Given up after the last retry.
    Failed,
    /// Raised for a time before the service went live: kept, never sent.
    Historical,
    /// Made moot before it was sent (a late event showed the breach never
    /// happened): kept with the reason, never sent.
    Retracted,
}

impl DeliveryStatus {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Historical => "historical",
            DeliveryStatus::Retracted => "retracted",
        }
    }

    /// The status after a failed attempt: pending when a retry is due,
    /// else failed (given up).
    pub(super) fn after_failure(retry_at: Option<DateTime<Utc>>) -> DeliveryStatus {
        match retry_at {
            Some(_) => DeliveryStatus::Pending,
            None => DeliveryStatus::Failed,
        }
    }

    pub(super) fn parse(text: &str) -> Result<DeliveryStatus> {
        Ok(match text {
            "pending" => DeliveryStatus::Pending,
            "sent" => DeliveryStatus::Sent,
            "failed" => DeliveryStatus::Failed,
            "historical" => DeliveryStatus::Historical,
            "retracted" => DeliveryStatus::Retracted,
            other => anyhow::bail!("unknown delivery status {other:?} in the outbox"),
        })
    }
}

/// An alert to record: its id (the dedupe key), its JSON and its status.
#[derive(Debug, Clone)]
pub struct NewAlert {
    pub id: String,
    pub json: String,
    pub status: DeliveryStatus,
    /// Not sent before this instant: a notice held until its recipient's
    /// working hours, or a later step of an escalation chain. `None`: at once.
    pub not_before: Option<DateTime<Utc>>,
}

/// One outbox entry as stored.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxEntry {
    pub alert_id: String,
    /// The alert's JSON.
    pub alert: String,
    pub created_at: DateTime<Utc>,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Appends events and records the alerts their state change raised, in
    /// one transaction: either both are stored or neither.
    pub fn append_with_alerts(
        &mut self,
        events: &[Event],
        from: &Provenance,
        alerts: &[NewAlert],
        now: DateTime<Utc>,
    ) -> Result<(AppendOutcome, usize)> {
        let rows = prepare(events)?;
        self.backend.append(&rows, from, alerts, now)
    }

    /// Records alerts raised by time passing; returns how many were new.
    pub fn outbox_record(&mut self, alerts: &[NewAlert], now: DateTime<Utc>) -> Result<usize> {
        self.backend.outbox_record(alerts, now)
    }

    /// Pending entries whose next attempt is due at `now`, oldest first.
    pub fn outbox_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxEntry>> {
        self.backend.outbox_due(now, limit)
    }

    /// Claims up to `limit` entries due at `now`, oldest first, for
    /// sending: each one's next attempt moves to `until` (the end of the
    /// lease), so no other sender takes it before then. The entries are
    /// returned as claimed, `next_attempt_at` = `until`. Mark each sent or
    /// failed before `until`.
    pub fn outbox_claim(
        &mut self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>> {
        let mut claimed = self.backend.outbox_claim(now, until, limit)?;
        claimed.sort_by(|a, b| (a.created_at, &a.alert_id).cmp(&(b.created_at, &b.alert_id)));
        Ok(claimed)
    }

    /// Every entry, newest first.
    pub fn outbox_all(&self) -> Result<Vec<OutboxEntry>> {
        self.backend.outbox_all()
    }

    /// One entry by alert id.
    pub fn outbox_entry(&self, alert_id: &str) -> Result<Option<OutboxEntry>> {
        self.backend.outbox_entry(alert_id)
    }

    /// Marks an entry delivered.
    pub fn outbox_mark_sent(&mut self, alert_id: &str, now: DateTime<Utc>) -> Result<()> {
        self.backend.outbox_mark_sent(alert_id, now)
    }

    /// Records a failed attempt: to retry at `retry_at`, or given up when
    /// `retry_at` is `None`.
    pub fn outbox_mark_attempt_failed(
        &mut self,
        alert_id: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        self.backend
            .outbox_mark_attempt_failed(alert_id, error, retry_at)
    }

    /// Retracts pending entries that a replay no longer raises: each is kept
    /// as `retracted` with `reason`, and never sent. Entries already sent,
    /// failed or historical are left as they are. Returns how many changed.
    pub fn outbox_retract(&mut self, alert_ids: &[String], reason: &str) -> Result<usize> {
        self.backend.outbox_retract(alert_ids, reason)
    }
}
