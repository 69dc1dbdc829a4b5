-- The least PostgreSQL can spend writing what an ingestion run wrote: every row of
-- the run's messages, resources, history, event-time watermarks and search index is
-- copied into empty tables of the same shape and indexes, one INSERT … SELECT per
-- table in one transaction, so no client, protocol, parsing, planning per message or
-- commit per message is paid. Divide the total by the number of messages to get the
-- floor of PostgreSQL's CPU per message (the backend is CPU-bound here; see
-- BENCHMARKS.md, "PostgreSQL's floor").
--
--   psql -d DATABASE_OF_THE_RUN -f testdata/bench/pg-floor.sql
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS write_floor CASCADE;
CREATE SCHEMA write_floor;
CREATE TABLE write_floor.messages (LIKE public.messages INCLUDING ALL);
CREATE TABLE write_floor.resources (LIKE public.resources INCLUDING ALL);
CREATE TABLE write_floor.history (LIKE public.history INCLUDING ALL);
CREATE TABLE write_floor.event_times (LIKE public.event_times INCLUDING ALL);
CREATE TABLE write_floor.idx_token (LIKE public.idx_token INCLUDING ALL);
CREATE TABLE write_floor.idx_string (LIKE public.idx_string INCLUDING ALL);
CREATE TABLE write_floor.idx_reference (LIKE public.idx_reference INCLUDING ALL);
CREATE TABLE write_floor.idx_date (LIKE public.idx_date INCLUDING ALL);
CREATE TABLE write_floor.idx_quantity (LIKE public.idx_quantity INCLUDING ALL);
CREATE TABLE write_floor.idx_number (LIKE public.idx_number INCLUDING ALL);
CREATE TABLE write_floor.idx_uri (LIKE public.idx_uri INCLUDING ALL);
CHECKPOINT;
SELECT count(*) AS messages FROM public.messages \gset
-- The backend's own CPU time (utime + stime from /proc, in clock ticks of 10 ms; needs a superuser).
SELECT clock_timestamp() AS t0,
       (SELECT (f[12])::bigint + (f[13])::bigint
          FROM regexp_split_to_array(split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ') ', 2), ' ') AS f) AS cpu0 \gset
BEGIN;
INSERT INTO write_floor.messages OVERRIDING SYSTEM VALUE SELECT * FROM public.messages;
INSERT INTO write_floor.resources SELECT * FROM public.resources;
INSERT INTO write_floor.history OVERRIDING SYSTEM VALUE SELECT * FROM public.history;
INSERT INTO write_floor.event_times SELECT * FROM public.event_times;
INSERT INTO write_floor.idx_token SELECT * FROM public.idx_token;
INSERT INTO write_floor.idx_string SELECT * FROM public.idx_string;
INSERT INTO write_floor.idx_reference SELECT * FROM public.idx_reference;
INSERT INTO write_floor.idx_date SELECT * FROM public.idx_date;
INSERT INTO write_floor.idx_quantity SELECT * FROM public.idx_quantity;
INSERT INTO write_floor.idx_number SELECT * FROM public.idx_number;
INSERT INTO write_floor.idx_uri SELECT * FROM public.idx_uri;
COMMIT;
SELECT (SELECT (f[12])::bigint + (f[13])::bigint
          FROM regexp_split_to_array(split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ') ', 2), ' ') AS f) AS cpu1 \gset
SELECT :'messages' AS messages,
       round((:cpu1 - :cpu0) / 100.0, 2) AS cpu_seconds,
       round(((:cpu1 - :cpu0) * 10.0 / :messages)::numeric, 3) AS cpu_ms_per_message,
       round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 3) AS seconds,
       round((extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000 / :messages)::numeric, 3) AS ms_per_message;
DROP SCHEMA write_floor CASCADE;
