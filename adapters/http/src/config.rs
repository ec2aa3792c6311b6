//! Settings of the HTTP APIs.

use serde::Deserialize;

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
}

impl Default for IngestHttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_batch_events: 10_000,
        }
    }
}
