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
use handoff_core::engine::{AccountRecord, Alert, DataWarning, Engine, PolicyVersion, Snapshot};
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
/// else the built-in default. Returns the policy and its text. This is one
/// policy, ignoring the store's versions; replays use [`load_policies`].
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

/// One policy a replay follows: a stored version, or a policy outside the
/// store's versions (number 0).
#[derive(Debug)]
pub struct LoadedPolicy {
    /// From 1 for a stored version; 0 for an explicit file, the policy
    /// last used by a store without versions, or the built-in default.
    pub number: u32,
    /// `None`: from the beginning of time.
    pub effective_at: Option<DateTime<Utc>>,
    pub policy: Policy,
    pub text: String,
    /// Hex SHA-256 of `text`.
    pub sha256: String,
    /// Where it came from: the file applied, or the file named.
    pub origin: String,
}

/// The policies a replay follows over time: the store's versions in
/// order, or one policy outside them.
#[derive(Debug)]
pub struct Policies {
    versions: Vec<LoadedPolicy>,
}

impl Policies {
    /// One policy, outside the store's versions.
    pub fn single(policy: Policy, text: String, origin: &str) -> Policies {
        Policies {
            versions: vec![LoadedPolicy {
                number: 0,
                effective_at: None,
                sha256: crate::store::policy_sha256(&text),
                policy,
                text,
                origin: origin.to_string(),
            }],
        }
    }

