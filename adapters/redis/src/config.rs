//! Settings of the Redis queue.

use std::time::Duration;

use serde::Deserialize;

/// Where the queue lives, how big it may grow, and how long to wait for Redis.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RedisConfig {
    /// `redis://host:port/db` (or `rediss://` / `redis+unix://`).
    pub url: String,
    /// The list holding queued events.
    pub queue_key: String,
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
            queue_key: "logs_queue".into(),
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
}
