//! The embedded SQLite store: the append-only event log and the derived
//! state rebuilt from it.
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
//! The schema is versioned with `PRAGMA user_version`; the migrations under
//! `store/migrations/` are embedded in the binary and run on [`Store::open`].
//! The store never reads the wall clock: any recording time is passed in by
//! the adapter that calls it.

mod outbox;

use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use handoff_core::event::Event;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

pub use outbox::{DeliveryStatus, NewAlert, OutboxEntry};

/// The schema migrations, in order; entry `i` brings the schema to version
/// `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_event_log.sql"),
    include_str!("migrations/0002_lean_event_log.sql"),
    include_str!("migrations/0003_tokens.sql"),
    include_str!("migrations/0004_outbox.sql"),
    include_str!("migrations/0005_outbox_retracted.sql"),
];

/// How long a writer waits for another process's lock before failing, in
/// milliseconds. Generous because a rebuild can hold the lock for seconds.
const BUSY_TIMEOUT_MS: u64 = 30_000;

/// SQLite page cache per connection, in KiB. With SQLite's default (2 MiB)
/// the three indexes of `events` no longer fit once the log passes about a
/// million events and appends fall to ~165k events/s; 64 MiB keeps them
/// above 250k/s for 1.6 million events (benches/store.rs).
const CACHE_KIB: u32 = 64 * 1024;

/// SQLite page size for new database files, in bytes: the largest SQLite
/// allows. On a generated year of 1.35 million events, appends ran at
/// 165k events/s with 4 KiB pages, 201k with 16 KiB and 230k with 64 KiB
/// (benches/import.rs, 2 cores).
const PAGE_SIZE: u32 = 65_536;

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

/// The SQLite store. One [`Store`] is one open database connection.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path)
            .with_context(|| format!("opening database {}", path.display()))?;
        Store::configure(conn).with_context(|| format!("preparing database {}", path.display()))
    }

    /// Opens a private in-memory database (for tests and dry runs).
    pub fn open_in_memory() -> Result<Store> {
        Store::configure(Connection::open_in_memory()?)
    }

    fn configure(conn: Connection) -> Result<Store> {
        conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
        // Larger pages for a new file (ignored once the file has tables):
        // payload rows of a few hundred bytes pack better and b-tree writes
        // touch fewer pages (benches/import.rs).
        conn.execute_batch(&format!("PRAGMA page_size = {PAGE_SIZE};"))?;
        // journal_mode answers with the mode in force; in-memory databases
        // stay "memory", which is fine.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
        conn.execute_batch(&format!(
            "PRAGMA cache_size = -{CACHE_KIB}; PRAGMA temp_store = MEMORY;"
        ))?;
        let mut store = Store { conn };
        store.migrate()?;
        Ok(store)
    }

    /// Runs every migration newer than the database's `user_version`, each
    /// in its own transaction. Running it again does nothing.
    fn migrate(&mut self) -> Result<()> {
        let current: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        anyhow::ensure!(
            current <= known,
            "database schema version {current} is newer than this handoff knows ({known}): \
             use a newer handoff"
        );
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let version = index + 1;
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(sql)
                .with_context(|| format!("migrating to schema {version}"))?;
            tx.pragma_update(None, "user_version", version as i64)?;
            tx.commit()?;
            tracing::info!(version, "store schema migrated");
        }
        Ok(())
    }

    /// The schema version in force.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
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
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcome = append_in(&tx, events, from)?;
        tx.commit().context("committing appended events")?;
        Ok(outcome)
    }
}

