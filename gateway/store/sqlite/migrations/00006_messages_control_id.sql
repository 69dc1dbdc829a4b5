-- +goose Up
-- Applying a message looks up the earlier failed copies of it (same control id and
-- sender) to mark them superseded: one probe here instead of a walk through every
-- message of the sender.
CREATE INDEX messages_control_id ON messages (control_id, sender);

-- +goose Down
DROP INDEX messages_control_id;
