-- Schema version 6: versions of the policy, each in force from its
-- effective instant until the next one's. `number` counts from 1;
-- `effective_at` is an RFC 3339 instant in UTC, or NULL for "from the
-- beginning of time". Rows are never changed or deleted: a new policy is a
-- new version, so what was recorded under an old one stays as it was. A
-- store without versions replays under the policy named on the command
-- line (or the one last used), as before versions existed.
CREATE TABLE policy_versions (
    number       INTEGER PRIMARY KEY,
    effective_at TEXT,
    name         TEXT NOT NULL,  -- where it came from, e.g. the file applied
    text         TEXT NOT NULL,  -- the policy TOML as applied
    sha256       TEXT NOT NULL,  -- hex SHA-256 of `text`
    applied_by   TEXT NOT NULL,  -- who applied it (--by, else $USER)
    recorded_at  TEXT NOT NULL   -- RFC 3339, when it was recorded
);
