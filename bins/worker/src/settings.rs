//! The worker's settings: every one named after its environment variable (see
//! `.env.example`), read once and handed to each adapter as its own configuration.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use application::DrainSettings;
use clickhouse_adapter::{ClickHouseCompression, ClickHouseConfig};
use redis_adapter::RedisConfig;
use serde::{Deserialize, Serialize};

/// Every setting, named after its environment variable (see `.env.example`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Settings {
    pub(crate) worker_grpc_listen: SocketAddr,
    /// The token Drain calls must carry; empty: none is required.
    #[serde(deserialize_with = "service_runtime::secret_text")]
    pub(crate) worker_grpc_token: String,
    /// Where `GET /metrics` is served (Prometheus text format).
    pub(crate) worker_metrics_addr: SocketAddr,
    /// Names this worker's processing list; keep it stable across restarts.
    pub(crate) worker_id: String,
    pub(crate) worker_batch_size: NonZeroUsize,
    /// How long a short batch may wait to fill, measured from its oldest event.
    pub(crate) worker_batch_timeout_ms: u64,
    pub(crate) worker_poll_interval_ms: u64,
    /// How long this worker's lease lasts without a heartbeat; after that other workers take
    /// over the batches it holds.
    pub(crate) worker_lease_ms: u64,
    pub(crate) redis_url: String,
    /// Redis Sentinel addresses, comma-separated `host:port`; empty: `REDIS_URL` directly.
    pub(crate) redis_sentinels: String,
    pub(crate) redis_sentinel_master: String,
    /// Redis Cluster nodes, comma-separated `host:port`; empty: no cluster.
    pub(crate) redis_cluster_nodes: String,
    pub(crate) redis_queue_key: String,
    /// How many shards the queue is spread over (1-256).
    pub(crate) redis_queue_shards: u32,
    /// Most entries of the dead-letter list; past it the oldest are deleted (0: no limit).
    pub(crate) dead_letter_max_events: u64,
    pub(crate) clickhouse_url: String,
    pub(crate) clickhouse_database: String,
    pub(crate) clickhouse_user: String,
    pub(crate) clickhouse_password: String,
    /// The ClickHouse cluster holding the logs; empty: a single server.
    pub(crate) clickhouse_cluster: String,
    pub(crate) clickhouse_insert_timeout_ms: u64,
    /// Longest wait for the health check behind the gRPC health service.
    pub(crate) clickhouse_health_timeout_ms: u64,
    /// `lz4` or `none`: how insert bodies travel to ClickHouse.
    pub(crate) clickhouse_compression: ClickHouseCompression,
    /// Days of logs to keep; older days are dropped whole, hourly. Unset: keep everything.
    pub(crate) log_retention_days: Option<NonZeroU32>,
}

impl Default for Settings {
    fn default() -> Self {
        let redis = RedisConfig::default();
        let clickhouse = ClickHouseConfig::default();
        Self {
            // Loopback: only this machine reaches the port unless told otherwise.
            worker_grpc_listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            worker_grpc_token: String::new(),
            worker_metrics_addr: SocketAddr::from(([127, 0, 0, 1], 9091)),
            worker_id: hostname(),
            worker_batch_size: DrainSettings::default().batch_size,
            worker_batch_timeout_ms: 50,
            worker_poll_interval_ms: 5_000,
            worker_lease_ms: redis.lease_ms,
            redis_url: redis.url,
            redis_sentinels: String::new(),
            redis_sentinel_master: redis.sentinel_master,
            redis_cluster_nodes: String::new(),
            redis_queue_key: redis.queue_key,
            redis_queue_shards: redis.queue_shards,
            dead_letter_max_events: redis.max_dead_letters,
            clickhouse_url: clickhouse.url,
            clickhouse_database: clickhouse.database,
            clickhouse_user: clickhouse.user,
            clickhouse_password: clickhouse.password,
            clickhouse_cluster: clickhouse.cluster,
            clickhouse_insert_timeout_ms: clickhouse.insert_timeout_ms,
            clickhouse_health_timeout_ms: clickhouse.health_timeout_ms,
            clickhouse_compression: clickhouse.compression,
            log_retention_days: None,
        }
    }
}

impl Settings {
    pub(crate) fn redis(&self) -> RedisConfig {
        RedisConfig {
            url: self.redis_url.clone(),
            sentinels: RedisConfig::parse_sentinels(&self.redis_sentinels),
            sentinel_master: self.redis_sentinel_master.clone(),
            cluster_nodes: RedisConfig::parse_sentinels(&self.redis_cluster_nodes),
            queue_key: self.redis_queue_key.clone(),
            queue_shards: self.redis_queue_shards,
            lease_ms: self.worker_lease_ms,
            max_dead_letters: self.dead_letter_max_events,
            ..RedisConfig::default()
        }
    }

    pub(crate) fn clickhouse(&self) -> ClickHouseConfig {
        ClickHouseConfig {
            url: self.clickhouse_url.clone(),
            database: self.clickhouse_database.clone(),
            user: self.clickhouse_user.clone(),
            password: self.clickhouse_password.clone(),
            cluster: self.clickhouse_cluster.clone(),
            insert_timeout_ms: self.clickhouse_insert_timeout_ms,
            health_timeout_ms: self.clickhouse_health_timeout_ms,
            compression: self.clickhouse_compression,
            ..ClickHouseConfig::default()
        }
    }

    pub(crate) fn drain(&self) -> DrainSettings {
        let lease = Duration::from_millis(self.worker_lease_ms.max(3));
        DrainSettings {
            batch_size: self.worker_batch_size,
            batch_timeout: Duration::from_millis(self.worker_batch_timeout_ms),
            poll_interval: Duration::from_millis(self.worker_poll_interval_ms),
            heartbeat_interval: lease / 3,
            reclaim_interval: lease / 2,
            ..DrainSettings::default()
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "worker".into())
}
