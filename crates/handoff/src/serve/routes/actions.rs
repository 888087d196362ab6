//! POST /v1/accounts/{id}/accept, /reject, /activity, /disposition and
//! /reassign: the actions of the people who work an account.
//!
//! An *action* is recorded as an event appended to the store, exactly as if
//! it had been posted to /v1/events, so that replays, reports and clocks see
//! it. The service makes its *id* (`api:` and 32 random hex digits) and its
//! instant *at* (the service's wall clock, whole seconds, unless the body
//! gives `at`). The *body* is a JSON object of the action's fields; an
//! empty body is an empty object. A field missing, blank, of the wrong type
//! or not known to the action answers 422 naming it. The account must be
//! one GET /v1/accounts/{id} shows as of now (404 otherwise, so a mistyped
//! id does not start a new account). Only the roles admin and manager may
//! act: a viewer reads, and an ingest token is a machine's.

use crate::import::event_json::kind_of;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, FixedOffset, SubsecRound, Utc};
use handoff_core::engine::{lone_lead, Snapshot};
use handoff_core::event::{Activity, Decision, Disposition, Event, EventBody, Reassign, Rejection};
use serde_json::{json, Map, Value};

use super::accounts::{find, unknown_account};
use super::replay_for;
use crate::serve::auth::{Action, Caller, Scope};
use crate::serve::error::ApiError;
use crate::serve::metrics::Outcome;
use crate::serve::openapi::schemas::{
    AcceptBody, ActionErrors, ActivityBody, DispositionBody, ReassignBody, RejectBody, TokenErrors,
};
use crate::serve::AppState;

/// The kinds of activity a person records.
pub(crate) const ACTIVITY_KINDS: [&str; 4] = ["call", "email", "meeting", "social"];

/// Which action a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Accept,
    Reject,
    Activity,
    Disposition,
    Reassign,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Accept => "accept",
            Kind::Reject => "reject",
            Kind::Activity => "activity",
            Kind::Disposition => "disposition",
            Kind::Reassign => "reassign",
        }
    }

    /// The body fields the action knows.
    fn fields(self) -> &'static [&'static str] {
        match self {
            Kind::Accept => &["rep", "at"],
            Kind::Reject => &["reason", "rep", "at"],
            Kind::Activity => &["kind", "rep", "at"],
            Kind::Disposition => &["status", "next_step", "rep", "at"],
            Kind::Reassign => &["rep", "reason", "at"],
        }
    }
}

/// POST /v1/accounts/{id}/accept: Sales accepts the hand-off (a SAL).
#[utoipa::path(
    post,
    path = "/v1/accounts/{id}/accept",
    tag = "actions",
    summary = "Accept a hand-off",
    description = "Sales accepts the hand-off: the account is a SAL (event `accepted`).",
    params(("id" = String, Path, description = "An account GET /v1/accounts/{id} shows")),
    request_body = AcceptBody,
    responses(
        (status = 201, description = "The stored event", body = Event),
        ActionErrors,
        TokenErrors,
    ),
    extensions(("x-handoff-roles" = json!(Action::Act.roles()))),
)]
pub async fn accept(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Event>), ApiError> {
    act(Kind::Accept, state, caller, id, body).await
}

/// POST /v1/accounts/{id}/reject: Sales rejects the hand-off; `reason` is
/// required.
#[utoipa::path(
    post,
    path = "/v1/accounts/{id}/reject",
    tag = "actions",
    summary = "Reject a hand-off",
    description = "Sales rejects the hand-off, with a reason (event `rejected`).",
    params(("id" = String, Path, description = "An account GET /v1/accounts/{id} shows")),
    request_body = RejectBody,
    responses(
        (status = 201, description = "The stored event", body = Event),
        ActionErrors,
        TokenErrors,
    ),
    extensions(("x-handoff-roles" = json!(Action::Act.roles()))),
)]
pub async fn reject(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Event>), ApiError> {
    act(Kind::Reject, state, caller, id, body).await
}

