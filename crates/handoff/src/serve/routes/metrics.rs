//! GET /metrics: the service's counters in the Prometheus text format.
//!
//! The counters (events ingested, HTTP answers and their latency) live in
//! the service's state ([`crate::serve::metrics`]). The two gauges, clocks
//! open and breaches, are computed at each scrape from a replay of the whole
//! log as of now: exact, but as costly as a scorecard, so scrape every
//! minute or so, not every second. The alert gauges count the outbox by
//! delivery status (pending, sent, failed, historical).

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use handoff_core::engine::ClockState;

use super::replay;
use crate::serve::auth::{Action, Caller};
use crate::serve::error::ApiError;
use crate::serve::metrics::Gauges;
use crate::serve::openapi::schemas::TokenErrors;
use crate::serve::AppState;
use crate::store::DeliveryStatus;

/// The media type of the Prometheus text exposition format 0.0.4.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// GET /metrics (every role; a token is needed, as everywhere but health).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "The service's counters for Prometheus",
    description = "Events ingested, HTTP answers by route and status with their latency, \
                   clocks open, breaches and alerts by delivery status, in the Prometheus \
                   text format 0.0.4. The gauges are computed from a replay of the log at \
                   each scrape: scrape every minute or so.",
    responses(
        (status = 200, description = "The Prometheus text format", body = String,
         content_type = "text/plain; version=0.0.4; charset=utf-8"),
        TokenErrors,
    ),
    extensions(("x-handoff-roles" = json!(Action::ReadAll.roles()))),
)]
pub async fn get_metrics(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    // Not narrowed to accounts: for callers who see every account only (a
    // manager given a team is refused by scope).
    caller.require(Action::ReadAll)?;
    caller.require_all()?;
    let snapshot = replay(&state, state.now()).await?;
    let mut gauges = Gauges::default();
    let clocks = snapshot
        .accounts
        .iter()
        .flat_map(|a| a.cycles.iter())
        .flat_map(|c| c.clocks.iter());
    for k in clocks {
        match k.state {
            ClockState::Open => gauges.clocks_open += 1,
            ClockState::Breached => gauges.breaches += 1,
            ClockState::Met | ClockState::Cancelled => {}
        }
    }
    let statuses = state
        .read(|store| {
            Ok(store
                .outbox_all()?
                .into_iter()
                .map(|e| e.status)
                .collect::<Vec<_>>())
        })
        .await?;
    for status in statuses {
        let i = match status {
            DeliveryStatus::Pending => 0,
            DeliveryStatus::Sent => 1,
            DeliveryStatus::Failed => 2,
            DeliveryStatus::Historical => 3,
            DeliveryStatus::Retracted => 4,
        };
        gauges.alerts[i] += 1;
    }
    let text = state.metrics().render(gauges);
    Ok(([(CONTENT_TYPE, PROMETHEUS_TEXT)], text).into_response())
}
