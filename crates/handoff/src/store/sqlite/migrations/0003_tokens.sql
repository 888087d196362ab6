-- Schema 3: API tokens for `handoff serve`.
--
-- A token is shown once, when `handoff token create` makes it; only its
-- SHA-256 (lowercase hex) is kept, so a copy of the database does not give
-- access. `name` says who holds it (e.g. crm-sync); `role` what it may do.
CREATE TABLE tokens (
    seq        INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'ingest', 'manager', 'viewer')),
    sha256     TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
