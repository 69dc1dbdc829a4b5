-- +goose Up
-- The character set a message was read with when it was not the channel's (an HTTP
-- charset parameter, `fhirgw ingest --charset`), so that a replay and the message API
-- read its bytes the same way. Empty: MSH-18, else the channel's setting.
ALTER TABLE messages ADD COLUMN charset TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE messages DROP COLUMN charset;
