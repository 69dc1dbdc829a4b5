-- +goose Up
-- The current version of every resource, duplicated from its newest history row so that
-- a read by id is one primary-key lookup. idx_mask has bit (1 << kind) set for every
-- index table holding rows of the resource, so that Put deletes only from those.
CREATE TABLE resources (
    type         TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    last_updated INTEGER NOT NULL, -- microseconds since the epoch, UTC
    deleted      BOOLEAN NOT NULL,
    method       TEXT    NOT NULL,
    body         BLOB    NOT NULL, -- the JSON bytes exactly as written
    seq          INTEGER NOT NULL, -- history.seq of this version
    idx_mask     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (type, id)
);
-- Search order: newest first, then id.
CREATE INDEX resources_type_order ON resources (type, last_updated DESC, id);
CREATE INDEX resources_order ON resources (last_updated DESC, id, type);

-- Every version of every resource; seq (the rowid) orders all writes for history paging.
CREATE TABLE history (
    seq          INTEGER PRIMARY KEY,
    type         TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    deleted      BOOLEAN NOT NULL,
    method       TEXT    NOT NULL,
    body         BLOB    NOT NULL,
    UNIQUE (type, id, version)
);
CREATE INDEX history_type_seq ON history (type, seq);

-- One index table per search parameter type, keyed by (type, id, param); the second
-- index of each serves the searches on its values.
CREATE TABLE idx_string (
    type  TEXT NOT NULL,
    id    TEXT NOT NULL,
    param TEXT NOT NULL,
    norm  TEXT NOT NULL,
    exact TEXT NOT NULL
);
CREATE INDEX idx_string_key ON idx_string (type, id, param);
CREATE INDEX idx_string_norm ON idx_string (type, param, norm);

CREATE TABLE idx_token (
    type   TEXT NOT NULL,
    id     TEXT NOT NULL,
    param  TEXT NOT NULL,
    system TEXT NOT NULL,
    code   TEXT NOT NULL,
    text   TEXT NOT NULL
);
CREATE INDEX idx_token_key ON idx_token (type, id, param);
CREATE INDEX idx_token_code ON idx_token (type, param, code, system);
CREATE INDEX idx_token_system ON idx_token (type, param, system);

CREATE TABLE idx_reference (
    type        TEXT NOT NULL,
    id          TEXT NOT NULL,
    param       TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    url         TEXT NOT NULL
);
CREATE INDEX idx_reference_key ON idx_reference (type, id, param);
CREATE INDEX idx_reference_target ON idx_reference (type, param, target_type, target_id);
CREATE INDEX idx_reference_url ON idx_reference (type, param, url);
-- Reverse lookups (_revinclude, referential integrity) start from the target.
CREATE INDEX idx_reference_reverse ON idx_reference (target_type, target_id);

CREATE TABLE idx_date (
    type  TEXT    NOT NULL,
    id    TEXT    NOT NULL,
    param TEXT    NOT NULL,
    low   INTEGER NOT NULL, -- microseconds, closed range
    high  INTEGER NOT NULL
);
CREATE INDEX idx_date_key ON idx_date (type, id, param);
CREATE INDEX idx_date_range ON idx_date (type, param, low, high);
CREATE INDEX idx_date_high ON idx_date (type, param, high);

CREATE TABLE idx_quantity (
    type   TEXT NOT NULL,
    id     TEXT NOT NULL,
    param  TEXT NOT NULL,
    value  REAL NOT NULL,
    system TEXT NOT NULL,
    code   TEXT NOT NULL,
    unit   TEXT NOT NULL
);
CREATE INDEX idx_quantity_key ON idx_quantity (type, id, param);
CREATE INDEX idx_quantity_value ON idx_quantity (type, param, value);

CREATE TABLE idx_number (
    type  TEXT NOT NULL,
    id    TEXT NOT NULL,
    param TEXT NOT NULL,
    value REAL NOT NULL
);
CREATE INDEX idx_number_key ON idx_number (type, id, param);
CREATE INDEX idx_number_value ON idx_number (type, param, value);

CREATE TABLE idx_uri (
    type  TEXT NOT NULL,
    id    TEXT NOT NULL,
    param TEXT NOT NULL,
    uri   TEXT NOT NULL
);
CREATE INDEX idx_uri_key ON idx_uri (type, id, param);
CREATE INDEX idx_uri_uri ON idx_uri (type, param, uri);

-- +goose Down
DROP TABLE idx_uri;
DROP TABLE idx_number;
DROP TABLE idx_quantity;
DROP TABLE idx_date;
DROP TABLE idx_reference;
DROP TABLE idx_token;
DROP TABLE idx_string;
DROP TABLE history;
DROP TABLE resources;
