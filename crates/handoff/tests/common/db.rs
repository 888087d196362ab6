//! A fresh store for one test, on SQLite or on PostgreSQL.
//!
//! The PostgreSQL tests need a server: `HANDOFF_TEST_PG_URL` names it, as
//! a URL whose user may create databases (scripts/test starts one on
//! loopback and sets it). Each test gets a database of its own, made for it
//! and dropped after it, so tests run in parallel. Without the variable the
//! PostgreSQL tests say so and pass, so that `cargo test` alone still runs.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use handoff::store::{Location, Store};

/// The environment variable naming the PostgreSQL server of the tests.
pub const PG_URL_VAR: &str = "HANDOFF_TEST_PG_URL";

/// Databases made by this test process so far, for unique names.
static MADE: AtomicUsize = AtomicUsize::new(0);

/// One test's store, and a folder of its own for other files (policies,
/// notification files; the SQLite file lives there too).
pub struct TestDb {
    /// Where the store is.
    pub location: Location,
    /// The test's folder.
    pub dir: tempfile::TempDir,
    /// `--db` for the command line: the file path, or the full URL.
    arg: String,
    /// For PostgreSQL: the server's URL and the database made for the test.
    pg: Option<(String, String)>,
}

impl TestDb {
    /// A new SQLite file in a temporary folder.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        TestDb {
            location: Location::Sqlite(path.clone()),
            arg: path.display().to_string(),
            dir,
            pg: None,
        }
    }

    /// A new database on the server `HANDOFF_TEST_PG_URL` names, or `None`
    /// (with a message) when it is unset.
    pub fn postgres() -> Option<TestDb> {
        let Ok(server) = std::env::var(PG_URL_VAR) else {
            eprintln!(
                "skipped: {PG_URL_VAR} is not set, so this PostgreSQL test did not run; \
                 ./scripts/test starts a PostgreSQL server and sets it"
            );
            return None;
        };
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let name = format!("handoff_test_{}_{n}", std::process::id());
        pg_query(&server, &format!("CREATE DATABASE {name}"));
        let url = with_database(&server, &name);
        Some(TestDb {
            location: Location::parse(&url).unwrap(),
            arg: url,
            dir: tempfile::tempdir().unwrap(),
            pg: Some((server, name)),
        })
    }

    /// Another fresh store on the same backend.
    pub fn another(&self) -> TestDb {
        match self.pg {
            Some(_) => TestDb::postgres().expect("the server is still named"),
            None => TestDb::sqlite(),
        }
    }

    /// Whether this is the PostgreSQL one.
    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// A new connection to the store.
    pub fn open(&self) -> Store {
        Store::open_at(&self.location).unwrap()
    }

    /// The value to give `--db`.
    pub fn arg(&self) -> &str {
        &self.arg
    }

    /// Everything the store holds at rest, to search for text that must not
    /// be there: every byte of a SQLite database's files (main file, WAL,
    /// shared memory), or every row of every table of a PostgreSQL one.
    pub fn contents(&self) -> Vec<u8> {
        match &self.location {
            Location::Sqlite(path) => file_bytes(path),
            Location::Postgres(_) => {
                let tables = pg_query(
                    &self.arg,
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
                );
                let mut all = Vec::new();
                for table in tables {
                    for row in pg_query(&self.arg, &format!("SELECT t::text FROM {table} t")) {
                        all.extend(row.into_bytes());
                    }
                }
                all
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Best effort: the database is made again under another name next
        // time, and scripts/test removes the whole server afterwards.
        if let Some((server, name)) = &self.pg {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = std::panic::catch_unwind(|| pg_query(server, &sql));
        }
    }
}

fn file_bytes(db: &Path) -> Vec<u8> {
    let name = db.file_name().unwrap().to_string_lossy().into_owned();
    let mut all = Vec::new();
    for entry in std::fs::read_dir(db.parent().unwrap()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().starts_with(&name) {
            all.extend(std::fs::read(entry.path()).unwrap());
        }
    }
    all
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let authority = base.find("://").expect("a URL") + 3;
    let host_end = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Runs `sql` on the database at `url` and returns each row's first column
/// as text (simple query protocol). On a thread of its own, so that it may
/// be called from inside a test's runtime.
pub fn pg_query(url: &str, sql: &str) -> Vec<String> {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("connecting to {PG_URL_VAR}'s server: {e}"));
            tokio::spawn(connection);
            let messages = client
                .simple_query(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
            messages
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                        Some(row.get(0).unwrap_or("").to_string())
                    }
                    _ => None,
                })
                .collect()
        })
    })
    .join()
    .unwrap()
}
