//! The API's errors and their HTTP answers.
//!
//! A *caller mistake* (bad body, bad parameter, missing or unknown token,
//! a role that may not do it, a body over the limit, a body field missing
//! or out of its set, an unknown account) answers 4xx with a JSON
//! body `{"error": "...", "detail": ...}`: `error` is one sentence saying
//! what is wrong and what to do, `detail` is structured (a position, a
//! parameter name, a limit) or null. A *fault* of the service answers an
//! opaque 500; its cause chain is logged once, here, and never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// Why a request failed.
#[derive(Debug)]
pub enum ApiError {
    /// The request is malformed: body, query parameter or header.
    BadRequest { message: String, detail: Value },
    /// No token, or one the store does not know.
    Unauthorized {
        message: String,
        invalid_token: bool,
    },
    /// The token's role may not do this.
    Forbidden { message: String, detail: Value },
    /// The body is larger than `--max-body-bytes`.
    PayloadTooLarge { limit: usize },
    /// A well-formed body whose content cannot be acted on: a required
    /// field missing or blank, a value out of its set.
    Unprocessable { message: String, detail: Value },
    /// No such endpoint, or no such account.
    NotFound { message: String },
    /// The store does not answer (readiness).
    Unavailable { message: String },
    /// Anything else: a fault of the service, not of the caller.
    Internal(anyhow::Error),
}

impl ApiError {
    /// A 400 with a message and structured detail.
    pub fn bad_request(message: impl Into<String>, detail: Value) -> ApiError {
        ApiError::BadRequest {
            message: message.into(),
            detail,
        }
    }

    /// A 422 naming the body field at fault.
    pub fn unprocessable(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::Unprocessable {
            message: message.into(),
            detail: json!({ "field": field }),
        }
    }

    /// A 500 whose cause is logged, not sent.
    pub fn internal(err: anyhow::Error) -> ApiError {
        ApiError::Internal(err)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> ApiError {
        ApiError::Internal(err)
    }
}

/// The `WWW-Authenticate` challenge of a 401 (RFC 6750).
fn challenge(invalid_token: bool) -> HeaderValue {
    if invalid_token {
        HeaderValue::from_static(r#"Bearer realm="handoff", error="invalid_token""#)
    } else {
        HeaderValue::from_static(r#"Bearer realm="handoff""#)
    }
}

fn body(status: StatusCode, message: &str, detail: Value) -> Response {
    (status, Json(json!({ "error": message, "detail": detail }))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest { message, detail } => {
                body(StatusCode::BAD_REQUEST, &message, detail)
            }
            ApiError::Unauthorized {
                message,
                invalid_token,
            } => {
                let mut r = body(StatusCode::UNAUTHORIZED, &message, Value::Null);
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, challenge(invalid_token));
                r
            }
            ApiError::Forbidden { message, detail } => {
                body(StatusCode::FORBIDDEN, &message, detail)
            }
            ApiError::PayloadTooLarge { limit } => body(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "the request body is over the limit of {limit} bytes; send the events in \
                     smaller batches"
                ),
                json!({ "max_body_bytes": limit }),
            ),
            ApiError::Unprocessable { message, detail } => {
                body(StatusCode::UNPROCESSABLE_ENTITY, &message, detail)
            }
            ApiError::NotFound { message } => body(StatusCode::NOT_FOUND, &message, Value::Null),
            ApiError::Unavailable { message } => {
                body(StatusCode::SERVICE_UNAVAILABLE, &message, Value::Null)
            }
            ApiError::Internal(err) => {
                // The one place a fault is logged; the caller learns only
                // that it was not their mistake.
                tracing::error!(error = format!("{err:#}"), "request failed");
                body(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; the service's log has the cause",
                    Value::Null,
                )
            }
        }
    }
}
