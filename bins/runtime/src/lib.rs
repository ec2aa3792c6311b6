//! What every service binary shares: layered configuration (defaults, then `.env`, then the
//! environment), JSON logging, and the shutdown signal.

mod config;
mod shutdown;
mod telemetry;

pub use config::{ConfigError, load_settings, load_settings_from};
pub use shutdown::shutdown_on_signal;
pub use telemetry::init_tracing;
