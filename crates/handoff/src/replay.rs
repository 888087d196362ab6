//! Replaying the stored event log through the engine, and the derived state
//! it leaves in the store.
//!
//! *Rebuild* reads every event in engine order, applies it, judges the
//! clocks due before `as_of`, and replaces the derived tables (accounts,
//! alerts, meta) in one transaction. The log itself is never changed, so a
//! rebuild can run at any time and gives the same state for the same events,
//! policy and `as_of`.

use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use handoff_core::engine::{sort_events, AccountRecord, Alert, DataWarning, Engine, Snapshot};
use handoff_core::Policy;
use tracing::info;

use crate::cli::RebuildArgs;
use crate::store::{Location, Store};

/// The default policy, built in so that a fresh install works anywhere.
pub const DEFAULT_POLICY: &str = include_str!("../../../policies/default.toml");

/// What a rebuild did.
#[derive(Debug, Clone)]
pub struct RebuildSummary {
    pub events: u64,
    pub accounts: usize,
    pub alerts: usize,
    pub as_of: DateTime<Utc>,
    /// Data problems the engine found, with their account.
    pub warnings: Vec<(String, DataWarning)>,
}

impl RebuildSummary {
    /// Prints the data warnings to stderr, at most `limit` of them, so that
    /// a problem in the data is flagged where the user is looking.
    pub fn print_warnings(&self, limit: usize) {
        for (account, w) in self.warnings.iter().take(limit) {
            eprintln!(
                "handoff: warning: account {account}: {} [event {}]",
                w.message, w.event_id
            );
        }
        if self.warnings.len() > limit {
            eprintln!(
                "handoff: ... and {} more data warnings; `handoff explain ACCOUNT` shows each",
                self.warnings.len() - limit
            );
        }
    }
}

/// How many data warnings a command prints before summarising the rest.
pub const WARNINGS_SHOWN: usize = 10;

/// Parses policy text, turning diagnostics into one readable error.
pub fn parse_policy(text: &str, origin: &str) -> Result<Policy> {
    Policy::from_toml(text).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(|d| format!("  {d}")).collect();
        anyhow::anyhow!(
            "policy {origin} has {} problem(s):\n{}\nrun `handoff check {origin}` for positions",
            problems.len(),
            list.join("\n")
        )
    })
}

/// The policy to use: an explicit file, else the one recorded in the store,
/// else the built-in default. Returns the policy and its text.
pub fn load_policy(store: &Store, explicit: Option<&Path>) -> Result<(Policy, String)> {
    let (text, origin) = match explicit {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading policy {}", path.display()))?;
            (text, path.display().to_string())
        }
        None => match store.policy_text()? {
            Some(text) => (text, "recorded in the store".to_string()),
            None => (
                DEFAULT_POLICY.to_string(),
                "policies/default.toml".to_string(),
            ),
        },
    };
    let policy = parse_policy(&text, &origin)?;
    Ok((policy, text))
}

/// Replays the whole log under `policy_text` (or the store's policy) as of
/// now, and stores the derived state.
pub fn rebuild(store: &mut Store, policy_text: Option<&str>) -> Result<RebuildSummary> {
    rebuild_as_of(store, policy_text, Utc::now())
}

/// [`rebuild`] with an explicit `as_of`.
pub fn rebuild_as_of(
    store: &mut Store,
    policy_text: Option<&str>,
    as_of: DateTime<Utc>,
) -> Result<RebuildSummary> {
    let text = match policy_text {
        Some(t) => t.to_string(),
        None => store
            .policy_text()?
            .unwrap_or_else(|| DEFAULT_POLICY.to_string()),
    };
    let policy = parse_policy(&text, "for rebuild")?;
    let mut events = store.events_ordered().context("reading the event log")?;
    sort_events(&mut events);
    let first = events.first().map(|e| e.at_utc());
    let last = events.last().map(|e| e.at_utc());
    let replay = replay_events(&policy, &events, as_of);
    say_left_out(replay.left_out, as_of);
    let snapshot = replay.snapshot;
    let summary = summarise(&snapshot);
    store_snapshot(store, &snapshot, &text, first, last)?;
    info!(
        events = summary.events,
        accounts = summary.accounts,
        alerts = summary.alerts,
        "rebuilt"
    );
    Ok(summary)
}

