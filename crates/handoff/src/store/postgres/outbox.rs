//! The outbox on PostgreSQL. Instants are `timestamptz` (microseconds).

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use tokio_postgres::{GenericClient, Row};

use crate::store::{DeliveryStatus, NewAlert, OutboxEntry};

const COLUMNS: &str =
    "alert_id, alert, created_at, status, attempts, next_attempt_at, last_error, sent_at";

/// The condition of a due entry, `$1` being now.
const DUE: &str = "status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= $1)";

fn entry(row: &Row) -> Result<OutboxEntry> {
    let status: &str = row.get(3);
    let attempts: i32 = row.get(4);
    Ok(OutboxEntry {
        alert_id: row.get(0),
        alert: row.get(1),
        created_at: row.get(2),
        status: DeliveryStatus::parse(status)?,
        attempts: attempts.try_into().context("outbox attempts")?,
        next_attempt_at: row.get(5),
        last_error: row.get(6),
        sent_at: row.get(7),
    })
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Inserts alerts not in the outbox yet; returns how many were new.
pub(super) async fn insert_alerts<C: GenericClient>(
    client: &C,
    alerts: &[NewAlert],
    now: DateTime<Utc>,
) -> Result<usize> {
    if alerts.is_empty() {
        return Ok(0);
    }
    let ids: Vec<&str> = alerts.iter().map(|a| a.id.as_str()).collect();
    let jsons: Vec<&str> = alerts.iter().map(|a| a.json.as_str()).collect();
    let statuses: Vec<&str> = alerts.iter().map(|a| a.status.as_str()).collect();
    let held: Vec<Option<DateTime<Utc>>> = alerts.iter().map(|a| a.not_before).collect();
    let inserted = client
        .execute_typed(
            "INSERT INTO outbox (alert_id, alert, status, next_attempt_at, created_at) \
             SELECT i, j, s, h, $5 \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS u(i, j, s, h) \
             ON CONFLICT (alert_id) DO NOTHING",
            &[
                (&ids, Type::TEXT_ARRAY),
                (&jsons, Type::TEXT_ARRAY),
                (&statuses, Type::TEXT_ARRAY),
                (&held, Type::TIMESTAMPTZ_ARRAY),
                (&now, Type::TIMESTAMPTZ),
            ],
        )
        .await
        .context("recording alerts in the outbox")?;
    Ok(usize::try_from(inserted)?)
}

pub(super) async fn due<C: GenericClient>(
    client: &C,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<OutboxEntry>> {
    let sql =
        format!("SELECT {COLUMNS} FROM outbox WHERE {DUE} ORDER BY created_at, alert_id LIMIT $2");
    let rows = client
        .query_typed(
            &sql,
            &[(&now, Type::TIMESTAMPTZ), (&limit_of(limit), Type::INT8)],
        )
        .await?;
    rows.iter().map(entry).collect()
}

/// One statement: the due rows are locked as they are chosen, rows another
/// sender holds locked are skipped, and the lease is committed before any
/// other claim can see them due again.
pub(super) async fn claim<C: GenericClient>(
    client: &C,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<OutboxEntry>> {
    let columns = COLUMNS.replace(", ", ", o.");
    let sql = format!(
        "WITH due AS (SELECT alert_id FROM outbox WHERE {DUE} \
         ORDER BY created_at, alert_id LIMIT $2 FOR UPDATE SKIP LOCKED) \
         UPDATE outbox AS o SET next_attempt_at = $3 FROM due \
         WHERE o.alert_id = due.alert_id RETURNING o.{columns}"
    );
    let rows = client
        .query_typed(
            &sql,
            &[
                (&now, Type::TIMESTAMPTZ),
                (&limit_of(limit), Type::INT8),
                (&until, Type::TIMESTAMPTZ),
            ],
        )
        .await
        .context("claiming due outbox entries")?;
    rows.iter().map(entry).collect()
}

pub(super) async fn all<C: GenericClient>(client: &C) -> Result<Vec<OutboxEntry>> {
    let sql = format!("SELECT {COLUMNS} FROM outbox ORDER BY created_at DESC, alert_id");
    let rows = client.query_typed(&sql, &[]).await?;
    rows.iter().map(entry).collect()
}

pub(super) async fn entry_of<C: GenericClient>(
    client: &C,
    alert_id: &str,
) -> Result<Option<OutboxEntry>> {
    let sql = format!("SELECT {COLUMNS} FROM outbox WHERE alert_id = $1");
    let row = client
        .query_typed_opt(&sql, &[(&alert_id, Type::TEXT)])
        .await?;
    row.as_ref().map(entry).transpose()
}

pub(super) async fn mark_sent<C: GenericClient>(
    client: &C,
    alert_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    client
        .execute_typed(
            "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = $2, \
             last_error = NULL, next_attempt_at = NULL WHERE alert_id = $1",
            &[(&alert_id, Type::TEXT), (&now, Type::TIMESTAMPTZ)],
        )
        .await?;
    Ok(())
}

pub(super) async fn mark_attempt_failed<C: GenericClient>(
    client: &C,
    alert_id: &str,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<()> {
    let status = DeliveryStatus::after_failure(retry_at).as_str();
    client
        .execute_typed(
            "UPDATE outbox SET status = $2, attempts = attempts + 1, last_error = $3, \
             next_attempt_at = $4 WHERE alert_id = $1",
            &[
                (&alert_id, Type::TEXT),
                (&status, Type::TEXT),
                (&error, Type::TEXT),
                (&retry_at, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
    Ok(())
}

pub(super) async fn retract<C: GenericClient>(
    client: &C,
    alert_ids: &[String],
    reason: &str,
) -> Result<usize> {
    let changed = client
        .execute_typed(
            "UPDATE outbox SET status = 'retracted', last_error = $2, next_attempt_at = NULL \
             WHERE alert_id = ANY($1) AND status = 'pending'",
            &[(&alert_ids, Type::TEXT_ARRAY), (&reason, Type::TEXT)],
        )
        .await
        .context("retracting alerts")?;
    Ok(usize::try_from(changed)?)
}
