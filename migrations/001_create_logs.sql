-- 001_create_logs.sql: the log events table.
--
-- Run by the worker's migration runner at start-up (and by infra/clickhouse/init-migrations.sh
-- in docker compose) with the configured database (CLICKHOUSE_DATABASE, default "observability")
-- as the default database, so table names are unqualified. Every statement is idempotent.
-- The runner splits the file at every semicolon, so comments must not contain one.
--
-- Column names, types and order are fixed: the Rust RowBinary row struct matches them one to one.
-- Only types that ClickHouse 18.16 (Debian 12's package) supports are used: no DateTime64, Map,
-- LowCardinality, CODEC, TTL or skip indexes.
--
-- Why ORDER BY (service, level, timestamp):
-- the typical query is "one service, one level, a recent time range, newest first".
-- service and level are equality filters. As the prefix of the primary key (= sorting key),
-- they let ClickHouse skip every granule (8192 rows) that belongs to another service or level
-- using the sparse primary index alone. Within one (service, level) the rows are sorted by
-- timestamp, so the time range then narrows the read to a few contiguous granules, and the
-- newest-first sort (ORDER BY timestamp DESC LIMIT n) only has those rows to order.
-- The low-cardinality columns go first, which also makes them compress well.
--
-- Why PARTITION BY day: a condition on timestamp skips whole parts outside the time range
-- (each part keeps the min/max of the partition key's column), before the primary index is
-- even consulted, and retention is a cheap
-- ALTER TABLE logs DROP PARTITION 'YYYY-MM-DD' instead of a row-by-row delete (18.16 has no TTL).
-- Days are cut in the server's time zone (infra/clickhouse/config.xml sets UTC).
CREATE TABLE IF NOT EXISTS logs
(
    timestamp UInt64,           -- event time, ns since Unix epoch
    observed_timestamp UInt64,  -- receive time, ns
    id String,                  -- UUIDv7 text
    trace_id String,            -- 32 lowercase hex
    span_id String,             -- 16 lowercase hex or ''
    service String,
    level Enum8('TRACE' = 1, 'DEBUG' = 5, 'INFO' = 9, 'WARN' = 13, 'ERROR' = 17, 'FATAL' = 21),
    message String,
    metadata_keys Array(String),
    metadata_values Array(String)
)
ENGINE = MergeTree
PARTITION BY toDate(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (service, level, timestamp)
SETTINGS index_granularity = 8192;