    /// The store's versions, each checked; `None` when it has none.
    pub fn stored(store: &Store) -> Result<Option<Policies>> {
        let rows = store.policy_versions()?;
        if rows.is_empty() {
            return Ok(None);
        }
        let versions = rows
            .into_iter()
            .map(|r| {
                let policy = parse_policy(&r.text, &format!("version {} in the store", r.number))?;
                Ok(LoadedPolicy {
                    number: r.number,
                    effective_at: r.effective_at,
                    policy,
                    text: r.text,
                    sha256: r.sha256,
                    origin: r.name,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Policies { versions }))
    }

    /// A fresh engine following these policies.
    pub fn engine(&self) -> Engine<'_> {
        Engine::with_versions(
            self.versions
                .iter()
                .map(|v| PolicyVersion {
                    number: v.number,
                    effective_at: v.effective_at.unwrap_or(DateTime::<Utc>::MIN_UTC),
                    policy: &v.policy,
                })
                .collect(),
        )
    }

    /// Whether these are the store's versions.
    pub fn is_versioned(&self) -> bool {
        self.versions[0].number > 0
    }

    /// Every policy followed, in order.
    pub fn versions(&self) -> &[LoadedPolicy] {
        &self.versions
    }

    /// The latest: it names the commitments, calendars and currency the
    /// scorecard is laid out by.
    pub fn latest(&self) -> &LoadedPolicy {
        self.versions.last().expect("at least one policy")
    }

    /// The policy in force at `t`.
    pub fn in_force_at(&self, t: DateTime<Utc>) -> &LoadedPolicy {
        self.versions
            .iter()
            .rev()
            .find(|v| v.effective_at.is_none_or(|e| e <= t))
            .unwrap_or(&self.versions[0])
    }

    /// The versions in force at some instant of `[from, to)`, newest first.
    pub fn in_force_during(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<&LoadedPolicy> {
        let first = self.in_force_at(from).number;
        self.versions
            .iter()
            .rev()
            .filter(|v| v.number >= first && v.effective_at.is_none_or(|e| e < to))
            .collect()
    }

    /// Which policy a view of `[from, to)` shows, for people: "policy v2
    /// (from 2026-06-01T00:00Z), v1 before", or "policy FILE (not
    /// versioned)".
    pub fn describe(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
        if !self.is_versioned() {
            return format!("policy {} (not versioned)", self.versions[0].origin);
        }
        let shown = self.in_force_during(from, to);
        let mut parts = Vec::new();
        for (i, v) in shown.iter().enumerate() {
            // The first version also governs whatever came before it.
            let oldest = v.number == self.versions[0].number;
            let since = v.effective_at.filter(|e| *e > from && !oldest);
            parts.push(match (i, since) {
                (0, Some(e)) => format!(
                    "policy v{} (from {})",
                    v.number,
                    e.format("%Y-%m-%dT%H:%MZ")
                ),
                (0, None) => format!("policy v{}", v.number),
                (_, Some(e)) => format!("v{} (from {})", v.number, e.format("%Y-%m-%dT%H:%MZ")),
                (_, None) => format!("v{} before", v.number),
            });
        }
        parts.join(", ")
    }

    /// The versions shown for `[from, to)`, as JSON: number, effective
    /// instant, SHA-256 and where each came from.
    pub fn to_json(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> serde_json::Value {
        let shown: Vec<serde_json::Value> = self
            .in_force_during(from, to)
            .iter()
            .rev()
            .map(|v| {
                serde_json::json!({
                    "number": v.number,
                    "effective_at": v.effective_at,
                    "sha256": v.sha256,
                    "origin": v.origin,
                })
            })
            .collect();
        serde_json::json!({
            "versioned": self.is_versioned(),
            "shown": self.describe(from, to),
            "versions": shown,
        })
    }
}

/// The policies a read-only replay (report, explain, review, plan, the
/// current side of whatif) follows: an explicit file when one is named (a
/// look at the history under that one policy, e.g. a what-if candidate),
/// else the store's versions, else the policy last used or the built-in
/// default.
pub fn load_policies(store: &Store, explicit: Option<&Path>) -> Result<Policies> {
    if explicit.is_none() {
        if let Some(p) = Policies::stored(store)? {
            return Ok(p);
        }
    }
    let (policy, text) = load_policy(store, explicit)?;
    let origin = explicit.map_or_else(
        || {
            if store.policy_text().ok().flatten().is_some() {
                "recorded in the store".to_string()
            } else {
                "policies/default.toml".to_string()
            }
        },
        |p| p.display().to_string(),
    );
    Ok(Policies::single(policy, text, &origin))
}

/// The policies that decide what the store records (rebuild, import, the
/// live engine of `serve`): the store's versions when it has any, whatever
/// `--policy` says (it is named on stderr), else as [`load_policies`].
pub fn recorded_policies(store: &Store, explicit: Option<&Path>) -> Result<Policies> {
    if let Some(p) = Policies::stored(store)? {
        if let Some(path) = explicit {
            eprintln!(
                "handoff: the store has policy versions (`handoff policy list`); they decide what \
                 is recorded, not --policy {}. Record a new one with `handoff policy apply`.",
                path.display()
            );
        }
        return Ok(p);
    }
    load_policies(store, explicit)
}

/// Replays the whole log as of now under the policies that decide what
/// is recorded ([`recorded_policies`]: the store's versions, else
/// `explicit`, else the policy last used), and stores the derived state.
pub fn rebuild(store: &mut Store, explicit: Option<&Path>) -> Result<RebuildSummary> {
    let policies = recorded_policies(store, explicit)?;
    rebuild_as_of(store, &policies, Utc::now())
}

/// Replays the whole log under `policies` as of `as_of` and stores the
/// derived state.
pub fn rebuild_as_of(
    store: &mut Store,
    policies: &Policies,
    as_of: DateTime<Utc>,
) -> Result<RebuildSummary> {
    let log = store.events_for_replay().context("reading the event log")?;
    let events = log.ordered();
    let first = events.first().map(|e| e.at_utc());
    let last = events.last().map(|e| e.at_utc());
    let replay = replay_events(policies, &events, as_of);
    say_left_out(replay.left_out, as_of);
    let snapshot = replay.snapshot;
    let summary = summarise(&snapshot);
    store_snapshot(store, &snapshot, &policies.latest().text, first, last)?;
    info!(
        events = summary.events,
        accounts = summary.accounts,
        alerts = summary.alerts,
        versions = policies.versions().len(),
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
pub fn replay_log(store: &Store, policy: &Policies, as_of: DateTime<Utc>) -> Result<Replay> {
    let log = store.events_for_replay().context("reading the event log")?;
    Ok(replay_events(policy, &log.ordered(), as_of))
}

/// [`replay_log`] for the command line: tells the person at the terminal
/// how many later events were left out. This is how `report` and `explain`
/// run: the figures are what was known at that instant under that policy.
pub fn replay_in_memory(
    store: &Store,
    policy: &Policies,
    as_of: DateTime<Utc>,
) -> Result<Snapshot> {
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
fn replay_events(
    policy: &Policies,
    events: &[&handoff_core::Event],
    as_of: DateTime<Utc>,
) -> Replay {
    replay_events_with(policy, events, as_of, |_| {})
}

/// [`replay_events`], showing each applied event to `see` as well.
fn replay_events_with(
    policy: &Policies,
    events: &[&handoff_core::Event],
    as_of: DateTime<Utc>,
    mut see: impl FnMut(&handoff_core::Event),
) -> Replay {
    let known = events.partition_point(|e| e.at_utc() <= as_of);
    let mut engine = policy.engine();
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
    policy: &Policies,
    as_of: DateTime<Utc>,
) -> Result<(Replay, handoff_core::attribution::TouchLog)> {
    let log = store.events_for_replay().context("reading the event log")?;
    let events = log.ordered();
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
    let policies = recorded_policies(&store, args.store.policy.as_deref())?;
    let as_of = parse_as_of(args.as_of.as_deref())?;
    let s = rebuild_as_of(&mut store, &policies, as_of)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn version(number: u32, effective_at: Option<&str>) -> LoadedPolicy {
        LoadedPolicy {
            number,
            effective_at: effective_at.map(at),
            policy: parse_policy(DEFAULT_POLICY, "the default").unwrap(),
            text: DEFAULT_POLICY.to_string(),
            sha256: String::new(),
            origin: format!("v{number}.toml"),
        }
    }

    #[test]
    fn a_view_names_the_versions_in_force_during_it() {
        let p = Policies {
            versions: vec![
                version(1, None),
                version(2, Some("2026-06-01T00:00:00Z")),
                version(3, Some("2026-09-01T00:00:00Z")),
            ],
        };
        let (jan, jul) = (at("2026-01-01T00:00:00Z"), at("2026-07-01T00:00:00Z"));
        assert_eq!(
            p.describe(jan, jul),
            "policy v2 (from 2026-06-01T00:00Z), v1 before"
        );
        assert_eq!(p.describe(jan, at("2026-06-01T00:00:00Z")), "policy v1");
        assert_eq!(p.describe(jul, at("2026-08-01T00:00:00Z")), "policy v2");
        assert_eq!(
            p.describe(jan, at("2027-01-01T00:00:00Z")),
            "policy v3 (from 2026-09-01T00:00Z), v2 (from 2026-06-01T00:00Z), v1 before"
        );
        assert_eq!(p.in_force_at(at("2026-06-01T00:00:00Z")).number, 2);
        assert_eq!(p.in_force_at(at("2026-05-31T23:59:59Z")).number, 1);
    }

    #[test]
    fn the_first_version_governs_what_came_before_its_instant() {
        // A first version recorded with an instant is the only policy the
        // engine has for earlier events too, so a view of them names it
        // without a "from".
        let p = Policies {
            versions: vec![version(1, Some("2026-03-04T00:00:00Z"))],
        };
        let (mar, apr) = (at("2026-03-01T00:00:00Z"), at("2026-04-01T00:00:00Z"));
        assert_eq!(p.describe(mar, apr), "policy v1");
        assert_eq!(p.in_force_at(mar).number, 1);
    }
}
