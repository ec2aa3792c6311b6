//! The query service: reads logs back from ClickHouse over HTTP (default :8081).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use application::{QuerySettings, QueryUseCase, TailSettings};
use clickhouse_adapter::{ClickHouseConfig, ClickHouseLogStore};
use domain::limits::{MAX_PAGE_LIMIT, MAX_PAGE_LIMIT_CEILING};
use http_adapter::{ApiKeys, Scope};
use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

/// Every setting, named after its environment variable (see `.env.example`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
struct Settings {
    query_addr: SocketAddr,
    clickhouse_url: String,
    clickhouse_database: String,
    clickhouse_user: String,
    clickhouse_password: String,
    clickhouse_query_timeout_ms: u64,
    clickhouse_export_timeout_ms: u64,
    query_max_range_hours: u64,
    /// The largest page (and most groups) a client may ask for.
    query_max_page_limit: u32,
    query_tail_poll_ms: u64,
    query_tail_heartbeat_ms: u64,
    query_tail_lookback_ms: u64,
    http_request_timeout_ms: u64,
    shutdown_grace_ms: u64,
    /// API keys (comma-separated; a key or `sha256:<hex digest>`) and the key file.
    #[serde(deserialize_with = "service_runtime::secret_text")]
    ingest_api_keys: String,
    #[serde(deserialize_with = "service_runtime::secret_text")]
    query_api_keys: String,
    api_keys_file: String,
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
            clickhouse_query_timeout_ms: clickhouse.query_timeout_ms,
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
    fn clickhouse(&self) -> ClickHouseConfig {
        ClickHouseConfig {
            url: self.clickhouse_url.clone(),
            database: self.clickhouse_database.clone(),
            user: self.clickhouse_user.clone(),
            password: self.clickhouse_password.clone(),
            query_timeout_ms: self.clickhouse_query_timeout_ms,
            export_timeout_ms: self.clickhouse_export_timeout_ms,
            ..ClickHouseConfig::default()
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
        })
    }
}

/// What the service runs with, checked before anything starts.
struct Configuration {
    settings: Settings,
    query_settings: QuerySettings,
    keys: ApiKeys,
}

/// Loads the settings and checks the query limits and API keys; the error names the variable
/// (never a key).
fn configure() -> Result<Configuration, String> {
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

#[tokio::main]
async fn main() -> ExitCode {
    let Configuration {
        settings,
        query_settings,
        keys,
    } = match configure() {
        Ok(configuration) => configuration,
        Err(error) => {
            eprintln!("query: invalid configuration: {error}");
            return ExitCode::from(2);
        }
    };
    service_runtime::init_tracing("query");
    let metrics = match service_runtime::install_metrics() {
        Ok(metrics) => metrics,
        Err(metrics_error) => {
            error!(error = %metrics_error, "cannot install the metrics recorder");
            return ExitCode::FAILURE;
        }
    };
    http_adapter::describe_http_metrics();
    if keys.is_open(Scope::Query) {
        warn!(
            addr = %settings.query_addr,
            "running without API keys: anyone who can reach this port can read every log; set \
             QUERY_API_KEYS or API_KEYS_FILE"
        );
    } else {
        info!(keys = keys.count(Scope::Query), "query API keys required");
    }
    let shutdown = service_runtime::shutdown_on_signal();
    let store = Arc::new(ClickHouseLogStore::new(&settings.clickhouse()));
    // Live tails end at shutdown, so they do not hold the graceful shutdown up.
    let query = QueryUseCase::with_settings(store, query_settings, shutdown.clone());
    let app = http_adapter::query_app_with(
        query,
        keys,
        http_adapter::QueryHttpConfig {
            request_timeout_ms: settings.http_request_timeout_ms,
        },
    );
    let app = http_adapter::with_metrics(app, metrics.renderer());
    let listener = match std::net::TcpListener::bind(settings.query_addr) {
        Ok(listener) => listener,
        Err(bind_error) => {
            error!(addr = %settings.query_addr, error = %bind_error, "cannot bind QUERY_ADDR");
            return ExitCode::FAILURE;
        }
    };
    info!(addr = %settings.query_addr, "query service listening");
    let grace = Duration::from_millis(settings.shutdown_grace_ms);
    match http_adapter::serve(listener, app, shutdown.cancelled_owned(), grace).await {
        Ok(()) => {
            info!("query service stopped");
            ExitCode::SUCCESS
        }
        Err(serve_error) => {
            error!(error = %serve_error, "query service failed");
            ExitCode::FAILURE
        }
    }
}
