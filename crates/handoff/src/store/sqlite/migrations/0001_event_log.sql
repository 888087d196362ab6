-- Schema version 1: the append-only event log, what was kept out of it
-- (conflicts, rejected rows), and the derived state rebuilt from it.

-- One row per distinct event id. `payload` is the canonical JSON of the
-- parsed event (serde_json's serialisation of handoff_core::event::Event);
-- `at_utc` is the occurrence instant in milliseconds since the Unix epoch,
-- the ordering key together with `id`.
CREATE TABLE events (
    seq     INTEGER PRIMARY KEY,
    id      TEXT    NOT NULL UNIQUE,
    type    TEXT    NOT NULL,
    at_utc  INTEGER NOT NULL,
    at      TEXT    NOT NULL,
    account TEXT,
    payload TEXT    NOT NULL
);
CREATE INDEX events_by_time ON events (at_utc, id);
CREATE INDEX events_by_account ON events (account) WHERE account IS NOT NULL;

-- A second version of a known id with a different payload. The first
-- version stays in `events`; both are kept here.
CREATE TABLE conflicts (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL,
    kept        TEXT NOT NULL,
    rejected    TEXT NOT NULL,
    source      TEXT NOT NULL,
    recorded_at TEXT
);
CREATE UNIQUE INDEX conflicts_once ON conflicts (id, rejected);

-- Input rows that could not become events, with the reason.
CREATE TABLE rejected_rows (
    seq         INTEGER PRIMARY KEY,
    source      TEXT    NOT NULL,
    line        INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    raw         TEXT    NOT NULL,
    recorded_at TEXT
);
CREATE UNIQUE INDEX rejected_rows_once ON rejected_rows (source, line, reason, raw);

-- Derived state, replaced wholesale by each rebuild.
CREATE TABLE derived_accounts (
    account TEXT PRIMARY KEY,
    json    TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE derived_alerts (
    alert TEXT PRIMARY KEY,
    json  TEXT NOT NULL
) WITHOUT ROWID;

-- Small key-value facts about the store (e.g. when it was last rebuilt).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Every distinct policy text used, in order; the last one is current.
CREATE TABLE policies (
    seq  INTEGER PRIMARY KEY,
    text TEXT NOT NULL
);
