//! `handoff demo`: a generated year in a fresh store, then the scorecard.
//!
//! The demo stores exactly what `handoff gen` would write for the same
//! options, rebuilds the derived state as of the end of the history, and
//! prints the scorecard for the whole history. It writes only into a
//! database that is new or was itself made by the demo: one whose meta key
//! [`DEMO_MARK_KEY`] says so and whose events all carry generated ids. Any
//! other file at `--db` is refused, so a real store is never replaced.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use handoff_core::event::{Event, EventBody};
use handoff_core::period::Period;
use indicatif::ProgressBar;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::{account_bar, GenConfig, GenSummary, Generator};
use crate::cli::DemoArgs;
use crate::replay;
use crate::store::Store;

/// The meta key that marks a database made by the demo.
pub const DEMO_MARK_KEY: &str = "created_by";
/// Its value.
const DEMO_MARK: &str = "handoff demo";
/// Events appended per transaction.
const BATCH_EVENTS: usize = 20_000;

/// Runs `handoff demo`.
pub fn run_demo(args: &DemoArgs) -> Result<u8> {
    let started = Instant::now();
    let Some(db) = args.store.location()?.sqlite_path().map(Path::to_path_buf) else {
        bail!(
            "handoff demo makes its own SQLite file and will not fill a PostgreSQL database; \
             give --db a file name (e.g. --db demo.db), or import into PostgreSQL with \
             `handoff gen` and `handoff import`"
        );
    };
    let db = &db;
    make_room(db)?;
    let (policy, text) = demo_policy(args.store.policy.as_deref())?;
    let config = GenConfig::from_args(&args.history)?;
    let generator = Generator::new(config.clone(), &policy)?;

    let mut store = Store::open(db)?;
    store.set_meta(DEMO_MARK_KEY, DEMO_MARK)?;
    store.save_policy(&text)?;
    let filled =
        fill(&mut store, &generator).with_context(|| format!("filling {}", db.display()))?;

    let (_, end) = generator.period();
    let spinner = spinner("rebuilding the derived state");
    let policies = replay::Policies::single(
        replay::parse_policy(&text, "for the demo")?,
        text.clone(),
        &args
            .store
            .policy
            .as_deref()
            .map_or("policies/default.toml".into(), |p| p.display().to_string()),
    );
    let rebuilt = replay::rebuild_as_of(&mut store, &policies, end)?;
    spinner.finish_and_clear();

    let tz = policy.org_calendar().tz();
    let end_date = end.with_timezone(&tz).date_naive();
    let label = format!("{}..{}", config.start, end_date);
    let period = Period::from_dates(label, config.start, end_date, tz);
    let snapshot = replay::load_snapshot(&store)?;
    print!(
        "{}",
        crate::report::render(&policies, &snapshot, &period, end, None, args.format)?
    );

    eprintln!(
        "handoff: demo: {} events for {} accounts stored in {} and rebuilt as of {} \
         ({} alerts, {} data warnings) in {:.1}s",
        filled.summary.events,
        filled.summary.accounts,
        db.display(),
        end.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z"),
        rebuilt.alerts,
        rebuilt.warnings.len(),
        started.elapsed().as_secs_f64()
    );
    let db_arg = format!("--db {}", db.display());
    eprintln!("handoff: next: handoff report {db_arg} --quarter 2026Q3 --by team");
    if let Some(account) = filled.escalated {
        eprintln!("handoff:       handoff explain {db_arg} {account}   (an escalated hand-off)");
    }
    Ok(crate::cli::EXIT_OK)
}

/// The policy file given, else the built-in default; with its text.
fn demo_policy(path: Option<&Path>) -> Result<(handoff_core::Policy, String)> {
    let (text, origin) = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading policy {}", p.display()))?;
            (text, p.display().to_string())
        }
        None => (
            replay::DEFAULT_POLICY.to_string(),
            "policies/default.toml".to_string(),
        ),
    };
    Ok((replay::parse_policy(&text, &origin)?, text))
}

/// Removes a previous demo database at `db`; refuses anything else.
fn make_room(db: &Path) -> Result<()> {
    if !db.exists() {
        return Ok(());
    }
    if !is_demo_database(db) {
        bail!(
            "{} exists and was not made by `handoff demo`; the demo only replaces its own \
             databases: name another file with --db (e.g. --db demo.db)",
            db.display()
        );
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(&name) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("removing the old demo database {name:?}"))
            }
        }
    }
    tracing::info!(db = %db.display(), "replaced previous demo database");
    Ok(())
}

/// Whether `db` carries the demo's mark and only generated events. Read
/// only, without migrating: any failure (not SQLite, another schema) means
/// "not ours".
fn is_demo_database(db: &Path) -> bool {
    let check = || -> rusqlite::Result<bool> {
        let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let mark: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [DEMO_MARK_KEY],
                |r| r.get(0),
            )
            .optional()?;
        if mark.as_deref() != Some(DEMO_MARK) {
            return Ok(false);
        }
        let foreign: i64 = conn.query_row(
            "SELECT count(*) FROM events WHERE id NOT GLOB 'g[0-9]*-*'",
            [],
            |r| r.get(0),
        )?;
        Ok(foreign == 0)
    };
    check().unwrap_or(false)
}

/// What [`fill`] stored.
struct Filled {
    summary: GenSummary,
    /// An account whose first touch was escalated, worth `explain`ing.
    escalated: Option<String>,
}

/// Generates every event into the store in batches, with progress.
fn fill(store: &mut Store, generator: &Generator) -> Result<Filled> {
    let accounts = generator.config().accounts;
    let bar = account_bar(accounts, "generating");
    let mut filled = Filled {
        summary: GenSummary::default(),
        escalated: None,
    };
    let mut batch: Vec<Event> = generator.rep_events();
    for index in 0..accounts {
        let events = generator.account_events(index);
        if filled.escalated.is_none() {
            filled.escalated = events.iter().find_map(escalated_account);
        }
        batch.extend(events);
        if batch.len() >= BATCH_EVENTS {
            append(store, &mut batch, &mut filled.summary)?;
        }
        filled.summary.accounts += 1;
        bar.set_position(u64::from(index + 1));
    }
    append(store, &mut batch, &mut filled.summary)?;
    bar.finish_and_clear();
    Ok(filled)
}

fn append(store: &mut Store, batch: &mut Vec<Event>, summary: &mut GenSummary) -> Result<()> {
    let outcome = store.append(batch)?;
    // A fresh store and unique generated ids: anything else is a bug.
    if outcome.inserted != batch.len() {
        bail!(
            "stored {} of {} generated events ({} duplicates, {} conflicts)",
            outcome.inserted,
            batch.len(),
            outcome.duplicates,
            outcome.conflicts.len()
        );
    }
    batch.iter().for_each(|e| summary.count(e));
    batch.clear();
    Ok(())
}

fn escalated_account(e: &Event) -> Option<String> {
    match &e.body {
        EventBody::Reassign(r) if r.reason.as_deref() == Some("first touch overdue") => {
            Some(r.account.clone())
        }
        _ => None,
    }
}

/// A spinner on stderr while a step without countable progress runs.
fn spinner(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_message(format!("handoff: {what}"));
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}