/// POST /v1/accounts/{id}/activity: a follow-up attempt; `kind` required.
#[utoipa::path(
    post,
    path = "/v1/accounts/{id}/activity",
    tag = "actions",
    summary = "Record a follow-up attempt",
    description = "A rep called, emailed, met or reached out on social (event `activity`).",
    params(("id" = String, Path, description = "An account GET /v1/accounts/{id} shows")),
    request_body = ActivityBody,
    responses(
        (status = 201, description = "The stored event", body = Event),
        ActionErrors,
        TokenErrors,
    ),
    extensions(("x-handoff-roles" = json!(Action::Act.roles()))),
)]
pub async fn activity(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Event>), ApiError> {
    act(Kind::Activity, state, caller, id, body).await
}

/// POST /v1/accounts/{id}/disposition: a SAL's status; `status` required.
#[utoipa::path(
    post,
    path = "/v1/accounts/{id}/disposition",
    tag = "actions",
    summary = "Record a disposition",
    description = "The status and next step of a SAL (event `disposition`).",
    params(("id" = String, Path, description = "An account GET /v1/accounts/{id} shows")),
    request_body = DispositionBody,
    responses(
        (status = 201, description = "The stored event", body = Event),
        ActionErrors,
        TokenErrors,
    ),
    extensions(("x-handoff-roles" = json!(Action::Act.roles()))),
)]
pub async fn disposition(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Event>), ApiError> {
    act(Kind::Disposition, state, caller, id, body).await
}

/// POST /v1/accounts/{id}/reassign: the account moves to `rep`.
#[utoipa::path(
    post,
    path = "/v1/accounts/{id}/reassign",
    tag = "actions",
    summary = "Reassign an account",
    description = "The account moves to another rep; its clocks keep running (event `reassign`).",
    params(("id" = String, Path, description = "An account GET /v1/accounts/{id} shows")),
    request_body = ReassignBody,
    responses(
        (status = 201, description = "The stored event", body = Event),
        ActionErrors,
        TokenErrors,
    ),
    extensions(("x-handoff-roles" = json!(Action::Act.roles()))),
)]
pub async fn reassign(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Event>), ApiError> {
    act(Kind::Reassign, state, caller, id, body).await
}

/// Every action, as steps: role, body, event, account known, append.
async fn act(
    kind: Kind,
    State(state): State<AppState>,
    caller: Caller,
    Path(account): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Event>), ApiError> {
    caller.require(Action::Act)?;
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge {
                limit: state.max_body_bytes(),
            }
        } else {
            ApiError::bad_request(
                format!("the request body could not be read: {}", r.body_text()),
                Value::Null,
            )
        }
    })?;
    let fields = Fields::read(kind, &body)?;
    let event = build(kind, &account, &fields, state.now())?;
    event.validate().map_err(|why| ApiError::Unprocessable {
        message: why,
        detail: Value::Null,
    })?;

    // The account must be one GET /v1/accounts/{id} shows as of now: an
    // action on a mistyped id would otherwise start a new, empty account.
    let snapshot = replay_for(&state, state.now(), &caller).await?;
    if find(&snapshot, &account).is_none() {
        let lead_exists = find(&snapshot, &lone_lead(&account)).is_some();
        return Err(unknown_account(&account, lead_exists));
    }
    if let EventBody::Reassign(r) = &event.body {
        within_team(&caller, &snapshot, &r.rep)?;
    }
    drop(snapshot);

    let source = format!(
        "POST /v1/accounts/{account}/{} by {}",
        kind.path(),
        caller.name
    );
    let received_at = state.now().to_rfc3339();
    let (outcome, _) = state
        .ingest(vec![event.clone()], vec![source], received_at)
        .await?;
    if outcome.inserted != 1 {
        // 128 random bits do not repeat; if they did, say so rather than
        // answer 201 for an event that is not the stored one.
        return Err(ApiError::internal(anyhow::anyhow!(
            "generated event id {} was already stored",
            event.id
        )));
    }
    state.metrics().ingested(Outcome::Accepted, 1);
    tracing::info!(
        caller = caller.name,
        account,
        action = kind.path(),
        id = event.id,
        "action recorded"
    );
    Ok((StatusCode::CREATED, Json(event)))
}

