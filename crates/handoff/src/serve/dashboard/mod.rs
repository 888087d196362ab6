//! The shared SLA dashboard at `/` (docs/dashboard.md).
//!
//! The *page* is one HTML file, one script and one style sheet built into
//! the binary (`assets/dashboard/`), so it needs no CDN. A *session* is a
//! random id in an `HttpOnly`, `SameSite=Strict` cookie that stands for the
//! API token the person signed in with: the API's [`Caller`] extractor
//! accepts it where a bearer header is missing, so the page calls the same
//! `/v1` endpoints, under the same roles, as any client. Every request a
//! session makes that is not a GET must carry the session's *CSRF token* in
//! `X-CSRF-Token`. Sessions live in the service's memory ([`Sessions`]): a
//! restart signs everyone out.
//!
//! `GET /dashboard/data` gathers what the page shows in one replay: the
//! scorecard of the chosen period (optionally narrowed to one team, rep,
//! tier or channel through the scorecard's breakdown), the same figures for
//! the 11 periods before it (the sparklines) and the breach queue.
//! `GET /dashboard/stream` is a Server-Sent Events stream that says
//! `changed` whenever a write through this service succeeded.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use handoff_core::engine::ClockState;
use handoff_core::metrics::{self, Dimension, Scorecard};
use handoff_core::period::Period;
use handoff_core::policy::PeriodKind;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::auth::{hash_token, role_name, Caller};
use super::error::ApiError;
use super::routes::clocks::{clocks, ClockView};
use super::routes::scorecard::parse_as_of;
use super::routes::{query, replay};
use super::AppState;
use crate::cli::TokenRole;

/// The cookie that carries a session id.
pub const SESSION_COOKIE: &str = "handoff_session";

/// The header that carries a session's CSRF token on every write.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long a session lasts after sign-in.
const SESSION_LIFE: Duration = Duration::from_secs(12 * 3600);

/// Periods in a sparkline, the chosen one included.
const SPARK_PERIODS: usize = 12;

/// Most clocks the breach queue lists.
const QUEUE_LIMIT: usize = 200;

const INDEX_HTML: &str = include_str!("../../../assets/dashboard/index.html");
const APP_JS: &str = include_str!("../../../assets/dashboard/app.js");
const APP_CSS: &str = include_str!("../../../assets/dashboard/app.css");

/// One signed-in person.
#[derive(Debug, Clone)]
struct Session {
    name: String,
    role: TokenRole,
    csrf: String,
    expires: Instant,
}

/// The dashboard's state in the service: sessions by id, and the channel
/// that tells open pages something changed.
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
    changed: broadcast::Sender<()>,
}

impl Default for Sessions {
    fn default() -> Sessions {
        Sessions {
            by_id: Mutex::new(HashMap::new()),
            changed: broadcast::channel(16).0,
        }
    }
}

impl Sessions {
    /// Tells every open page to fetch its data again.
    pub fn notify_changed(&self) {
        // No page listening is not an error.
        let _ = self.changed.send(());
    }

    fn create(&self, name: String, role: TokenRole) -> (String, String) {
        let id = random_hex();
        let csrf = random_hex();
        let mut map = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        map.insert(
            id.clone(),
            Session {
                name,
                role,
                csrf: csrf.clone(),
                expires: now + SESSION_LIFE,
            },
        );
        (id, csrf)
    }

