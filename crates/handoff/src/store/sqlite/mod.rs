//! The SQLite backend: the store in one embedded database file.
//!
//! The schema is versioned with `PRAGMA user_version`; the migrations under
//! `migrations/` are embedded in the binary and run on open. The log
//! position is the `seq` rowid: rows are never deleted and SQLite takes
//! one writer at a time, so it grows in commit order. Writers take the
//! write lock when their transaction begins (`IMMEDIATE`) and wait up to
//! [`BUSY_TIMEOUT_MS`] for another process's.

mod outbox;

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{judge, AppendOutcome, Backend, Conflict, NewAlert, OutboxEntry, Prepared};
use super::{NewPolicyVersion, PolicyVersionRow, Provenance, RejectedRow, StoredToken, StoredUser};
use super::{VersionColumns, VersionOutcome, VERSION_COLUMNS};

/// The schema migrations, in order; entry `i` brings the schema to version
/// `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_event_log.sql"),
    include_str!("migrations/0002_lean_event_log.sql"),
    include_str!("migrations/0003_tokens.sql"),
    include_str!("migrations/0004_outbox.sql"),
    include_str!("migrations/0005_outbox_retracted.sql"),
    include_str!("migrations/0006_policy_versions.sql"),
    include_str!("migrations/0007_scopes_users.sql"),
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

/// One connection to a SQLite database.
pub(super) struct Sqlite {
    conn: Connection,
}

impl Sqlite {
    /// Streams the (seq, payload) rows of `sql` to `f`.
    fn events_in(&self, sql: &str, f: &mut dyn FnMut(i64, &str) -> Result<()>) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let payload = row.get_ref(1)?.as_str()?;
            f(seq, payload)?;
        }
        Ok(())
    }

    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date.
    pub(super) fn open(path: &Path) -> Result<Sqlite> {
        let conn = Connection::open(path)
            .with_context(|| format!("opening database {}", path.display()))?;
        Sqlite::configure(conn).with_context(|| format!("preparing database {}", path.display()))
    }

    /// Opens a private in-memory database.
    pub(super) fn open_in_memory() -> Result<Sqlite> {
        Sqlite::configure(Connection::open_in_memory()?)
    }

    fn configure(conn: Connection) -> Result<Sqlite> {
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
        let mut store = Sqlite { conn };
        store.migrate()?;
        Ok(store)
    }

    /// Runs every migration newer than the database's `user_version`, each
    /// in its own transaction. Running it again does nothing. The version
    /// is read under the write lock, so two processes opening a new file
    /// at once do not both run a migration.
    fn migrate(&mut self) -> Result<()> {
        let known = MIGRATIONS.len() as i64;
        loop {
            let tx = self.immediate()?;
            let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            anyhow::ensure!(
                current <= known,
                "database schema version {current} is newer than this handoff knows \
                 ({known}): use a newer handoff"
            );
            let Some(sql) = MIGRATIONS.get(current as usize) else {
                return Ok(());
            };
            let version = current + 1;
            tx.execute_batch(sql)
                .with_context(|| format!("migrating to schema {version}"))?;
            tx.pragma_update(None, "user_version", version)?;
            tx.commit()?;
            tracing::info!(version, "store schema migrated");
        }
    }

    fn strings(&self, sql: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn immediate(&mut self) -> Result<rusqlite::Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }
}

/// Appends `rows` inside the caller's transaction; the caller commits.
fn append_in(
    tx: &rusqlite::Transaction<'_>,
    rows: &[Prepared<'_>],
    from: &Provenance,
) -> Result<AppendOutcome> {
    let mut outcome = AppendOutcome::default();

    // Step 1: insert everything (in id order); remember what was not.
    let mut not_inserted = Vec::new();
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO events (id, at_utc, payload) \
                 VALUES (?1, ?2, ?3) ON CONFLICT(id) DO NOTHING",
        )?;
        for row in rows {
            let changed = insert
                .execute(params![row.id, row.at_ms, row.payload])
                .with_context(|| format!("storing event {:?}", row.id))?;
            if changed == 1 {
                outcome.inserted += 1;
            } else {
                not_inserted.push(row);
            }
        }
    }

    // Step 2: compare the rest with what is stored (this also covers a
    // repeat inside the batch itself: the first copy is stored by now).
    let mut stored = tx.prepare_cached("SELECT payload FROM events WHERE id = ?1")?;
    for row in not_inserted {
        let kept: String = stored.query_row([row.id], |r| r.get(0))?;
        judge(&mut outcome, row, &kept, from);
    }
    let mut record = tx.prepare_cached(
        "INSERT OR IGNORE INTO conflicts (id, kept, rejected, source, recorded_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for c in &outcome.conflicts {
        record.execute(params![c.id, c.kept, c.rejected, c.source, c.recorded_at])?;
    }
    Ok(outcome)
}

