//! The OTLP/gRPC logs receiver of the ingestion service: OpenTelemetry's
//! `opentelemetry.proto.collector.logs.v1.LogsService/Export` on a port of its own
//! (`OTLP_GRPC_ADDR`, OTLP's 4317 by default), gzip or plain, next to the standard
//! `grpc.health.v1.Health` service, which reports SERVING while the queue answers.
//!
//! The records take `POST /v1/logs`' path through the `otlp-adapter` crate (the same mapping,
//! batch limit and partial success) into the same `IngestUseCase`; API keys, the error table and
//! the ingest metrics are the HTTP adapter's shared ones. This crate is only the gRPC around them:
//!
//! - [`service`]: the Export handler and the gRPC status of each failure;
//! - [`guard`]: what happens before the handler (API keys, the message size, undecodable
//!   messages) and the request metrics;
//! - [`health`]: the health service, fed by the queue's readiness;
//! - [`server`]: serving both on a bound listener until shutdown.

mod config;
mod guard;
mod health;
mod server;
mod service;
#[cfg(test)]
mod tests;

pub use config::{OtlpGrpcConfig, listen_address};
pub use server::serve_otlp_grpc;
pub use service::{EXPORT_PATH, LOGS_SERVICE_NAME};
