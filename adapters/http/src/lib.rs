//! The HTTP face of the pipeline: the ingestion API and the query API (poem + poem-openapi), each
//! with its OpenAPI document at `/openapi.json` and Swagger UI at `/docs`.
//!
//! Handlers stay thin: decode the request, call the use case, convert the answer. Error kinds are
//! mapped to statuses in one place ([`error`]).

mod api_key;
#[cfg(test)]
mod api_key_tests;
mod app;
pub mod auth;
mod body_limit;
mod config;
pub mod error;
mod gzip;
mod health;
mod ingest;
mod ingest_body;
mod metrics;
#[cfg(test)]
mod metrics_tests;
mod otlp;
mod query;
mod query_model;
mod query_stream;
#[cfg(test)]
mod query_tests;
mod timeout;
mod trace;

pub use app::{ingestion_app, query_app, query_app_with, serve};
pub use auth::{ApiKeyError, ApiKeys, Scope};
pub use config::{DEFAULT_REQUEST_TIMEOUT_MS, IngestHttpConfig, QueryHttpConfig};
pub use metrics::{METRICS_PATH, RenderMetrics, describe_http_metrics, metrics_app, with_metrics};
pub use trace::RequestTraceId;
