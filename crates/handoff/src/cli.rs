//! The command line: arguments for each subcommand and the dispatcher.
//!
//! Exit codes are stable: 0 success, 1 problems found (`check` on a bad
//! policy, an import with rejected rows when `--strict`), 2 an error.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::store::Location;

/// Success.
pub const EXIT_OK: u8 = 0;
/// Problems found in the input (bad policy, rejected rows under --strict).
pub const EXIT_PROBLEMS: u8 = 1;
/// handoff could not do what was asked.
pub const EXIT_ERROR: u8 = 2;

/// Make the Marketing-Sales SLA real: qualify accounts, hand them to Sales,
/// time follow-up against the agreed clocks, escalate misses, report.
#[derive(Debug, Parser)]
#[command(name = "handoff", version, about)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by commands that open the store.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The store: a SQLite database file, or a PostgreSQL database as
    /// postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (docs/storage.md).
    #[arg(long, env = "HANDOFF_DB", default_value = "handoff.db")]
    pub db: PathBuf,
    /// Policy file; default: the policy recorded in the store, else
    /// policies/default.toml's built-in copy.
    #[arg(long, env = "HANDOFF_POLICY")]
    pub policy: Option<PathBuf>,
}

impl StoreArgs {
    /// The store `--db` names (a postgres:// URL or a SQLite file).
    pub fn location(&self) -> Result<Location> {
        Location::from_arg(&self.db)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a year for about 2,000 accounts into the database and print
    /// the scorecard.
    Demo(DemoArgs),
    /// Write a synthetic event stream as JSON Lines.
    Gen(GenArgs),
    /// Import CSV or JSON Lines files through a mapping file.
    Import(ImportArgs),
    /// Print the SLA scorecard for a period.
    Report(ReportArgs),
    /// Tell one account's story: qualification, stages, clocks, alerts.
    Explain(ExplainArgs),
    /// Replay the stored history under the policy in force and a candidate
    /// and show the differences, or sweep one policy parameter.
    Whatif(WhatifArgs),
    /// Check a policy file and report every problem with its position.
    Check(CheckArgs),
    /// The weekly revenue review: SLA performance tied to pipeline and ARR
    /// (docs/review.md).
    Review(ReviewArgs),
    /// Work back from an ARR goal to the SALs needed per month, through the
    /// measured funnel.
    Plan(PlanArgs),
    /// Rebuild all derived state from the stored event log.
    Rebuild(RebuildArgs),
    /// Run the HTTP API: ingest events, serve the scorecard (docs/api.md).
    Serve(ServeArgs),
    /// Manage the API's bearer tokens.
    Token(TokenArgs),
    /// Record policy versions in the store and list them (docs/policy.md).
    Policy(PolicyArgs),
    /// Manage the dashboard's users (name and password sign-in).
    User(UserArgs),
    /// Print the HTTP API's OpenAPI 3.1 document (JSON) without starting a
    /// server, e.g. to generate a client.
    ///
    /// The same document `handoff serve` answers at GET /v1/openapi.json.
    Openapi,
}

/// What to generate: shared by `gen` and `demo`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// Number of accounts.
    #[arg(long, default_value_t = 2000)]
    pub accounts: u32,
    /// Days of history, from --start.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Random seed; the same seed gives the same events.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// First day of the history (YYYY-MM-DD). Fixed, so that the same
    /// options give the same events on every machine and every day; `demo`
    /// judges its scorecard as of the end of the history.
    #[arg(long, default_value = "2026-01-01")]
    pub start: String,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Output format of the scorecard.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Output file; default standard output.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Mapping file (see mappings/ and docs/import.md); not needed for
    /// JSON Lines already in handoff's event model.
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// Exit 1 when any row was rejected.
    #[arg(long)]
    pub strict: bool,
    /// Where to write this run's rejected rows (JSON Lines); default
    /// <db>.rejects.jsonl beside a SQLite file, DATABASE.rejects.jsonl in
    /// the current folder for PostgreSQL.
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// CSV or JSON Lines files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Scorecard output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Markdown,
}

