//! Liveness and readiness, without a token.
//!
//! *Live* (`/healthz`): the process answers HTTP. *Ready* (`/readyz`): the
//! store answers a query too, so a load balancer may send it traffic.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::serve::error::ApiError;
use crate::serve::openapi::schemas::{ErrorBody, Health, Ready};
use crate::serve::AppState;

/// GET /healthz: 200 `{"status":"ok"}` while the process serves.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Liveness",
    description = "Answers while the process serves.",
    security(()),
    responses((status = 200, description = "The process serves", body = Health)),
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// GET /readyz: 200 when the store answers a query, else 503.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness",
    description = "Ready when the store answers a query, so a load balancer may send traffic.",
    security(()),
    responses(
        (status = 200, description = "The store answers", body = Ready),
        (status = 503, description = "The store does not answer a query", body = ErrorBody),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match state.read(|store| store.schema_version()).await {
        Ok(version) => Ok(Json(json!({ "status": "ready", "schema": version }))),
        Err(err) => {
            let cause = match err {
                ApiError::Internal(e) => format!("{e:#}"),
                other => format!("{other:?}"),
            };
            tracing::warn!(error = cause, "not ready: the store does not answer");
            Err(ApiError::Unavailable {
                message: "not ready: the store does not answer a query".into(),
            })
        }
    }
}
