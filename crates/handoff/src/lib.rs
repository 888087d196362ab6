//! handoff: the adapters around the pure SLA engine in `handoff-core`.
//!
//! Reading order:
//! - [`cli`]: the command line; one function per subcommand.
//! - [`store`]: the store, an embedded SQLite file or a PostgreSQL database:
//!   the append-only event log and the derived state rebuilt from it.
//! - [`import`]: CSV and JSON Lines import through mapping files.
//! - [`replay`]: runs the engine over the stored log (rebuild).
//! - [`report`]: the scorecard as a table, Markdown or JSON.
//! - [`review`]: the weekly revenue review (HTML, Markdown, JSON, text) and
//!   its scheduled delivery by `handoff serve`.
//! - [`plan`]: the SAL volume an ARR goal needs, written into the policy.
//! - [`explain`]: one account's story.
//! - [`check`]: policy diagnostics with file, line and column.
//! - [`gen`]: the synthetic event generator behind `gen` and `demo`.
//! - [`notify`]: the sender that delivers the alert outbox to Slack, webhooks
//!   and email.
//! - [`serve`]: the HTTP API (`handoff serve`), its bearer tokens and its
//!   OpenAPI document (`handoff openapi`).

pub mod check;
pub mod cli;
pub mod explain;
pub mod gen;
pub mod import;
pub mod notify;
pub mod plan;
pub mod replay;
pub mod report;
pub mod review;
pub mod serve;
pub mod store;
pub mod versions;
pub mod whatif;

/// mimalloc serves the many small, short-lived allocations of parsing and
/// replaying events faster than the system allocator (benches/engine.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
