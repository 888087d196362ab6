//! The alert outbox: alerts waiting for delivery, and how delivery went.
//!
//! An *outbox entry* is one alert under its stable id (the dedupe key).
//! Entries are written in the same transaction as the events whose state
//! change raised them ([`Store::append_with_alerts`]) or, for alerts raised
//! by time passing, on their own ([`Store::outbox_record`]). A sender picks
//! the due ones ([`Store::outbox_due`]) and marks each sent, to retry, or
//! failed. An alert already in the outbox is never inserted again.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use handoff_core::event::Event;
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use super::{append_in, AppendOutcome, Provenance, Store};

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
    fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Historical => "historical",
            DeliveryStatus::Retracted => "retracted",
        }
    }

    fn parse(text: &str) -> Result<DeliveryStatus> {
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

const COLUMNS: &str =
    "alert_id, alert, created_at, status, attempts, next_attempt_at, last_error, sent_at";

fn instant(text: Option<String>) -> Result<Option<DateTime<Utc>>> {
    text.map(|t| {
        DateTime::parse_from_rfc3339(&t)
            .map(|d| d.with_timezone(&Utc))
            .with_context(|| format!("outbox instant {t:?}"))
    })
    .transpose()
}

fn entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        alert_id: row.get(0)?,
        alert: row.get(1)?,
        created_at: row.get(2)?,
        status: row.get(3)?,
        attempts: row.get(4)?,
        next_attempt_at: row.get(5)?,
        last_error: row.get(6)?,
        sent_at: row.get(7)?,
    })
}

/// A row before its instants and status are parsed.
struct OutboxRow {
    alert_id: String,
    alert: String,
    created_at: String,
    status: String,
    attempts: u32,
    next_attempt_at: Option<String>,
    last_error: Option<String>,
    sent_at: Option<String>,
}

impl OutboxRow {
    fn parse(self) -> Result<OutboxEntry> {
        Ok(OutboxEntry {
            created_at: instant(Some(self.created_at))?.context("created_at")?,
            status: DeliveryStatus::parse(&self.status)?,
            next_attempt_at: instant(self.next_attempt_at)?,
            sent_at: instant(self.sent_at)?,
            alert_id: self.alert_id,
            alert: self.alert,
            attempts: self.attempts,
            last_error: self.last_error,
        })
    }
}

fn insert_alerts(
    tx: &rusqlite::Transaction<'_>,
    alerts: &[NewAlert],
    now: DateTime<Utc>,
) -> Result<usize> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO outbox (alert_id, alert, created_at, status, next_attempt_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(alert_id) DO NOTHING",
    )?;
    let mut inserted = 0;
    let now = now.to_rfc3339();
    for a in alerts {
        let held = a.not_before.map(|t| t.to_rfc3339());
        inserted += insert.execute(params![a.id, a.json, now, a.status.as_str(), held])?;
    }
    Ok(inserted)
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
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcome = append_in(&tx, events, from)?;
        let recorded = insert_alerts(&tx, alerts, now)?;
        tx.commit().context("committing events and their alerts")?;
        Ok((outcome, recorded))
    }

    /// Records alerts raised by time passing; returns how many were new.
    pub fn outbox_record(&mut self, alerts: &[NewAlert], now: DateTime<Utc>) -> Result<usize> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let recorded = insert_alerts(&tx, alerts, now)?;
        tx.commit().context("committing alerts to the outbox")?;
        Ok(recorded)
    }

    /// Pending entries whose next attempt is due at `now`, oldest first.
    pub fn outbox_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxEntry>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM outbox WHERE status = 'pending' \
             AND (next_attempt_at IS NULL OR next_attempt_at <= ?1) \
             ORDER BY created_at, alert_id LIMIT ?2"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![now.to_rfc3339(), limit as i64], entry)?;
        rows.map(|r| r?.parse()).collect()
    }

    /// Every entry, newest first.
    pub fn outbox_all(&self) -> Result<Vec<OutboxEntry>> {
        let sql = format!("SELECT {COLUMNS} FROM outbox ORDER BY created_at DESC, alert_id");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([], entry)?;
        rows.map(|r| r?.parse()).collect()
    }

    /// One entry by alert id.
    pub fn outbox_entry(&self, alert_id: &str) -> Result<Option<OutboxEntry>> {
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE alert_id = ?1");
        let row = self.conn.query_row(&sql, [alert_id], entry).optional()?;
        row.map(OutboxRow::parse).transpose()
    }

    /// Marks an entry delivered.
    pub fn outbox_mark_sent(&mut self, alert_id: &str, now: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = ?2, \
             last_error = NULL, next_attempt_at = NULL WHERE alert_id = ?1",
            params![alert_id, now.to_rfc3339()],
        )?;
        Ok(())
    }

    /// Records a failed attempt: to retry at `retry_at`, or given up when
    /// `retry_at` is `None`.
    pub fn outbox_mark_attempt_failed(
        &mut self,
        alert_id: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let status = if retry_at.is_some() {
            "pending"
        } else {
            "failed"
        };
        self.conn.execute(
            "UPDATE outbox SET status = ?2, attempts = attempts + 1, last_error = ?3, \
             next_attempt_at = ?4 WHERE alert_id = ?1",
            params![alert_id, status, error, retry_at.map(|t| t.to_rfc3339())],
        )?;
        Ok(())
    }

    /// Retracts pending entries that a replay no longer raises: each is kept
    /// as `retracted` with `reason`, and never sent. Entries already sent,
    /// failed or historical are left as they are. Returns how many changed.
    pub fn outbox_retract(&mut self, alert_ids: &[String], reason: &str) -> Result<usize> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut changed = 0;
        {
            let mut update = tx.prepare_cached(
                "UPDATE outbox SET status = 'retracted', last_error = ?2, next_attempt_at = NULL \
                 WHERE alert_id = ?1 AND status = 'pending'",
            )?;
            for id in alert_ids {
                changed += update.execute(params![id, reason])?;
            }
        }
        tx.commit().context("committing retracted alerts")?;
        Ok(changed)
    }
}