/// Appends `events` inside the caller's transaction (see
/// [`Store::append_from`]); the caller commits.
fn append_in(
    tx: &rusqlite::Transaction<'_>,
    events: &[Event],
    from: &Provenance,
) -> Result<AppendOutcome> {
    let mut outcome = AppendOutcome::default();

    // Step 1: insert everything; remember what was not inserted.
    let mut not_inserted = Vec::new();
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO events (id, at_utc, payload) \
                 VALUES (?1, ?2, ?3) ON CONFLICT(id) DO NOTHING",
        )?;
        // Inserting in id order keeps the unique index's writes local
        // (a CRM export lists ids in no useful order); the sort is
        // stable, so of two copies of an id the first still wins.
        let mut order: Vec<usize> = (0..events.len()).collect();
        order.sort_by(|a, b| events[*a].id.cmp(&events[*b].id));
        for index in order {
            let event = &events[index];
            // The last line of defence: a blank id would make unrelated
            // events conflict. Returning drops the transaction: nothing
            // of the batch is stored.
            event.validate().map_err(|why| {
                anyhow::anyhow!(
                    "refusing to store event {:?}: {why}; nothing of this batch was stored",
                    event.id
                )
            })?;
            let payload = canonical_json(event)?;
            let changed = insert
                .execute(params![event.id, event.at.timestamp_millis(), payload])
                .with_context(|| format!("storing event {:?}", event.id))?;
            if changed == 1 {
                outcome.inserted += 1;
            } else {
                not_inserted.push((index, payload));
            }
        }
    }

    // Step 2: compare the rest with what is stored (this also covers a
    // repeat inside the batch itself: the first copy is stored by now).
    {
        let mut stored = tx.prepare_cached("SELECT payload FROM events WHERE id = ?1")?;
        let mut record = tx.prepare_cached(
            "INSERT OR IGNORE INTO conflicts (id, kept, rejected, source, recorded_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (index, payload) in not_inserted {
            let id = &events[index].id;
            let kept: String = stored.query_row([id], |r| r.get(0))?;
            if kept == payload {
                outcome.duplicates += 1;
                continue;
            }
            let source = from.source_of(index).to_string();
            record.execute(params![id, kept, payload, source, from.recorded_at])?;
            outcome.conflicts.push(Conflict {
                id: id.clone(),
                kept,
                rejected: payload,
                source,
                recorded_at: from.recorded_at.map(str::to_string),
            });
        }
    }

    Ok(outcome)
}

