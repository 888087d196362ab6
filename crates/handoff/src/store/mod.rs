//! The store: the append-only event log and the derived state rebuilt
//! from it, on one of two *backends*: an embedded SQLite file (the default)
//! or a PostgreSQL database (`--db postgres://...`), with the same
//! behaviour on both.
//!
//! The *event log* holds every distinct event once, keyed by its `id`. An
//! event whose id is already stored is a *duplicate* when its canonical
//! payload (serde_json's serialisation of the parsed [`Event`]) is identical,
//! and is then a no-op; otherwise it is a *conflict*: the first version stays,
//! and both versions are kept in the `conflicts` table. Rows of an input file
//! that could not become events are *rejected rows*, kept with their reason.
//! *Derived state* (per-account JSON, alerts, meta facts) is written by the
//! replay code and replaced wholesale on every rebuild. *API tokens* of
//! `handoff serve` are kept as the SHA-256 of their text, never the text.
//!
//! Every stored event has a *log position* (`seq`): a number that grows
//! with each append, in commit order, so that a reader can ask for the
//! events stored since it last looked ([`Store::events_after`]) and learn
//! what another writer (a second service, an import) appended.
//!
//! Each backend versions its schema and runs its embedded migrations on
//! open (`sqlite/migrations/`, `postgres/migrations/`); a schema number
//! means the same tables on both. The store never reads the wall clock:
//! any recording time is passed in by the adapter that calls it.

mod location;
mod outbox;
mod postgres;
mod sqlite;

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use handoff_core::engine::type_rank;
use handoff_core::event::Event;

pub use location::{Location, PgUrl};
pub use outbox::{DeliveryStatus, NewAlert, OutboxEntry};

/// The source label recorded with conflicts when the caller gives none.
const UNNAMED_SOURCE: &str = "api";

/// What one [`Store::append`] call did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppendOutcome {
    /// Events stored for the first time.
    pub inserted: usize,
    /// Events whose id was stored already with the identical payload.
    pub duplicates: usize,
    /// Events whose id was stored already with a different payload.
    pub conflicts: Vec<Conflict>,
}

impl AppendOutcome {
    /// Adds another outcome's counts to this one.
    pub fn absorb(&mut self, other: AppendOutcome) {
        self.inserted += other.inserted;
        self.duplicates += other.duplicates;
        self.conflicts.extend(other.conflicts);
    }
}

/// Two different payloads under one event id. The first stored one is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The event id.
    pub id: String,
    /// Canonical JSON of the stored (kept) version.
    pub kept: String,
    /// Canonical JSON of the version that was not stored.
    pub rejected: String,
    /// Where the rejected version came from, e.g. `deals.csv:17`.
    pub source: String,
    /// When the adapter received it (RFC 3339), if it said.
    pub recorded_at: Option<String>,
}

/// An input row that could not become events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    /// The input file, as named on the command line.
    pub source: String,
    /// 1-based line number where the row starts (the CSV header is line 1).
    pub line: u64,
    /// Why it was rejected, e.g. `at: "31-02-2018" is not a date in format
    /// %d-%m-%Y`.
    pub reason: String,
    /// The row as read (a CSV record re-encoded, or the JSON line).
    pub raw: String,
}

/// Where a batch of events came from; recorded with every conflict.
#[derive(Debug, Clone, Copy, Default)]
pub struct Provenance<'a> {
    /// One label per event (e.g. `deals.csv:17`), parallel to the events;
    /// when shorter, the remaining events get `default_source`.
    pub sources: &'a [String],
    /// Label for events without their own; `api` when empty.
    pub default_source: &'a str,
    /// When the adapter received the batch (RFC 3339).
    pub recorded_at: Option<&'a str>,
}

impl Provenance<'_> {
    fn source_of(&self, index: usize) -> &str {
        match self.sources.get(index) {
            Some(s) => s,
            None if self.default_source.is_empty() => UNNAMED_SOURCE,
            None => self.default_source,
        }
    }
}

/// An open store: one connection to a SQLite file or a PostgreSQL
/// database. It is synchronous; call it from ordinary threads (the service
/// runs it on tokio's blocking pool). The PostgreSQL backend may also be
/// called from inside an async context: it never blocks on a runtime of
/// its own there (see `postgres`).
pub struct Store {
    backend: Box<dyn Backend>,
}

