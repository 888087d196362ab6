//! The shapes of the bodies the handlers build as JSON values, and of the
//! action bodies they read field by field, as types the OpenAPI document
//! derives its schemas from.
//!
//! The records inside these bodies (the event model, an account's record, a
//! clock, an alert, the scorecard) are the core's own types, whose schemas
//! come from the core under its `openapi` feature. What is here is the
//! wrapping the adapter adds: an `as_of`, an alert's `delivery`, the error
//! body. These types are never built; tests/openapi.rs checks that real
//! answers fit them, field by field, so they cannot drift from the handlers
//! unnoticed.

use chrono::{DateTime, FixedOffset, Utc};
use handoff_core::engine::{AccountRecord, Alert};
use handoff_core::metrics::{
    Bucket, CommitmentResult, Dimension, FirstTouch, Funnel, Influence, Scorecard, Velocity,
};
use serde::Serialize;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoResponses, PartialSchema, ToResponse, ToSchema};

use crate::serve::routes::actions::ACTIVITY_KINDS;
use crate::serve::routes::clocks::ClockView;

/// The body of every 4xx answer, and of the opaque 500.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What is wrong and what to do next, in one sentence.
    pub error: String,
    /// The structured part of the error, or null.
    #[schema(required = true)]
    pub detail: Option<ErrorDetail>,
}

/// The structured part of an error: which of these depends on the error.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ErrorDetail {
    /// Where a body is not JSON (400), from line 1 and column 1.
    Position { line: u64, column: u64 },
    /// The byte offset where a body stops being UTF-8 (400).
    Byte { byte: u64 },
    /// The query parameter at fault (400).
    Parameter { parameter: String },
    /// The body field at fault (422).
    Field { field: String },
    /// The token's role and the roles that may (403).
    Role {
        role: String,
        roles_allowed: Vec<String>,
    },
    /// The body limit, `--max-body-bytes` (413).
    Limit { max_body_bytes: u64 },
}

/// GET /healthz.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(pattern = "^ok$")]
    pub status: String,
}

/// GET /readyz when the store answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// Always `ready`.
    #[schema(pattern = "^ready$")]
    pub status: String,
    /// The store's schema version.
    pub schema: u32,
}

/// An alert with where its delivery stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertView {
    #[serde(flatten)]
    pub alert: Alert,
    pub delivery: Delivery,
}

/// Where an alert's delivery stands. An alert of a replay that is not
/// looked up in the outbox (GET /v1/accounts/{id}) has only `status`,
/// `not_sent`; an outbox entry has every field.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    pub status: DeliveryState,
    /// Delivery attempts so far.
    pub attempts: Option<u32>,
    /// The last failed attempt's error.
    pub last_error: Option<String>,
    /// When a retry, or a held notice, is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was delivered.
    pub sent_at: Option<DateTime<Utc>>,
    /// When it was written to the outbox.
    pub recorded_at: Option<DateTime<Utc>>,
}

/// An outbox status (docs/api.md, GET /v1/alerts), or `not_sent` for an
/// alert the outbox was not asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Sent,
    Failed,
    Historical,
    Retracted,
    NotSent,
}

/// GET /v1/accounts/{id}.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountAnswer {
    /// The instant the record was judged at.
    pub as_of: DateTime<Utc>,
    pub account: AccountRecord,
    /// The alerts the replay raised about the account (`not_sent`).
    pub alerts: Vec<AlertView>,
}

/// GET /v1/clocks.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClocksAnswer {
    pub as_of: DateTime<Utc>,
    /// Deadline nearest first, then account, then commitment.
    pub clocks: Vec<ClockView>,
}

/// GET /v1/breaches.
#[derive(Debug, Serialize, ToSchema)]
pub struct BreachesAnswer {
    pub as_of: DateTime<Utc>,
    /// Newest breach first; each has `manager`.
    pub breaches: Vec<ClockView>,
}

/// GET /v1/alerts.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertsAnswer {
    pub as_of: DateTime<Utc>,
    /// Newest first.
    pub alerts: Vec<AlertView>,
}

