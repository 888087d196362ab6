//! GET /v1/alerts: the alerts in the outbox with their delivery, newest
//! first.
//!
//! An *alert* is what a rule raised on a breach or a metric crossing, with
//! its recipients resolved from the organisation. The live engine records
//! each one in the store's outbox once, under its stable id
//! ([`crate::serve::live`]); its *delivery* is the outbox entry's status
//! (`pending`, `sent`, `failed`, `historical`: raised for an instant before
//! the service went live, or `retracted`: made moot before it was sent),
//! attempts, last error and
//! when it was sent. An alert shown by a replay but never recorded (GET
//! /v1/accounts/{id} judged at another instant) says `not_sent`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use handoff_core::engine::Alert;
use serde::Deserialize;
use serde_json::{json, Value};

use super::query;
use super::scorecard::parse_as_of;
use crate::serve::auth::{Action, Caller};
use crate::serve::error::ApiError;
use crate::serve::openapi::schemas::{AlertsAnswer, BadRequest, TokenErrors};
use crate::serve::AppState;
use crate::store::OutboxEntry;

/// The delivery status of an alert that is not in the outbox.
pub const NOT_SENT: &str = "not_sent";

/// The query parameters of GET /v1/alerts.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// Only alerts raised by this instant (RFC 3339); default now.
    #[param(value_type = Option<DateTime<Utc>>)]
    pub as_of: Option<String>,
}

/// An alert of a replay, not looked up in the outbox: `not_sent`.
pub fn alert_json(alert: &Alert) -> Result<Value, ApiError> {
    let mut v = serde_json::to_value(alert).map_err(|e| ApiError::internal(e.into()))?;
    if let Some(map) = v.as_object_mut() {
        map.insert("delivery".into(), json!({ "status": NOT_SENT }));
    }
    Ok(v)
}

/// An outbox entry as the API shows it: the alert and its delivery.
fn entry_json(entry: &OutboxEntry) -> Result<(DateTime<Utc>, Value), ApiError> {
    let alert: Alert = serde_json::from_str(&entry.alert).map_err(|e| {
        ApiError::internal(anyhow::anyhow!(
            "reading alert {} from the outbox: {e}",
            entry.alert_id
        ))
    })?;
    let mut v = serde_json::to_value(&alert).map_err(|e| ApiError::internal(e.into()))?;
    if let Some(map) = v.as_object_mut() {
        map.insert(
            "delivery".into(),
            json!({
                "status": entry.status,
                "attempts": entry.attempts,
                "last_error": entry.last_error,
                "next_attempt_at": entry.next_attempt_at,
                "sent_at": entry.sent_at,
                "recorded_at": entry.created_at,
            }),
        );
    }
    Ok((alert.at, v))
}

/// GET /v1/alerts (every role).
#[utoipa::path(
    get,
    path = "/v1/alerts",
    tag = "alerts",
    summary = "The alerts in the outbox",
    description = "Every alert the live engine recorded, newest first, with its delivery: \
                   pending, sent, failed, historical (before the service went live: never \
                   sent) or retracted (made moot before it was sent).",
    params(AlertsQuery),
    responses(
        (status = 200, description = "The alerts raised by `as_of`", body = AlertsAnswer),
        (status = 400, response = BadRequest),
        TokenErrors,
    ),
    extensions(("x-handoff-roles" = json!(Action::ReadAll.roles()))),
)]
pub async fn get_alerts(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<AlertsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    // Not narrowed to accounts: for callers who see every account only (a
    // manager given a team is refused by scope).
    caller.require(Action::ReadAll)?;
    caller.require_all()?;
    let q = query(q, "as_of")?;
    let as_of = match q.as_of.as_deref() {
        Some(text) => parse_as_of(Some(text))?,
        None => state.now(),
    };
    let entries = state.read(|store| store.outbox_all()).await?;
    let mut alerts = Vec::new();
    for entry in &entries {
        let (at, v) = entry_json(entry)?;
        if at <= as_of {
            alerts.push((at, entry.alert_id.as_str(), v));
        }
    }
    alerts.sort_by(|a, b| (b.0, b.1).cmp(&(a.0, a.1)));
    let alerts: Vec<Value> = alerts.into_iter().map(|(_, _, v)| v).collect();
    Ok(Json(json!({ "as_of": as_of, "alerts": alerts })))
}
