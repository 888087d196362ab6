-- Schema 7, as SQLite's: the rep and marketing roles, a token's scope (a
-- rep's id, a manager's team) and dashboard users with argon2id hashes.
ALTER TABLE tokens DROP CONSTRAINT IF EXISTS tokens_role_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_role_check
    CHECK (role IN ('admin', 'ingest', 'manager', 'rep', 'marketing', 'viewer'));
ALTER TABLE tokens ADD COLUMN scope TEXT;

CREATE TABLE users (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          TEXT COLLATE "C" NOT NULL UNIQUE,
    role          TEXT NOT NULL
                  CHECK (role IN ('admin', 'ingest', 'manager', 'rep', 'marketing', 'viewer')),
    scope         TEXT,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