/// GET /v1/scorecard: the JSON of `handoff report --format json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScorecardAnswer {
    #[serde(flatten)]
    pub card: Scorecard,
    pub policy: PolicyName,
    /// The breakdown's dimension; only with `by`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<Dimension>,
    /// One row per key of the dimension; only with `by`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<Vec<BreakdownRow>>,
}

/// The policy a scorecard was judged by: the latest version's name and
/// currency, and which versions the period shows (docs/policy.md).
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyName {
    pub name: String,
    /// The currency of ARR figures.
    pub currency: String,
    /// Whether these are the store's policy versions (false: one policy
    /// outside them, version 0).
    pub versioned: bool,
    /// For people, e.g. "policy v2 (from 2026-06-01T00:00Z), v1 before".
    pub shown: String,
    /// The versions in force at some instant of the period, oldest first.
    pub versions: Vec<ShownVersion>,
    /// Clocks started in the period and breaches among them, per version.
    pub clocks_by_version: Vec<VersionClocks>,
}

/// A policy version a scorecard shows.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShownVersion {
    /// From 1; 0 for a policy outside the store's versions.
    pub number: u32,
    /// From when; null: from the beginning.
    pub effective_at: Option<chrono::DateTime<chrono::Utc>>,
    /// SHA-256 of the policy text, hex.
    pub sha256: String,
    /// The file it was applied from.
    pub origin: String,
}

/// The clocks one policy version started in a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionClocks {
    pub version: u32,
    pub clocks: u64,
    pub breached: u64,
}

/// One slice of a breakdown: the scorecard's figures for one key, without
/// the period and `as_of` the whole card states.
#[derive(Debug, Serialize, ToSchema)]
pub struct BreakdownRow {
    /// The team, rep, manager, tier or channel (ids, not names).
    pub key: String,
    pub commitments: Vec<CommitmentResult>,
    pub funnel: Funnel,
    pub first_touch: FirstTouch,
    pub velocity: Velocity,
    pub influenced_arr: Influence,
    pub rejection_reasons: Vec<Bucket>,
    pub alerts: Vec<Alert>,
}

/// Body of POST /v1/accounts/{id}/accept; may be empty.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    /// The rep who accepts.
    #[schema(pattern = r"\S")]
    pub rep: Option<String>,
    /// When (RFC 3339 with an offset); default the service's now.
    pub at: Option<DateTime<FixedOffset>>,
}

/// Body of POST /v1/accounts/{id}/reject.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    /// Why Sales rejects the account: feedback on lead quality.
    #[schema(pattern = r"\S")]
    pub reason: String,
    /// The rep who rejects.
    #[schema(pattern = r"\S")]
    pub rep: Option<String>,
    /// When (RFC 3339 with an offset); default the service's now.
    pub at: Option<DateTime<FixedOffset>>,
}

/// Body of POST /v1/accounts/{id}/activity.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityBody {
    pub kind: ActivityKind,
    /// The rep who made the attempt.
    #[schema(pattern = r"\S")]
    pub rep: Option<String>,
    /// When (RFC 3339 with an offset); default the service's now.
    pub at: Option<DateTime<FixedOffset>>,
}

/// Body of POST /v1/accounts/{id}/disposition.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispositionBody {
    /// The SAL's status, e.g. `working`.
    #[schema(pattern = r"\S")]
    pub status: String,
    /// What happens next.
    #[schema(pattern = r"\S")]
    pub next_step: Option<String>,
    /// The rep who records it.
    #[schema(pattern = r"\S")]
    pub rep: Option<String>,
    /// When (RFC 3339 with an offset); default the service's now.
    pub at: Option<DateTime<FixedOffset>>,
}

/// Body of POST /v1/accounts/{id}/reassign.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignBody {
    /// The new owner.
    #[schema(pattern = r"\S")]
    pub rep: String,
    /// Why.
    #[schema(pattern = r"\S")]
    pub reason: Option<String>,
    /// When (RFC 3339 with an offset); default the service's now.
    pub at: Option<DateTime<FixedOffset>>,
}

