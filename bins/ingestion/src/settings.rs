//! The ingestion service's settings: every one named after its environment variable (see
//! `.env.example`), read once, checked before anything starts, and handed to each adapter as its
//! own configuration.

use std::net::SocketAddr;

use domain::limits::{
    EventLimits, LimitError, MAX_FUTURE_SKEW_NANOS, MESSAGE_MAX_BYTES, METADATA_KEY_MAX_CHARS,
    METADATA_MAX_ENTRIES, METADATA_VALUE_MAX_BYTES, SERVICE_MAX_CHARS,
};
use grpc_adapter::{GrpcClientConfig, SharedToken};
use http_adapter::{ApiKeys, IngestHttpConfig};
use otlp_grpc_adapter::OtlpGrpcConfig;
use redis_adapter::RedisConfig;
use serde::{Deserialize, Serialize};
use syslog_adapter::SyslogConfig;

/// Every setting, named after its environment variable (see `.env.example`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Settings {
    pub(crate) ingestion_addr: SocketAddr,
    /// The OTLP/gRPC listener: an address, or `off`.
    pub(crate) otlp_grpc_addr: String,
    pub(crate) worker_grpc_url: String,
    /// The worker's token, sent with every drain signal; empty: none.
    #[serde(deserialize_with = "service_runtime::secret_text")]
    pub(crate) worker_grpc_token: String,
    pub(crate) redis_url: String,
    /// Redis Sentinel addresses, comma-separated `host:port`; empty: `REDIS_URL` directly.
    pub(crate) redis_sentinels: String,
    pub(crate) redis_sentinel_master: String,
    /// Redis Cluster nodes, comma-separated `host:port`; empty: no cluster.
    pub(crate) redis_cluster_nodes: String,
    /// Replicas that must hold a push before it is answered 202 (`WAIT`); 0: none.
    pub(crate) redis_wait_replicas: u32,
    pub(crate) redis_wait_timeout_ms: u64,
    pub(crate) redis_queue_key: String,
    /// How many shards the queue is spread over (1-256).
    pub(crate) redis_queue_shards: u32,
    pub(crate) redis_response_timeout_ms: u64,
    /// Most events the queue may hold before ingestion answers 429 (0: no limit).
    pub(crate) queue_max_events: u64,
    pub(crate) ingest_max_body_bytes: usize,
    pub(crate) ingest_max_batch_events: usize,
    /// Limits on an event's fields (see `domain::limits`); each between 1 and its ceiling.
    pub(crate) ingest_max_service_chars: usize,
    pub(crate) ingest_max_message_bytes: usize,
    pub(crate) ingest_max_metadata_entries: usize,
    pub(crate) ingest_max_metadata_key_chars: usize,
    pub(crate) ingest_max_metadata_value_bytes: usize,
    pub(crate) ingest_max_future_skew_seconds: u64,
    pub(crate) http_request_timeout_ms: u64,
    /// Most ingest requests handled at once; more get 503 (0: no limit).
    pub(crate) ingest_max_in_flight: usize,
    pub(crate) shutdown_grace_ms: u64,
    /// API keys (comma-separated; a key or `sha256:<hex digest>`) and the key file.
    #[serde(deserialize_with = "service_runtime::secret_text")]
    pub(crate) ingest_api_keys: String,
    #[serde(deserialize_with = "service_runtime::secret_text")]
    pub(crate) query_api_keys: String,
    pub(crate) api_keys_file: String,
    /// Syslog listeners (empty: off) and their largest frame.
    pub(crate) syslog_tcp_addr: String,
    pub(crate) syslog_udp_addr: String,
    pub(crate) syslog_max_frame_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        let redis = RedisConfig::default();
        Self {
            ingestion_addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            otlp_grpc_addr: "0.0.0.0:4317".into(),
            worker_grpc_url: GrpcClientConfig::default().url,
            worker_grpc_token: String::new(),
            redis_url: redis.url,
            redis_sentinels: String::new(),
            redis_sentinel_master: redis.sentinel_master,
            redis_cluster_nodes: String::new(),
            redis_wait_replicas: redis.wait_replicas,
            redis_wait_timeout_ms: redis.wait_timeout_ms,
            redis_queue_key: redis.queue_key,
            redis_queue_shards: redis.queue_shards,
            redis_response_timeout_ms: redis.response_timeout_ms,
            queue_max_events: redis.max_queue_events,
            ingest_max_body_bytes: IngestHttpConfig::default().max_body_bytes,
            ingest_max_batch_events: IngestHttpConfig::default().max_batch_events,
            ingest_max_service_chars: SERVICE_MAX_CHARS,
            ingest_max_message_bytes: MESSAGE_MAX_BYTES,
            ingest_max_metadata_entries: METADATA_MAX_ENTRIES,
            ingest_max_metadata_key_chars: METADATA_KEY_MAX_CHARS,
            ingest_max_metadata_value_bytes: METADATA_VALUE_MAX_BYTES,
            ingest_max_future_skew_seconds: MAX_FUTURE_SKEW_NANOS / 1_000_000_000,
            http_request_timeout_ms: IngestHttpConfig::default().request_timeout_ms,
            ingest_max_in_flight: IngestHttpConfig::default().max_in_flight,
            shutdown_grace_ms: 10_000,
            ingest_api_keys: String::new(),
            query_api_keys: String::new(),
            api_keys_file: String::new(),
            syslog_tcp_addr: String::new(),
            syslog_udp_addr: String::new(),
            syslog_max_frame_bytes: syslog_adapter::DEFAULT_MAX_FRAME_BYTES,
        }
    }
}