/// A caller narrowed to a team (a manager of it, or a rep on it) may hand
/// an account only to a rep of that team: a 403 naming the rep's team
/// otherwise. Callers who see every account may reassign to anyone.
fn within_team(caller: &Caller, snapshot: &Snapshot, rep: &str) -> Result<(), ApiError> {
    let team_of = |r: &str| snapshot.reps.get(r).and_then(|f| f.team.clone());
    let team = match &caller.scope {
        Scope::Team(team) => Some(team.clone()),
        Scope::Rep(me) => team_of(me),
        Scope::All | Scope::Marketing => return Ok(()),
    };
    let Some(team) = team else {
        return Ok(());
    };
    match team_of(rep) {
        Some(theirs) if theirs == team => Ok(()),
        theirs => Err(ApiError::Forbidden {
            message: format!(
                "{} may reassign accounts only to reps of team {team}; rep {rep:?} is {}",
                caller.name,
                theirs.map_or("on no known team".to_string(), |t| format!("on team {t}"))
            ),
            detail: json!({ "field": "rep" }),
        }),
    }
}

/// The body's fields, checked against the action's list.
struct Fields {
    kind: Kind,
    map: Map<String, Value>,
}

impl Fields {
    fn read(kind: Kind, body: &[u8]) -> Result<Fields, ApiError> {
        let map = if body.iter().all(|b| b.is_ascii_whitespace()) {
            Map::new()
        } else {
            let value: Value = serde_json::from_slice(body).map_err(|e| {
                ApiError::bad_request(
                    format!("the body is not JSON: {e}; send a JSON object of the fields"),
                    json!({ "line": e.line(), "column": e.column() }),
                )
            })?;
            match value {
                Value::Object(map) => map,
                other => {
                    return Err(ApiError::bad_request(
                        format!(
                            "the body is JSON but not an object ({}); send an object such as \
                             {{\"reason\": \"no budget\"}}",
                            kind_of(&other)
                        ),
                        Value::Null,
                    ))
                }
            }
        };
        let known = kind.fields();
        if let Some(field) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(ApiError::unprocessable(
                field,
                format!(
                    "field {field:?} is not known to {}; its fields are {}",
                    kind.path(),
                    known.join(", ")
                ),
            ));
        }
        Ok(Fields { kind, map })
    }

    /// A text field; `None` when absent or null. Blank text is refused:
    /// a required field must say something, an optional one be left out.
    fn text(&self, field: &str, required: bool) -> Result<Option<String>, ApiError> {
        let action = self.kind.path();
        match self.map.get(field) {
            None | Some(Value::Null) if required => Err(ApiError::unprocessable(
                field,
                format!("field {field:?} is missing; {action} needs it"),
            )),
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Err(ApiError::unprocessable(
                field,
                if required {
                    format!("field {field:?} is blank; {action} needs it")
                } else {
                    format!("field {field:?} is blank; give it or leave it out")
                },
            )),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(other) => Err(ApiError::unprocessable(
                field,
                format!(
                    "field {field:?} is {}; write it as a string",
                    kind_of(other)
                ),
            )),
        }
    }

    fn required(&self, field: &str) -> Result<String, ApiError> {
        // `text` with `required` answers Some or an error.
        self.text(field, true)?
            .ok_or_else(|| ApiError::unprocessable(field, format!("field {field:?} is missing")))
    }

    /// `at` from the body (RFC 3339 with an offset), else now.
    fn at(&self, now: DateTime<Utc>) -> Result<DateTime<FixedOffset>, ApiError> {
        match self.text("at", false)? {
            None => Ok(now.trunc_subsecs(0).fixed_offset()),
            Some(text) => DateTime::parse_from_rfc3339(&text).map_err(|e| {
                ApiError::unprocessable(
                    "at",
                    format!(
                        "field \"at\": {text:?} is not an RFC 3339 instant with an offset ({e}); \
                         write e.g. 2026-03-03T11:30:00-05:00, or leave it out for now"
                    ),
                )
            }),
        }
    }
}

