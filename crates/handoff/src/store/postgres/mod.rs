//! The PostgreSQL backend: the store in a PostgreSQL database, shared by
//! any number of services and commands.
//!
//! The store is synchronous, PostgreSQL's client (tokio-postgres) is not.
//! Every connection's socket is driven by one background runtime of the
//! process (one thread, [`runtime`]); a store call sends its queries there
//! and waits for the answers on its own thread ([`wait`]), which never
//! starts a runtime, so a store may be called from a blocking thread, from
//! a plain thread or from inside an async context alike. (The synchronous
//! `postgres` crate blocks on a runtime of its own on the calling thread,
//! which tokio forbids inside an async context.) Queries carry their
//! parameter types, so each is one round trip, with no statement to
//! prepare first.
//!
//! The schema version is the one row of `handoff_schema`; migrations run
//! under an advisory lock, so services starting together migrate once.
//! Appends take another transaction-scoped advisory lock
//! ([`APPEND_LOCK`]): one append commits at a time, and log positions are
//! handed out in commit order (see the migration's note on `seq`).

mod outbox;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Transaction};

use super::{judge, AppendOutcome, Backend, Conflict, NewAlert, OutboxEntry, Prepared};
use super::{
    NewPolicyVersion, PgUrl, PolicyVersionRow, Provenance, RejectedRow, StoredToken, StoredUser,
};
use super::{VersionColumns, VersionOutcome, VERSION_COLUMNS};

/// The migrations as (version reached, SQL), in order. PostgreSQL starts
/// at version 5, the SQLite schema it matches.
const MIGRATIONS: &[(i64, &str)] = &[
    (5, include_str!("migrations/0005_schema.sql")),
    (6, include_str!("migrations/0006_policy_versions.sql")),
    (7, include_str!("migrations/0007_scopes_users.sql")),
];

/// The advisory lock key migrations hold: "handoff" in ASCII, plus one.
const MIGRATE_LOCK: i64 = 0x68_616e_646f_6666 + 1;

/// The advisory lock key every append holds until it commits: "handoff"
/// in ASCII. Keys are per database, so other databases are not held up.
const APPEND_LOCK: i64 = 0x68_616e_646f_6666;

/// How long connecting may take when the URL sets no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Rows sent in one statement: a chunk of payloads (a few hundred bytes
/// each) makes one message of a few megabytes.
const CHUNK: usize = 10_000;

/// The runtime that drives every PostgreSQL connection of the process.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("handoff-pg")
            .enable_all()
            .build()
            // Building fails only when the system refuses a thread, when
            // nothing else could work either.
            .expect("starting the PostgreSQL connection thread")
    })
}

/// Runs `future` to its end on this thread. Its queries travel to the
/// connection task over channels, so nothing here needs a runtime.
fn wait<F: Future>(future: F) -> F::Output {
    futures_executor::block_on(future)
}

/// No parameters, for `query_typed_raw`.
const NO_PARAMS: [(&(dyn ToSql + Sync), Type); 0] = [];

/// Opens a connection to `url`, driven by [`runtime`].
fn connect_client(url: &PgUrl) -> Result<Client> {
    let mut config: tokio_postgres::Config = url
        .secret()
        .parse()
        .with_context(|| format!("--db {url}: not a PostgreSQL URL"))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("handoff");
    }
    let connecting = runtime().spawn(async move {
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "PostgreSQL connection ended with an error");
            }
        });
        Ok::<_, tokio_postgres::Error>(client)
    });
    let client = wait(connecting)
        .context("the PostgreSQL connection thread stopped")?
        .with_context(|| {
            format!(
                "connecting to PostgreSQL at {url}: check that the server runs and \
                 accepts connections there (host, port, user, password), and that the \
                 database exists (createdb)"
            )
        })?;
    Ok(client)
}

/// One connection to a PostgreSQL database, made again when the server
/// closed it (a restart of the server, say): the call that met the closed
/// connection fails, the next one reconnects.
pub(super) struct Postgres {
    url: PgUrl,
    /// Behind a mutex only to be replaced from `&self` methods: one
    /// thread at a time uses a store.
    client: Mutex<Client>,
    /// Whether the session asks for `synchronous_commit = on`, to ask
    /// again after reconnecting.
    synchronous: bool,
}

