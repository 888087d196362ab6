//! The outbox on SQLite. Instants are RFC 3339 text in UTC (`+00:00`),
//! which sorts as time does.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::Sqlite;
use crate::store::{DeliveryStatus, NewAlert, OutboxEntry};

const COLUMNS: &str =
    "alert_id, alert, created_at, status, attempts, next_attempt_at, last_error, sent_at";

/// The condition of a due entry, `?1` being now.
const DUE: &str = "status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?1)";

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

/// Inserts alerts not in the outbox yet, inside the caller's transaction;
/// returns how many were new.
pub(super) fn insert_alerts(
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

pub(super) fn record(store: &mut Sqlite, alerts: &[NewAlert], now: DateTime<Utc>) -> Result<usize> {
    let tx = store.immediate()?;
    let recorded = insert_alerts(&tx, alerts, now)?;
    tx.commit().context("committing alerts to the outbox")?;
    Ok(recorded)
}

pub(super) fn due(conn: &Connection, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxEntry>> {
    let sql =
        format!("SELECT {COLUMNS} FROM outbox WHERE {DUE} ORDER BY created_at, alert_id LIMIT ?2");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![now.to_rfc3339(), limit as i64], entry)?;
    rows.map(|r| r?.parse()).collect()
}

/// One statement under the write lock: no other writer runs between the
/// choice of the due entries and the move of their next attempt.
pub(super) fn claim(
    store: &mut Sqlite,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<OutboxEntry>> {
    let sql = format!(
        "UPDATE outbox SET next_attempt_at = ?3 WHERE alert_id IN \
         (SELECT alert_id FROM outbox WHERE {DUE} ORDER BY created_at, alert_id LIMIT ?2) \
         RETURNING {COLUMNS}"
    );
    let tx = store.immediate()?;
    let claimed = {
        let mut stmt = tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![now.to_rfc3339(), limit as i64, until.to_rfc3339()],
            entry,
        )?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    tx.commit().context("committing claimed outbox entries")?;
    claimed.into_iter().map(OutboxRow::parse).collect()
}

pub(super) fn all(conn: &Connection) -> Result<Vec<OutboxEntry>> {
    let sql = format!("SELECT {COLUMNS} FROM outbox ORDER BY created_at DESC, alert_id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], entry)?;
    rows.map(|r| r?.parse()).collect()
}

pub(super) fn entry_of(conn: &Connection, alert_id: &str) -> Result<Option<OutboxEntry>> {
    let sql = format!("SELECT {COLUMNS} FROM outbox WHERE alert_id = ?1");
    let row = conn.query_row(&sql, [alert_id], entry).optional()?;
    row.map(OutboxRow::parse).transpose()
}

pub(super) fn mark_sent(conn: &Connection, alert_id: &str, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = ?2, \
         last_error = NULL, next_attempt_at = NULL WHERE alert_id = ?1",
        params![alert_id, now.to_rfc3339()],
    )?;
    Ok(())
}

pub(super) fn mark_attempt_failed(
    conn: &Connection,
    alert_id: &str,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<()> {
    let status = DeliveryStatus::after_failure(retry_at).as_str();
    conn.execute(
        "UPDATE outbox SET status = ?2, attempts = attempts + 1, last_error = ?3, \
         next_attempt_at = ?4 WHERE alert_id = ?1",
        params![alert_id, status, error, retry_at.map(|t| t.to_rfc3339())],
    )?;
    Ok(())
}

pub(super) fn retract(store: &mut Sqlite, alert_ids: &[String], reason: &str) -> Result<usize> {
    let tx = store.immediate()?;
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