/// The event an action records.
fn build(kind: Kind, account: &str, f: &Fields, now: DateTime<Utc>) -> Result<Event, ApiError> {
    let account = account.to_string();
    let rep = f.text("rep", false)?;
    let body = match kind {
        Kind::Accept => EventBody::Accepted(Decision { account, rep }),
        Kind::Reject => EventBody::Rejected(Rejection {
            account,
            reason: f.required("reason")?,
            rep,
        }),
        Kind::Activity => {
            let activity = f.required("kind")?;
            if !ACTIVITY_KINDS.contains(&activity.as_str()) {
                return Err(ApiError::unprocessable(
                    "kind",
                    format!(
                        "field \"kind\": {activity:?} is not one of {}",
                        ACTIVITY_KINDS.join(", ")
                    ),
                ));
            }
            EventBody::Activity(Activity {
                account,
                rep,
                kind: activity,
                automated: false,
            })
        }
        Kind::Disposition => EventBody::Disposition(Disposition {
            account,
            status: f.required("status")?,
            next_step: f.text("next_step", false)?,
            rep,
        }),
        Kind::Reassign => EventBody::Reassign(Reassign {
            account,
            rep: f.required("rep")?,
            reason: f.text("reason", false)?,
        }),
    };
    Ok(Event {
        id: format!("api:{:032x}", rand::random::<u128>()),
        at: f.at(now)?,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(result: Result<Event, ApiError>) -> (String, Value) {
        match result {
            Err(ApiError::Unprocessable { message, detail }) => (message, detail),
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    fn event(kind: Kind, body: &str) -> Result<Event, ApiError> {
        build(
            kind,
            "acme",
            &Fields::read(kind, body.as_bytes())?,
            Utc::now(),
        )
    }

    #[test]
    fn a_rejection_needs_a_reason() {
        for body in ["", "{}", r#"{"reason": "  "}"#, r#"{"reason": null}"#] {
            let (msg, detail) = field_of(event(Kind::Reject, body));
            assert_eq!(detail, json!({ "field": "reason" }), "{body}: {msg}");
        }
        let e = event(
            Kind::Reject,
            r#"{"reason":"no budget","at":"2026-03-04T10:00:00-05:00"}"#,
        )
        .unwrap();
        assert!(e.id.starts_with("api:") && e.id.len() == 4 + 32, "{}", e.id);
        assert_eq!(e.at_utc().to_rfc3339(), "2026-03-04T15:00:00+00:00");
        assert_eq!(
            e.body,
            EventBody::Rejected(Rejection {
                account: "acme".into(),
                reason: "no budget".into(),
                rep: None
            })
        );
    }

    #[test]
    fn fields_out_of_their_set_are_named() {
        let (_, d) = field_of(event(Kind::Activity, r#"{"kind":"fax"}"#));
        assert_eq!(d, json!({ "field": "kind" }));
        let (_, d) = field_of(event(Kind::Accept, r#"{"reason":"x"}"#));
        assert_eq!(d, json!({ "field": "reason" }));
        let (_, d) = field_of(event(Kind::Reassign, r#"{"rep": 7}"#));
        assert_eq!(d, json!({ "field": "rep" }));
        let (_, d) = field_of(event(Kind::Accept, r#"{"at":"2026-03-04 10:00"}"#));
        assert_eq!(d, json!({ "field": "at" }));
    }
}