/// Breakdown dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    Team,
    Rep,
    Manager,
    Tier,
    Channel,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// A calendar month, e.g. 2018-03.
    #[arg(long, group = "period")]
    pub month: Option<String>,
    /// An ISO week, e.g. 2018-W10.
    #[arg(long, group = "period")]
    pub week: Option<String>,
    /// A quarter, e.g. 2018Q1.
    #[arg(long, group = "period")]
    pub quarter: Option<String>,
    /// First day (inclusive), with --to.
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// The day after the last one reported (exclusive), with --from:
    /// --from 2018-01-01 --to 2018-04-01 is the first quarter.
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// Break every figure down by this dimension.
    #[arg(long, value_enum)]
    pub by: Option<By>,
    /// Output format; JSON is the stable shape documented in docs/metrics.md.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Judge open clocks as of this instant (RFC 3339); default now.
    #[arg(long)]
    pub as_of: Option<String>,
}

/// Review output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReviewFormat {
    /// One self-contained HTML file with inline SVG charts.
    Html,
    Markdown,
    /// The stable shape documented in docs/review.md.
    Json,
    /// Plain text for a terminal.
    Table,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The ISO week to review, e.g. 2026-W48; default the last whole week
    /// before --as-of.
    #[arg(long)]
    pub week: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReviewFormat::Table)]
    pub format: ReviewFormat,
    /// Write the review to this file instead of standard output.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Judge open clocks and cohorts as of this instant (RFC 3339); default
    /// now.
    #[arg(long)]
    pub as_of: Option<String>,
}

/// Plan output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The ARR to win in the quarter, in the policy's currency, e.g. 2400000.
    #[arg(long)]
    pub arr_target: f64,
    /// The quarter the ARR is to be won in, e.g. 2027Q1.
    #[arg(long)]
    pub quarter: String,
    /// Measure the funnel over this many whole months before --as-of's
    /// month.
    #[arg(long, default_value_t = 12)]
    pub basis_months: u32,
    /// Measure as of this instant (RFC 3339); default now.
    #[arg(long)]
    pub as_of: Option<String>,
    /// Write the SALs needed per month into this policy file as the SAL
    /// volume commitment's monthly target, keeping its comments and layout.
    #[arg(long)]
    pub write_policy: Option<PathBuf>,
    /// The commitment to set; default the policy's first on `sal_count`.
    #[arg(long)]
    pub commitment: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    pub format: PlanFormat,
}

#[derive(Debug, Args)]
pub struct WhatifArgs {
    /// The store: a SQLite database file, or a PostgreSQL database as
    /// postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (docs/storage.md).
    #[arg(long, env = "HANDOFF_DB", default_value = "handoff.db")]
    pub db: PathBuf,
    /// The candidate policy to compare with the one in force.
    #[arg(long, conflicts_with = "sweep")]
    pub policy: Option<PathBuf>,
    /// The policy in force; default: the one recorded in the store.
    #[arg(long)]
    pub current: Option<PathBuf>,
    /// One parameter of the policy in force at a few values, e.g.
    /// 'tiers.mid.window=14d,21d,30d,45d' (arrays: 'alerts[1].escalate[0].after=2h,4h').
    #[arg(long)]
    pub sweep: Option<String>,
    /// First day compared (inclusive), with --to; default the whole history.
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// The day after the last one compared, with --from.
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = WhatifFormat::Table)]
    pub format: WhatifFormat,
    /// Replay the events up to this instant (RFC 3339) and judge clocks then;
    /// default now.
    #[arg(long)]
    pub as_of: Option<String>,
}

/// Output format of `whatif`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WhatifFormat {
    Table,
    Json,
    Markdown,
    Html,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Account id.
    pub account: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Tell the story as of this instant (RFC 3339); default now.
    #[arg(long)]
    pub as_of: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Policy file to check.
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct RebuildArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Judge open clocks as of this instant (RFC 3339); default now.
    #[arg(long)]
    pub as_of: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address and port to listen on; port 0 picks a free one.
    #[arg(long, env = "HANDOFF_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Notification channels (docs/notifications.md); without it, alerts
    /// are recorded in the outbox but not sent.
    #[arg(long, env = "HANDOFF_NOTIFY")]
    pub notify: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check a policy file and record it as the next version, in force from
    /// --effective (default: now; the first version: from the beginning).
    Apply(PolicyApplyArgs),
    /// List the store's policy versions.
    List(PolicyListArgs),
}

