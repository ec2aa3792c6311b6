//! What every protocol of the HTTP adapter shares: API keys (the key store in [`keys`], its poem
//! glue in [`access`]), the error table ([`error_code`]) and error answers ([`error`]), body and time limits
//! ([`body_limit`], [`gzip`], [`timeout`], [`in_flight`]), health ([`health`]), metrics ([`metrics`]), the served OpenAPI
//! documents and the `Allow` of 405s ([`openapi`]) and request tracing ([`trace`]).

pub(crate) mod access;
#[cfg(test)]
mod access_tests;
pub(crate) mod body_limit;
pub(crate) mod config;
pub mod error;
pub mod error_code;
pub(crate) mod gzip;
pub(crate) mod health;
pub(crate) mod in_flight;
pub(crate) mod keys;
pub(crate) mod metrics;
#[cfg(test)]
mod metrics_tests;
pub(crate) mod openapi;
pub(crate) mod raw_body;
#[cfg(test)]
pub(crate) mod test_apps;
pub(crate) mod timeout;
pub(crate) mod trace;
