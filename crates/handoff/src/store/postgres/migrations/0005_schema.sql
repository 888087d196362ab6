-- PostgreSQL starts at schema version 5: the tables of SQLite schema 5
-- (sqlite/migrations/0001 to 0005) in one step. A schema number means the
-- same tables on both backends from here on.
--
-- Text that is sorted or compared as a key uses the "C" collation, so that
-- ids order by their bytes as in SQLite (and as Rust's String does),
-- whatever locale the database was made with. Payloads are TEXT, not JSONB:
-- the canonical JSON is compared byte for byte to tell a duplicate from a
-- conflict, and JSONB would reorder its keys.

-- The append-only event log. `seq` is the log position: appends take an
-- advisory lock (store/postgres/mod.rs), so positions are handed out in
-- commit order and a reader of "seq > N" never skips a row committed late.
CREATE TABLE events (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id      TEXT COLLATE "C" NOT NULL UNIQUE,
    at_utc  BIGINT NOT NULL,  -- milliseconds since the Unix epoch, UTC
    payload TEXT NOT NULL     -- canonical JSON of the event
);
CREATE INDEX events_by_time ON events (at_utc, id);

-- A second version of a known id with a different payload. The unique
-- indexes hash long texts: a B-tree entry holds at most about 2.7 kB.
CREATE TABLE conflicts (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT COLLATE "C" NOT NULL,
    kept        TEXT NOT NULL,
    rejected    TEXT NOT NULL,
    source      TEXT NOT NULL,
    recorded_at TEXT
);
CREATE UNIQUE INDEX conflicts_once ON conflicts (id, md5(rejected));

-- Input rows that could not become events, with the reason.
CREATE TABLE rejected_rows (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      TEXT   NOT NULL,
    line        BIGINT NOT NULL,
    reason      TEXT   NOT NULL,
    raw         TEXT   NOT NULL,
    recorded_at TEXT
);
CREATE UNIQUE INDEX rejected_rows_once
    ON rejected_rows (md5(source), line, md5(reason), md5(raw));

-- Derived state, replaced wholesale by each rebuild.
CREATE TABLE derived_accounts (
    account TEXT COLLATE "C" PRIMARY KEY,
    json    TEXT NOT NULL
);
CREATE TABLE derived_alerts (
    alert TEXT COLLATE "C" PRIMARY KEY,
    json  TEXT NOT NULL
);

-- Small key-value facts about the store.
CREATE TABLE meta (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL
);

-- Every distinct policy text used, in order; the last one is current.
CREATE TABLE policies (
    seq  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    text TEXT NOT NULL
);

-- API tokens: only the SHA-256 of a token's text is kept.
CREATE TABLE tokens (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'ingest', 'manager', 'viewer')),
    sha256     TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

-- The alert outbox: one row per alert id (the dedupe key).
CREATE TABLE outbox (
    alert_id        TEXT COLLATE "C" PRIMARY KEY,
    alert           TEXT NOT NULL,         -- the alert's JSON
    created_at      TIMESTAMPTZ NOT NULL,  -- when it entered the outbox
    status          TEXT NOT NULL
                    CHECK (status IN ('pending', 'sent', 'failed', 'historical', 'retracted')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ,           -- null: at once; also a notice held
                                           -- for working hours, or a claim's lease
    last_error      TEXT,
    sent_at         TIMESTAMPTZ
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
