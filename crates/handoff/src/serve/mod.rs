//! `handoff serve`: the HTTP API over the store (docs/api.md).
//!
//! The *service* answers on one listener with a tokio runtime and axum. Its
//! *state* is the store's location (a SQLite file or a PostgreSQL
//! database), two connections to the store and the policy loaded at
//! start-up. The *writer* connection appends ingested events, one
//! transaction per request, committed to disk before the answer
//! (`synchronous = FULL` on SQLite, `synchronous_commit = on` on
//! PostgreSQL); the *reader* answers the short queries (token look-ups,
//! readiness), so that a long append does not hold them up. A scorecard
//! opens its own connection for the length of its replay. The store is
//! synchronous, so every use of it runs on tokio's blocking pool, never on
//! the threads that serve requests. The state also holds the service's own
//! counters ([`metrics`]), which a layer around every route feeds with each
//! answer's route, status and latency.
//!
//! The state also holds the injected [`clock::Clock`] (the wall clock in
//! `handoff serve`, a hand-set one in tests) and the [`live::Live`] engine:
//! every event stored through the API is applied to it, and the *clock
//! task* ([`clock_loop`]) steps it forward to each deadline as it passes, so
//! that a breach's alert reaches the outbox the moment it happens. Writes
//! to the store and to the live engine are serialised by the writer lock,
//! which is always taken before the engine's. Several services may share
//! one PostgreSQL database: each step of the clock task first catches the
//! engine up with the events the others stored, at least every
//! [`CATCH_UP_EVERY`]; the outbox records each alert once and the senders
//! claim entries, so each is sent once.

pub mod auth;
pub mod clock;
pub mod dashboard;
pub mod error;
pub mod live;
pub mod metrics;
pub mod openapi;
pub mod routes;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use handoff_core::{Event, Policy};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::cli::ServeArgs;
use crate::replay::{recorded_policies, Policies};
use crate::store::{AppendOutcome, Location, Provenance, Store};
use clock::{Clock, SystemClock};
use error::ApiError;
use live::Live;
use metrics::Metrics;

/// What `handoff serve` was asked to run with.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The store: a SQLite file or a PostgreSQL database.
    pub db: Location,
    /// A policy file; default the store's, else the built-in default.
    pub policy: Option<PathBuf>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
}

/// The service's shared state; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    db: Location,
    writer: Mutex<Store>,
    reader: Mutex<Store>,
    policies: &'static Policies,
    max_body_bytes: usize,
    metrics: Metrics,
    live: Live,
    sessions: dashboard::Sessions,
}

impl AppState {
    /// Opens the store (creating it if needed), loads the policy and starts
    /// the live engine on the wall clock.
    pub fn open(config: &ServeConfig) -> Result<AppState> {
        AppState::open_with_clock(config, Arc::new(SystemClock))
    }

    /// [`AppState::open`] on an injected clock: replays the log up to the
    /// clock's now into the live engine and records that replay's alerts.
    pub fn open_with_clock(config: &ServeConfig, clock: Arc<dyn Clock>) -> Result<AppState> {
        let mut writer = Store::open_at(&config.db)?;
        writer.sync_every_commit()?;
        let reader = Store::open_at(&config.db)?;
        let policies = recorded_policies(&reader, config.policy.as_deref())?;
        // The live engine borrows its policy for as long as it runs, which
        // is as long as the state, shared across tasks: leaking the one
        // policy of a service gives it the `'static` life those tasks need
        // without self-reference. It is a few kilobytes once per start
        // (tests that start many services leak one each).
        let policies: &'static Policies = Box::leak(Box::new(policies));
        let (live, recorded) = Live::start(&mut writer, policies, clock)?;
        tracing::info!(recorded, live_since = %live.live_since(), "live engine started");
        Ok(AppState {
            inner: Arc::new(Inner {
                db: config.db.clone(),
                writer: Mutex::new(writer),
                reader: Mutex::new(reader),
                policies,
                max_body_bytes: config.max_body_bytes,
                metrics: Metrics::default(),
                live,
                sessions: dashboard::Sessions::default(),
            }),
        })
    }

    /// The live engine.
    pub fn live(&self) -> &Live {
        &self.inner.live
    }

