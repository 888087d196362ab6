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

pub mod svg;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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
use handoff_core::engine::{takes_accounts, AccountRecord, ClockState, Snapshot};
use handoff_core::event::RepFacts;
use handoff_core::metrics::{self, Scorecard};
use handoff_core::period::Period;
use handoff_core::policy::{
    AlertTrigger, ClockKind, ClockLength, Commitment, Measure, MetricName, PeriodKind, Trigger,
};
use handoff_core::Policy;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::auth::{caller_of, hash_token, role_name, verify_password, Action, Caller, Scope};
use super::error::ApiError;
use super::routes::clocks::{clocks_in, ClockView};
use super::routes::scorecard::parse_as_of;
use super::routes::{query, replay};
use super::AppState;
use svg::{RefLine, Unit};

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
    caller: Caller,
    csrf: String,
    expires: Instant,
}

/// The dashboard's state in the service: sessions by id, and the channel
/// that tells open pages something changed.
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
    changed: broadcast::Sender<()>,
    /// Bumped by every change; the cached snapshot is of one version.
    version: AtomicU64,
    /// The live engine's state as of the last change, shared by every
    /// page load until the next one.
    cached: Mutex<Option<Cached>>,
    /// The data answers computed from it, by scope and filters, so that
    /// the second page with the same view costs a look-up.
    answers: Mutex<HashMap<String, Answer>>,
    /// Held while the state is copied or an answer computed: ten wall
    /// screens refetching after one change wait for one copy and one
    /// answer instead of making ten.
    computing: tokio::sync::Mutex<()>,
}

/// An answer: the state version it was computed from, when, and the JSON.
type Answer = (u64, Instant, Arc<Value>);

/// Shortest time between two copies of the live state.
const COPY_GAP: Duration = Duration::from_millis(250);

/// Most answers kept for one version of the state.
const ANSWERS_KEPT: usize = 256;

struct Cached {
    version: u64,
    taken: Instant,
    snapshot: Arc<Snapshot>,
}

/// How long a cached snapshot serves without a change through this
/// service: events that another service stored on a shared PostgreSQL
/// database reach the live engine without a notice here.
const CACHE_LIFE: Duration = Duration::from_secs(10);

impl Default for Sessions {
    fn default() -> Sessions {
        Sessions {
            by_id: Mutex::new(HashMap::new()),
            changed: broadcast::channel(16).0,
            version: AtomicU64::new(0),
            cached: Mutex::new(None),
            answers: Mutex::new(HashMap::new()),
            computing: tokio::sync::Mutex::new(()),
        }
    }
}

impl Sessions {
    /// Tells every open page to fetch its data again.
    pub fn notify_changed(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
        // No page listening is not an error.
        let _ = self.changed.send(());
    }

