-- Schema 7: what a token's holder may see, and dashboard users.
--
-- Two more roles: `rep` (sees and acts on the accounts they hold) and
-- `marketing` (sees the marketing-sourced side, acts on nothing). `scope`
-- narrows a role: a rep's rep id (required for `rep`), a manager's team
-- (absent: every team). SQLite cannot change a CHECK in place, so the
-- table is copied.
CREATE TABLE tokens_new (
    seq        INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL
               CHECK (role IN ('admin', 'ingest', 'manager', 'rep', 'marketing', 'viewer')),
    scope      TEXT,
    sha256     TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
INSERT INTO tokens_new (seq, name, role, sha256, created_at)
    SELECT seq, name, role, sha256, created_at FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_new RENAME TO tokens;

-- People who sign in to the dashboard with a name and a password; only
-- the password's argon2id hash (PHC string, salt included) is kept.
CREATE TABLE users (
    seq           INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL
                  CHECK (role IN ('admin', 'ingest', 'manager', 'rep', 'marketing', 'viewer')),
    scope         TEXT,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
