//! The API's routes, one module per area: `events` (ingestion),
//! `scorecard` (reports) and `health` (liveness and readiness).

pub mod events;
pub mod health;
pub mod scorecard;

use axum::http::{Method, Uri};

use super::error::ApiError;

/// A 404 naming the endpoints that exist.
pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound {
        message: format!(
            "no endpoint {method} {}; there are GET /healthz, GET /readyz, POST /v1/events \
             and GET /v1/scorecard (docs/api.md)",
            uri.path()
        ),
    }
}
