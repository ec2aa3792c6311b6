//! What every service binary shares: layered configuration (defaults, then `.env`, then the
//! environment), JSON logging, the Prometheus metrics recorder, and the shutdown signal.

mod config;
mod prometheus;
mod shutdown;
mod telemetry;

pub use config::{ConfigError, load_settings, load_settings_from, secret_text};
pub use prometheus::{MetricsError, MetricsHandle, install_metrics, prometheus_recorder};
pub use shutdown::shutdown_on_signal;
pub use telemetry::init_tracing;
