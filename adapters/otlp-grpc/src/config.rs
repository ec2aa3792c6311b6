//! Settings of the OTLP/gRPC receiver.

use std::net::SocketAddr;
use std::time::Duration;

/// Limits and health checking of the receiver; the limits are the ingestion service's
/// (`INGEST_MAX_BODY_BYTES`, `INGEST_MAX_BATCH_EVENTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtlpGrpcConfig {
    /// Largest message, before and after gzip decompression, in bytes.
    pub max_message_bytes: usize,
    /// Most log records in one request.
    pub max_records: usize,
    /// How often the health service asks the queue whether it answers.
    pub health_interval: Duration,
}

impl Default for OtlpGrpcConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 1024 * 1024,
            max_records: 10_000,
            health_interval: Duration::from_secs(1),
        }
    }
}

/// The address of `OTLP_GRPC_ADDR`: `host:port`, or `off` (or nothing) for no OTLP/gRPC
/// listener. The error is a sentence for the operator.
pub fn listen_address(setting: &str) -> Result<Option<SocketAddr>, String> {
    let setting = setting.trim();
    if setting.is_empty() || setting.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    setting.parse().map(Some).map_err(|_| {
        format!("{setting:?} is not an address such as 0.0.0.0:4317; `off` turns OTLP/gRPC off")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_read_and_off_or_nothing_means_no_listener() {
        assert_eq!(
            listen_address("0.0.0.0:4317").unwrap(),
            Some(SocketAddr::from(([0, 0, 0, 0], 4317)))
        );
        assert_eq!(
            listen_address(" 127.0.0.1:0 ").unwrap(),
            Some(SocketAddr::from(([127, 0, 0, 1], 0)))
        );
        for off in ["off", "OFF", "", "  "] {
            assert_eq!(listen_address(off).unwrap(), None, "{off:?}");
        }
        let error = listen_address("4317").unwrap_err();
        assert!(error.contains("\"4317\" is not an address"), "{error}");
    }
}
