//! GET /v1/accounts/{id}: one account's derived record.
//!
//! The *record* is what `handoff explain --json` prints: the account's
//! facts, stage, owner, its cycles with their clocks, its opportunities,
//! its stage history and data warnings, and the alerts raised about it,
//! replayed from the log as of `as_of` (default now). An unknown id is a
//! 404 whose hint names the lone lead's account (`lead:ID`) when that one
//! exists, as explain does.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use handoff_core::engine::{lone_lead, AccountRecord, Snapshot};
use serde::Deserialize;
use serde_json::{json, Value};

use super::alerts::alert_json;
use super::scorecard::parse_as_of;
use super::{query, replay_for};
use crate::serve::auth::{Action, Caller};
use crate::serve::error::ApiError;
use crate::serve::openapi::schemas::{AccountAnswer, BadRequest, NotFound, TokenErrors};
use crate::serve::AppState;

/// The query parameters of GET /v1/accounts/{id}.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccountQuery {
    /// The instant to judge at (RFC 3339); default now.
    #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    pub as_of: Option<String>,
}

/// The account `id` of a snapshot (accounts are sorted by id).
pub fn find<'s>(snapshot: &'s Snapshot, id: &str) -> Option<&'s AccountRecord> {
    snapshot
        .accounts
        .binary_search_by(|a| a.id.as_str().cmp(id))
        .ok()
        .map(|i| &snapshot.accounts[i])
}

/// The 404 for an account the log does not name, with explain's hint.
pub fn unknown_account(id: &str, lead_exists: bool) -> ApiError {
    let message = if lead_exists {
        let lead = lone_lead(id);
        format!(
            "no account {id:?}, but a lone lead's account {lead:?} exists; ask for \
             /v1/accounts/{lead}"
        )
    } else {
        format!(
            "no account {id:?} in the store; check the id (ids are case-sensitive) or post its \
             events to /v1/events first"
        )
    };
    ApiError::NotFound { message }
}

/// GET /v1/accounts/{id} (every role).
#[utoipa::path(
    get,
    path = "/v1/accounts/{id}",
    tag = "accounts",
    summary = "One account's record",
    description = "The account's facts, stage, owner, cycles with their clocks, \
                   opportunities, stage history and data warnings, as `handoff explain \
                   --json` prints them, and the alerts raised about it, replayed from the \
                   log as of `as_of`.",
    params(
        ("id" = String, Path, description = "The account id (a lone lead's is \
                                             `lead:CONTACT`); percent-encode a `/` or `?`"),
        AccountQuery,
    ),
    responses(
        (status = 200, description = "The account's record", body = AccountAnswer),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        TokenErrors,
    ),
    extensions(("x-handoff-roles" = json!(Action::Read.roles()))),
)]
pub async fn get_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    q: Result<Query<AccountQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Action::Read)?;
    let q = query(q, "as_of")?;
    let as_of = parse_as_of(q.as_of.as_deref())?;
    let snapshot = replay_for(&state, as_of, &caller).await?;
    let Some(account) = find(&snapshot, &id) else {
        return Err(unknown_account(
            &id,
            find(&snapshot, &lone_lead(&id)).is_some(),
        ));
    };
    let alerts = snapshot
        .alerts
        .iter()
        .filter(|a| a.account.as_deref() == Some(account.id.as_str()))
        .map(alert_json)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(
        json!({ "as_of": as_of, "account": account, "alerts": alerts }),
    ))
}
