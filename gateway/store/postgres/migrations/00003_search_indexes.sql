-- +goose Up
-- Measured on 1.25 M resources (BENCHMARKS.md): searches choose a page of ids from
-- the index tables and need each candidate's last_updated to order it; covering that
-- lookup keeps it off the table rows, which hold the JSON bodies.
CREATE INDEX IF NOT EXISTS resources_key_cover ON resources (type, id) INCLUDE (last_updated) WHERE NOT deleted;
-- String searches with several criteria test each candidate's other names through the
-- key index; carrying the folded value makes that an index-only lookup. It replaces
-- the plain key index, which it serves as well.
CREATE INDEX IF NOT EXISTS idx_string_key_norm ON idx_string (type, id, param) INCLUDE (norm);
DROP INDEX IF EXISTS idx_string_key;

-- +goose Down
CREATE INDEX IF NOT EXISTS idx_string_key ON idx_string (type, id, param);
DROP INDEX IF EXISTS idx_string_key_norm;
DROP INDEX IF EXISTS resources_key_cover;
