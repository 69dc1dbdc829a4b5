-- +goose Up
-- Every HL7 v2 message received, whatever became of it, byte for byte as received.
-- seq orders the listing (newest first) and pages it; AUTOINCREMENT never hands out a
-- seq again, even after the newest messages are deleted, so a page cursor stays valid.
CREATE TABLE messages (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    channel    TEXT    NOT NULL,
    sender     TEXT    NOT NULL, -- MSH-3^MSH-4
    control_id TEXT    NOT NULL, -- MSH-10
    type       TEXT    NOT NULL, -- ADT^A01
    event_time INTEGER,          -- microseconds since the epoch; NULL: absent
    received   INTEGER NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('applied', 'error', 'rejected', 'duplicate')),
    reason     TEXT    NOT NULL,
    raw        BLOB    NOT NULL,
    resources  TEXT    NOT NULL, -- JSON array: ["Patient/abc/_history/3", ...]
    attempts   INTEGER NOT NULL
);
-- A message is applied at most once per sender and (non-empty) MSH-10.
CREATE UNIQUE INDEX messages_applied ON messages (sender, control_id)
    WHERE status = 'applied' AND control_id <> '';
CREATE INDEX messages_status_seq ON messages (status, seq);
CREATE INDEX messages_sender_seq ON messages (sender, seq);
CREATE INDEX messages_type_seq ON messages (type, seq);
CREATE INDEX messages_received ON messages (received);

-- The newest event time applied to each resource.
CREATE TABLE event_times (
    key        TEXT PRIMARY KEY,
    event_time INTEGER -- microseconds; NULL: none yet
);

-- +goose Down
DROP TABLE event_times;
DROP TABLE messages;
