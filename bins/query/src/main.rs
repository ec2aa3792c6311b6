//! The query service: reads logs back from ClickHouse over HTTP (default :8081). Settings:
//! [`settings`].

mod settings;

use std::process::ExitCode;
use std::sync::Arc;

use application::QueryUseCase;
use clickhouse_adapter::ClickHouseLogStore;
use http_adapter::Scope;
use tracing::{error, info, warn};

use crate::settings::Configuration;

#[tokio::main]
async fn main() -> ExitCode {
    let Configuration {
        settings,
        query_settings,
        keys,
    } = match settings::configure() {
        Ok(configuration) => configuration,
        Err(error) => return service_runtime::invalid_configuration("query", error),
    };
    let runtime = match service_runtime::start("query") {
        Ok(runtime) => runtime,
        Err(metrics_error) => {
            error!(error = %metrics_error, "cannot install the metrics recorder");
            return ExitCode::FAILURE;
        }
    };
    http_adapter::describe_http_metrics();
    if keys.is_open(Scope::Query) {
        warn!(
            addr = %settings.api.query_addr,
            "running without API keys: anyone who can reach this port can read every log; set \
             QUERY_API_KEYS or API_KEYS_FILE"
        );
    } else {
        info!(keys = keys.count(Scope::Query), "query API keys required");
    }
    let store = Arc::new(ClickHouseLogStore::new(&settings.clickhouse()));
    // Live tails end at shutdown, so they do not hold the graceful shutdown up.
    let query = QueryUseCase::with_settings(store, query_settings, runtime.shutdown.clone());
    let app = http_adapter::query_app_with(query, keys, settings.http());
    let app = http_adapter::with_metrics(app, runtime.metrics.renderer());
    let listener = match std::net::TcpListener::bind(settings.api.query_addr) {
        Ok(listener) => listener,
        Err(bind_error) => {
            error!(addr = %settings.api.query_addr, error = %bind_error, "cannot bind QUERY_ADDR");
            return ExitCode::FAILURE;
        }
    };
    info!(addr = %settings.api.query_addr, "query service listening");
    let grace = settings.http.shutdown_grace();
    let stopped = runtime.shutdown.cancelled_owned();
    match http_adapter::serve(listener, app, stopped, grace).await {
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
