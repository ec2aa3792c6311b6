//! What every service binary shares: layered configuration (defaults, then `.env`, then the
//! environment) and the blocks of settings two services share (Redis, ClickHouse, HTTP), JSON logging, the Prometheus metrics recorder (and `GET /metrics` on a port of
//! its own for a service without an HTTP API), and the shutdown signal: [`start`].

mod blocks;
mod config;
mod log_output;
mod metrics_server;
mod prometheus;
mod shutdown;
mod telemetry;

pub use blocks::{ClickHouseSettings, HttpSettings, RedisSettings};
pub use config::{ConfigError, SettingsSource, load_settings, load_settings_from, secret_text};
pub use log_output::LogFlush;
pub use metrics_server::serve_metrics;
pub use prometheus::{MetricsError, MetricsHandle, install_metrics, prometheus_recorder};
pub use shutdown::shutdown_on_signal;
pub use telemetry::init_tracing;

use std::fmt::Display;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

/// What a started service holds: its metrics, to serve at `GET /metrics`, and the token that
/// SIGINT or SIGTERM cancels.
#[derive(Debug)]
pub struct Runtime {
    pub metrics: MetricsHandle,
    pub shutdown: CancellationToken,
    /// Writes the log lines still waiting when the service exits (dropped with the runtime).
    pub logs: LogFlush,
}

/// Starts what every service needs before its own parts: JSON logs tagged with `service`, the
/// metrics recorder (once per process) and the shutdown signal. Call inside the Tokio runtime.
pub fn start(service: &'static str) -> Result<Runtime, MetricsError> {
    let logs = init_tracing(service);
    let metrics = install_metrics()?;
    Ok(Runtime {
        metrics,
        shutdown: shutdown_on_signal(),
        logs,
    })
}

/// Says on standard error why `service` cannot start with its configuration (`error` names the
/// environment variable, never a secret) and gives the exit code for it, 2.
pub fn invalid_configuration(service: &str, error: impl Display) -> ExitCode {
    eprintln!("{service}: invalid configuration: {error}");
    ExitCode::from(2)
}