impl Settings {
    pub(crate) fn redis(&self) -> RedisConfig {
        RedisConfig {
            url: self.redis_url.clone(),
            sentinels: RedisConfig::parse_sentinels(&self.redis_sentinels),
            sentinel_master: self.redis_sentinel_master.clone(),
            cluster_nodes: RedisConfig::parse_sentinels(&self.redis_cluster_nodes),
            wait_replicas: self.redis_wait_replicas,
            wait_timeout_ms: self.redis_wait_timeout_ms,
            queue_key: self.redis_queue_key.clone(),
            queue_shards: self.redis_queue_shards,
            response_timeout_ms: self.redis_response_timeout_ms,
            max_queue_events: self.queue_max_events,
            ..RedisConfig::default()
        }
    }

    pub(crate) fn http(&self) -> IngestHttpConfig {
        IngestHttpConfig {
            max_body_bytes: self.ingest_max_body_bytes,
            max_batch_events: self.ingest_max_batch_events,
            request_timeout_ms: self.http_request_timeout_ms,
            max_in_flight: self.ingest_max_in_flight,
        }
    }

    /// The OTLP/gRPC receiver's limits: the same as the HTTP ingestion's.
    pub(crate) fn otlp_grpc(&self) -> OtlpGrpcConfig {
        OtlpGrpcConfig {
            max_message_bytes: self.ingest_max_body_bytes,
            max_records: self.ingest_max_batch_events,
            ..OtlpGrpcConfig::default()
        }
    }

    /// The syslog listeners' settings; the error names the variable.
    fn syslog(&self) -> Result<SyslogConfig, String> {
        if self.syslog_max_frame_bytes == 0 {
            return Err("SYSLOG_MAX_FRAME_BYTES: must be at least 1".into());
        }
        Ok(SyslogConfig {
            tcp_addr: SyslogConfig::parse_addr("SYSLOG_TCP_ADDR", &self.syslog_tcp_addr)?,
            udp_addr: SyslogConfig::parse_addr("SYSLOG_UDP_ADDR", &self.syslog_udp_addr)?,
            max_frame_bytes: self.syslog_max_frame_bytes,
            max_batch_events: self.ingest_max_batch_events,
            shutdown_grace: std::time::Duration::from_millis(self.shutdown_grace_ms),
        })
    }

    /// The configured event limits; the error names the variable out of range.
    fn event_limits(&self) -> Result<EventLimits, String> {
        let named =
            |variable: &'static str| move |error: LimitError| format!("{variable}: {error}");
        EventLimits::default()
            .with_service_max_chars(self.ingest_max_service_chars)
            .map_err(named("INGEST_MAX_SERVICE_CHARS"))?
            .with_message_max_bytes(self.ingest_max_message_bytes)
            .map_err(named("INGEST_MAX_MESSAGE_BYTES"))?
            .with_metadata_max_entries(self.ingest_max_metadata_entries)
            .map_err(named("INGEST_MAX_METADATA_ENTRIES"))?
            .with_metadata_key_max_chars(self.ingest_max_metadata_key_chars)
            .map_err(named("INGEST_MAX_METADATA_KEY_CHARS"))?
            .with_metadata_value_max_bytes(self.ingest_max_metadata_value_bytes)
            .map_err(named("INGEST_MAX_METADATA_VALUE_BYTES"))?
            .with_max_future_skew_seconds(self.ingest_max_future_skew_seconds)
            .map_err(named("INGEST_MAX_FUTURE_SKEW_SECONDS"))
    }
}

/// What the service runs with, checked before anything starts.
pub(crate) struct Configuration {
    pub(crate) settings: Settings,
    pub(crate) event_limits: EventLimits,
    pub(crate) keys: ApiKeys,
    /// How drain signals reach the worker.
    pub(crate) worker: GrpcClientConfig,
    /// Where OTLP/gRPC listens; `None`: it is off.
    pub(crate) otlp_grpc_addr: Option<SocketAddr>,
    /// The syslog listeners (off unless given addresses).
    pub(crate) syslog: SyslogConfig,
}

/// Loads the settings and checks the limits and API keys; the error names the variable (never
/// a key).
pub(crate) fn configure() -> Result<Configuration, String> {
    let settings: Settings = service_runtime::load_settings().map_err(|error| error.to_string())?;
    let event_limits = settings.event_limits()?;
    let keys = ApiKeys::from_config(
        &settings.ingest_api_keys,
        &settings.query_api_keys,
        &settings.api_keys_file,
    )
    .map_err(|error| error.to_string())?;
    let worker_token = SharedToken::from_setting(&settings.worker_grpc_token)
        .map_err(|invalid| format!("WORKER_GRPC_TOKEN: {invalid}"))?;
    let worker = GrpcClientConfig {
        token: worker_token,
        ..GrpcClientConfig::with_url(&settings.worker_grpc_url)
    };
    let otlp_grpc_addr = otlp_grpc_adapter::listen_address(&settings.otlp_grpc_addr)
        .map_err(|invalid| format!("OTLP_GRPC_ADDR: {invalid}"))?;
    let syslog = settings.syslog()?;
    Ok(Configuration {
        settings,
        event_limits,
        keys,
        worker,
        otlp_grpc_addr,
        syslog,
    })
}