impl Postgres {
    /// Streams (seq, payload) rows of `sql` to `f`.
    fn events_in(&self, sql: &str, f: &mut dyn FnMut(i64, &str) -> Result<()>) -> Result<()> {
        let client = self.client()?;
        let client: &Client = &client;
        wait(async {
            let rows = client.query_typed_raw(sql, NO_PARAMS).await?;
            let mut rows = std::pin::pin!(rows);
            while let Some(row) = rows.next().await {
                let row = row?;
                f(row.get(0), row.get(1))?;
            }
            Ok(())
        })
    }

    /// Connects to the database at `url` and brings its schema up to date.
    pub(super) fn connect(url: &PgUrl) -> Result<Postgres> {
        let mut store = Postgres {
            url: url.clone(),
            client: Mutex::new(connect_client(url)?),
            synchronous: false,
        };
        store
            .migrate()
            .with_context(|| format!("preparing PostgreSQL database {url}"))?;
        Ok(store)
    }

    /// The connection, made again first if the server closed it.
    fn client(&self) -> Result<MutexGuard<'_, Client>> {
        let mut client = self
            .client
            .lock()
            .map_err(|_| anyhow::anyhow!("a PostgreSQL connection was poisoned by a panic"))?;
        if client.is_closed() {
            tracing::warn!(db = %self.url, "the PostgreSQL connection was closed; connecting again");
            *client = connect_client(&self.url)?;
            if self.synchronous {
                wait(client.batch_execute("SET synchronous_commit = on"))?;
            }
        }
        Ok(client)
    }

    /// Runs the migrations newer than the database's version, all in one
    /// transaction under [`MIGRATE_LOCK`]. Nothing to do costs one query.
    fn migrate(&mut self) -> Result<()> {
        let latest = MIGRATIONS.last().map_or(0, |m| m.0);
        if self.schema_version().ok() == Some(latest) {
            return Ok(());
        }
        let mut client = self.client()?;
        wait(async {
            let tx = client.transaction().await?;
            tx.query_typed(
                "SELECT pg_advisory_xact_lock($1)",
                &[(&MIGRATE_LOCK, Type::INT8)],
            )
            .await?;
            tx.batch_execute("CREATE TABLE IF NOT EXISTS handoff_schema (version BIGINT NOT NULL)")
                .await?;
            let current: i64 = tx
                .query_typed_opt("SELECT version FROM handoff_schema", &[])
                .await?
                .map_or(0, |r| r.get(0));
            anyhow::ensure!(
                current <= latest,
                "database schema version {current} is newer than this handoff knows \
                 ({latest}): use a newer handoff"
            );
            for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
                tx.batch_execute(sql)
                    .await
                    .with_context(|| format!("migrating to schema {version}"))?;
                tracing::info!(version, "store schema migrated");
            }
            tx.batch_execute("DELETE FROM handoff_schema").await?;
            tx.execute_typed(
                "INSERT INTO handoff_schema (version) VALUES ($1)",
                &[(&latest.max(current), Type::INT8)],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The first column of every row of `sql`, as text.
    fn strings(&self, sql: &str) -> Result<Vec<String>> {
        let rows = wait(self.client()?.query_typed(sql, &[]))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn one_text(&self, sql: &str, key: &str) -> Result<Option<String>> {
        let row = wait(self.client()?.query_typed_opt(sql, &[(&key, Type::TEXT)]))?;
        Ok(row.map(|r| r.get(0)))
    }
}

/// Appends `rows` inside the caller's transaction, which holds
/// [`APPEND_LOCK`]; the caller commits.
async fn append_in(
    tx: &Transaction<'_>,
    rows: &[Prepared<'_>],
    from: &Provenance<'_>,
) -> Result<AppendOutcome> {
    // Step 1: insert the first copy of each id (rows are in id order); the
    // ids that were new come back.
    let firsts: Vec<&Prepared<'_>> = rows
        .iter()
        .enumerate()
        .filter(|(i, r)| *i == 0 || rows[i - 1].id != r.id)
        .map(|(_, r)| r)
        .collect();
    let mut inserted: HashSet<String> = HashSet::new();
    for chunk in firsts.chunks(CHUNK) {
        let ids: Vec<&str> = chunk.iter().map(|r| r.id).collect();
        let ats: Vec<i64> = chunk.iter().map(|r| r.at_ms).collect();
        let payloads: Vec<&str> = chunk.iter().map(|r| r.payload.as_str()).collect();
        let new = tx
            .query_typed(
                "INSERT INTO events (id, at_utc, payload) \
                 SELECT * FROM unnest($1::text[], $2::int8[], $3::text[]) \
                 ON CONFLICT (id) DO NOTHING RETURNING id",
                &[
                    (&ids, Type::TEXT_ARRAY),
                    (&ats, Type::INT8_ARRAY),
                    (&payloads, Type::TEXT_ARRAY),
                ],
            )
            .await
            .context("storing events")?;
        inserted.extend(new.iter().map(|r| r.get::<_, String>(0)));
    }

    // Step 2: the stored payload of every id that was not new.
    let known: Vec<&str> = firsts
        .iter()
        .map(|r| r.id)
        .filter(|id| !inserted.contains(*id))
        .collect();
    let mut kept: HashMap<String, String> = HashMap::new();
    for chunk in known.chunks(CHUNK) {
        let chunk = chunk.to_vec();
        let stored = tx
            .query_typed(
                "SELECT id, payload FROM events WHERE id = ANY($1)",
                &[(&chunk, Type::TEXT_ARRAY)],
            )
            .await?;
        kept.extend(stored.iter().map(|r| (r.get(0), r.get(1))));
    }

    // Step 3: judge every other copy against what is stored: the earlier
    // version, or the batch's own first copy when that one was new.
    let mut outcome = AppendOutcome::default();
    let mut first: Option<&Prepared<'_>> = None;
    for row in rows {
        let is_first = first.is_none_or(|f| f.id != row.id);
        if is_first {
            first = Some(row);
        }
        let stored = if inserted.contains(row.id) {
            if is_first {
                outcome.inserted += 1;
                continue;
            }
            first.map(|f| f.payload.as_str())
        } else {
            kept.get(row.id).map(String::as_str)
        };
        let stored =
            stored.with_context(|| format!("event {:?} is neither new nor stored", row.id))?;
        judge(&mut outcome, row, stored, from);
    }
    record_conflicts(tx, &outcome.conflicts).await?;
    Ok(outcome)
}

async fn record_conflicts(tx: &Transaction<'_>, conflicts: &[Conflict]) -> Result<()> {
    for chunk in conflicts.chunks(CHUNK) {
        let column = |f: fn(&Conflict) -> &str| chunk.iter().map(f).collect::<Vec<&str>>();
        let recorded: Vec<Option<&str>> = chunk.iter().map(|c| c.recorded_at.as_deref()).collect();
        tx.execute_typed(
            "INSERT INTO conflicts (id, kept, rejected, source, recorded_at) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) \
             ON CONFLICT DO NOTHING",
            &[
                (&column(|c| &c.id), Type::TEXT_ARRAY),
                (&column(|c| &c.kept), Type::TEXT_ARRAY),
                (&column(|c| &c.rejected), Type::TEXT_ARRAY),
                (&column(|c| &c.source), Type::TEXT_ARRAY),
                (&recorded, Type::TEXT_ARRAY),
            ],
        )
        .await
        .context("recording conflicts")?;
    }
    Ok(())
}

/// Inserts (key, JSON) pairs into a derived table in chunks.
async fn insert_pairs(tx: &Transaction<'_>, sql: &str, pairs: &[(String, String)]) -> Result<()> {
    for chunk in pairs.chunks(CHUNK) {
        let keys: Vec<&str> = chunk.iter().map(|p| p.0.as_str()).collect();
        let jsons: Vec<&str> = chunk.iter().map(|p| p.1.as_str()).collect();
        tx.execute_typed(
            sql,
            &[(&keys, Type::TEXT_ARRAY), (&jsons, Type::TEXT_ARRAY)],
        )
        .await?;
    }
    Ok(())
}

impl Backend for Postgres {
    fn schema_version(&self) -> Result<i64> {
        let row = wait(
            self.client()?
                .query_typed_opt("SELECT version FROM handoff_schema", &[]),
        )?;
        Ok(row.map_or(0, |r| r.get(0)))
    }

    fn append(
        &mut self,
        rows: &[Prepared<'_>],
        from: &Provenance,
        alerts: &[NewAlert],
        now: DateTime<Utc>,
    ) -> Result<(AppendOutcome, usize)> {
        let mut client = self.client()?;
        wait(async {
            let tx = client.transaction().await?;
            tx.query_typed(
                "SELECT pg_advisory_xact_lock($1)",
                &[(&APPEND_LOCK, Type::INT8)],
            )
            .await?;
            let outcome = append_in(&tx, rows, from).await?;
            let recorded = outbox::insert_alerts(&tx, alerts, now).await?;
            tx.commit().await.context("committing appended events")?;
            Ok((outcome, recorded))
        })
    }

    fn event_count(&self) -> Result<u64> {
        let row = wait(
            self.client()?
                .query_typed_one("SELECT count(*) FROM events", &[]),
        )?;
        Ok(row.get::<_, i64>(0).try_into()?)
    }

    fn last_position(&self) -> Result<i64> {
        let row = wait(
            self.client()?
                .query_typed_one("SELECT coalesce(max(seq), 0)::bigint FROM events", &[]),
        )?;
        Ok(row.get(0))
    }

    fn stored_ids(&self, ids: &[&str]) -> Result<HashSet<String>> {
        let ids = ids.to_vec();
        let rows = wait(self.client()?.query_typed(
            "SELECT id FROM events WHERE id = ANY($1)",
            &[(&ids, Type::TEXT_ARRAY)],
        ))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
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
        let except: Vec<&str> = except.iter().map(String::as_str).collect();
        // The payloads of the caller's own events are not sent back.
        let rows = wait(self.client()?.query_typed(
            "SELECT seq, CASE WHEN id = ANY($2) THEN NULL ELSE payload END \
             FROM events WHERE seq > $1 ORDER BY seq",
            &[(&position, Type::INT8), (&except, Type::TEXT_ARRAY)],
        ))?;
        let mut last = position;
        let mut found = Vec::new();
        for row in &rows {
            let seq: i64 = row.get(0);
            last = seq;
            if let Some(payload) = row.get::<_, Option<String>>(1) {
                found.push((seq, payload));
            }
        }
        Ok((found, last))
    }

    fn event_span(&self) -> Result<Option<(i64, i64)>> {
        let row = wait(
            self.client()?
                .query_typed_one("SELECT min(at_utc), max(at_utc) FROM events", &[]),
        )?;
        let (first, last): (Option<i64>, Option<i64>) = (row.get(0), row.get(1));
        Ok(first.zip(last))
    }

    fn conflicts(&self) -> Result<Vec<Conflict>> {
        let rows = wait(self.client()?.query_typed(
            "SELECT id, kept, rejected, source, recorded_at FROM conflicts ORDER BY seq",
            &[],
        ))?;
        Ok(rows
            .iter()
            .map(|r| Conflict {
                id: r.get(0),
                kept: r.get(1),
                rejected: r.get(2),
                source: r.get(3),
                recorded_at: r.get(4),
            })
            .collect())
    }

    fn record_rejects(&mut self, rows: &[RejectedRow], recorded_at: Option<&str>) -> Result<()> {
        let mut client = self.client()?;
        wait(async {
            let tx = client.transaction().await?;
            for chunk in rows.chunks(CHUNK) {
                let text = |f: fn(&RejectedRow) -> &str| chunk.iter().map(f).collect::<Vec<_>>();
                let lines = chunk
                    .iter()
                    .map(|r| i64::try_from(r.line))
                    .collect::<Result<Vec<i64>, _>>()?;
                tx.execute_typed(
                    "INSERT INTO rejected_rows (source, line, reason, raw, recorded_at) \
                     SELECT s, l, re, ra, $5 \
                     FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[]) AS u(s, l, re, ra) \
                     ON CONFLICT DO NOTHING",
                    &[
                        (&text(|r| &r.source), Type::TEXT_ARRAY),
                        (&lines, Type::INT8_ARRAY),
                        (&text(|r| &r.reason), Type::TEXT_ARRAY),
                        (&text(|r| &r.raw), Type::TEXT_ARRAY),
                        (&recorded_at, Type::TEXT),
                    ],
                )
                .await
                .context("storing rejected rows")?;
            }
            tx.commit().await.context("committing rejected rows")?;
            Ok(())
        })
    }

    fn rejected_rows(&self) -> Result<Vec<RejectedRow>> {
        let rows = wait(self.client()?.query_typed(
            "SELECT source, line, reason, raw FROM rejected_rows ORDER BY seq",
            &[],
        ))?;
        rows.iter()
            .map(|r| {
                Ok(RejectedRow {
                    source: r.get(0),
                    line: r.get::<_, i64>(1).try_into()?,
                    reason: r.get(2),
                    raw: r.get(3),
                })
            })
            .collect()
    }

    fn write_derived(
        &mut self,
        accounts: &[(String, String)],
        alerts: &[(String, String)],
        meta: &[(&str, String)],
    ) -> Result<()> {
        let mut client = self.client()?;
        wait(async {
            let tx = client.transaction().await?;
            tx.batch_execute("DELETE FROM derived_accounts; DELETE FROM derived_alerts;")
                .await?;
            insert_pairs(
                &tx,
                "INSERT INTO derived_accounts (account, json) \
                 SELECT * FROM unnest($1::text[], $2::text[])",
                accounts,
            )
            .await
            .context("storing derived accounts")?;
            insert_pairs(
                &tx,
                "INSERT INTO derived_alerts (alert, json) \
                 SELECT * FROM unnest($1::text[], $2::text[])",
                alerts,
            )
            .await
            .context("storing derived alerts")?;
            for (key, value) in meta {
                tx.execute_typed(
                    "INSERT INTO meta (key, value) VALUES ($1, $2) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    &[(key, Type::TEXT), (value, Type::TEXT)],
                )
                .await?;
            }
            tx.commit().await.context("committing derived state")?;
            Ok(())
        })
    }

    fn load_derived_accounts(&self) -> Result<Vec<String>> {
        self.strings("SELECT json FROM derived_accounts ORDER BY account")
    }

    fn load_account(&self, account: &str) -> Result<Option<String>> {
        self.one_text(
            "SELECT json FROM derived_accounts WHERE account = $1",
            account,
        )
    }

    fn load_alerts(&self) -> Result<Vec<String>> {
        self.strings("SELECT json FROM derived_alerts ORDER BY alert")
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.one_text("SELECT value FROM meta WHERE key = $1", key)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        wait(self.client()?.execute_typed(
            "INSERT INTO meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[(&key, Type::TEXT), (&value, Type::TEXT)],
        ))?;
        Ok(())
    }

    fn meta_or_set(&mut self, key: &str, value: &str) -> Result<String> {
        let mut client = self.client()?;
        wait(async {
            let tx = client.transaction().await?;
            tx.execute_typed(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[(&key, Type::TEXT), (&value, Type::TEXT)],
            )
            .await?;
            // A statement of its own sees a value another session committed
            // while the insert waited for it.
            let row = tx
                .query_typed_one(
                    "SELECT value FROM meta WHERE key = $1",
                    &[(&key, Type::TEXT)],
                )
                .await?;
            tx.commit().await?;
            Ok(row.get(0))
        })
    }

    fn add_policy(&mut self, text: &str) -> Result<()> {
        wait(self.client()?.execute_typed(
            "INSERT INTO policies (text) VALUES ($1)",
            &[(&text, Type::TEXT)],
        ))?;
        Ok(())
    }

    fn add_policy_version(&mut self, v: &NewPolicyVersion<'_>) -> Result<VersionOutcome> {
        let mut client = self.client()?;
        wait(async {
            let tx = client.transaction().await?;
            // One writer of versions at a time, so two applies cannot take
            // the same number or pass each other's effective instant.
            tx.batch_execute("LOCK TABLE policy_versions IN EXCLUSIVE MODE")
                .await?;
            let latest = tx
                .query_typed_opt(
                    &format!(
                        "SELECT {VERSION_COLUMNS} FROM policy_versions \
                         ORDER BY number DESC LIMIT 1"
                    ),
                    &[],
                )
                .await?
                .map(|r| PolicyVersionRow::from_columns(version_columns(&r)))
                .transpose()?;
            let outcome = super::next_policy_version(latest.as_ref(), v)?;
            if let VersionOutcome::Recorded(number) = outcome {
                let effective = v.effective_at.map(|t| t.to_rfc3339());
                tx.execute_typed(
                    &format!(
                        "INSERT INTO policy_versions ({VERSION_COLUMNS}) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)"
                    ),
                    &[
                        (&i64::from(number), Type::INT8),
                        (&effective, Type::TEXT),
                        (&v.name, Type::TEXT),
                        (&v.text, Type::TEXT),
                        (&super::policy_sha256(v.text), Type::TEXT),
                        (&v.applied_by, Type::TEXT),
                        (&v.recorded_at.to_rfc3339(), Type::TEXT),
                    ],
                )
                .await?;
                tx.commit().await?;
            }
            Ok(outcome)
        })
    }

    fn policy_versions(&self) -> Result<Vec<PolicyVersionRow>> {
        let rows = wait(self.client()?.query_typed(
            &format!("SELECT {VERSION_COLUMNS} FROM policy_versions ORDER BY number"),
            &[],
        ))?;
        rows.iter()
            .map(|r| PolicyVersionRow::from_columns(version_columns(r)))
            .collect()
    }

    fn policy_text(&self) -> Result<Option<String>> {
        let row = wait(
            self.client()?
                .query_typed_opt("SELECT text FROM policies ORDER BY seq DESC LIMIT 1", &[]),
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    fn has_token_named(&self, name: &str) -> Result<bool> {
        Ok(self
            .one_text("SELECT name FROM tokens WHERE name = $1", name)?
            .is_some())
    }

    fn insert_token(&mut self, token: &StoredToken) -> Result<()> {
        wait(self.client()?.execute_typed(
            "INSERT INTO tokens (name, role, scope, sha256, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                (&token.name, Type::TEXT),
                (&token.role, Type::TEXT),
                (&token.scope, Type::TEXT),
                (&token.sha256, Type::TEXT),
                (&token.created_at, Type::TEXT),
            ],
        ))?;
        Ok(())
    }

    fn find_token(&self, sha256: &str) -> Result<Option<StoredToken>> {
        let row = wait(self.client()?.query_typed_opt(
            "SELECT name, role, scope, sha256, created_at FROM tokens WHERE sha256 = $1",
            &[(&sha256, Type::TEXT)],
        ))?;
        Ok(row.map(|r| StoredToken {
            name: r.get(0),
            role: r.get(1),
            scope: r.get(2),
            sha256: r.get(3),
            created_at: r.get(4),
        }))
    }

    fn insert_user(&mut self, user: &StoredUser) -> Result<()> {
        anyhow::ensure!(
            self.one_text("SELECT name FROM users WHERE name = $1", &user.name)?
                .is_none(),
            "a user named {:?} exists already; choose another --name",
            user.name
        );
        wait(self.client()?.execute_typed(
            "INSERT INTO users (name, role, scope, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                (&user.name, Type::TEXT),
                (&user.role, Type::TEXT),
                (&user.scope, Type::TEXT),
                (&user.password_hash, Type::TEXT),
                (&user.created_at, Type::TEXT),
            ],
        ))?;
        Ok(())
    }

    fn find_user(&self, name: &str) -> Result<Option<StoredUser>> {
        let row = wait(self.client()?.query_typed_opt(
            "SELECT name, role, scope, password_hash, created_at FROM users WHERE name = $1",
            &[(&name, Type::TEXT)],
        ))?;
        Ok(row.map(|r| StoredUser {
            name: r.get(0),
            role: r.get(1),
            scope: r.get(2),
            password_hash: r.get(3),
            created_at: r.get(4),
        }))
    }

    fn sync_every_commit(&mut self) -> Result<()> {
        wait(self.client()?.batch_execute("SET synchronous_commit = on"))?;
        self.synchronous = true;
        Ok(())
    }

    fn outbox_record(&mut self, alerts: &[NewAlert], now: DateTime<Utc>) -> Result<usize> {
        wait(outbox::insert_alerts(&*self.client()?, alerts, now))
    }

    fn outbox_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxEntry>> {
        wait(outbox::due(&*self.client()?, now, limit))
    }

    fn outbox_claim(
        &mut self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>> {
        wait(outbox::claim(&*self.client()?, now, until, limit))
    }

    fn outbox_all(&self) -> Result<Vec<OutboxEntry>> {
        wait(outbox::all(&*self.client()?))
    }

    fn outbox_entry(&self, alert_id: &str) -> Result<Option<OutboxEntry>> {
        wait(outbox::entry_of(&*self.client()?, alert_id))
    }

    fn outbox_mark_sent(&mut self, alert_id: &str, now: DateTime<Utc>) -> Result<()> {
        wait(outbox::mark_sent(&*self.client()?, alert_id, now))
    }

    fn outbox_mark_attempt_failed(
        &mut self,
        alert_id: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        wait(outbox::mark_attempt_failed(
            &*self.client()?,
            alert_id,
            error,
            retry_at,
        ))
    }

    fn outbox_retract(&mut self, alert_ids: &[String], reason: &str) -> Result<usize> {
        wait(outbox::retract(&*self.client()?, alert_ids, reason))
    }
}

/// A policy version row's columns, as PostgreSQL hands them over.
fn version_columns(r: &tokio_postgres::Row) -> VersionColumns {
    let number: i64 = r.get(0);
    (
        u32::try_from(number).unwrap_or(u32::MAX),
        r.get(1),
        r.get(2),
        r.get(3),
        r.get(4),
        r.get(5),
        r.get(6),
    )
}