    /// The live engine's state as of now, copied once per change (and at
    /// most [`CACHE_LIFE`] old), shared by every page load.
    pub async fn live_snapshot(&self, state: &AppState) -> Result<Arc<Snapshot>, ApiError> {
        let mut version = self.version.load(Ordering::SeqCst);
        let wait = {
            let cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
            match cached.as_ref() {
                Some(c) if c.version == version && c.taken.elapsed() < CACHE_LIFE => {
                    return Ok(c.snapshot.clone());
                }
                Some(c) => COPY_GAP.saturating_sub(c.taken.elapsed()),
                None => Duration::ZERO,
            }
        };
        // The copy holds the live engine's lock (ingest and the clock task
        // wait): under a stream of changes, at most one per COPY_GAP, and
        // it takes in whatever arrived meanwhile.
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
            version = self.version.load(Ordering::SeqCst);
        }
        let shared = state.clone();
        let snapshot = Arc::new(super::blocking(move || shared.live().metrics_snapshot()).await?);
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        *cached = Some(Cached {
            version,
            taken: Instant::now(),
            snapshot: snapshot.clone(),
        });
        Ok(snapshot)
    }

    /// The answer computed for `key` from the current state, if any.
    fn answer(&self, key: &str) -> Option<Arc<Value>> {
        let version = self.version.load(Ordering::SeqCst);
        let answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        answers
            .get(key)
            .filter(|(v, taken, _)| *v == version && taken.elapsed() < CACHE_LIFE)
            .map(|(_, _, a)| a.clone())
    }

    /// Keeps the answer for `key`, computed from the state of `version`;
    /// answers of older versions go.
    fn keep_answer(&self, key: String, version: u64, answer: Arc<Value>) {
        let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        answers.retain(|_, (v, taken, _)| *v == version && taken.elapsed() < CACHE_LIFE);
        if answers.len() < ANSWERS_KEPT {
            answers.insert(key, (version, Instant::now(), answer));
        }
    }

    fn create(&self, caller: Caller) -> (String, String) {
        let id = random_hex();
        let csrf = random_hex();
        let mut map = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        map.insert(
            id.clone(),
            Session {
                caller,
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
    Ok(Some(session.caller))
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
    token: Option<String>,
    user: Option<String>,
    password: Option<String>,
}

/// The one answer to a failed sign-in, whichever part was wrong, so that
/// it does not tell which user names exist.
fn refused(with_token: bool) -> ApiError {
    ApiError::Unauthorized {
        message: if with_token {
            "unknown token: it is not in this service's database; `handoff token create` \
             makes one"
                .into()
        } else {
            "wrong user name or password; `handoff user create` makes a user".into()
        },
        invalid_token: with_token,
    }
}

/// The cookie of a session: secure (HTTPS, or a loopback address, which
/// browsers count as secure), not readable by scripts, not sent with
/// requests from other sites.
fn session_cookie(id: &str, max_age: u64) -> String {
    format!("{SESSION_COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age}")
}

/// POST /dashboard/login with `{"token": "hdf_..."}` or `{"user": ...,
/// "password": ...}`: a session for the holder, in a cookie, and its CSRF
/// token in the answer.
async fn login(
    State(state): State<AppState>,
    body: Result<Json<LoginBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|r| {
        ApiError::bad_request(
            format!(
                "{}; send {{\"token\": \"hdf_...\"}} or {{\"user\": ..., \"password\": ...}}",
                r.body_text()
            ),
            Value::Null,
        )
    })?;
    let caller = match (body.token, body.user, body.password) {
        (Some(token), None, None) => {
            let hash = hash_token(token.trim());
            let found = state.read(move |store| store.find_token(&hash)).await?;
            let Some(stored) = found else {
                tracing::info!("dashboard sign-in with an unknown token");
                return Err(refused(true));
            };
            caller_of(stored.name, &stored.role, stored.scope.as_deref())?
        }
        (None, Some(user), Some(password)) => {
            let name = user.trim().to_string();
            let found = state.read(move |store| store.find_user(&name)).await?;
            // argon2 takes tens of milliseconds on purpose: off the request
            // threads. An unknown name is checked against a fixed hash so
            // that it takes as long as a wrong password.
            let (phc, stored) = match found {
                Some(u) => (u.password_hash.clone(), Some(u)),
                None => (dummy_phc(), None),
            };
            let ok = super::blocking(move || Ok(verify_password(&password, &phc))).await?;
            match (ok, stored) {
                (true, Some(u)) => caller_of(u.name, &u.role, u.scope.as_deref())?,
                _ => {
                    tracing::info!(user = %user.trim(), "dashboard sign-in refused");
                    return Err(refused(false));
                }
            }
        }
        _ => {
            return Err(ApiError::bad_request(
                "send either {\"token\": \"hdf_...\"} or {\"user\": ..., \"password\": ...}",
                Value::Null,
            ))
        }
    };
    let answer = who(&caller);
    tracing::info!(name = %caller.name, role = role_name(caller.role), "dashboard sign-in");
    let (id, csrf) = state.sessions().create(caller);
    let mut answer = answer;
    answer["csrf"] = json!(csrf);
    Ok((
        [(SET_COOKIE, session_cookie(&id, SESSION_LIFE.as_secs()))],
        Json(answer),
    )
        .into_response())
}

/// An argon2id hash of a random password nobody has, made once, to verify
/// an unknown user name against.
fn dummy_phc() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| super::auth::hash_password(&random_hex()).unwrap_or_default())
        .clone()
}