    fn get(&self, id: &str) -> Option<Session> {
        let map = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id).filter(|s| s.expires > Instant::now()).cloned()
    }

    fn remove(&self, id: &str) {
        let mut map = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(id);
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The session id in the request's cookies, if any.
fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The caller a session cookie stands for, when the request carries no
/// bearer token: `Ok(None)` without a live session; a 403 for a write
/// whose `X-CSRF-Token` is missing or wrong.
pub fn session_caller(parts: &Parts, state: &AppState) -> Result<Option<Caller>, ApiError> {
    let Some(id) = session_id(&parts.headers) else {
        return Ok(None);
    };
    let Some(session) = state.sessions().get(&id) else {
        return Ok(None);
    };
    if !matches!(parts.method, Method::GET | Method::HEAD) {
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !constant_time_eq(sent.as_bytes(), session.csrf.as_bytes()) {
            return Err(ApiError::Forbidden {
                message: "a signed-in page's write needs the session's CSRF token in the \
                          X-CSRF-Token header (GET /dashboard/session gives it); reload the \
                          page"
                    .into(),
                detail: json!({ "header": "X-CSRF-Token" }),
            });
        }
    }
    Ok(Some(Caller {
        name: session.name,
        role: session.role,
    }))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The dashboard's routes, merged into the service's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/dashboard/app.js", get(app_js))
        .route("/dashboard/app.css", get(app_css))
        .route("/dashboard/login", post(login))
        .route("/dashboard/logout", post(logout))
        .route("/dashboard/session", get(session))
        .route("/dashboard/data", get(data))
        .route("/dashboard/stream", get(stream))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn app_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    token: String,
}

/// POST /dashboard/login `{"token": "hdf_..."}`: a session for the token's
/// holder, in a cookie.
async fn login(
    State(state): State<AppState>,
    body: Result<Json<LoginBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|r| {
        ApiError::bad_request(
            format!("{}; send {{\"token\": \"hdf_...\"}}", r.body_text()),
            Value::Null,
        )
    })?;
    let hash = hash_token(body.token.trim());
    let found = state.read(move |store| store.find_token(&hash)).await?;
    let Some(stored) = found else {
        tracing::info!("dashboard sign-in with an unknown token");
        return Err(ApiError::Unauthorized {
            message: "unknown token: it is not in this service's database; \
                      `handoff token create` makes one"
                .into(),
            invalid_token: true,
        });
    };
    let role = <TokenRole as clap::ValueEnum>::from_str(&stored.role, false).map_err(|_| {
        ApiError::internal(anyhow::anyhow!(
            "token {:?} has unknown role {:?} in the store",
            stored.name,
            stored.role
        ))
    })?;
    let (id, csrf) = state.sessions().create(stored.name.clone(), role);
    tracing::info!(name = %stored.name, role = role_name(role), "dashboard sign-in");
    let cookie = format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_LIFE.as_secs()
    );
    Ok((
        [(SET_COOKIE, cookie)],
        Json(json!({ "name": stored.name, "role": role_name(role), "csrf": csrf })),
    )
        .into_response())
}

/// POST /dashboard/logout: ends the session (needs its CSRF token).
async fn logout(State(state): State<AppState>, caller: Caller, headers: HeaderMap) -> Response {
    if let Some(id) = session_id(&headers) {
        state.sessions().remove(&id);
    }
    tracing::info!(name = %caller.name, "dashboard sign-out");
    (
        StatusCode::NO_CONTENT,
        [(
            SET_COOKIE,
            format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
        )],
    )
        .into_response()
}

/// GET /dashboard/session: who is signed in, and the CSRF token.
async fn session(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let found = session_id(&headers).and_then(|id| state.sessions().get(&id));
    let Some(s) = found else {
        return Err(ApiError::Unauthorized {
            message: "not signed in: POST a token to /dashboard/login".into(),
            invalid_token: false,
        });
    };
    Ok(Json(json!({
        "name": s.name,
        "role": role_name(s.role),
        "csrf": s.csrf,
        "can_act": matches!(s.role, TokenRole::Admin | TokenRole::Manager),
    }))
    .into_response())
}

/// The parameters of GET /dashboard/data; the page keeps them in its URL.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataQuery {
    /// `week` (default) or `month`.
    period: Option<String>,
    /// The period's label, e.g. `2026-W10` or `2026-03`; default the one
    /// holding `as_of`.
    at: Option<String>,
    team: Option<String>,
    rep: Option<String>,
    tier: Option<String>,
    channel: Option<String>,
    as_of: Option<String>,
}

impl DataQuery {
    /// The one breakdown key asked for, if any; several is a 400.
    fn narrowing(&self) -> Result<Option<(Dimension, String)>, ApiError> {
        let given: Vec<(Dimension, &str)> = [
            (Dimension::Team, &self.team),
            (Dimension::Rep, &self.rep),
            (Dimension::Tier, &self.tier),
            (Dimension::Channel, &self.channel),
        ]
        .into_iter()
        .filter_map(|(d, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| (d, v)))
        .collect();
        match given.as_slice() {
            [] => Ok(None),
            [(d, v)] => Ok(Some((*d, v.to_string()))),
            _ => Err(ApiError::bad_request(
                "give at most one of team, rep, tier, channel: the scorecard narrows by \
                 one dimension at a time",
                Value::Null,
            )),
        }
    }
}

fn period_kind(text: Option<&str>) -> Result<PeriodKind, ApiError> {
    match text.unwrap_or("week") {
        "week" => Ok(PeriodKind::Week),
        "month" => Ok(PeriodKind::Month),
        other => Err(ApiError::bad_request(
            format!("period: {other:?} is not week or month"),
            json!({ "parameter": "period" }),
        )),
    }
}

/// A scorecard's commitments, narrowed to one breakdown key when asked.
fn card(
    state: &AppState,
    snapshot: &handoff_core::engine::Snapshot,
    period: &Period,
    as_of: DateTime<Utc>,
    narrow: &Option<(Dimension, String)>,
) -> Scorecard {
    let policy = state.policy();
    match narrow {
        None => metrics::scorecard(policy, snapshot, period, as_of),
        Some((dim, key)) => metrics::breakdown(policy, snapshot, period, as_of, *dim)
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, c)| c)
            // A key with nothing in the period: the scorecard of no cycles.
            .unwrap_or_else(|| {
                let empty = handoff_core::engine::Snapshot {
                    as_of: snapshot.as_of,
                    events: 0,
                    accounts: Vec::new(),
                    alerts: Vec::new(),
                    reps: snapshot.reps.clone(),
                };
                metrics::scorecard(policy, &empty, period, as_of)
            }),
    }
}

