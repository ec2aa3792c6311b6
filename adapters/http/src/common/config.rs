//! Settings of the HTTP APIs.

use serde::Deserialize;

/// The default of `HTTP_REQUEST_TIMEOUT_MS`, for both services: 30 s.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 30_000;

/// Limits of the ingestion API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct IngestHttpConfig {
    /// Largest request body accepted, in bytes, before and after gzip decompression; larger
    /// ones get 413.
    pub max_body_bytes: usize,
    /// Most events one batch request (JSON array or NDJSON) may hold; more get 413
    /// `too_many_events` and nothing is accepted.
    pub max_batch_events: usize,
    /// Longest a request may take, reading its body included, in milliseconds; past it the
    /// answer is 503 `request_timeout` (0: no limit).
    pub request_timeout_ms: u64,
    /// Most ingest requests handled at once; more get 503 `too_many_requests_in_flight` without
    /// their body being decoded (it is read and dropped; 0: no limit). Bounds memory while Redis
    /// is slow.
    pub max_in_flight: usize,
}

impl Default for IngestHttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_batch_events: 10_000,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            max_in_flight: 512,
        }
    }
}

/// Settings of the query API's HTTP layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct QueryHttpConfig {
    /// Longest a request may take until its answer starts, in milliseconds; past it the answer
    /// is 503 `request_timeout` (0: no limit). The streamed answers (`/logs/tail`,
    /// `/logs/export`) are exempt.
    pub request_timeout_ms: u64,
}

impl Default for QueryHttpConfig {
    fn default() -> Self {
        Self {
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
        }
    }
}
