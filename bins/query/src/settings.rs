//! The query service's settings: every one named after its environment variable (see
//! `.env.example`), read once in blocks (ClickHouse and HTTP are shared, in `service_runtime`),
//! checked before anything starts, and handed to each adapter as its own configuration.

use std::net::SocketAddr;
use std::time::Duration;

use application::{QuerySettings, TailSettings};
use clickhouse_adapter::ClickHouseConfig;
use domain::limits::{MAX_PAGE_LIMIT, MAX_PAGE_LIMIT_CEILING};
use http_adapter::{ApiKeys, QueryHttpConfig};
use serde::{Deserialize, Serialize};
use service_runtime::{ClickHouseSettings, ConfigError, HttpSettings, SettingsSource};

/// Every setting, in blocks: the ones shared with the worker (ClickHouse) and the ingestion
/// service (HTTP) live in `service_runtime`, each block read on its own so an error names the
/// variable.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) clickhouse: ClickHouseSettings,
    pub(crate) reads: ReadSettings,
    pub(crate) http: HttpSettings,
    pub(crate) api: ApiSettings,
}

/// How long reads from ClickHouse may take.
#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ReadSettings {
    pub(crate) clickhouse_query_timeout_ms: u64,
    pub(crate) clickhouse_export_timeout_ms: u64,
}

impl Default for ReadSettings {
    fn default() -> Self {
        let clickhouse = ClickHouseConfig::default();
        Self {
            clickhouse_query_timeout_ms: clickhouse.query_timeout_ms,
            clickhouse_export_timeout_ms: clickhouse.export_timeout_ms,
        }
    }
}

/// The query API: where it listens and what a client may ask for.
#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ApiSettings {
    pub(crate) query_addr: SocketAddr,
    pub(crate) query_max_range_hours: u64,
    /// The largest page (and most groups) a client may ask for.
    pub(crate) query_max_page_limit: u32,
    pub(crate) query_tail_poll_ms: u64,
    pub(crate) query_tail_heartbeat_ms: u64,
    pub(crate) query_tail_lookback_ms: u64,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            query_addr: SocketAddr::from(([0, 0, 0, 0], 8081)),
            query_max_range_hours: 720,
            query_max_page_limit: MAX_PAGE_LIMIT,
            query_tail_poll_ms: 500,
            query_tail_heartbeat_ms: 15_000,
            query_tail_lookback_ms: 10_000,
        }
    }
}

impl Settings {
    /// Reads every block from the same layers (defaults, `.env`, the environment).
    fn load() -> Result<Self, Box<ConfigError>> {
        let source = SettingsSource::read()?;
        Ok(Self {
            clickhouse: source.extract()?,
            reads: source.extract()?,
            http: source.extract()?,
            api: source.extract()?,
        })
    }

    pub(crate) fn clickhouse(&self) -> ClickHouseConfig {
        ClickHouseConfig {
            query_timeout_ms: self.reads.clickhouse_query_timeout_ms,
            export_timeout_ms: self.reads.clickhouse_export_timeout_ms,
            ..self.clickhouse.config()
        }
    }

    pub(crate) fn http(&self) -> QueryHttpConfig {
        QueryHttpConfig {
            request_timeout_ms: self.http.http_request_timeout_ms,
        }
    }

    /// The query use case's settings; the error names the variable out of range.
    fn query(&self) -> Result<QuerySettings, String> {
        let api = &self.api;
        if !(1..=MAX_PAGE_LIMIT_CEILING).contains(&api.query_max_page_limit) {
            return Err(format!(
                "QUERY_MAX_PAGE_LIMIT: must be between 1 and {MAX_PAGE_LIMIT_CEILING}, not {}",
                api.query_max_page_limit
            ));
        }
        Ok(QuerySettings {
            // 0 hours: no limit.
            max_range: (api.query_max_range_hours > 0)
                .then(|| Duration::from_secs(api.query_max_range_hours.saturating_mul(3600))),
            max_page_limit: api.query_max_page_limit,
            tail: TailSettings {
                poll_interval: Duration::from_millis(api.query_tail_poll_ms.max(10)),
                heartbeat_interval: Duration::from_millis(api.query_tail_heartbeat_ms.max(100)),
                lookback: Duration::from_millis(api.query_tail_lookback_ms),
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
    let settings = Settings::load().map_err(|error| error.to_string())?;
    let query_settings = settings.query()?;
    let keys = settings.http.keys()?;
    Ok(Configuration {
        settings,
        query_settings,
        keys,
    })
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail closures return figment::Error
mod tests {
    use figment::Jail;

    use super::*;

    #[test]
    fn a_bad_value_in_a_shared_block_is_reported_with_its_variable_name() {
        Jail::expect_with(|jail| {
            jail.set_env("CLICKHOUSE_HEALTH_TIMEOUT_MS", "abc");
            let error = Settings::load().unwrap_err().to_string();
            assert!(
                error.starts_with("CLICKHOUSE_HEALTH_TIMEOUT_MS: "),
                "{error}"
            );
            jail.set_env("CLICKHOUSE_HEALTH_TIMEOUT_MS", "100");
            jail.set_env("HTTP_REQUEST_TIMEOUT_MS", "soon");
            let error = Settings::load().unwrap_err().to_string();
            assert!(error.starts_with("HTTP_REQUEST_TIMEOUT_MS: "), "{error}");
            Ok(())
        });
    }

    #[test]
    fn each_block_reaches_its_adapter_and_unset_settings_keep_their_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(".env", "CLICKHOUSE_DATABASE=other\n")?;
            jail.set_env("CLICKHOUSE_QUERY_TIMEOUT_MS", "1234");
            jail.set_env("HTTP_REQUEST_TIMEOUT_MS", "4321");
            let settings = Settings::load().unwrap();
            let clickhouse = settings.clickhouse();
            assert_eq!(clickhouse.database, "other");
            assert_eq!(clickhouse.query_timeout_ms, 1234);
            assert_eq!(clickhouse.url, ClickHouseConfig::default().url);
            assert_eq!(settings.http().request_timeout_ms, 4321);
            assert_eq!(settings.api.query_addr.port(), 8081);
            Ok(())
        });
    }
}