/// What a backend does; [`Store`] adds the checks and the conversions both
/// share. Instants are UTC milliseconds, payloads canonical JSON.
trait Backend: Send {
    fn schema_version(&self) -> Result<i64>;
    /// Stores new events (see [`judge`] for the others), records the
    /// conflicts and inserts `alerts` into the outbox, in one transaction.
    fn append(
        &mut self,
        rows: &[Prepared<'_>],
        from: &Provenance,
        alerts: &[NewAlert],
        now: DateTime<Utc>,
    ) -> Result<(AppendOutcome, usize)>;
    fn event_count(&self) -> Result<u64>;
    /// The log position of the latest event stored (0 for none).
    fn last_position(&self) -> Result<i64>;
    fn stored_ids(&self, ids: &[&str]) -> Result<HashSet<String>>;
    /// Every event as (log position, payload), by instant then id.
    fn for_each_event(&self, f: &mut dyn FnMut(i64, &str) -> Result<()>) -> Result<()>;
    /// Every stored event in log position order (`seq`): the cheapest
    /// order to read, for callers that sort the events themselves.
    fn for_each_event_by_position(&self, f: &mut dyn FnMut(i64, &str) -> Result<()>) -> Result<()>;
    /// Events after `position` by log position: (position, payload) of each
    /// whose id is not in `except`, and the last position read.
    fn events_after(
        &self,
        position: i64,
        except: &HashSet<String>,
    ) -> Result<(Vec<(i64, String)>, i64)>;
    fn event_span(&self) -> Result<Option<(i64, i64)>>;
    fn conflicts(&self) -> Result<Vec<Conflict>>;
    fn record_rejects(&mut self, rows: &[RejectedRow], recorded_at: Option<&str>) -> Result<()>;
    fn rejected_rows(&self) -> Result<Vec<RejectedRow>>;
    fn write_derived(
        &mut self,
        accounts: &[(String, String)],
        alerts: &[(String, String)],
        meta: &[(&str, String)],
    ) -> Result<()>;
    fn load_derived_accounts(&self) -> Result<Vec<String>>;
    fn load_account(&self, account: &str) -> Result<Option<String>>;
    fn load_alerts(&self) -> Result<Vec<String>>;
    fn meta(&self, key: &str) -> Result<Option<String>>;
    fn set_meta(&mut self, key: &str, value: &str) -> Result<()>;
    /// Sets `key` to `value` unless it has a value; returns the value kept.
    fn meta_or_set(&mut self, key: &str, value: &str) -> Result<String>;
    fn add_policy(&mut self, text: &str) -> Result<()>;
    fn policy_text(&self) -> Result<Option<String>>;
    /// Records a version under the next number, refusing (through
    /// [`next_policy_version`]) one effective before the latest, and
    /// recognising the latest's text.
    fn add_policy_version(&mut self, v: &NewPolicyVersion<'_>) -> Result<VersionOutcome>;
    fn policy_versions(&self) -> Result<Vec<PolicyVersionRow>>;
    fn has_token_named(&self, name: &str) -> Result<bool>;
    fn insert_token(&mut self, token: &StoredToken) -> Result<()>;
    fn find_token(&self, sha256: &str) -> Result<Option<StoredToken>>;
    fn insert_user(&mut self, user: &StoredUser) -> Result<()>;
    fn find_user(&self, name: &str) -> Result<Option<StoredUser>>;
    fn sync_every_commit(&mut self) -> Result<()>;

    fn outbox_record(&mut self, alerts: &[NewAlert], now: DateTime<Utc>) -> Result<usize>;
    fn outbox_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxEntry>>;
    fn outbox_claim(
        &mut self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>>;
    fn outbox_all(&self) -> Result<Vec<OutboxEntry>>;
    fn outbox_entry(&self, alert_id: &str) -> Result<Option<OutboxEntry>>;
    fn outbox_mark_sent(&mut self, alert_id: &str, now: DateTime<Utc>) -> Result<()>;
    fn outbox_mark_attempt_failed(
        &mut self,
        alert_id: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<()>;
    fn outbox_retract(&mut self, alert_ids: &[String], reason: &str) -> Result<usize>;
}

/// An event checked and serialised for storing.
struct Prepared<'a> {
    /// Its index in the caller's batch (for its provenance).
    index: usize,
    id: &'a str,
    /// The instant in UTC milliseconds: the log's ordering key with `id`.
    at_ms: i64,
    /// Its canonical JSON.
    payload: String,
}

/// Checks every event and serialises it, in id order: inserting in id order
/// keeps the unique index's writes local (a CRM export lists ids in no
/// useful order). The sort is stable, so of two copies of an id the first
/// in the batch comes first and wins. An invalid event refuses the batch.
fn prepare(events: &[Event]) -> Result<Vec<Prepared<'_>>> {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by(|a, b| events[*a].id.cmp(&events[*b].id));
    order
        .into_iter()
        .map(|index| {
            let event = &events[index];
            // The last line of defence: a blank id would make unrelated
            // events conflict.
            event.validate().map_err(|why| {
                anyhow::anyhow!(
                    "refusing to store event {:?}: {why}; nothing of this batch was stored",
                    event.id
                )
            })?;
            Ok(Prepared {
                index,
                id: &event.id,
                at_ms: event.at.timestamp_millis(),
                payload: canonical_json(event)?,
            })
        })
        .collect()
}

/// Judges a copy of an id that is stored already with payload `kept`: a
/// duplicate when equal, else a conflict, added to `outcome` for the
/// backend to record.
fn judge(outcome: &mut AppendOutcome, row: &Prepared<'_>, kept: &str, from: &Provenance) {
    if kept == row.payload {
        outcome.duplicates += 1;
        return;
    }
    outcome.conflicts.push(Conflict {
        id: row.id.to_string(),
        kept: kept.to_string(),
        rejected: row.payload.clone(),
        source: from.source_of(row.index).to_string(),
        recorded_at: from.recorded_at.map(str::to_string),
    });
}

/// The stored log parsed for a replay, in the batches it was parsed in.
/// The events stay where they were parsed: ordering them moves references,
/// not the events (a year of 100,000 accounts is over a million events).
#[derive(Debug, Default)]
pub struct ReplayLog {
    batches: Vec<Vec<Event>>,
}

impl ReplayLog {
    /// How many events.
    pub fn len(&self) -> usize {
        self.batches.iter().map(Vec::len).sum()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The events in engine order ([`sort_events`](handoff_core::engine::sort_events)'s: instant, type rank,
    /// id; ids are unique, so the order is total).
    pub fn ordered(&self) -> Vec<&Event> {
        let mut events: Vec<&Event> = self.batches.iter().flatten().collect();
        events.sort_unstable_by(|a, b| {
            (a.at_utc(), type_rank(&a.body), &a.id).cmp(&(b.at_utc(), type_rank(&b.body), &b.id))
        });
        events
    }
}

/// Stored payloads read for parsing together: one buffer for the text,
/// not one allocation per event.
struct Batch {
    text: String,
    /// Log position and end offset in `text` of each payload.
    ends: Vec<(i64, usize)>,
}

impl Batch {
    /// Payloads per batch: enough to keep a parsing thread busy for a while,
    /// few enough that the batches in flight stay small.
    const SIZE: usize = 8192;

    /// Room for a batch of typical payloads (a few hundred bytes each),
    /// so that filling it does not grow it step by step.
    fn new() -> Batch {
        Batch {
            text: String::with_capacity(Batch::SIZE * 320),
            ends: Vec::with_capacity(Batch::SIZE),
        }
    }

    fn push(&mut self, seq: i64, payload: &str) {
        self.text.push_str(payload);
        self.ends.push((seq, self.text.len()));
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }

    fn parse(&self) -> Result<Vec<Event>> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&(seq, end)| {
                let event = parse_stored(seq, &self.text[start..end]);
                start = end;
                event
            })
            .collect()
    }
}

fn parse_stored(seq: i64, payload: &str) -> Result<Event> {
    Event::from_json(payload)
        .with_context(|| format!("reading stored event #{seq}: payload {payload}"))
}

fn instant_of(ms: i64) -> Result<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .with_context(|| format!("stored instant {ms} ms is out of range"))
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and brings
    /// its schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        Ok(Store {
            backend: Box::new(sqlite::Sqlite::open(path)?),
        })
    }

    /// Opens the store at `location`, a SQLite file (made if missing) or a
    /// PostgreSQL database (which must exist), and brings its schema up to
    /// date.
    pub fn open_at(location: &Location) -> Result<Store> {
        let backend: Box<dyn Backend> = match location {
            Location::Sqlite(path) => Box::new(sqlite::Sqlite::open(path)?),
            Location::Postgres(url) => Box::new(postgres::Postgres::connect(url)?),
        };
        Ok(Store { backend })
    }

    /// Opens a private in-memory SQLite database (for tests and dry runs).
    pub fn open_in_memory() -> Result<Store> {
        Ok(Store {
            backend: Box::new(sqlite::Sqlite::open_in_memory()?),
        })
    }

    /// The schema version in force.
    pub fn schema_version(&self) -> Result<i64> {
        self.backend.schema_version()
    }

    /// Appends events in one transaction; see the module doc for duplicates
    /// and conflicts. Conflicts are recorded with source `api`. An event
    /// that fails [`Event::validate`] is an error, and nothing is stored.
    pub fn append(&mut self, events: &[Event]) -> Result<AppendOutcome> {
        self.append_from(events, &Provenance::default())
    }

    /// Appends events in one transaction, recording where each came from
    /// with any conflict.
    pub fn append_from(&mut self, events: &[Event], from: &Provenance) -> Result<AppendOutcome> {
        let rows = prepare(events)?;
        let (outcome, _) = self.backend.append(&rows, from, &[], Utc::now())?;
        Ok(outcome)
    }

    /// Number of events in the log.
    pub fn event_count(&self) -> Result<u64> {
        self.backend.event_count()
    }

    /// The log position of the latest event stored, 0 for an empty log.
    pub fn last_position(&self) -> Result<i64> {
        self.backend.last_position()
    }

    /// Which of `ids` are stored already (the live engine applies only
    /// events that are new to the log).
    pub fn stored_ids<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashSet<String>> {
        let ids: Vec<&str> = ids.into_iter().collect();
        self.backend.stored_ids(&ids)
    }

    /// Every stored event, ordered by occurrence instant (UTC milliseconds),
    /// then id. The order of arrival plays no part.
    pub fn events_ordered(&self) -> Result<Vec<Event>> {
        Ok(self.events_with_position()?.0)
    }

    /// [`Store::events_ordered`] and the log position of the newest event
    /// among them (0 for an empty log), read together: the events after that
    /// position ([`Store::events_after`]) are exactly those not read here.
    pub fn events_with_position(&self) -> Result<(Vec<Event>, i64)> {
        let mut events = Vec::new();
        let mut position = 0;
        self.backend.for_each_event(&mut |seq, payload| {
            events.push(parse_stored(seq, payload)?);
            position = position.max(seq);
            Ok(())
        })?;
        Ok((events, position))
    }

    /// Every stored event, for a replay: read in log position order (a
    /// sequential scan, not an index walk) and parsed on every core while
    /// the reading goes on. [`ReplayLog::ordered`] gives them in engine
    /// order, the same as [`Store::events_ordered`] after [`sort_events`](handoff_core::engine::sort_events).
    pub fn events_for_replay(&self) -> Result<ReplayLog> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (jobs, inbox) = std::sync::mpsc::sync_channel::<(usize, Batch)>(threads * 2);
        let inbox = std::sync::Mutex::new(inbox);
        let (done, results) = std::sync::mpsc::channel::<(usize, Result<Vec<Event>>)>();
        // Parsed batches come back empty to be filled again: the same few
        // buffers serve the whole log instead of fresh memory per batch.
        let (emptied, spare) = std::sync::mpsc::channel::<Batch>();
        let mut parsed: Vec<Option<Vec<Event>>> = Vec::new();
        std::thread::scope(|s| -> Result<()> {
            for _ in 0..threads {
                let (inbox, done, emptied) = (&inbox, done.clone(), emptied.clone());
                s.spawn(move || loop {
                    let job = inbox.lock().map(|rx| rx.recv());
                    let Ok(Ok((index, mut batch))) = job else {
                        break;
                    };
                    let parsed = batch.parse();
                    batch.clear();
                    let _ = emptied.send(batch);
                    if done.send((index, parsed)).is_err() {
                        break;
                    }
                });
            }
            drop(done);
            let mut batch = Batch::new();
            let mut sent = 0;
            let read = self
                .backend
                .for_each_event_by_position(&mut |seq, payload| {
                    batch.push(seq, payload);
                    if batch.len() == Batch::SIZE {
                        let next = spare.try_recv().unwrap_or_else(|_| Batch::new());
                        let full = std::mem::replace(&mut batch, next);
                        jobs.send((sent, full))
                            .map_err(|_| anyhow::anyhow!("a parsing thread stopped"))?;
                        sent += 1;
                    }
                    Ok(())
                });
            if read.is_ok() && batch.len() > 0 {
                let _ = jobs.send((sent, batch));
                sent += 1;
            }
            drop(jobs);
            parsed.resize_with(sent, || None);
            let mut first_error = read.err();
            for (index, events) in results.iter() {
                match events {
                    Ok(events) => parsed[index] = Some(events),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            match first_error {
                Some(e) => Err(e),
                None => Ok(()),
            }
        })?;
        let batches = parsed
            .into_iter()
            .map(|b| b.context("a batch of events was not parsed"))
            .collect::<Result<_>>()?;
        Ok(ReplayLog { batches })
    }

    /// Streams every stored event in the order of [`Store::events_ordered`]
    /// without holding them all in memory. Stops at the first error `f`
    /// returns.
    pub fn for_each_event(&self, mut f: impl FnMut(Event) -> Result<()>) -> Result<()> {
        self.backend
            .for_each_event(&mut |seq, payload| f(parse_stored(seq, payload)?))
    }

    /// The events stored after log position `position`, in the order they
    /// were stored, leaving out those whose id is in `except` (the caller's
    /// own), and the position of the last one looked at (`position` when
    /// there is none).
    pub fn events_after(
        &self,
        position: i64,
        except: &HashSet<String>,
    ) -> Result<(Vec<Event>, i64)> {
        let (rows, last) = self.backend.events_after(position, except)?;
        let events = rows
            .iter()
            .map(|(seq, payload)| parse_stored(*seq, payload))
            .collect::<Result<_>>()?;
        Ok((events, last.max(position)))
    }

    /// The events that name `account`, in the order of
    /// [`Store::events_ordered`].
    pub fn events_for_account(&self, account: &str) -> Result<Vec<Event>> {
        // A scan of the log: no hot path reads by account (schema 2).
        let mut events = Vec::new();
        self.for_each_event(|e| {
            if e.account() == Some(account) {
                events.push(e);
            }
            Ok(())
        })?;
        Ok(events)
    }

    /// Every recorded conflict, oldest first.
    pub fn conflicts(&self) -> Result<Vec<Conflict>> {
        self.backend.conflicts()
    }

    /// Keeps rejected input rows. A row already kept (same file, line,
    /// reason and text) is not stored twice, so re-importing a file does
    /// not multiply its rejects.
    pub fn record_rejects(&mut self, rows: &[RejectedRow]) -> Result<()> {
        self.record_rejects_at(rows, None)
    }

    /// [`Store::record_rejects`] with the time the adapter read the rows.
    pub fn record_rejects_at(
        &mut self,
        rows: &[RejectedRow],
        recorded_at: Option<&str>,
    ) -> Result<()> {
        self.backend.record_rejects(rows, recorded_at)
    }

    /// Every kept rejected row, oldest first.
    pub fn rejected_rows(&self) -> Result<Vec<RejectedRow>> {
        self.backend.rejected_rows()
    }

    /// Replaces all derived accounts and alerts, and sets the given meta
    /// keys, in one transaction. Meta keys not given keep their value.
    pub fn write_derived(
        &mut self,
        accounts: &[(String, String)],
        alerts: &[(String, String)],
        meta: &[(&str, String)],
    ) -> Result<()> {
        self.backend.write_derived(accounts, alerts, meta)
    }

    /// The JSON of every derived account, ordered by account id.
    pub fn load_derived_accounts(&self) -> Result<Vec<String>> {
        self.backend.load_derived_accounts()
    }

    /// The JSON of one derived account.
    pub fn load_account(&self, account: &str) -> Result<Option<String>> {
        self.backend.load_account(account)
    }

    /// The JSON of every derived alert, ordered by alert id.
    pub fn load_alerts(&self) -> Result<Vec<String>> {
        self.backend.load_alerts()
    }

    /// A meta value.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.backend.meta(key)
    }

    /// Sets a meta value.
    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.backend.set_meta(key, value)
    }

    /// Sets a meta value unless the key has one already, atomically (two
    /// services starting at once agree on one value); returns the value
    /// the key holds afterwards.
    pub fn meta_or_set(&mut self, key: &str, value: &str) -> Result<String> {
        self.backend.meta_or_set(key, value)
    }

    /// Records the policy text last used; a text equal to the current one
    /// is not stored again. This is not a policy version: versions come
    /// only from [`Store::add_policy_version`] (`handoff policy apply`).
    pub fn save_policy(&mut self, text: &str) -> Result<()> {
        if self.policy_text()?.as_deref() == Some(text) {
            return Ok(());
        }
        self.backend.add_policy(text)
    }

    /// Records a new policy version; see [`next_policy_version`] for what
    /// is refused and what is recognised as already recorded.
    pub fn add_policy_version(&mut self, v: &NewPolicyVersion<'_>) -> Result<VersionOutcome> {
        let outcome = self.backend.add_policy_version(v)?;
        match outcome {
            VersionOutcome::Recorded(number) => tracing::info!(
                number,
                effective_at = ?v.effective_at,
                name = v.name,
                applied_by = v.applied_by,
                "policy version recorded"
            ),
            VersionOutcome::Unchanged(number) => {
                tracing::info!(number, name = v.name, "policy already the latest version")
            }
        }
        Ok(outcome)
    }

    /// Every policy version, by number.
    pub fn policy_versions(&self) -> Result<Vec<PolicyVersionRow>> {
        self.backend.policy_versions()
    }

    /// The policy text last used, if any.
    pub fn policy_text(&self) -> Result<Option<String>> {
        self.backend.policy_text()
    }

    /// Keeps an API token: its holder's name, role, and the SHA-256 of its
    /// text (never the text). A name already taken is an error.
    pub fn add_token(&mut self, token: &StoredToken) -> Result<()> {
        if self.backend.has_token_named(&token.name)? {
            anyhow::bail!(
                "a token named {:?} exists already; choose another --name",
                token.name
            );
        }
        self.backend
            .insert_token(token)
            .with_context(|| format!("storing token {:?}", token.name))
    }

    /// The token whose text hashes to `sha256` (lowercase hex), if any.
    pub fn find_token(&self, sha256: &str) -> Result<Option<StoredToken>> {
        self.backend.find_token(sha256)
    }

    /// Stores a dashboard user; refuses a name already taken.
    pub fn add_user(&mut self, user: &StoredUser) -> Result<()> {
        self.backend
            .insert_user(user)
            .with_context(|| format!("storing user {:?}", user.name))
    }

    /// The dashboard user named `name`, if any.
    pub fn find_user(&self, name: &str) -> Result<Option<StoredUser>> {
        self.backend.find_user(name)
    }

    /// The instants of the first and the last stored event (UTC), or
    /// `None` for an empty log. Read from the time index, not a scan.
    pub fn event_span(&self) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>> {
        match self.backend.event_span()? {
            Some((first, last)) => Ok(Some((instant_of(first)?, instant_of(last)?))),
            None => Ok(None),
        }
    }

    /// Makes every commit reach the disk before it returns (SQLite's
    /// `synchronous = FULL`; PostgreSQL's `synchronous_commit = on` for
    /// this session), so that a commit the service acknowledges survives a
    /// power loss too, not only a crash of the process.
    pub fn sync_every_commit(&mut self) -> Result<()> {
        self.backend.sync_every_commit()
    }
}

