//! The API's routes, one module per area: `events` (ingestion),
//! `scorecard` (reports), `accounts` (one account's record), `actions`
//! (people's actions on an account, each stored as an event), `clocks`
//! (clocks and breaches), `alerts`, `metrics` (Prometheus), `health`
//! (liveness and readiness) and `openapi` (the API's OpenAPI document).
//!
//! The read routes judge *as of* an instant (`as_of`, RFC 3339, default
//! now): they replay the stored log up to it in memory, on a connection of
//! their own, as `handoff report` and `handoff explain` do, narrowed to the
//! accounts the caller sees (`replay_for`).

pub mod accounts;
pub mod actions;
pub mod alerts;
pub mod clocks;
pub mod events;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod scorecard;

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::{Method, Uri};
use chrono::{DateTime, Utc};
use handoff_core::engine::Snapshot;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::auth::Caller;
use super::error::ApiError;
use super::{blocking, AppState};
use crate::replay::replay_log;
use crate::store::Store;

/// Replays the stored log up to `as_of` under the service's policy, off the
/// request threads, on a connection of its own.
pub async fn replay(state: &AppState, as_of: DateTime<Utc>) -> Result<Snapshot, ApiError> {
    let shared = state.clone();
    blocking(move || {
        let store = Store::open_at(shared.db())?;
        let replay = replay_log(&store, shared.policies(), as_of)?;
        if replay.left_out > 0 {
            tracing::debug!(left_out = replay.left_out, %as_of, "events after as-of left out");
        }
        Ok(replay.snapshot)
    })
    .await
}

/// [`replay`] narrowed to the accounts `caller` sees ([`Scope::narrow`]):
/// what every read route answers from.
pub async fn replay_for(
    state: &AppState,
    as_of: DateTime<Utc>,
    caller: &Caller,
) -> Result<Snapshot, ApiError> {
    let mut snapshot = replay(state, as_of).await?;
    caller.scope.narrow(&mut snapshot);
    Ok(snapshot)
}

/// The query string read into `Q`, or a 400 listing the parameters there
/// are (`known`), so that a typo is not silently ignored.
pub fn query<Q: DeserializeOwned>(
    query: Result<Query<Q>, QueryRejection>,
    known: &str,
) -> Result<Q, ApiError> {
    query.map(|Query(q)| q).map_err(|r| {
        ApiError::bad_request(
            format!("{}; the parameters are {known}", r.body_text()),
            Value::Null,
        )
    })
}

/// A 404 naming the endpoints that exist.
pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound {
        message: format!(
            "no endpoint {method} {}; there are GET /healthz, /readyz, /metrics, \
             /v1/openapi.json, /v1/scorecard, /v1/accounts/{{id}}, /v1/clocks, /v1/breaches, \
             /v1/alerts; POST \
             /v1/events and /v1/accounts/{{id}}/accept|reject|activity|disposition|reassign \
             (docs/api.md)",
            uri.path()
        ),
    }
}
