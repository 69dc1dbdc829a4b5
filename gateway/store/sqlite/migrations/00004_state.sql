-- +goose Up
-- Small records the gateway keeps for itself (background re-indexing jobs), shared by
-- every gateway process on the database.
CREATE TABLE gateway_state (
    key     TEXT NOT NULL PRIMARY KEY,
    value   BLOB NOT NULL,
    updated BIGINT NOT NULL
);

-- +goose Down
DROP TABLE gateway_state;