/// A policy version to record.
#[derive(Debug, Clone)]
pub struct NewPolicyVersion<'a> {
    /// `None`: in force from the beginning of time.
    pub effective_at: Option<DateTime<Utc>>,
    /// Where it came from, e.g. the file applied.
    pub name: &'a str,
    pub text: &'a str,
    /// Who applied it.
    pub applied_by: &'a str,
    pub recorded_at: DateTime<Utc>,
}

/// What recording a policy version did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionOutcome {
    /// Recorded under this number.
    Recorded(u32),
    /// The text is the latest version's (this number): nothing recorded.
    Unchanged(u32),
}

/// A stored policy version.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyVersionRow {
    pub number: u32,
    /// `None`: in force from the beginning of time.
    pub effective_at: Option<DateTime<Utc>>,
    pub name: String,
    pub text: String,
    /// Hex SHA-256 of `text`.
    pub sha256: String,
    pub applied_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// The columns every backend selects for a policy version, in
/// [`VersionColumns`] order.
const VERSION_COLUMNS: &str = "number, effective_at, name, text, sha256, applied_by, recorded_at";

/// A policy version row's columns as stored (instants as RFC 3339 text).
type VersionColumns = (u32, Option<String>, String, String, String, String, String);

impl PolicyVersionRow {
    /// From the columns as stored.
    fn from_columns(c: VersionColumns) -> Result<Self> {
        let instant = |t: &str| -> Result<DateTime<Utc>> {
            Ok(DateTime::parse_from_rfc3339(t)
                .with_context(|| format!("policy version {}: bad instant {t:?}", c.0))?
                .with_timezone(&Utc))
        };
        Ok(PolicyVersionRow {
            number: c.0,
            effective_at: c.1.as_deref().map(instant).transpose()?,
            recorded_at: instant(&c.6)?,
            name: c.2,
            text: c.3,
            sha256: c.4,
            applied_by: c.5,
        })
    }
}

