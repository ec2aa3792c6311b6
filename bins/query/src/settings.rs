//! The query service's settings: every one named after its environment variable (see
//! `.env.example`), read once, checked before anything starts, and handed to each adapter as its
//! own configuration.

use std::net::SocketAddr;
use std::time::Duration;

use application::{QuerySettings, TailSettings};
use clickhouse_adapter::ClickHouseConfig;
use domain::limits::{MAX_PAGE_LIMIT, MAX_PAGE_LIMIT_CEILING};
use http_adapter::{ApiKeys, QueryHttpConfig};
use serde::{Deserialize, Serialize};

/// Every setting, named after its environment variable (see `.env.example`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Settings {
    pub(crate) query_addr: SocketAddr,
    pub(crate) clickhouse_url: String,
    pub(crate) clickhouse_database: String,
    pub(crate) clickhouse_user: String,
    pub(crate) clickhouse_password: String,
    /// The ClickHouse cluster holding the logs; empty: a single server.
    pub(crate) clickhouse_cluster: String,
    pub(crate) clickhouse_query_timeout_ms: u64,
    /// Longest wait for the health check behind `GET /ready`.
    pub(crate) clickhouse_health_timeout_ms: u64,
    pub(crate) clickhouse_export_timeout_ms: u64,
    pub(crate) query_max_range_hours: u64,
    /// The largest page (and most groups) a client may ask for.
    pub(crate) query_max_page_limit: u32,
    pub(crate) query_tail_poll_ms: u64,
    pub(crate) query_tail_heartbeat_ms: u64,
    pub(crate) query_tail_lookback_ms: u64,
    pub(crate) http_request_timeout_ms: u64,
    pub(crate) shutdown_grace_ms: u64,
    /// API keys (comma-separated; a key or `sha256:<hex digest>`) and the key file.
    #[serde(deserialize_with = "service_runtime::secret_text")]
    pub(crate) ingest_api_keys: String,
    #[serde(deserialize_with = "service_runtime::secret_text")]
    pub(crate) query_api_keys: String,
    pub(crate) api_keys_file: String,
}

impl Default for Settings {
    fn default() -> Self {
        let clickhouse = ClickHouseConfig::default();
        Self {
            query_addr: SocketAddr::from(([0, 0, 0, 0], 8081)),
            clickhouse_url: clickhouse.url,
            clickhouse_database: clickhouse.database,
            clickhouse_user: clickhouse.user,
            clickhouse_password: clickhouse.password,
            clickhouse_cluster: clickhouse.cluster,
            clickhouse_query_timeout_ms: clickhouse.query_timeout_ms,
            clickhouse_health_timeout_ms: clickhouse.health_timeout_ms,
            clickhouse_export_timeout_ms: clickhouse.export_timeout_ms,
            query_max_range_hours: 720,
            query_max_page_limit: MAX_PAGE_LIMIT,
            query_tail_poll_ms: 500,
            query_tail_heartbeat_ms: 15_000,
            query_tail_lookback_ms: 10_000,
            http_request_timeout_ms: http_adapter::DEFAULT_REQUEST_TIMEOUT_MS,
            shutdown_grace_ms: 10_000,
            ingest_api_keys: String::new(),
            query_api_keys: String::new(),
            api_keys_file: String::new(),
        }
    }
}

impl Settings {
    pub(crate) fn clickhouse(&self) -> ClickHouseConfig {
        ClickHouseConfig {
            url: self.clickhouse_url.clone(),
            database: self.clickhouse_database.clone(),
            user: self.clickhouse_user.clone(),
            password: self.clickhouse_password.clone(),
            cluster: self.clickhouse_cluster.clone(),
            query_timeout_ms: self.clickhouse_query_timeout_ms,
            health_timeout_ms: self.clickhouse_health_timeout_ms,
            export_timeout_ms: self.clickhouse_export_timeout_ms,
            ..ClickHouseConfig::default()
        }
    }

    pub(crate) fn http(&self) -> QueryHttpConfig {
        QueryHttpConfig {
            request_timeout_ms: self.http_request_timeout_ms,
        }
    }

    /// The query use case's settings; the error names the variable out of range.
    fn query(&self) -> Result<QuerySettings, String> {
        if !(1..=MAX_PAGE_LIMIT_CEILING).contains(&self.query_max_page_limit) {
            return Err(format!(
                "QUERY_MAX_PAGE_LIMIT: must be between 1 and {MAX_PAGE_LIMIT_CEILING}, not {}",
                self.query_max_page_limit
            ));
        }
        Ok(QuerySettings {
            // 0 hours: no limit.
            max_range: (self.query_max_range_hours > 0)
                .then(|| Duration::from_secs(self.query_max_range_hours.saturating_mul(3600))),
            max_page_limit: self.query_max_page_limit,
            tail: TailSettings {
                poll_interval: Duration::from_millis(self.query_tail_poll_ms.max(10)),
                heartbeat_interval: Duration::from_millis(self.query_tail_heartbeat_ms.max(100)),
                lookback: Duration::from_millis(self.query_tail_lookback_ms),
                ..TailSettings::default()
            },
            ..QuerySettings::default()
        })
    }
}

/// What the service runs with, checked before anything starts.
pub(crate) struct Configuration {
    pub(crate) settings: Settings,
    pub(crate) query_settings: QuerySettings,
    pub(crate) keys: ApiKeys,
}

/// Loads the settings and checks the query limits and API keys; the error names the variable
/// (never a key).
pub(crate) fn configure() -> Result<Configuration, String> {
    let settings: Settings = service_runtime::load_settings().map_err(|error| error.to_string())?;
    let query_settings = settings.query()?;
    let keys = ApiKeys::from_config(
        &settings.ingest_api_keys,
        &settings.query_api_keys,
        &settings.api_keys_file,
    )
    .map_err(|error| error.to_string())?;
    Ok(Configuration {
        settings,
        query_settings,
        keys,
    })
}
