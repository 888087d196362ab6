//! GET /v1/openapi.json: the API's OpenAPI document
//! ([`crate::serve::openapi`]).
//!
//! It needs a token, of any role, as every endpoint but the health ones
//! do: the document tells nothing a caller could not read in docs/api.md,
//! but keeping one rule for every endpoint is simpler to reason about than
//! an exception. A client generator that has no token reads the same
//! document from `handoff openapi`.

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use crate::serve::auth::{Action, Caller};
use crate::serve::error::ApiError;
use crate::serve::openapi::document_json;
use crate::serve::openapi::schemas::TokenErrors;

/// GET /v1/openapi.json (every role).
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "operations",
    summary = "This document",
    description = "The OpenAPI 3.1 document of the API, generated from the service's code. \
                   `handoff openapi` prints the same document without a server or a token.",
    responses(
        (status = 200, description = "The OpenAPI document", body = Object,
         content_type = "application/json"),
        TokenErrors,
    ),
    extensions(("x-handoff-roles" = json!(Action::Read.roles()))),
)]
pub async fn get_openapi(caller: Caller) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    Ok(([(CONTENT_TYPE, "application/json")], document_json()).into_response())
}
