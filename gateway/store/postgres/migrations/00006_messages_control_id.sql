-- +goose NO TRANSACTION
-- +goose Up
-- Applying a message looks up the earlier failed copies of it (same control id and
-- sender) to mark them superseded: one probe here instead of a walk through every
-- message of the sender. CONCURRENTLY, so that a large messages table keeps taking
-- messages while the index is built (outside a transaction, as it must be).
CREATE INDEX CONCURRENTLY IF NOT EXISTS messages_control_id ON messages (control_id, sender);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS messages_control_id;
