-- Schema version 2: a leaner event log. Appends were bound by the bytes
-- written (each row passes through the WAL and then the database) and by a
-- fourth b-tree. The columns `type`, `at` and `account` repeated what the
-- payload holds, and nothing on a hot path read by account: the engine
-- replays the whole log and an account's story is told from derived state.
-- The log keeps the id (unique), the instant (ordering) and the payload.
CREATE TABLE events_v2 (
    seq     INTEGER PRIMARY KEY,
    id      TEXT    NOT NULL UNIQUE,
    at_utc  INTEGER NOT NULL,
    payload TEXT    NOT NULL
);
INSERT INTO events_v2 (seq, id, at_utc, payload)
    SELECT seq, id, at_utc, payload FROM events ORDER BY seq;
DROP TABLE events;
ALTER TABLE events_v2 RENAME TO events;
CREATE INDEX events_by_time ON events (at_utc, id);