/// GET /dashboard/data (every role, by session or bearer token).
async fn data(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<DataQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q, "period, at, team, rep, tier, channel, as_of")?;
    let kind = period_kind(q.period.as_deref())?;
    let narrow = q.narrowing()?;
    // Default now on the service's clock (the injected one in tests).
    let as_of = match q.as_of.as_deref().filter(|a| !a.is_empty()) {
        Some(text) => parse_as_of(Some(text))?,
        None => state.now(),
    };
    let tz = state.policy().org_calendar().tz();
    let current = match q.at.as_deref().filter(|a| !a.is_empty()) {
        None => Period::containing(kind, as_of, tz),
        Some(label) => match kind {
            PeriodKind::Week => Period::parse_week(label, tz),
            _ => Period::parse_month(label, tz),
        }
        .map_err(|why| {
            ApiError::bad_request(format!("at: {why}"), json!({ "parameter": "at" }))
        })?,
    };
    let started = Instant::now();
    let snapshot = replay(&state, as_of).await?;
    let replayed = started.elapsed();

    let shared = state.clone();
    let narrow2 = narrow.clone();
    let (now_card, series, queue, reps) = super::blocking(move || {
        let mut periods = vec![current.clone()];
        while periods.len() < SPARK_PERIODS {
            let before = periods[periods.len() - 1].previous(kind, tz);
            periods.push(before);
        }
        periods.reverse();
        let series: Vec<Value> = periods
            .iter()
            .map(|p| {
                let c = card(&shared, &snapshot, p, as_of, &narrow2);
                json!({
                    "period": p.label,
                    "commitments": c.commitments.iter().map(|k| json!({
                        "id": k.id, "actual": k.actual, "n": k.n, "status": k.status,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let now_card = card(&shared, &snapshot, &current, as_of, &narrow2);
        let team_of = |rep: &Option<String>| {
            rep.as_ref()
                .and_then(|r| snapshot.reps.get(r))
                .and_then(|r| r.team.clone())
        };
        let mut queue: Vec<ClockView> = clocks(&snapshot)
            .into_iter()
            .filter(|k| matches!(k.state, ClockState::Open | ClockState::Breached))
            .filter(|k| match &narrow2 {
                Some((Dimension::Team, t)) => team_of(&k.owner).as_deref() == Some(t),
                Some((Dimension::Rep, r)) => k.owner.as_deref() == Some(r),
                Some((Dimension::Tier, t)) => k.tier.as_deref() == Some(t),
                _ => true,
            })
            .map(|mut k| {
                let who = k.breach_owner.clone().or_else(|| k.owner.clone());
                k.manager = who
                    .as_ref()
                    .and_then(|r| snapshot.reps.get(r))
                    .and_then(|r| r.manager.clone());
                k
            })
            .collect();
        // Open clocks nearest their deadline first, then the breaches,
        // newest first.
        queue.sort_by(|a, b| {
            let rank = |k: &ClockView| u8::from(k.state != ClockState::Open);
            rank(a).cmp(&rank(b)).then_with(|| {
                if a.state == ClockState::Open {
                    a.deadline.cmp(&b.deadline)
                } else {
                    b.breach_at.cmp(&a.breach_at)
                }
            })
        });
        let total = queue.len();
        queue.truncate(QUEUE_LIMIT);
        let reps: Vec<Value> = snapshot
            .reps
            .values()
            .map(|r| json!({ "rep": r.rep, "name": r.name, "team": r.team }))
            .collect();
        Ok((now_card, series, json!({ "total": total, "clocks": queue }), reps))
    })
    .await?;
    tracing::debug!(replay_ms = replayed.as_millis() as u64, total_ms = started.elapsed().as_millis() as u64, "dashboard data");
    Ok(Json(json!({
        "as_of": as_of,
        "caller": { "name": caller.name, "role": role_name(caller.role) },
        "period": now_card.period.label,
        "narrow": narrow.map(|(d, k)| json!({ "by": d, "key": k })),
        "commitments": now_card.commitments,
        "funnel": now_card.funnel,
        "series": series,
        "queue": queue,
        "reps": reps,
    })))
}

/// GET /dashboard/stream: Server-Sent Events, one `changed` event after
/// each successful write through this service, so open pages refetch.
async fn stream(
    State(state): State<AppState>,
    _caller: Caller,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = state.sessions().changed.subscribe();
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    return Some((Ok(SseEvent::default().event("changed").data("1")), rx));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