/// Hex SHA-256 of a policy text: how a version is recognised.
pub fn policy_sha256(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// What recording `v` after `latest` does: nothing when its text is the
/// latest version's (applying the same policy twice is one version), else
/// it takes the next number. Refused when `v` would take effect before the
/// latest version does: history is never re-decided under a new version,
/// so a version may only begin at or after the instant the one before it
/// began.
fn next_policy_version(
    latest: Option<&PolicyVersionRow>,
    v: &NewPolicyVersion<'_>,
) -> Result<VersionOutcome> {
    let Some(latest) = latest else {
        return Ok(VersionOutcome::Recorded(1));
    };
    if latest.sha256 == policy_sha256(v.text) {
        return Ok(VersionOutcome::Unchanged(latest.number));
    }
    let begins = |t: Option<DateTime<Utc>>| {
        t.map_or("the beginning of time".to_string(), |t| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
    };
    if v.effective_at < latest.effective_at || v.effective_at.is_none() {
        anyhow::bail!(
            "a policy version effective from {} would begin before version {}, in force from \
             {}; versions never rewrite what came before: give --effective at or after {} \
             (or leave it out for now)",
            begins(v.effective_at),
            latest.number,
            begins(latest.effective_at),
            begins(latest.effective_at)
        );
    }
    Ok(VersionOutcome::Recorded(latest.number + 1))
}

/// An API token as kept in the store: who holds it, its role, and the
/// SHA-256 of its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// Its holder, e.g. `crm-sync`; unique.
    pub name: String,
    /// `admin`, `ingest`, `manager` or `viewer`.
    pub role: String,
    /// What the holder may see: a rep's id for `rep`, a manager's team
    /// (absent: every team); absent for the other roles.
    pub scope: Option<String>,
    /// SHA-256 of the token text, lowercase hex.
    pub sha256: String,
    /// When it was made (RFC 3339), as the adapter said.
    pub created_at: String,
}

/// A person who signs in to the dashboard with a name and a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUser {
    /// The name they sign in with; unique.
    pub name: String,
    /// A token role's name (admin, manager, rep, marketing, viewer, ingest).
    pub role: String,
    /// As [`StoredToken::scope`].
    pub scope: Option<String>,
    /// The argon2id PHC string of the password (salt and parameters in it).
    pub password_hash: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
}

/// The canonical JSON of an event: serde_json's serialisation of the parsed
/// value, so that `1200` and `1200.0`, or reordered keys, compare equal.
pub fn canonical_json(event: &Event) -> Result<String> {
    serde_json::to_string(event).with_context(|| format!("serialising event {:?}", event.id))
}
