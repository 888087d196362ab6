//! GET /v1/clocks and GET /v1/breaches: every SLA clock of the replay.
//!
//! A *clock* times one commitment on one account's cycle, from its start
//! event to its deadline on its calendar; its *state* is `open` (still
//! running as of `as_of`), `met`, `breached` or `cancelled`. Its *owner* is
//! the rep who answers for it: for an open clock the rep holding the account
//! now, for an ended one the rep holding it at the stop or breach. A
//! *breach* is a clock whose deadline passed first; its *breach owner* held
//! the account at that instant, and the *manager* is that rep's manager in
//! the organisation (from rep events).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use handoff_core::engine::{ClockState, Snapshot};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::scorecard::parse_as_of;
use super::{query, replay_for};
use crate::serve::auth::{Action, Caller};
use crate::serve::error::ApiError;
use crate::serve::openapi::schemas::{BadRequest, BreachesAnswer, ClocksAnswer, TokenErrors};
use crate::serve::AppState;

/// The query parameters of GET /v1/clocks.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClocksQuery {
    /// open, breached, met or cancelled; default all.
    #[param(value_type = Option<ClockState>)]
    pub state: Option<String>,
    /// A commitment id of the policy, e.g. first-touch.
    pub commitment: Option<String>,
    /// The instant to judge at (RFC 3339); default now.
    #[param(value_type = Option<DateTime<Utc>>)]
    pub as_of: Option<String>,
}

/// The query parameters of GET /v1/breaches.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BreachesQuery {
    /// A commitment id of the policy, e.g. first-touch.
    pub commitment: Option<String>,
    /// The instant to judge at (RFC 3339); default now.
    #[param(value_type = Option<DateTime<Utc>>)]
    pub as_of: Option<String>,
}

/// One clock as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClockView {
    pub account: String,
    /// The account's cycle the clock belongs to, from 1.
    pub cycle: u32,
    pub commitment: String,
    /// `deadline` or `cadence`.
    pub kind: String,
    pub tier: Option<String>,
    pub calendar: String,
    pub start_at: DateTime<Utc>,
    pub start_event: String,
    pub deadline: DateTime<Utc>,
    pub state: ClockState,
    /// The rep who answers for the clock (see the module text).
    pub owner: Option<String>,
    pub stop_at: Option<DateTime<Utc>>,
    pub stop_event: Option<String>,
    pub breach_at: Option<DateTime<Utc>>,
    pub breach_owner: Option<String>,
    /// The breach owner's manager; only on GET /v1/breaches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
}

/// Every clock of the snapshot, in account and cycle order.
pub fn clocks(snapshot: &Snapshot) -> Vec<ClockView> {
    clocks_in(snapshot, |_| true)
}

/// The clocks whose state `keep` takes, in account and cycle order.
pub fn clocks_in(snapshot: &Snapshot, keep: impl Fn(ClockState) -> bool) -> Vec<ClockView> {
    let mut out = Vec::new();
    for a in &snapshot.accounts {
        for c in &a.cycles {
            for k in c.clocks.iter().filter(|k| keep(k.state)) {
                let owner = match k.state {
                    ClockState::Open => a.owner.clone(),
                    _ => k.owner.clone().or_else(|| k.breach_owner.clone()),
                };
                out.push(ClockView {
                    account: a.id.clone(),
                    cycle: c.number,
                    commitment: k.commitment.clone(),
                    kind: k.kind.clone(),
                    tier: k.tier.clone(),
                    calendar: k.calendar.clone(),
                    start_at: k.start_at,
                    start_event: k.start_event.clone(),
                    deadline: k.deadline,
                    state: k.state,
                    owner,
                    stop_at: k.stop_at,
                    stop_event: k.stop_event.clone(),
                    breach_at: k.breach_at,
                    breach_owner: k.breach_owner.clone(),
                    manager: None,
                });
            }
        }
    }
    out
}

fn parse_state(text: &str) -> Result<ClockState, ApiError> {
    serde_json::from_value(json!(text)).map_err(|_| {
        ApiError::bad_request(
            format!("state: {text:?} is not one of open, breached, met, cancelled"),
            json!({ "parameter": "state" }),
        )
    })
}

/// GET /v1/clocks (every role): the clocks, deadline nearest first.
#[utoipa::path(
    get,
    path = "/v1/clocks",
    tag = "clocks",
    summary = "SLA clocks",
    description = "Every SLA clock of a replay of the log as of `as_of`, deadline nearest \
                   first (then account, commitment), filtered by state and commitment.",
    params(ClocksQuery),
    responses(
        (status = 200, description = "The clocks", body = ClocksAnswer),
        (status = 400, response = BadRequest),
        TokenErrors,
    ),
    extensions(("x-handoff-roles" = json!(Action::Read.roles()))),
)]
pub async fn get_clocks(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<ClocksQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Action::Read)?;
    let q = query(q, "state, commitment, as_of")?;
    let wanted = q.state.as_deref().map(parse_state).transpose()?;
    let as_of = parse_as_of(q.as_of.as_deref())?;
    let snapshot = replay_for(&state, as_of, &caller).await?;
    let mut list: Vec<ClockView> = clocks(&snapshot)
        .into_iter()
        .filter(|k| wanted.is_none_or(|s| k.state == s))
        .filter(|k| q.commitment.as_ref().is_none_or(|c| &k.commitment == c))
        .collect();
    list.sort_by(|a, b| {
        (a.deadline, &a.account, &a.commitment).cmp(&(b.deadline, &b.account, &b.commitment))
    });
    Ok(Json(json!({ "as_of": as_of, "clocks": list })))
}

/// GET /v1/breaches (every role): breached clocks, newest breach first,
/// each with its breach owner's manager.
#[utoipa::path(
    get,
    path = "/v1/breaches",
    tag = "clocks",
    summary = "Breached clocks",
    description = "The breached clocks of a replay as of `as_of`, newest breach first, each \
                   with `manager`: the breach owner's manager in the organisation, or null.",
    params(BreachesQuery),
    responses(
        (status = 200, description = "The breaches", body = BreachesAnswer),
        (status = 400, response = BadRequest),
        TokenErrors,
    ),
    extensions(("x-handoff-roles" = json!(Action::Read.roles()))),
)]
pub async fn get_breaches(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<BreachesQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Action::Read)?;
    let q = query(q, "commitment, as_of")?;
    let as_of = parse_as_of(q.as_of.as_deref())?;
    let snapshot = replay_for(&state, as_of, &caller).await?;
    let mut list: Vec<ClockView> = clocks(&snapshot)
        .into_iter()
        .filter(|k| k.state == ClockState::Breached)
        .filter(|k| q.commitment.as_ref().is_none_or(|c| &k.commitment == c))
        .map(|mut k| {
            k.manager = k
                .breach_owner
                .as_ref()
                .and_then(|r| snapshot.reps.get(r))
                .and_then(|r| r.manager.clone());
            k
        })
        .collect();
    list.sort_by(|a, b| {
        (b.breach_at, &b.account, &b.commitment).cmp(&(a.breach_at, &a.account, &a.commitment))
    });
    Ok(Json(json!({ "as_of": as_of, "breaches": list })))
}
