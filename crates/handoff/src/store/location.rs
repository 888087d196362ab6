//! Where a store lives, as given to `--db`.
//!
//! A *location* is a SQLite file path or a PostgreSQL connection URL: a
//! value starting `postgres://` or `postgresql://` selects PostgreSQL,
//! anything else is a file. A URL may carry a password, so a location
//! never prints one: its `Display` and `Debug` show the user, host, port
//! and database only.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A SQLite file or a PostgreSQL database.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite database file; made if missing.
    Sqlite(PathBuf),
    /// A PostgreSQL database; it must exist (`createdb`), its tables are
    /// made on first use.
    Postgres(PgUrl),
}

/// A PostgreSQL connection URL, kept whole for connecting and shown
/// without its password.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl {
    /// The URL as given: may hold a password, never printed.
    secret: String,
    /// `postgres://USER@HOST:PORT/DATABASE`, for messages and logs.
    shown: String,
    /// The database name, for default file names beside it.
    dbname: String,
}

impl Location {
    /// Reads a `--db` value: a `postgres://` or `postgresql://` URL, else a
    /// SQLite file path.
    pub fn parse(text: &str) -> Result<Location> {
        if is_postgres_url(text) {
            return PgUrl::parse(text).map(Location::Postgres);
        }
        Ok(Location::Sqlite(PathBuf::from(text)))
    }

    /// [`Location::parse`] for a path-typed argument: a path that is not
    /// UTF-8 cannot be a URL, so it is a SQLite file.
    pub fn from_arg(path: &Path) -> Result<Location> {
        match path.to_str() {
            Some(text) => Location::parse(text),
            None => Ok(Location::Sqlite(path.to_path_buf())),
        }
    }

    /// The SQLite file, if this is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Location::Sqlite(path) => Some(path),
            Location::Postgres(_) => None,
        }
    }

    /// A file beside the store named after it with `suffix` added: next to
    /// a SQLite file (`handoff.db` gives `handoff.db.rejects.jsonl`), or in
    /// the current folder after a PostgreSQL database's name.
    pub fn sibling_file(&self, suffix: &str) -> PathBuf {
        let mut name = match self {
            Location::Sqlite(path) => path.as_os_str().to_owned(),
            Location::Postgres(url) => url.dbname.clone().into(),
        };
        name.push(suffix);
        PathBuf::from(name)
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Location {
        Location::Sqlite(path)
    }
}

impl From<&Path> for Location {
    fn from(path: &Path) -> Location {
        Location::Sqlite(path.to_path_buf())
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(&url.shown),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({self})")
    }
}

fn is_postgres_url(text: &str) -> bool {
    let lower = text.get(..13).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

impl PgUrl {
    /// Checks a connection URL; the error never repeats a password.
    pub fn parse(text: &str) -> Result<PgUrl> {
        let config: tokio_postgres::Config = text.parse().with_context(|| {
            format!(
                "--db {}: not a PostgreSQL URL; write \
                 postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
                without_password(text)
            )
        })?;
        let user = config.get_user().unwrap_or("");
        let host = config
            .get_hosts()
            .first()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".to_string());
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let dbname = config.get_dbname().unwrap_or(user).to_string();
        let at = if user.is_empty() {
            String::new()
        } else {
            format!("{user}@")
        };
        Ok(PgUrl {
            secret: text.to_string(),
            shown: format!("postgres://{at}{host}:{port}/{dbname}"),
            dbname,
        })
    }

    /// The URL as given, password included: only for connecting.
    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({})", self.shown)
    }
}

/// `text` with anything between `://user:` and `@` replaced by `***`, for
/// an error about a URL that could not be read.
fn without_password(text: &str) -> String {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return text.to_string();
    };
    let rest = &text[start..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:***{}",
            &text[..start],
            &authority[..colon],
            &rest[at..]
        ),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_is_shown_without_its_password() {
        let db = Location::parse("postgresql://handoff:s3cret@db.local:6543/sla").unwrap();
        assert_eq!(db.to_string(), "postgres://handoff@db.local:6543/sla");
        assert_eq!(
            format!("{db:?}"),
            "Location(postgres://handoff@db.local:6543/sla)"
        );
        assert!(db.sqlite_path().is_none());
        assert_eq!(
            db.sibling_file(".rejects.jsonl"),
            Path::new("sla.rejects.jsonl")
        );
    }

    #[test]
    fn anything_else_is_a_sqlite_file() {
        let db = Location::parse("data/handoff.db").unwrap();
        assert_eq!(db.sqlite_path(), Some(Path::new("data/handoff.db")));
        assert_eq!(
            db.sibling_file(".rejects.jsonl"),
            Path::new("data/handoff.db.rejects.jsonl")
        );
    }

    #[test]
    fn a_bad_url_is_named_without_its_password() {
        let err = Location::parse("postgres://u:pw@host:notaport/db").unwrap_err();
        let text = format!("{err:#}");
        assert!(text.starts_with("--db postgres://u:***@host:notaport/db: not a PostgreSQL URL"));
        assert!(!text.contains("pw"), "{text}");
    }
}
