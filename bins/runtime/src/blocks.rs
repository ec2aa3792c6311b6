//! The blocks of settings two services share, each a struct of its own whose fields are named
//! after their environment variables (see `.env.example`). A service reads each block with
//! [`SettingsSource::extract`](crate::SettingsSource::extract), so an error names the variable,
//! and the block turns itself into its adapter's configuration.

use std::time::Duration;

use clickhouse_adapter::ClickHouseConfig;
use http_adapter::ApiKeys;
use redis_adapter::RedisConfig;
use serde::{Deserialize, Serialize};

/// Where the queue lives (ingestion and worker): Redis itself, behind Sentinel, or a cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RedisSettings {
    pub redis_url: String,
    /// Redis Sentinel addresses, comma-separated `host:port`; empty: `REDIS_URL` directly.
    pub redis_sentinels: String,
    pub redis_sentinel_master: String,
    /// Redis Cluster nodes, comma-separated `host:port`; empty: no cluster.
    pub redis_cluster_nodes: String,
    pub redis_queue_key: String,
    /// How many shards the queue is spread over (1-256).
    pub redis_queue_shards: u32,
}

impl Default for RedisSettings {
    fn default() -> Self {
        let redis = RedisConfig::default();
        Self {
            redis_url: redis.url,
            redis_sentinels: String::new(),
            redis_sentinel_master: redis.sentinel_master,
            redis_cluster_nodes: String::new(),
            redis_queue_key: redis.queue_key,
            redis_queue_shards: redis.queue_shards,
        }
    }
}

impl RedisSettings {
    /// The Redis adapter's configuration; what this block does not hold keeps its default.
    pub fn config(&self) -> RedisConfig {
        RedisConfig {
            url: self.redis_url.clone(),
            sentinels: RedisConfig::parse_sentinels(&self.redis_sentinels),
            sentinel_master: self.redis_sentinel_master.clone(),
            cluster_nodes: RedisConfig::parse_sentinels(&self.redis_cluster_nodes),
            queue_key: self.redis_queue_key.clone(),
            queue_shards: self.redis_queue_shards,
            ..RedisConfig::default()
        }
    }
}

/// Where the logs are stored (query and worker).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ClickHouseSettings {
    pub clickhouse_url: String,
    pub clickhouse_database: String,
    pub clickhouse_user: String,
    pub clickhouse_password: String,
    /// The ClickHouse cluster holding the logs; empty: a single server.
    pub clickhouse_cluster: String,
    /// Longest wait for the health check (behind the query service's `GET /ready`, the
    /// worker's gRPC health service).
    pub clickhouse_health_timeout_ms: u64,
}

impl Default for ClickHouseSettings {
    fn default() -> Self {
        let clickhouse = ClickHouseConfig::default();
        Self {
            clickhouse_url: clickhouse.url,
            clickhouse_database: clickhouse.database,
            clickhouse_user: clickhouse.user,
            clickhouse_password: clickhouse.password,
            clickhouse_cluster: clickhouse.cluster,
            clickhouse_health_timeout_ms: clickhouse.health_timeout_ms,
        }
    }
}

impl ClickHouseSettings {
    /// The ClickHouse adapter's configuration; what this block does not hold keeps its default.
    pub fn config(&self) -> ClickHouseConfig {
        ClickHouseConfig {
            url: self.clickhouse_url.clone(),
            database: self.clickhouse_database.clone(),
            user: self.clickhouse_user.clone(),
            password: self.clickhouse_password.clone(),
            cluster: self.clickhouse_cluster.clone(),
            health_timeout_ms: self.clickhouse_health_timeout_ms,
            ..ClickHouseConfig::default()
        }
    }
}

/// The HTTP API's common settings (ingestion and query): request timeout, shutdown grace and
/// API keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    pub http_request_timeout_ms: u64,
    pub shutdown_grace_ms: u64,
    /// API keys (comma-separated; a key or `sha256:<hex digest>`) and the key file.
    #[serde(deserialize_with = "crate::secret_text")]
    pub ingest_api_keys: String,
    #[serde(deserialize_with = "crate::secret_text")]
    pub query_api_keys: String,
    pub api_keys_file: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            http_request_timeout_ms: http_adapter::DEFAULT_REQUEST_TIMEOUT_MS,
            shutdown_grace_ms: 10_000,
            ingest_api_keys: String::new(),
            query_api_keys: String::new(),
            api_keys_file: String::new(),
        }
    }
}

impl HttpSettings {
    /// The API keys, from the lists and the key file; the error names the variable (never a
    /// key).
    pub fn keys(&self) -> Result<ApiKeys, String> {
        ApiKeys::from_config(
            &self.ingest_api_keys,
            &self.query_api_keys,
            &self.api_keys_file,
        )
        .map_err(|error| error.to_string())
    }

    /// How long requests in flight may finish after the shutdown signal.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}
