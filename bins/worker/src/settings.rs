//! The worker's settings: every one named after its environment variable (see
//! `.env.example`), read once in blocks (Redis and ClickHouse are shared, in `service_runtime`)
//! and handed to each adapter as its own configuration.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use application::DrainSettings;
use clickhouse_adapter::{ClickHouseCompression, ClickHouseConfig};
use redis_adapter::RedisConfig;
use serde::{Deserialize, Serialize};
use service_runtime::{ClickHouseSettings, ConfigError, RedisSettings, SettingsSource};

/// Every setting, in blocks: the ones shared with ingestion (Redis) and the query service
/// (ClickHouse) live in `service_runtime`, each block read on its own so an error names the
/// variable.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) redis: RedisSettings,
    pub(crate) clickhouse: ClickHouseSettings,
    pub(crate) writes: WriteSettings,
    pub(crate) worker: WorkerSettings,
}

/// The worker itself: its listeners, its name, how it batches and its lease.
#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct WorkerSettings {
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
    /// From this many events, a short batch is steady traffic and waits up to
    /// `worker_batch_busy_timeout_ms`.
    pub(crate) worker_batch_busy_events: u64,
    pub(crate) worker_batch_busy_timeout_ms: u64,
    pub(crate) worker_poll_interval_ms: u64,
    /// How long this worker's lease lasts without a heartbeat; after that other workers take
    /// over the batches it holds.
    pub(crate) worker_lease_ms: u64,
    /// Most entries of the dead-letter list; past it the oldest are deleted (0: no limit).
    pub(crate) dead_letter_max_events: u64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        let redis = RedisConfig::default();
        Self {
            // Loopback: only this machine reaches the port unless told otherwise.
            worker_grpc_listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            worker_grpc_token: String::new(),
            worker_metrics_addr: SocketAddr::from(([127, 0, 0, 1], 9091)),
            worker_id: hostname(),
            worker_batch_size: DrainSettings::default().batch_size,
            worker_batch_timeout_ms: 50,
            worker_batch_busy_events: DrainSettings::default().busy_batch_events,
            worker_batch_busy_timeout_ms: 200,
            worker_poll_interval_ms: 5_000,
            worker_lease_ms: redis.lease_ms,
            dead_letter_max_events: redis.max_dead_letters,
        }
    }
}

/// How rows reach ClickHouse and how long they stay.
#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct WriteSettings {
    pub(crate) clickhouse_insert_timeout_ms: u64,
    /// `lz4` or `none`: how insert bodies travel to ClickHouse.
    pub(crate) clickhouse_compression: ClickHouseCompression,
    /// Days of logs to keep; older days are dropped whole, hourly. Unset: keep everything.
    pub(crate) log_retention_days: Option<NonZeroU32>,
}

impl Default for WriteSettings {
    fn default() -> Self {
        let clickhouse = ClickHouseConfig::default();
        Self {
            clickhouse_insert_timeout_ms: clickhouse.insert_timeout_ms,
            clickhouse_compression: clickhouse.compression,
            log_retention_days: None,
        }
    }
}

impl Settings {
    /// Reads every block from the same layers (defaults, `.env`, the environment).
    pub(crate) fn load() -> Result<Self, Box<ConfigError>> {
        let source = SettingsSource::read()?;
        Ok(Self {
            redis: source.extract()?,
            clickhouse: source.extract()?,
            writes: source.extract()?,
            worker: source.extract()?,
        })
    }

    pub(crate) fn redis(&self) -> RedisConfig {
        RedisConfig {
            lease_ms: self.worker.worker_lease_ms,
            max_dead_letters: self.worker.dead_letter_max_events,
            ..self.redis.config()
        }
    }

    pub(crate) fn clickhouse(&self) -> ClickHouseConfig {
        ClickHouseConfig {
            insert_timeout_ms: self.writes.clickhouse_insert_timeout_ms,
            compression: self.writes.clickhouse_compression,
            ..self.clickhouse.config()
        }
    }

    pub(crate) fn drain(&self) -> DrainSettings {
        let lease = Duration::from_millis(self.worker.worker_lease_ms.max(3));
        DrainSettings {
            batch_size: self.worker.worker_batch_size,
            batch_timeout: Duration::from_millis(self.worker.worker_batch_timeout_ms),
            busy_batch_events: self.worker.worker_batch_busy_events,
            busy_batch_timeout: Duration::from_millis(self.worker.worker_batch_busy_timeout_ms),
            poll_interval: Duration::from_millis(self.worker.worker_poll_interval_ms),
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

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail closures return figment::Error
mod tests {
    use figment::Jail;

    use super::*;

    #[test]
    fn a_bad_value_in_a_shared_block_is_reported_with_its_variable_name() {
        Jail::expect_with(|jail| {
            jail.set_env("REDIS_QUEUE_SHARDS", "abc");
            let error = Settings::load().unwrap_err().to_string();
            assert!(error.starts_with("REDIS_QUEUE_SHARDS: "), "{error}");
            jail.set_env("REDIS_QUEUE_SHARDS", "4");
            jail.set_env("CLICKHOUSE_HEALTH_TIMEOUT_MS", "soon");
            let error = Settings::load().unwrap_err().to_string();
            assert!(
                error.starts_with("CLICKHOUSE_HEALTH_TIMEOUT_MS: "),
                "{error}"
            );
            Ok(())
        });
    }

    #[test]
    fn each_block_reaches_its_adapter_and_unset_settings_keep_their_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(".env", "REDIS_QUEUE_SHARDS=4\nWORKER_LEASE_MS=900\n")?;
            jail.set_env("CLICKHOUSE_COMPRESSION", "none");
            jail.set_env("CLICKHOUSE_DATABASE", "other");
            jail.set_env("WORKER_BATCH_BUSY_TIMEOUT_MS", "300");
            let settings = Settings::load().unwrap();
            let redis = settings.redis();
            assert_eq!(redis.queue_shards, 4);
            assert_eq!(redis.lease_ms, 900);
            assert_eq!(redis.url, RedisConfig::default().url);
            let clickhouse = settings.clickhouse();
            assert_eq!(clickhouse.database, "other");
            assert_eq!(clickhouse.compression, ClickHouseCompression::None);
            assert_eq!(
                settings.drain().heartbeat_interval,
                Duration::from_millis(300)
            );
            assert_eq!(
                settings.drain().busy_batch_timeout,
                Duration::from_millis(300)
            );
            assert_eq!(settings.drain().busy_batch_events, 100);
            assert_eq!(settings.worker.worker_grpc_listen.port(), 50051);
            Ok(())
        });
    }
}