impl Store {
    /// Number of events in the log.
    pub fn event_count(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))?)
    }

    /// Which of `ids` are stored already (the live engine applies only
    /// events that are new to the log).
    pub fn stored_ids<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<std::collections::HashSet<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM events WHERE id = ?1")?;
        let mut found = std::collections::HashSet::new();
        for id in ids {
            if stmt.exists([id])? {
                found.insert(id.to_string());
            }
        }
        Ok(found)
    }

    /// Every stored event, ordered by occurrence instant (UTC milliseconds),
    /// then id. The order of arrival plays no part.
    pub fn events_ordered(&self) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        self.for_each_event(|e| {
            events.push(e);
            Ok(())
        })?;
        Ok(events)
    }

    /// Streams every stored event in the order of [`Store::events_ordered`]
    /// without holding them all in memory. Stops at the first error `f`
    /// returns.
    pub fn for_each_event(&self, mut f: impl FnMut(Event) -> Result<()>) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, payload FROM events ORDER BY at_utc, id")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let payload: String = row.get(1)?;
            let event = Event::from_json(&payload)
                .with_context(|| format!("reading stored event #{seq}: payload {payload}"))?;
            f(event)?;
        }
        Ok(())
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
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, kept, rejected, source, recorded_at FROM conflicts ORDER BY seq",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Conflict {
                id: r.get(0)?,
                kept: r.get(1)?,
                rejected: r.get(2)?,
                source: r.get(3)?,
                recorded_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
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
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO rejected_rows (source, line, reason, raw, recorded_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for row in rows {
                insert.execute(params![
                    row.source,
                    row.line,
                    row.reason,
                    row.raw,
                    recorded_at
                ])?;
            }
        }
        tx.commit().context("committing rejected rows")?;
        Ok(())
    }

    /// Every kept rejected row, oldest first.
    pub fn rejected_rows(&self) -> Result<Vec<RejectedRow>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT source, line, reason, raw FROM rejected_rows ORDER BY seq")?;
        let rows = stmt.query_map([], |r| {
            Ok(RejectedRow {
                source: r.get(0)?,
                line: r.get(1)?,
                reason: r.get(2)?,
                raw: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Replaces all derived accounts and alerts, and sets the given meta
    /// keys, in one transaction. Meta keys not given keep their value.
    pub fn write_derived(
        &mut self,
        accounts: &[(String, String)],
        alerts: &[(String, String)],
        meta: &[(&str, String)],
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch("DELETE FROM derived_accounts; DELETE FROM derived_alerts;")?;
        {
            let mut account =
                tx.prepare_cached("INSERT INTO derived_accounts (account, json) VALUES (?1, ?2)")?;
            for (id, json) in accounts {
                account
                    .execute(params![id, json])
                    .with_context(|| format!("account {id:?}"))?;
            }
            let mut alert =
                tx.prepare_cached("INSERT INTO derived_alerts (alert, json) VALUES (?1, ?2)")?;
            for (id, json) in alerts {
                alert
                    .execute(params![id, json])
                    .with_context(|| format!("alert {id:?}"))?;
            }
            let mut set = tx.prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )?;
            for (key, value) in meta {
                set.execute(params![key, value])?;
            }
        }
        tx.commit().context("committing derived state")?;
        Ok(())
    }

    /// The JSON of every derived account, ordered by account id.
    pub fn load_derived_accounts(&self) -> Result<Vec<String>> {
        self.strings("SELECT json FROM derived_accounts ORDER BY account")
    }

    /// The JSON of one derived account.
    pub fn load_account(&self, account: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT json FROM derived_accounts WHERE account = ?1",
                [account],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The JSON of every derived alert, ordered by alert id.
    pub fn load_alerts(&self) -> Result<Vec<String>> {
        self.strings("SELECT json FROM derived_alerts ORDER BY alert")
    }

    /// A meta value.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Sets a meta value.
    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Records the policy text last used; a text equal to the current one
    /// is not stored again.
    pub fn save_policy(&mut self, text: &str) -> Result<()> {
        if self.policy_text()?.as_deref() == Some(text) {
            return Ok(());
        }
        self.conn
            .execute("INSERT INTO policies (text) VALUES (?1)", [text])?;
        Ok(())
    }

    /// The policy text last used, if any.
    pub fn policy_text(&self) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT text FROM policies ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn strings(&self, sql: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Keeps an API token: its holder's name, role, and the SHA-256 of its
    /// text (never the text). A name already taken is an error.
    pub fn add_token(&mut self, token: &StoredToken) -> Result<()> {
        let taken: Option<i64> = self
            .conn
            .query_row(
                "SELECT seq FROM tokens WHERE name = ?1",
                [&token.name],
                |r| r.get(0),
            )
            .optional()?;
        if taken.is_some() {
            anyhow::bail!(
                "a token named {:?} exists already; choose another --name",
                token.name
            );
        }
        self.conn
            .execute(
                "INSERT INTO tokens (name, role, sha256, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![token.name, token.role, token.sha256, token.created_at],
            )
            .with_context(|| format!("storing token {:?}", token.name))?;
        Ok(())
    }

    /// The token whose text hashes to `sha256` (lowercase hex), if any.
    pub fn find_token(&self, sha256: &str) -> Result<Option<StoredToken>> {
        Ok(self
            .conn
            .query_row(
                "SELECT name, role, sha256, created_at FROM tokens WHERE sha256 = ?1",
                [sha256],
                |r| {
                    Ok(StoredToken {
                        name: r.get(0)?,
                        role: r.get(1)?,
                        sha256: r.get(2)?,
                        created_at: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// The instants of the first and the last stored event (UTC), or
    /// `None` for an empty log. Read from the time index, not a scan.
    pub fn event_span(&self) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>> {
        let (first, last): (Option<i64>, Option<i64>) =
            self.conn
                .query_row("SELECT min(at_utc), max(at_utc) FROM events", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
        let instant = |ms: i64| {
            DateTime::<Utc>::from_timestamp_millis(ms)
                .with_context(|| format!("stored instant {ms} ms is out of range"))
        };
        match (first, last) {
            (Some(a), Some(b)) => Ok(Some((instant(a)?, instant(b)?))),
            _ => Ok(None),
        }
    }

    /// Makes every commit reach the disk before it returns (SQLite's
    /// `synchronous = FULL`), so that a commit the service acknowledges
    /// survives a power loss too, not only a crash of the process.
    pub fn sync_every_commit(&mut self) -> Result<()> {
        self.conn.execute_batch("PRAGMA synchronous = FULL;")?;
        Ok(())
    }
}

/// An API token as kept in the store: who holds it, its role, and the
/// SHA-256 of its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// Its holder, e.g. `crm-sync`; unique.
    pub name: String,
    /// `admin`, `ingest`, `manager` or `viewer`.
    pub role: String,
    /// SHA-256 of the token text, lowercase hex.
    pub sha256: String,
    /// When it was made (RFC 3339), as the adapter said.
    pub created_at: String,
}

/// The canonical JSON of an event: serde_json's serialisation of the parsed
/// value, so that `1200` and `1200.0`, or reordered keys, compare equal.
pub fn canonical_json(event: &Event) -> Result<String> {
    serde_json::to_string(event).with_context(|| format!("serialising event {:?}", event.id))
}
