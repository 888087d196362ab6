//! `handoff serve`: the HTTP API over the store (docs/api.md).
//!
//! The *service* answers on one listener with a tokio runtime and axum. Its
//! *state* is the database path, two connections to the SQLite store and
//! the policy loaded at start-up. The *writer* connection appends ingested
//! events, one transaction per request, committed to disk before the answer
//! (`synchronous = FULL`); the *reader* answers the short queries (token
//! look-ups, readiness), so that a long append does not hold them up. A
//! scorecard opens its own connection for the length of its replay. The
//! store is synchronous (rusqlite), so every use of it runs on tokio's
//! blocking pool, never on the threads that serve requests. The state also
//! holds the service's own counters ([`metrics`]), which a layer around
//! every route feeds with each answer's route, status and latency.

pub mod auth;
pub mod error;
pub mod metrics;
pub mod routes;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use handoff_core::Policy;
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use crate::replay::load_policy;
use crate::store::Store;
use error::ApiError;
use metrics::Metrics;

/// What `handoff serve` was asked to run with.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The SQLite database file.
    pub db: PathBuf,
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
    db: PathBuf,
    writer: Mutex<Store>,
    reader: Mutex<Store>,
    policy: Policy,
    max_body_bytes: usize,
    metrics: Metrics,
}

impl AppState {
    /// Opens the store (creating it if needed) and loads the policy.
    pub fn open(config: &ServeConfig) -> Result<AppState> {
        let mut writer = Store::open(&config.db)?;
        writer.sync_every_commit()?;
        let reader = Store::open(&config.db)?;
        let (policy, _) = load_policy(&reader, config.policy.as_deref())?;
        Ok(AppState {
            inner: Arc::new(Inner {
                db: config.db.clone(),
                writer: Mutex::new(writer),
                reader: Mutex::new(reader),
                policy,
                max_body_bytes: config.max_body_bytes,
                metrics: Metrics::default(),
            }),
        })
    }

    /// The database file.
    pub fn db(&self) -> &Path {
        &self.inner.db
    }

    /// The policy the service judges by.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// Largest request body accepted, in bytes.
    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
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
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics()
        .request(&route, response.status().as_u16(), started.elapsed());
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

/// Runs `handoff serve`: opens the store, binds, serves until Ctrl-C or
/// SIGTERM.
pub fn run_cli(args: &ServeArgs) -> Result<u8> {
    let config = ServeConfig {
        db: args.store.db.clone(),
        policy: args.store.policy.clone(),
        max_body_bytes: args.max_body_bytes,
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
        tracing::info!(%addr, db = %config.db.display(), "serving");
        eprintln!(
            "handoff: serving {} on http://{addr} (Ctrl-C to stop)",
            config.db.display()
        );
        run(listener, state, shutdown_signal()).await
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