    /// The service's notion of now (the injected clock).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.live.clock().now()
    }

    /// Stores valid events through the live engine: the new ones are
    /// applied and the alerts they raise stored with them in one
    /// transaction (docs/api.md, "Live clocks").
    pub async fn ingest(
        &self,
        events: Vec<Event>,
        sources: Vec<String>,
        recorded_at: String,
    ) -> Result<(AppendOutcome, Vec<String>), ApiError> {
        let shared = self.clone();
        self.write(move |store| {
            let from = Provenance {
                sources: &sources,
                default_source: "",
                recorded_at: Some(&recorded_at),
            };
            let (outcome, alerts) = shared.live().ingest(store, &events, &from)?;
            if alerts > 0 {
                tracing::info!(alerts, "alerts recorded with ingested events");
            }
            Ok((outcome, sources))
        })
        .await
    }

    /// One step of the clock task: judges the deadlines passed by now and
    /// records their alerts; returns how many alerts were new.
    pub async fn tick(&self) -> Result<usize, ApiError> {
        let shared = self.clone();
        self.write(move |store| shared.live().tick(store)).await
    }

    /// Where the store is.
    pub fn db(&self) -> &Location {
        &self.inner.db
    }

    /// The policy the service judges by.
    pub fn policy(&self) -> &Policy {
        &self.inner.policies.latest().policy
    }

    /// The policies the service judges by over time: the store's versions
    /// when it has any (read at start).
    pub fn policies(&self) -> &Policies {
        self.inner.policies
    }

    /// Largest request body accepted, in bytes.
    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }

    /// The dashboard's sessions and its change notices.
    pub fn sessions(&self) -> &dashboard::Sessions {
        &self.inner.sessions
    }

    /// The service's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Runs `f` on the writer connection, on the blocking pool.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        blocking(move || {
            let mut store = inner
                .writer
                .lock()
                .map_err(|_| anyhow!("the store's writer was poisoned by an earlier panic"))?;
            f(&mut store)
        })
        .await
    }

    /// Runs `f` on the reader connection, on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        blocking(move || {
            let store = inner
                .reader
                .lock()
                .map_err(|_| anyhow!("the store's reader was poisoned by an earlier panic"))?;
            f(&store)
        })
        .await
    }
}

/// Runs blocking work on tokio's blocking pool; its error is a fault (500).
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(anyhow!("a store task did not finish: {e}")))?
        .map_err(ApiError::internal)
}

/// Every route of the API.
pub fn router(state: AppState) -> Router {
    let limit = state.max_body_bytes();
    Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/v1/events", post(routes::events::post_events))
        .route("/v1/scorecard", get(routes::scorecard::get_scorecard))
        .route("/v1/accounts/{id}", get(routes::accounts::get_account))
        .route("/v1/accounts/{id}/accept", post(routes::actions::accept))
        .route("/v1/accounts/{id}/reject", post(routes::actions::reject))
        .route(
            "/v1/accounts/{id}/activity",
            post(routes::actions::activity),
        )
        .route(
            "/v1/accounts/{id}/disposition",
            post(routes::actions::disposition),
        )
        .route(
            "/v1/accounts/{id}/reassign",
            post(routes::actions::reassign),
        )
        .route("/v1/clocks", get(routes::clocks::get_clocks))
        .route("/v1/breaches", get(routes::clocks::get_breaches))
        .route("/v1/alerts", get(routes::alerts::get_alerts))
        .route("/metrics", get(routes::metrics::get_metrics))
        .route("/v1/openapi.json", get(routes::openapi::get_openapi))
        .merge(dashboard::routes())
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(state.clone(), count_request))
        .with_state(state)
}

/// Counts each answer by route pattern and status, with its latency.
async fn count_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // The pattern, not the path: `/v1/accounts/{id}` is one series however
    // many accounts there are; a path of no route is `unmatched`.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let write = request.method() == axum::http::Method::POST;
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics()
        .request(&route, response.status().as_u16(), started.elapsed());
    // A stored event or action: open dashboard pages fetch their data again.
    if write && response.status().is_success() && route.starts_with("/v1/") {
        state.sessions().notify_changed();
    }
    response
}

/// Serves the API on an already-bound listener until `shutdown` completes,
/// then lets requests in flight finish.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")
}

