-- Schema version 5: an outbox entry may be retracted. A late event (dated
-- before a breach but arriving after it fired) can make an alert moot; a
-- pending entry is then kept as 'retracted' with the reason in last_error,
-- never deleted and never sent. SQLite cannot alter a CHECK constraint, so
-- the table is copied.
CREATE TABLE outbox_v5 (
    alert_id        TEXT PRIMARY KEY,
    alert           TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    status          TEXT NOT NULL
                    CHECK (status IN ('pending', 'sent', 'failed', 'historical', 'retracted')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,           -- RFC 3339; null: at once. Also holds a
                                    -- notice until its recipient's working hours.
    last_error      TEXT,
    sent_at         TEXT
) WITHOUT ROWID;
INSERT INTO outbox_v5 SELECT alert_id, alert, created_at, status, attempts, next_attempt_at,
    last_error, sent_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v5 RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
