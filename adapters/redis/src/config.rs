//! Settings of the Redis queue.

use std::time::Duration;

use serde::Deserialize;

/// Where the queue lives, how big it may grow, and how long to wait for Redis.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RedisConfig {
    /// `redis://host:port/db` (or `rediss://` / `redis+unix://`). With `sentinels`, only its
    /// database, user name and password count: the host is the primary the sentinels name.
    pub url: String,
    /// Redis Sentinel addresses (`host:port`); empty: talk to `url` directly. When set, the
    /// queue asks the sentinels for the primary of `sentinel_master` and asks again whenever a
    /// call fails in a way a failover explains, so it follows a failover without a restart.
    pub sentinels: Vec<String>,
    /// Redis Cluster nodes (`host:port`, some or all); empty: no cluster. With them, every key
    /// of a shard carries its hash tag, also with one shard.
    pub cluster_nodes: Vec<String>,
    /// The master name the sentinels monitor (`sentinel monitor <name> ...`).
    pub sentinel_master: String,
    /// After each push, wait until this many replicas hold it (`WAIT`) before it counts as
    /// queued; fewer within `wait_timeout_ms` fails the push as unavailable (the events may
    /// still be delivered). 0: answer as soon as the primary has it.
    pub wait_replicas: u32,
    /// How long a push waits for `wait_replicas` replicas, in milliseconds; must be shorter
    /// than `response_timeout_ms`.
    pub wait_timeout_ms: u64,
    /// The list holding queued events; with several shards, the name their keys are made of.
    pub queue_key: String,
    /// How many queues (shards) the queue is spread over, 1 to 256. 1 keeps the key names of
    /// `queue_key`; more name shard `i` `{<queue_key>:i}` (a Redis Cluster hash tag).
    pub queue_shards: u32,
    /// Most events the queue may hold; pushes beyond it fail with `QueueError::Full`. 0: no limit.
    pub max_queue_events: u64,
    /// Most entries the dead-letter list keeps; past it the oldest are deleted, logged and
    /// counted. 0: no limit. Not counted against `max_queue_events`.
    pub max_dead_letters: u64,
    /// Longest wait for one Redis reply, in milliseconds; past it the call fails as unavailable.
    pub response_timeout_ms: u64,
    /// Longest wait to (re)connect, in milliseconds.
    pub connect_timeout_ms: u64,
    /// How long a consumer's lease lasts without a heartbeat, in milliseconds; after that other
    /// consumers return its reserved batches to the queue.
    pub lease_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379".into(),
            sentinels: Vec::new(),
            cluster_nodes: Vec::new(),
            sentinel_master: "mymaster".into(),
            wait_replicas: 0,
            wait_timeout_ms: 500,
            queue_key: "logs_queue".into(),
            queue_shards: 1,
            max_queue_events: 1_000_000,
            max_dead_letters: 100_000,
            response_timeout_ms: 2_000,
            connect_timeout_ms: 1_000,
            lease_ms: 30_000,
        }
    }
}

impl RedisConfig {
    pub(crate) fn response_timeout(&self) -> Duration {
        Duration::from_millis(self.response_timeout_ms)
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// A comma-separated list of addresses (`REDIS_SENTINELS`, `REDIS_CLUSTER_NODES`) as
    /// `sentinels` or `cluster_nodes` take it; blanks are skipped.
    pub fn parse_sentinels(list: &str) -> Vec<String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(str::to_owned)
            .collect()
    }
}