/// The kind of a follow-up attempt; its values are the handler's own list.
#[derive(Debug, Serialize)]
pub struct ActivityKind(pub String);

impl PartialSchema for ActivityKind {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("The kind of follow-up attempt."))
            .enum_values(Some(ACTIVITY_KINDS))
            .into()
    }
}

impl ToSchema for ActivityKind {}

/// A caller mistake: the body is not JSON, or a query parameter is bad or
/// unknown; `detail` names the position or the parameter.
#[derive(ToResponse)]
#[expect(dead_code, reason = "a response shape for the document, never built")]
pub struct BadRequest(ErrorBody);

/// No `Authorization: Bearer` header, or a token the service does not know.
#[derive(ToResponse)]
#[response(headers(
    ("WWW-Authenticate" = String,
     description = "`Bearer realm=\"handoff\"`, with `error=\"invalid_token\"` for an \
                    unknown token")
))]
#[expect(dead_code, reason = "a response shape for the document, never built")]
pub struct Unauthorized(ErrorBody);

/// The token's role may not do this; `detail` has the role and the roles
/// that may.
#[derive(ToResponse)]
#[expect(dead_code, reason = "a response shape for the document, never built")]
pub struct Forbidden(ErrorBody);

/// No account with this id; the message names the lone lead's account
/// `lead:ID` when that one exists.
#[derive(ToResponse)]
#[expect(dead_code, reason = "a response shape for the document, never built")]
pub struct NotFound(ErrorBody);

/// The body is over `--max-body-bytes`; `detail` has the limit.
#[derive(ToResponse)]
#[expect(dead_code, reason = "a response shape for the document, never built")]
pub struct PayloadTooLarge(ErrorBody);

/// A body field is missing, blank, of the wrong type, out of its set, or
/// not known to the action; `detail` names it.
#[derive(ToResponse)]
#[expect(dead_code, reason = "a response shape for the document, never built")]
pub struct Unprocessable(ErrorBody);

/// A fault of the service: the body says only that; the cause is logged.
#[derive(ToResponse)]
#[expect(dead_code, reason = "a response shape for the document, never built")]
pub struct InternalError(ErrorBody);

/// The answers every operation that needs a token may give besides its
/// own: 401, 403 and 500.
#[derive(IntoResponses)]
pub enum TokenErrors {
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    #[response(status = 403)]
    Forbidden(#[ref_response] Forbidden),
    #[response(status = 500)]
    Internal(#[ref_response] InternalError),
}

/// The errors of a person's action besides [`TokenErrors`]: a body that
/// is not a JSON object, an unknown account, a body over the limit, a
/// field at fault.
#[derive(IntoResponses)]
pub enum ActionErrors {
    #[response(status = 400)]
    BadRequest(#[ref_response] BadRequest),
    #[response(status = 404)]
    NotFound(#[ref_response] NotFound),
    #[response(status = 413)]
    PayloadTooLarge(#[ref_response] PayloadTooLarge),
    #[response(status = 422)]
    Unprocessable(#[ref_response] Unprocessable),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DeliveryStatus;

    /// Every outbox status has its document twin with the same JSON name:
    /// a status added to the store fails to compile here until the
    /// document knows it.
    #[test]
    fn every_outbox_status_is_a_documented_delivery_state() {
        let twin = |s: DeliveryStatus| match s {
            DeliveryStatus::Pending => DeliveryState::Pending,
            DeliveryStatus::Sent => DeliveryState::Sent,
            DeliveryStatus::Failed => DeliveryState::Failed,
            DeliveryStatus::Historical => DeliveryState::Historical,
            DeliveryStatus::Retracted => DeliveryState::Retracted,
        };
        let all = [
            DeliveryStatus::Pending,
            DeliveryStatus::Sent,
            DeliveryStatus::Failed,
            DeliveryStatus::Historical,
            DeliveryStatus::Retracted,
        ];
        for status in all {
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::to_value(twin(status)).unwrap()
            );
        }
        assert_eq!(
            serde_json::to_value(DeliveryState::NotSent).unwrap(),
            crate::serve::routes::alerts::NOT_SENT
        );
    }
}