impl Backend for Sqlite {
    fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn append(
        &mut self,
        rows: &[Prepared<'_>],
        from: &Provenance,
        alerts: &[NewAlert],
        now: DateTime<Utc>,
    ) -> Result<(AppendOutcome, usize)> {
        let tx = self.immediate()?;
        let outcome = append_in(&tx, rows, from)?;
        let recorded = outbox::insert_alerts(&tx, alerts, now)?;
        tx.commit().context("committing appended events")?;
        Ok((outcome, recorded))
    }

    fn event_count(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))?)
    }

    fn last_position(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))?)
    }

    fn stored_ids(&self, ids: &[&str]) -> Result<HashSet<String>> {
        // One statement per chunk rather than one per id: the live engine
        // asks this for every batch it is posted.
        const CHUNK: usize = 500;
        let mut found = HashSet::new();
        for chunk in ids.chunks(CHUNK) {
            let marks = vec!["?"; chunk.len()].join(",");
            let mut stmt = self
                .conn
                .prepare_cached(&format!("SELECT id FROM events WHERE id IN ({marks})"))?;
            let mut rows = stmt.query(rusqlite::params_from_iter(chunk))?;
            while let Some(row) = rows.next()? {
                found.insert(row.get::<_, String>(0)?);
            }
        }
        Ok(found)
    }

    fn for_each_event(&self, f: &mut dyn FnMut(i64, &str) -> Result<()>) -> Result<()> {
        self.events_in("SELECT seq, payload FROM events ORDER BY at_utc, id", f)
    }

    fn for_each_event_by_position(&self, f: &mut dyn FnMut(i64, &str) -> Result<()>) -> Result<()> {
        self.events_in("SELECT seq, payload FROM events ORDER BY seq", f)
    }

    fn events_after(
        &self,
        position: i64,
        except: &HashSet<String>,
    ) -> Result<(Vec<(i64, String)>, i64)> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, id, payload FROM events WHERE seq > ?1 ORDER BY seq")?;
        let mut rows = stmt.query([position])?;
        let (mut found, mut last) = (Vec::new(), position);
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            last = seq;
            if !except.contains(row.get_ref(1)?.as_str()?) {
                found.push((seq, row.get(2)?));
            }
        }
        Ok((found, last))
    }

    fn event_span(&self) -> Result<Option<(i64, i64)>> {
        let (first, last): (Option<i64>, Option<i64>) =
            self.conn
                .query_row("SELECT min(at_utc), max(at_utc) FROM events", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
        Ok(first.zip(last))
    }

    fn conflicts(&self) -> Result<Vec<Conflict>> {
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

    fn record_rejects(&mut self, rows: &[RejectedRow], recorded_at: Option<&str>) -> Result<()> {
        let tx = self.immediate()?;
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

    fn rejected_rows(&self) -> Result<Vec<RejectedRow>> {
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

    fn write_derived(
        &mut self,
        accounts: &[(String, String)],
        alerts: &[(String, String)],
        meta: &[(&str, String)],
    ) -> Result<()> {
        let tx = self.immediate()?;
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

    fn load_derived_accounts(&self) -> Result<Vec<String>> {
        self.strings("SELECT json FROM derived_accounts ORDER BY account")
    }

    fn load_account(&self, account: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT json FROM derived_accounts WHERE account = ?1",
                [account],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn load_alerts(&self) -> Result<Vec<String>> {
        self.strings("SELECT json FROM derived_alerts ORDER BY alert")
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    fn meta_or_set(&mut self, key: &str, value: &str) -> Result<String> {
        let tx = self.immediate()?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO NOTHING",
            params![key, value],
        )?;
        let kept: String =
            tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))?;
        tx.commit()?;
        Ok(kept)
    }

    fn add_policy(&mut self, text: &str) -> Result<()> {
        self.conn
            .execute("INSERT INTO policies (text) VALUES (?1)", [text])?;
        Ok(())
    }

    fn add_policy_version(&mut self, v: &NewPolicyVersion<'_>) -> Result<VersionOutcome> {
        let tx = self.immediate()?;
        let latest = tx
            .query_row(
                &format!(
                    "SELECT {VERSION_COLUMNS} FROM policy_versions ORDER BY number DESC LIMIT 1"
                ),
                [],
                version_columns,
            )
            .optional()?
            .map(PolicyVersionRow::from_columns)
            .transpose()?;
        let outcome = super::next_policy_version(latest.as_ref(), v)?;
        if let VersionOutcome::Recorded(number) = outcome {
            tx.execute(
                &format!("INSERT INTO policy_versions ({VERSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                params![
                    number,
                    v.effective_at.map(|t| t.to_rfc3339()),
                    v.name,
                    v.text,
                    super::policy_sha256(v.text),
                    v.applied_by,
                    v.recorded_at.to_rfc3339()
                ],
            )?;
            tx.commit()?;
        }
        Ok(outcome)
    }

    fn policy_versions(&self) -> Result<Vec<PolicyVersionRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {VERSION_COLUMNS} FROM policy_versions ORDER BY number"
        ))?;
        let rows = stmt.query_map([], version_columns)?;
        rows.map(|r| PolicyVersionRow::from_columns(r?)).collect()
    }

    fn policy_text(&self) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT text FROM policies ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn has_token_named(&self, name: &str) -> Result<bool> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM tokens WHERE name = ?1")?;
        Ok(stmt.exists([name])?)
    }

    fn insert_token(&mut self, token: &StoredToken) -> Result<()> {
        self.conn.execute(
            "INSERT INTO tokens (name, role, scope, sha256, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                token.name,
                token.role,
                token.scope,
                token.sha256,
                token.created_at
            ],
        )?;
        Ok(())
    }

    fn find_token(&self, sha256: &str) -> Result<Option<StoredToken>> {
        Ok(self
            .conn
            .query_row(
                "SELECT name, role, scope, sha256, created_at FROM tokens WHERE sha256 = ?1",
                [sha256],
                |r| {
                    Ok(StoredToken {
                        name: r.get(0)?,
                        role: r.get(1)?,
                        scope: r.get(2)?,
                        sha256: r.get(3)?,
                        created_at: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    fn insert_user(&mut self, user: &StoredUser) -> Result<()> {
        let exists = self
            .conn
            .prepare_cached("SELECT 1 FROM users WHERE name = ?1")?
            .exists([&user.name])?;
        anyhow::ensure!(
            !exists,
            "a user named {:?} exists already; choose another --name",
            user.name
        );
        self.conn.execute(
            "INSERT INTO users (name, role, scope, password_hash, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                user.name,
                user.role,
                user.scope,
                user.password_hash,
                user.created_at
            ],
        )?;
        Ok(())
    }

    fn find_user(&self, name: &str) -> Result<Option<StoredUser>> {
        Ok(self
            .conn
            .query_row(
                "SELECT name, role, scope, password_hash, created_at FROM users WHERE name = ?1",
                [name],
                |r| {
                    Ok(StoredUser {
                        name: r.get(0)?,
                        role: r.get(1)?,
                        scope: r.get(2)?,
                        password_hash: r.get(3)?,
                        created_at: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    fn sync_every_commit(&mut self) -> Result<()> {
        self.conn.execute_batch("PRAGMA synchronous = FULL;")?;
        Ok(())
    }

    fn outbox_record(&mut self, alerts: &[NewAlert], now: DateTime<Utc>) -> Result<usize> {
        outbox::record(self, alerts, now)
    }

    fn outbox_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxEntry>> {
        outbox::due(&self.conn, now, limit)
    }

    fn outbox_claim(
        &mut self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>> {
        outbox::claim(self, now, until, limit)
    }

    fn outbox_all(&self) -> Result<Vec<OutboxEntry>> {
        outbox::all(&self.conn)
    }

    fn outbox_entry(&self, alert_id: &str) -> Result<Option<OutboxEntry>> {
        outbox::entry_of(&self.conn, alert_id)
    }

    fn outbox_mark_sent(&mut self, alert_id: &str, now: DateTime<Utc>) -> Result<()> {
        outbox::mark_sent(&self.conn, alert_id, now)
    }

    fn outbox_mark_attempt_failed(
        &mut self,
        alert_id: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        outbox::mark_attempt_failed(&self.conn, alert_id, error, retry_at)
    }

    fn outbox_retract(&mut self, alert_ids: &[String], reason: &str) -> Result<usize> {
        outbox::retract(self, alert_ids, reason)
    }
}

/// A policy version row's columns, as SQLite hands them over.
fn version_columns(r: &rusqlite::Row<'_>) -> rusqlite::Result<VersionColumns> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}