/// The clock task: steps the live engine just after each deadline (or
/// held-back event) passes, and sooner when ingest signals an earlier one,
/// until `shutdown`. Each step is [`AppState::tick`]; it runs on the
/// injected clock's now, so with the wall clock a breach is recorded within
/// a few milliseconds of its instant.
pub async fn clock_loop(state: AppState, mut shutdown: oneshot::Receiver<()>) {
    // Longest sleep: each step catches the engine up with the events other
    // writers stored, and re-reads the clock, in case it was stepped.
    const LONGEST: std::time::Duration = CATCH_UP_EVERY;
    loop {
        let pause = match state.tick().await {
            Ok(recorded) => {
                if recorded > 0 {
                    tracing::info!(recorded, "alerts recorded as deadlines passed");
                    state.sessions().notify_changed();
                }
                match state.live().next_wake() {
                    Ok(Some(at)) => (at - state.now()).to_std().unwrap_or_default().min(LONGEST),
                    Ok(None) => LONGEST,
                    Err(e) => {
                        tracing::error!(error = %e, "clock task cannot read the live engine");
                        LONGEST
                    }
                }
            }
            Err(e) => {
                // The step failed and the engine was rebuilt; try again
                // shortly rather than spin on a busy store.
                tracing::error!(error = ?e, "clock step failed");
                std::time::Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = state.live().changed() => {}
            _ = &mut shutdown => break,
        }
    }
}

/// The longest the clock task sleeps: how soon the live engine learns of
/// events another service (or an import) stored in the same database.
pub const CATCH_UP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// How often the sender looks for due alerts: a recorded alert leaves
/// within about this long (issue 3 asks for a breach heard "in the second").
const SEND_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// The sender task: delivers due outbox entries through the configured
/// channels, at the injected clock's now, until shutdown. It has its own
/// connection, so a slow receiver never holds the writer lock.
pub async fn sender_loop(
    state: AppState,
    channels: crate::notify::Channels,
    mut shutdown: oneshot::Receiver<()>,
) {
    let setup = crate::notify::client(&channels).and_then(|client| {
        let store = Store::open_at(state.db())?;
        Ok((client, std::sync::Mutex::new(store)))
    });
    let (client, store) = match setup {
        Ok(parts) => parts,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "alert sender cannot start; alerts stay pending");
            return;
        }
    };
    loop {
        match crate::notify::deliver_due(&store, &channels, state.now(), &client).await {
            Ok(r) if r.taken > 0 => {
                tracing::info!(
                    sent = r.sent,
                    retrying = r.retrying,
                    failed = r.failed,
                    "alerts delivered"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %format!("{e:#}"), "delivering alerts failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(SEND_EVERY) => {}
            _ = &mut shutdown => break,
        }
    }
}

/// Runs `handoff serve`: opens the store, binds, serves until Ctrl-C or
/// SIGTERM.
pub fn run_cli(args: &ServeArgs) -> Result<u8> {
    let config = ServeConfig {
        db: args.store.location()?,
        policy: args.store.policy.clone(),
        max_body_bytes: args.max_body_bytes,
    };
    let channels = match &args.notify {
        Some(path) => Some(crate::notify::Channels::load(path)?),
        None => None,
    };
    let state = AppState::open(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        tracing::info!(%addr, db = %config.db, "serving");
        eprintln!(
            "handoff: serving {} on http://{addr} (Ctrl-C to stop)",
            config.db
        );
        let (stop_clock, clock_stopped) = oneshot::channel();
        let clock = tokio::spawn(clock_loop(state.clone(), clock_stopped));
        let (stop_sender, sender_stopped) = oneshot::channel();
        let sender = match channels {
            Some(channels) => Some(tokio::spawn(sender_loop(
                state.clone(),
                channels,
                sender_stopped,
            ))),
            None => {
                eprintln!(
                    "handoff: no --notify file: alerts are recorded in the outbox but not sent \
                     (see docs/notifications.md)"
                );
                None
            }
        };
        // The weekly revenue review on the policy's schedule (docs/review.md).
        let (stop_review, review_stopped) = oneshot::channel();
        let review =
            crate::review::schedule::spawn(&state, args.notify.as_deref(), review_stopped)?;
        let served = run(listener, state, shutdown_signal()).await;
        let _ = stop_clock.send(());
        let _ = stop_sender.send(());
        let _ = stop_review.send(());
        if let Some(review) = review {
            let _ = review.await;
        }
        let _ = clock.await;
        if let Some(sender) = sender {
            let _ = sender.await;
        }
        served
    })?;
    eprintln!("handoff: stopped");
    Ok(crate::cli::EXIT_OK)
}

/// Completes on Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("stopping: finishing the requests in flight");
    eprintln!("handoff: stopping: finishing the requests in flight");
}
