-- Schema version 6: versions of the policy, as in
-- sqlite/migrations/0006_policy_versions.sql. `effective_at` NULL means
-- "from the beginning of time"; instants are RFC 3339 text in UTC, as in
-- SQLite, so both backends hand back the same strings.
CREATE TABLE policy_versions (
    number       BIGINT PRIMARY KEY,
    effective_at TEXT,
    name         TEXT NOT NULL,
    text         TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    applied_by   TEXT NOT NULL,
    recorded_at  TEXT NOT NULL
);