#[derive(Debug, Args)]
pub struct PolicyApplyArgs {
    /// The store: a SQLite file or a postgres:// URL.
    #[arg(long, env = "HANDOFF_DB", default_value = "handoff.db")]
    pub db: PathBuf,
    /// The policy file to record.
    pub file: PathBuf,
    /// When it takes effect: an RFC 3339 instant (2026-06-01T00:00:00Z) or
    /// `now`. Never before the latest version's.
    #[arg(long)]
    pub effective: Option<String>,
    /// Who applies it; default $USER.
    #[arg(long)]
    pub by: Option<String>,
}

#[derive(Debug, Args)]
pub struct PolicyListArgs {
    /// The store: a SQLite file or a postgres:// URL.
    #[arg(long, env = "HANDOFF_DB", default_value = "handoff.db")]
    pub db: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PolicyListFormat::Table)]
    pub format: PolicyListFormat,
}

/// Output of `handoff policy list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyListFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a new token, store its hash and print it once.
    Create(TokenCreateArgs),
}

/// What a token's holder may do: ingest and admin may post events; every
/// role may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenRole {
    Admin,
    Ingest,
    Manager,
    /// A sales rep: sees and acts on the accounts they hold (--rep).
    Rep,
    /// Marketing: sees the marketing-sourced accounts, acts on none.
    Marketing,
    Viewer,
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// The store the service uses: a SQLite file or a postgres:// URL.
    #[arg(long, env = "HANDOFF_DB", default_value = "handoff.db")]
    pub db: PathBuf,
    /// What the token may do.
    #[arg(long, value_enum)]
    pub role: TokenRole,
    /// Who holds it, e.g. crm-sync; unique in the database.
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

/// What a token or a user sees, for the roles narrowed to some accounts.
#[derive(Debug, Args)]
pub struct ScopeArgs {
    /// For --role rep: the rep id (as in rep events) whose accounts are seen.
    #[arg(long)]
    pub rep: Option<String>,
    /// For --role manager: the team seen; without it, every team.
    #[arg(long)]
    pub team: Option<String>,
}

#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    pub command: UserCommand,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Make a dashboard user who signs in with a name and a password.
    Create(UserCreateArgs),
}

#[derive(Debug, Args)]
pub struct UserCreateArgs {
    /// The store the service uses: a SQLite file or a postgres:// URL.
    #[arg(long, env = "HANDOFF_DB", default_value = "handoff.db")]
    pub db: PathBuf,
    /// What the user may do and see (as for tokens).
    #[arg(long, value_enum)]
    pub role: TokenRole,
    /// The name they sign in with; unique in the database.
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// A file whose first line is the password; default: the first line of
    /// standard input (never a command-line argument, which others can see).
    #[arg(long)]
    pub password_file: Option<PathBuf>,
}

/// Sets up tracing to stderr; RUST_LOG overrides the flags.
pub fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Runs one subcommand and returns the exit code.
pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Demo(a) => crate::gen::run_demo(&a),
        Command::Gen(a) => crate::gen::run_gen(&a),
        Command::Import(a) => crate::import::run(&a),
        Command::Report(a) => crate::report::run(&a),
        Command::Explain(a) => crate::explain::run(&a),
        Command::Whatif(a) => crate::whatif::run(&a),
        Command::Check(a) => crate::check::run(&a),
        Command::Review(a) => crate::review::run(&a),
        Command::Plan(a) => crate::plan::run(&a),
        Command::Rebuild(a) => crate::replay::run_rebuild(&a),
        Command::Serve(a) => crate::serve::run_cli(&a),
        Command::Openapi => crate::serve::openapi::run_cli(),
        Command::Token(a) => match &a.command {
            TokenCommand::Create(c) => crate::serve::auth::run_create(c),
        },
        Command::Policy(a) => match &a.command {
            PolicyCommand::Apply(c) => crate::versions::run_apply(c),
            PolicyCommand::List(c) => crate::versions::run_list(c),
        },
        Command::User(a) => match &a.command {
            UserCommand::Create(c) => crate::serve::auth::run_user_create(c),
        },
    }
}
