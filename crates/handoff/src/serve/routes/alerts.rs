//! GET /v1/alerts: the alerts the policy's rules raise, newest first.
//!
//! An *alert* is what a rule raised on a breach or a metric crossing, with
//! its recipients resolved from the organisation, as `handoff report`
//! lists them. Its *delivery* is `not_sent` for every alert for now: this
//! slice of the service computes alerts from a replay and sends none
//! (notifications and their outbox come later; docs/api.md says so).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use handoff_core::engine::Alert;
use serde::Deserialize;
use serde_json::{json, Value};

use super::scorecard::parse_as_of;
use super::{query, replay};
use crate::serve::auth::{Action, Caller};
use crate::serve::error::ApiError;
use crate::serve::AppState;

/// What every alert's `delivery` says while no notifier runs.
pub const NOT_SENT: &str = "not_sent";

/// The query parameters of GET /v1/alerts.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// The instant to judge at (RFC 3339); default now.
    pub as_of: Option<String>,
}

/// An alert as the API shows it: the engine's record and its delivery.
pub fn alert_json(alert: &Alert) -> Result<Value, ApiError> {
    let mut v = serde_json::to_value(alert).map_err(|e| ApiError::internal(e.into()))?;
    if let Some(map) = v.as_object_mut() {
        map.insert("delivery".into(), json!(NOT_SENT));
    }
    Ok(v)
}

/// GET /v1/alerts (every role).
pub async fn get_alerts(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<AlertsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Action::Read)?;
    let q = query(q, "as_of")?;
    let as_of = parse_as_of(q.as_of.as_deref())?;
    let snapshot = replay(&state, as_of).await?;
    let mut alerts: Vec<&Alert> = snapshot.alerts.iter().collect();
    alerts.sort_by(|a, b| (b.at, &b.id).cmp(&(a.at, &a.id)));
    let alerts = alerts
        .into_iter()
        .map(alert_json)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "as_of": as_of, "alerts": alerts })))
}
