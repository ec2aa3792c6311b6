-- 001_create_logs.sql for a ClickHouse cluster (CLICKHOUSE_CLUSTER set): the same table as
-- ../001_create_logs.sql (same columns, partitions and sorting key, and the reasons given there),
-- as one ReplicatedMergeTree table `logs_local` per shard, copied to the shard's replicas through
-- ZooKeeper, and a Distributed table `logs` over them, which the worker writes to and the query
-- service reads from. The runner replaces ${cluster} and ${database} (both checked to be
-- identifiers) before running a statement; {shard} and {replica} are the server's macros.
-- ON CLUSTER runs each statement on every node through the distributed DDL queue, and
-- IF NOT EXISTS makes it idempotent, so two workers applying it at once leave one table each.
--
-- Sharding key sipHash64(id): events spread evenly over the shards whatever their service or
-- time, and the same event always goes to the same shard, so a retried insert of the same
-- batch sends each shard the same rows (its block deduplication can drop a repeat).
CREATE TABLE IF NOT EXISTS ${database}.logs_local ON CLUSTER ${cluster}
(
    timestamp UInt64,
    observed_timestamp UInt64,
    id String,
    trace_id String,
    span_id String,
    service String,
    level Enum8('TRACE' = 1, 'DEBUG' = 5, 'INFO' = 9, 'WARN' = 13, 'ERROR' = 17, 'FATAL' = 21),
    message String,
    metadata_keys Array(String),
    metadata_values Array(String)
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${database}/logs_local', '{replica}')
PARTITION BY toDate(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (service, level, timestamp)
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS ${database}.logs ON CLUSTER ${cluster} AS ${database}.logs_local
ENGINE = Distributed(${cluster}, ${database}, logs_local, sipHash64(id));