fn summarise(s: &Snapshot) -> RebuildSummary {
    let warnings = s
        .accounts
        .iter()
        .flat_map(|a| a.warnings.iter().map(move |w| (a.id.clone(), w.clone())))
        .collect();
    RebuildSummary {
        events: s.events,
        accounts: s.accounts.len(),
        alerts: s.alerts.len(),
        as_of: s.as_of,
        warnings,
    }
}

fn store_snapshot(
    store: &mut Store,
    s: &Snapshot,
    policy_text: &str,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
) -> Result<()> {
    let accounts: Vec<(String, String)> = s
        .accounts
        .iter()
        .map(|a| Ok((a.id.clone(), serde_json::to_string(a)?)))
        .collect::<Result<_>>()?;
    let alerts: Vec<(String, String)> = s
        .alerts
        .iter()
        .map(|a| Ok((a.id.clone(), serde_json::to_string(a)?)))
        .collect::<Result<_>>()?;
    let meta = vec![
        ("as_of", s.as_of.to_rfc3339()),
        ("events", s.events.to_string()),
        ("reps", serde_json::to_string(&s.reps)?),
        (
            "first_event_at",
            first.map(|t| t.to_rfc3339()).unwrap_or_default(),
        ),
        (
            "last_event_at",
            last.map(|t| t.to_rfc3339()).unwrap_or_default(),
        ),
    ];
    store.save_policy(policy_text)?;
    store.write_derived(&accounts, &alerts, &meta)
}

/// Reads the derived state back as a snapshot.
pub fn load_snapshot(store: &Store) -> Result<Snapshot> {
    let Some(as_of) = store.meta("as_of")? else {
        bail!("the store has no derived state yet; import events or run `handoff rebuild`");
    };
    let as_of = DateTime::parse_from_rfc3339(&as_of)
        .context("reading as_of from the store")?
        .with_timezone(&Utc);
    let accounts = store
        .load_derived_accounts()?
        .iter()
        .map(|j| serde_json::from_str::<AccountRecord>(j).context("reading a derived account"))
        .collect::<Result<Vec<_>>>()?;
    let mut alerts = store
        .load_alerts()?
        .iter()
        .map(|j| serde_json::from_str::<Alert>(j).context("reading a derived alert"))
        .collect::<Result<Vec<_>>>()?;
    alerts.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    let reps = match store.meta("reps")? {
        Some(j) => serde_json::from_str(&j).context("reading reps from the store")?,
        None => Default::default(),
    };
    let events = store
        .meta("events")?
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    Ok(Snapshot {
        as_of,
        events,
        accounts,
        alerts,
        reps,
    })
}

/// Opens a database that must already exist (report, explain, rebuild),
/// so that a mistyped `--db` is an error rather than a new empty file. A
/// PostgreSQL database must exist too: connecting to one that does not
/// fails.
pub fn open_existing(db: &Location) -> Result<Store> {
    if let Some(path) = db.sqlite_path() {
        if !path.exists() {
            bail!(
                "no database at {db}; import events first (`handoff import --db {db} FILE...`) \
                 or run `handoff demo`"
            );
        }
    }
    Store::open_at(db).with_context(|| format!("opening {db}"))
}

/// A replay of the log, and how many later events it left out.
pub struct Replay {
    pub snapshot: Snapshot,
    /// Events after `as_of`: as of then, they had not happened.
    pub left_out: usize,
}

/// Replays the stored log in memory, without storing anything: events up
/// to `as_of` only, clocks judged as of `as_of`. Prints nothing.
pub fn replay_log(store: &Store, policy: &Policy, as_of: DateTime<Utc>) -> Result<Replay> {
    let mut events = store.events_ordered().context("reading the event log")?;
    sort_events(&mut events);
    Ok(replay_events(policy, &events, as_of))
}