/// What the page shows about the signed-in person.
fn who(caller: &Caller) -> Value {
    json!({
        "name": caller.name,
        "role": role_name(caller.role),
        "sees": caller.scope.describe(),
        "can_act": Action::Act.allowed_for(caller.role),
    })
}

/// POST /dashboard/logout: ends the session (needs its CSRF token).
async fn logout(State(state): State<AppState>, caller: Caller, headers: HeaderMap) -> Response {
    if let Some(id) = session_id(&headers) {
        state.sessions().remove(&id);
    }
    tracing::info!(name = %caller.name, "dashboard sign-out");
    (
        StatusCode::NO_CONTENT,
        [(SET_COOKIE, session_cookie("", 0))],
    )
        .into_response()
}

/// GET /dashboard/session: who is signed in, and the CSRF token.
async fn session(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let found = session_id(&headers).and_then(|id| state.sessions().get(&id));
    let Some(s) = found else {
        return Err(ApiError::Unauthorized {
            message: "not signed in: POST a token, or a user name and password, to \
                      /dashboard/login"
                .into(),
            invalid_token: false,
        });
    };
    let mut answer = who(&s.caller);
    answer["csrf"] = json!(s.csrf);
    Ok(Json(answer).into_response())
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

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The page's filters, all applied together, on top of the caller's scope.
#[derive(Debug, Clone, Default)]
struct Filters {
    team: Option<String>,
    rep: Option<String>,
    tier: Option<String>,
    channel: Option<String>,
}

impl Filters {
    fn of(q: &DataQuery) -> Filters {
        Filters {
            team: given(&q.team).map(String::from),
            rep: given(&q.rep).map(String::from),
            tier: given(&q.tier).map(String::from),
            channel: given(&q.channel).map(String::from),
        }
    }

    fn none(&self) -> bool {
        self.team.is_none() && self.rep.is_none() && self.tier.is_none() && self.channel.is_none()
    }

    /// Whether the account passes every filter: team and rep as the
    /// scopes of those names see it, a tier when one of its cycles reached
    /// it, a channel when the account or one of its cycles came through it.
    fn keeps(
        &self,
        reps: &std::collections::BTreeMap<String, RepFacts>,
        a: &AccountRecord,
    ) -> bool {
        self.team
            .as_ref()
            .is_none_or(|t| Scope::Team(t.clone()).sees(reps, a))
            && self
                .rep
                .as_ref()
                .is_none_or(|r| a.owner.as_deref() == Some(r.as_str()))
            && self.tier.as_ref().is_none_or(|t| {
                a.cycles
                    .iter()
                    .any(|c| c.tier.as_deref() == Some(t.as_str()))
            })
            && self.channel.as_ref().is_none_or(|ch| {
                a.channel.as_deref() == Some(ch.as_str())
                    || a.cycles
                        .iter()
                        .any(|c| c.channel.as_deref() == Some(ch.as_str()))
            })
    }
}

fn period_kind(text: Option<&str>) -> Result<PeriodKind, ApiError> {
    match text
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or("week")
    {
        "week" => Ok(PeriodKind::Week),
        "month" => Ok(PeriodKind::Month),
        other => Err(ApiError::bad_request(
            format!("period: {other:?} is not week or month"),
            json!({ "parameter": "period" }),
        )),
    }
}

/// The accounts the caller sees that pass the filters: the shared
/// snapshot itself when nothing narrows it, else a copy of those.
fn narrowed(snapshot: Arc<Snapshot>, scope: &Scope, filters: &Filters) -> Arc<Snapshot> {
    if *scope == Scope::All && filters.none() {
        return snapshot;
    }
    Arc::new(scope.narrowed(&snapshot, |reps, a| filters.keeps(reps, a)))
}

/// The number in a scorecard's applied target text (`>= 9`, `> 80%`), as
/// a count or a share.
fn target_number(text: &str) -> Option<f64> {
    let last = text.split_whitespace().last()?;
    match last.strip_suffix('%') {
        Some(pct) => pct.parse::<f64>().ok().map(|v| v / 100.0),
        None => last.parse().ok(),
    }
}

/// The first commitment measuring `metric`.
fn metric_commitment(policy: &Policy, metric: MetricName) -> Option<&Commitment> {
    policy
        .commitments
        .iter()
        .find(|c| matches!(c.measure, Measure::Metric(m) if m == metric))
}

/// A target line from a commitment's target as the period's card applies it.
fn target_line(card: &Scorecard, id: &str) -> Option<RefLine> {
    let k = card.commitments.iter().find(|k| k.id == id)?;
    Some(RefLine {
        label: "target".into(),
        value: target_number(&k.target)?,
        class: "target",
    })
}

/// The time-to-first-touch histograms of the chosen period, one per intent
/// tier of the policy, binned by a quarter of the first-touch clock's length
/// (the clock that starts at hand-off and stops at an activity), with its
/// line where that clock applies.
fn first_touch_charts(policy: &Policy, snapshot: &Snapshot, period: &Period) -> Vec<Value> {
    let clock = policy.commitments.iter().find_map(|c| match &c.measure {
        Measure::Clock(spec)
            if spec.start == Trigger::Handoff
                && matches!(&spec.kind, ClockKind::Deadline { stop } if stop.contains(&Trigger::Activity)) =>
        {
            match spec.length {
                ClockLength::Seconds(s) if s > 0 => Some((c.id.clone(), spec.clone(), s)),
                _ => None,
            }
        }
        _ => None,
    });
    // Without such a clock, hour bins and no line.
    let (bin, line_of) = match &clock {
        Some((_, _, s)) => (*s as f64 / 4.0, clock.as_ref()),
        None => (3600.0, None),
    };
    let hours = |s: f64| {
        let h = s / 3600.0;
        if (h - h.round()).abs() < 1e-9 {
            format!("{h:.0}h")
        } else {
            format!("{h:.1}h")
        }
    };
    let mut tiers: Vec<String> = policy.tiers.iter().map(|t| t.name.clone()).collect();
    tiers.reverse(); // the highest intent first, as the policy lists lowest first
    tiers.sort_by_key(|t| {
        // Tiers the first-touch clock covers come first.
        !line_of.is_some_and(|(_, spec, _)| spec.tiers.as_ref().is_none_or(|ts| ts.contains(t)))
    });
    tiers
        .iter()
        .map(|tier| {
            let mut counts = [0u32; 10];
            let mut untouched = 0u32;
            for a in &snapshot.accounts {
                for c in &a.cycles {
                    if c.tier.as_deref() != Some(tier)
                        || !c.handoff_at.is_some_and(|t| period.contains(t))
                    {
                        continue;
                    }
                    match c.first_touch_business_s {
                        Some(s) => counts[((s.max(0) as f64 / bin) as usize).min(8)] += 1,
                        None => untouched += 1,
                    }
                }
            }
            counts[9] = untouched;
            let mut bins: Vec<(String, u32)> = (0..8)
                .map(|i| (format!("<{}", hours(bin * (i + 1) as f64)), counts[i]))
                .collect();
            bins.push((format!("≥{}", hours(bin * 8.0)), counts[8]));
            bins.push(("none".into(), counts[9]));
            let applies = line_of
                .filter(|(_, spec, _)| spec.tiers.as_ref().is_none_or(|ts| ts.contains(tier)));
            let line = applies.map(|(_, spec, _)| (4.0, format!("SLA {}", spec.within_text)));
            let title = format!("Time to first touch, {tier} intent (business hours)");
            let n: u32 = counts.iter().sum();
            json!({
                "id": format!("first-touch-{tier}"),
                "title": title,
                "note": format!("{n} hand-offs, {untouched} untouched"),
                "svg": svg::histogram(&title, &bins, line),
            })
        })
        .collect()
}

/// Everything the page shows, from one snapshot narrowed to the caller.
fn build_data(
    policy: &Policy,
    snapshot: &Snapshot,
    periods: &[Period],
    as_of: DateTime<Utc>,
    caller: &Caller,
) -> Value {
    let cards: Vec<Scorecard> = metrics::scorecards(policy, snapshot, periods, as_of);
    let Some(now_card) = cards.last() else {
        return Value::Null;
    };
    let labels: Vec<String> = periods.iter().map(|p| p.label.clone()).collect();
    let series: Vec<Value> = cards
        .iter()
        .map(|c| {
            json!({
                "period": c.period.label,
                "commitments": c.commitments.iter().map(|k| json!({
                    "id": k.id, "actual": k.actual, "n": k.n, "status": k.status,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();

    let mut charts = Vec::new();
    // SALs per period against the SAL commitment's target.
    let sal: Vec<Option<f64>> = cards
        .iter()
        .map(|c| Some(f64::from(c.funnel.sal)))
        .collect();
    let sal_target =
        metric_commitment(policy, MetricName::SalCount).and_then(|c| target_line(now_card, &c.id));
    let title = format!("SAL volume per {}", kind_word(&periods[0]));
    charts.push(json!({
        "id": "sal-volume", "title": title,
        "svg": svg::bars(&title, &labels, &sal, &sal_target.into_iter().collect::<Vec<_>>(), Unit::Count),
    }));
    // Acceptance per period with the target and the alert threshold.
    let acc: Vec<Option<f64>> = cards
        .iter()
        .map(|c| c.funnel.conversions.acceptance)
        .collect();
    let mut refs: Vec<RefLine> = metric_commitment(policy, MetricName::AcceptanceRate)
        .map(|c| RefLine {
            label: "target".into(),
            value: c.target.value,
            class: "target",
        })
        .into_iter()
        .collect();
    refs.extend(policy.alerts.iter().filter_map(|r| match r.trigger {
        AlertTrigger::Metric {
            metric: MetricName::AcceptanceRate,
            threshold,
            below: true,
            ..
        } => Some(RefLine {
            label: "alert".into(),
            value: threshold,
            class: "alert",
        }),
        _ => None,
    }));
    let title = format!("Acceptance rate per {}", kind_word(&periods[0]));
    charts.push(json!({
        "id": "acceptance", "title": title,
        "svg": svg::bars(&title, &labels, &acc, &refs, Unit::Share),
    }));
    charts.extend(first_touch_charts(policy, snapshot, &now_card.period));
    // Attempts compliance: each cadence commitment's share met per period.
    for c in policy.commitments.iter().filter(|c| {
        matches!(&c.measure, Measure::Clock(spec) if matches!(spec.kind, ClockKind::Cadence { .. }))
    }) {
        let values: Vec<Option<f64>> = cards
            .iter()
            .map(|card| card.commitments.iter().find(|k| k.id == c.id).and_then(|k| k.actual))
            .collect();
        let title = format!("{}: {}", c.id, c.description);
        let refs: Vec<RefLine> = target_line(now_card, &c.id).into_iter().collect();
        charts.push(json!({
            "id": format!("compliance-{}", c.id), "title": title,
            "svg": svg::bars(&title, &labels, &values, &refs, Unit::Share),
        }));
    }
    // The funnel of the chosen period.
    let f = &now_card.funnel;
    let pct = |v: Option<f64>, what: &str| v.map(|v| format!("{} {what}", Unit::Share.fmt(v)));
    let title = format!("Funnel {}", now_card.period.label);
    charts.push(json!({
        "id": "funnel", "title": title,
        "svg": svg::funnel(&title, &[
            ("MQA", f.mqa, None),
            ("SAL", f.sal, pct(f.conversions.mqa_to_sal, "of MQAs so far")),
            ("SQO", f.sqo, pct(f.conversions.sal_to_sqo, "of SALs so far")),
            ("Won", f.won, pct(f.conversions.win_rate, "win rate")),
        ]),
        "funnel": f,
    }));
    // Velocity: median days to a win, per period.
    let title = "Velocity: median days to won".to_string();
    charts.push(json!({
        "id": "velocity", "title": title,
        "svg": svg::lines(&title, &labels, &[
            ("MQA→won", cards.iter().map(|c| c.velocity.median_days_mqa_to_won).collect()),
            ("SAL→won", cards.iter().map(|c| c.velocity.median_days_sal_to_won).collect()),
        ], &[], Unit::Days),
    }));
    // Marketing-influenced share of won ARR, per period.
    let share: Vec<Option<f64>> = cards.iter().map(|c| c.influenced_arr.share).collect();
    let refs: Vec<RefLine> = metric_commitment(policy, MetricName::InfluencedArrShare)
        .and_then(|c| target_line(now_card, &c.id))
        .into_iter()
        .collect();
    let title = "Marketing-influenced share of won ARR".to_string();
    let inf = &now_card.influenced_arr;
    charts.push(json!({
        "id": "influence", "title": title,
        "note": format!("{}: {:.0} of {:.0} ARR influenced", now_card.period.label, inf.influenced_arr, inf.won_arr),
        "svg": svg::bars(&title, &labels, &share, &refs, Unit::Share),
    }));

    // The breach queue: open clocks nearest their deadline, then breaches,
    // newest first.
    let mut queue: Vec<ClockView> = clocks_in(snapshot, |s| {
        matches!(s, ClockState::Open | ClockState::Breached)
    })
    .into_iter()
    .map(|mut k| {
        let who = k.breach_owner.clone().or_else(|| k.owner.clone());
        k.manager = who
            .as_ref()
            .and_then(|r| snapshot.reps.get(r))
            .and_then(|r| r.manager.clone());
        k
    })
    .collect();
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
    // Who an account may be moved to: the caller's own team for a rep or a
    // team's manager, anyone otherwise.
    let own_team = match &caller.scope {
        Scope::Team(t) => Some(t.clone()),
        Scope::Rep(r) => snapshot.reps.get(r).and_then(|f| f.team.clone()),
        _ => None,
    };
    let reps: Vec<Value> = snapshot
        .reps
        .values()
        .filter(|r| own_team.as_ref().is_none_or(|t| r.team.as_ref() == Some(t)))
        .filter(|r| takes_accounts(r))
        .map(|r| json!({ "rep": r.rep, "name": r.name, "team": r.team }))
        .collect();
    let teams: std::collections::BTreeSet<&str> = snapshot
        .reps
        .values()
        .filter_map(|r| r.team.as_deref())
        .collect();
    let channels: std::collections::BTreeSet<&str> = snapshot
        .accounts
        .iter()
        .filter_map(|a| a.channel.as_deref())
        .collect();
    json!({
        "period": now_card.period.label,
        "commitments": now_card.commitments,
        "funnel": now_card.funnel,
        "series": series,
        "charts": charts,
        "queue": { "total": total, "clocks": queue },
        "reps": reps,
        "options": {
            "teams": teams,
            "tiers": policy.tiers.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            "channels": channels,
        },
    })
}

fn kind_word(p: &Period) -> &'static str {
    if p.label.contains("-W") {
        "week"
    } else {
        "month"
    }
}

/// GET /dashboard/data (every role, by session or bearer token): the
/// chosen period's scorecard, the 11 periods before it, the charts and the
/// breach queue, of the accounts the caller sees that pass the filters.
async fn data(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<DataQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q, "period, at, team, rep, tier, channel, as_of")?;
    let kind = period_kind(q.period.as_deref())?;
    let filters = Filters::of(&q);
    let tz = state.policy().org_calendar().tz();
    let fixed_as_of = match given(&q.as_of) {
        Some(text) => Some(parse_as_of(Some(text))?),
        None => None,
    };
    let as_of = fixed_as_of.unwrap_or_else(|| state.now());
    let current = match given(&q.at) {
        None => Period::containing(kind, as_of, tz),
        Some(label) => match kind {
            PeriodKind::Week => Period::parse_week(label, tz),
            _ => Period::parse_month(label, tz),
        }
        .map_err(|why| ApiError::bad_request(format!("at: {why}"), json!({ "parameter": "at" })))?,
    };
    let started = Instant::now();
    // Now: the live engine's state (cached until the next change) and the
    // answers computed from it; a past instant: a replay of the log up to it.
    let key = format!("{:?}|{kind:?}|{}|{filters:?}", caller.scope, current.label);
    let version = state.sessions().version.load(Ordering::SeqCst);
    let cached = match fixed_as_of {
        None => state.sessions().answer(&key),
        Some(_) => None,
    };
    // One computation at a time; whoever waited may find it done.
    let _turn = match (&cached, fixed_as_of) {
        (None, None) => Some(state.sessions().computing.lock().await),
        _ => None,
    };
    let cached = match (cached, fixed_as_of) {
        (None, None) => state.sessions().answer(&key),
        (found, _) => found,
    };
    let body: Arc<Value> = match cached {
        Some(body) => body,
        None => {
            let snapshot = match fixed_as_of {
                None => state.sessions().live_snapshot(&state).await?,
                Some(at) => Arc::new(replay(&state, at).await?),
            };
            let got_state = started.elapsed();
            let shared = state.clone();
            let who = caller.clone();
            let body = super::blocking(move || {
                let visible = narrowed(snapshot, &who.scope, &filters);
                let mut periods = vec![current];
                while periods.len() < SPARK_PERIODS {
                    let before = periods[periods.len() - 1].previous(kind, tz);
                    periods.push(before);
                }
                periods.reverse();
                Ok(build_data(shared.policy(), &visible, &periods, as_of, &who))
            })
            .await?;
            tracing::debug!(
                state_ms = got_state.as_millis() as u64,
                computed_ms = (started.elapsed() - got_state).as_millis() as u64,
                "dashboard data computed"
            );
            let body = Arc::new(body);
            if fixed_as_of.is_none() {
                state.sessions().keep_answer(key, version, body.clone());
            }
            body
        }
    };
    tracing::debug!(
        total_ms = started.elapsed().as_millis() as u64,
        "dashboard data"
    );
    let mut body = (*body).clone();
    if let Value::Object(map) = &mut body {
        map.insert("as_of".into(), json!(as_of));
        map.insert("now".into(), json!(state.now()));
        map.insert(
            "caller".into(),
            json!({
                "name": caller.name,
                "role": role_name(caller.role),
                "sees": caller.scope.describe(),
                "can_act": Action::Act.allowed_for(caller.role),
            }),
        );
    }
    Ok(Json(body))
}

/// GET /dashboard/stream: Server-Sent Events, one `changed` event after
/// each successful write through this service, so open pages refetch.
async fn stream(
    State(state): State<AppState>,
    _caller: Caller,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = state.sessions().changed.subscribe();
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        // Missed notices (lagged) say the same: something changed.
        match rx.recv().await {
            Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => {
                Some((Ok(SseEvent::default().event("changed").data("1")), rx))
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
