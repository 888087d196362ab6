-- Schema version 4: the alert outbox. An alert is written here in the same
-- transaction as the events whose state change raised it; a sender delivers
-- it later, with retries, under its id as the dedupe key (an alert raised
-- again, e.g. after a restart, is not inserted twice).
CREATE TABLE outbox (
    alert_id        TEXT PRIMARY KEY,
    alert           TEXT NOT NULL,  -- the alert's JSON
    created_at      TEXT NOT NULL,  -- RFC 3339, when it entered the outbox
    status          TEXT NOT NULL
                    CHECK (status IN ('pending', 'sent', 'failed', 'historical')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,           -- RFC 3339; null: at once
    last_error      TEXT,
    sent_at         TEXT
) WITHOUT ROWID;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
