//! Settings of the gRPC client (ingestion's drain signal). The worker's server takes a bound
//! listener: its address is the worker's `WORKER_GRPC_LISTEN` setting.

use std::time::Duration;

use serde::Deserialize;

use crate::SharedToken;

/// How the ingestion service reaches the worker.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct GrpcClientConfig {
    /// The worker's endpoint, `http://host:port` (plain HTTP/2; this build has no TLS).
    pub url: String,
    /// Longest wait for one Drain call, connecting included, in milliseconds.
    pub timeout_ms: u64,
    /// Longest wait to (re)connect to the worker, in milliseconds.
    pub connect_timeout_ms: u64,
    /// The worker's token (`WORKER_GRPC_TOKEN`), sent with every call; `None`: none is sent.
    pub token: Option<SharedToken>,
}

impl Default for GrpcClientConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:50051".into(),
            timeout_ms: 1_000,
            connect_timeout_ms: 500,
            token: None,
        }
    }
}

impl GrpcClientConfig {
    /// The default settings with another worker URL.
    pub fn with_url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_take_their_defaults() {
        let client: GrpcClientConfig =
            serde_json::from_str(r#"{"url": "http://worker:50051"}"#).unwrap();
        assert_eq!(client, GrpcClientConfig::with_url("http://worker:50051"));
        assert_eq!(client.timeout(), Duration::from_secs(1));
    }

    #[test]
    fn a_token_is_read_from_text_and_checked() {
        let client: GrpcClientConfig =
            serde_json::from_str(r#"{"token": "worker-token-0123456789"}"#).unwrap();
        assert_eq!(
            client.token,
            Some(SharedToken::new("worker-token-0123456789").unwrap())
        );
        let short = serde_json::from_str::<GrpcClientConfig>(r#"{"token": "short"}"#);
        assert!(
            short
                .unwrap_err()
                .to_string()
                .contains("at least 16 characters")
        );
    }
}
