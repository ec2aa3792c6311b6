//! The HTTP face of the pipeline, one folder per protocol, each with the same inner shape (its
//! wire types, their decoding into domain drafts, its routes and its tests), beside one `common`
//! part that every protocol uses and none reaches around:
//!
//! - [`ingest`]: `POST /ingest`, our own JSON/NDJSON events;
//! - [`otlp`]: `POST /v1/logs`, OTLP/HTTP logs (protobuf and JSON);
//! - [`elasticsearch`]: `POST /_bulk`, Elasticsearch's bulk API;
//! - [`loki_push`]: `POST /loki/api/v1/push`, Loki's push API (protobuf + snappy and JSON);
//! - [`query`]: `GET /logs` and the other reads, the live tail and the export;
//! - [`loki_query`]: Loki's query API (`/loki/api/v1/query_range`, labels, tail, ...) over the
//!   same use case, for Grafana's Loki data source;
//! - [`explorer`]: the log explorer page at `/` of the query service, which reads through [`query`];
//! - [`common`]: API keys, the error table, limits, health, metrics, request tracing, timeouts.
//!
//! [`app`] composes each service from its protocols: adding a protocol is a new folder and one
//! line there. Handlers stay thin: decode the request, call the use case, convert the answer.

mod app;
pub mod common;
mod elasticsearch;
mod explorer;
mod ingest;
mod loki_push;
mod loki_query;
mod otlp;
mod query;

pub use app::{ingestion_app, query_app, query_app_with, serve};
pub use common::access::presented_key;
pub use common::config::{DEFAULT_REQUEST_TIMEOUT_MS, IngestHttpConfig, QueryHttpConfig};
pub use common::error::{ErrorCode, Failure, RETRY_AFTER_SECONDS};
pub use common::keys::{ApiKeyError, ApiKeys, Denial, Scope};
pub use common::metrics::{
    IngestSource, METRICS_PATH, RenderMetrics, count_accepted, count_rejected,
    count_rejected_request, describe_http_metrics, failure_code, metrics_app,
    record_request_duration, with_metrics,
};
pub use common::trace::RequestTraceId;
