//! OpenTelemetry logs (OTLP) without a transport, shared by the OTLP/HTTP receiver
//! (`POST /v1/logs`, in the HTTP adapter) and the OTLP/gRPC one (`LogsService/Export`, in the
//! OTLP/gRPC adapter), so that both map and account for records alike:
//!
//! - [`mapping`]: an `ExportLogsServiceRequest`'s log records to [`domain::LogEventDraft`]s, each
//!   with its position in the request;
//! - [`export`]: one export through `IngestUseCase::ingest_batch` (the batch limit, one push,
//!   one drain signal) and the answer's `partial_success` for the records validation rejected.
//!
//! Decoding the request, the transport's limits, API keys, metrics and the error format stay
//! with each transport.

pub mod export;
pub mod mapping;

pub use export::{ExportError, Exported, export_logs};
pub use mapping::{MappedRecords, RecordPosition, UNKNOWN_SERVICE, map_request, record_count};
