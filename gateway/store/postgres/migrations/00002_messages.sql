-- +goose Up
-- Every HL7 v2 message received, whatever became of it, byte for byte as received.
-- seq orders the listing (newest first) and pages it; id is the handle the API uses.
CREATE TABLE messages (
    seq        bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         text    COLLATE "C" NOT NULL UNIQUE,
    channel    text    COLLATE "C" NOT NULL,
    sender     text    COLLATE "C" NOT NULL, -- MSH-3^MSH-4
    control_id text    COLLATE "C" NOT NULL, -- MSH-10
    type       text    COLLATE "C" NOT NULL, -- ADT^A01
    event_time bigint,                       -- microseconds since the epoch; NULL: absent
    received   bigint  NOT NULL,
    status     text    COLLATE "C" NOT NULL
        CHECK (status IN ('applied', 'error', 'rejected', 'duplicate')),
    reason     text    NOT NULL,
    raw        bytea   NOT NULL,
    resources  text[]  COLLATE "C" NOT NULL, -- Patient/abc/_history/3, ...
    attempts   integer NOT NULL
);
-- A message is applied at most once: of two gateways applying the same message at the
-- same time, the second to insert waits for the first to commit and then fails. An
-- empty MSH-10 identifies nothing, so it is left out.
CREATE UNIQUE INDEX messages_applied ON messages (sender, control_id)
    WHERE status = 'applied' AND control_id <> '';
-- The listing's filters, each in listing order.
CREATE INDEX messages_status_seq ON messages (status, seq);
CREATE INDEX messages_sender_seq ON messages (sender, seq);
CREATE INDEX messages_type_seq ON messages (type, seq);
CREATE INDEX messages_received ON messages (received);

-- Raw messages are kept for good: lz4 compresses the large ones for less CPU than pglz
-- (see 00001 for the fallback without lz4).
-- +goose StatementBegin
DO $$
BEGIN
    ALTER TABLE messages ALTER COLUMN raw SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;
-- +goose StatementEnd

-- The newest event time (EVN-2 or MSH-7) applied to each resource, so that a message
-- older than what a resource already reflects does not overwrite it.
CREATE TABLE event_times (
    key        text   COLLATE "C" PRIMARY KEY, -- Patient/abc
    event_time bigint                          -- microseconds; NULL: none yet
);

-- +goose Down
DROP TABLE event_times;
DROP TABLE messages;