/// [`replay_log`] for the command line: tells the person at the terminal
/// how many later events were left out. This is how `report` and `explain`
/// run: the figures are what was known at that instant under that policy.
pub fn replay_in_memory(store: &Store, policy: &Policy, as_of: DateTime<Utc>) -> Result<Snapshot> {
    let replay = replay_log(store, policy, as_of)?;
    say_left_out(replay.left_out, as_of);
    Ok(replay.snapshot)
}

fn say_left_out(left_out: usize, as_of: DateTime<Utc>) {
    if left_out > 0 {
        eprintln!(
            "handoff: {left_out} events after {} left out (they had not happened as of then)",
            as_of.format("%Y-%m-%d %H:%M UTC")
        );
    }
}

/// Applies the events (in engine order) that happened by `as_of` and judges
/// the clocks as of then.
fn replay_events(policy: &Policy, events: &[handoff_core::Event], as_of: DateTime<Utc>) -> Replay {
    replay_events_with(policy, events, as_of, |_| {})
}

/// [`replay_events`], showing each applied event to `see` as well.
fn replay_events_with(
    policy: &Policy,
    events: &[handoff_core::Event],
    as_of: DateTime<Utc>,
    mut see: impl FnMut(&handoff_core::Event),
) -> Replay {
    let known = events.partition_point(|e| e.at_utc() <= as_of);
    let mut engine = Engine::new(policy);
    let mut effects = Vec::new();
    for ev in &events[..known] {
        engine.apply(ev, &mut effects);
        effects.clear();
        see(ev);
    }
    Replay {
        snapshot: engine.finish(as_of),
        left_out: events.len() - known,
    }
}

/// [`replay_log`] that also collects every account's marketing touches
/// up to `as_of`, for attribution, in the same pass over the log.
pub fn replay_log_with_touches(
    store: &Store,
    policy: &Policy,
    as_of: DateTime<Utc>,
) -> Result<(Replay, handoff_core::attribution::TouchLog)> {
    let mut events = store.events_ordered().context("reading the event log")?;
    sort_events(&mut events);
    let mut touches = handoff_core::attribution::TouchLog::default();
    let replay = replay_events_with(policy, &events, as_of, |ev| touches.add(ev));
    Ok((replay, touches))
}

/// Tells the person at the terminal how many events after `as_of` a
/// replay left out.
pub fn tell_left_out(replay: &Replay, as_of: DateTime<Utc>) {
    say_left_out(replay.left_out, as_of);
}

/// Parses an `--as-of` value, defaulting to now.
pub fn parse_as_of(text: Option<&str>) -> Result<DateTime<Utc>> {
    match text {
        None => Ok(Utc::now()),
        Some(t) => Ok(DateTime::parse_from_rfc3339(t)
            .with_context(|| {
                format!("--as-of {t:?}: write an RFC 3339 instant, e.g. 2026-12-01T09:00:00Z")
            })?
            .with_timezone(&Utc)),
    }
}

/// Runs `handoff rebuild`.
pub fn run_rebuild(args: &RebuildArgs) -> Result<u8> {
    let mut store = open_existing(&args.store.location()?)?;
    let (_, text) = load_policy(&store, args.store.policy.as_deref())?;
    let as_of = parse_as_of(args.as_of.as_deref())?;
    let s = rebuild_as_of(&mut store, Some(&text), as_of)?;
    eprintln!(
        "handoff: rebuilt {} accounts from {} events as of {}: {} alerts, {} data warnings",
        s.accounts,
        s.events,
        s.as_of.format("%Y-%m-%d %H:%M UTC"),
        s.alerts,
        s.warnings.len()
    );
    s.print_warnings(WARNINGS_SHOWN);
    Ok(crate::cli::EXIT_OK)
}
