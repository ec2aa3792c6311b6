//! The ingestion service's settings: every one named after its environment variable (see
//! `.env.example`), read once in blocks (Redis and HTTP are shared, in `service_runtime`),
//! checked before anything starts, and handed to each adapter as its own configuration.

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
use service_runtime::{ConfigError, HttpSettings, RedisSettings, SettingsSource};
use syslog_adapter::SyslogConfig;

/// Every setting, in blocks: the ones shared with the worker (Redis) and the query service
/// (HTTP) live in `service_runtime`, each block read on its own so an error names the variable.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) redis: RedisSettings,
    pub(crate) queue: QueueSettings,
    pub(crate) http: HttpSettings,
    pub(crate) ingest: IngestSettings,
    pub(crate) drain_signal: DrainSignalSettings,
    pub(crate) syslog: SyslogSettings,
}

/// How pushes to the queue are acknowledged and bounded.
#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct QueueSettings {
    /// Replicas that must hold a push before it is answered 202 (`WAIT`); 0: none.
    pub(crate) redis_wait_replicas: u32,
    pub(crate) redis_wait_timeout_ms: u64,
    pub(crate) redis_response_timeout_ms: u64,
    /// Most events the queue may hold before ingestion answers 429 (0: no limit).
    pub(crate) queue_max_events: u64,
}

impl Default for QueueSettings {
    fn default() -> Self {
        let redis = RedisConfig::default();
        Self {
            redis_wait_replicas: redis.wait_replicas,
            redis_wait_timeout_ms: redis.wait_timeout_ms,
            redis_response_timeout_ms: redis.response_timeout_ms,
            queue_max_events: redis.max_queue_events,
        }
    }
}

/// The listeners and the limits on what they accept.
#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct IngestSettings {
    pub(crate) ingestion_addr: SocketAddr,
    /// The OTLP/gRPC listener: an address, or `off`.
    pub(crate) otlp_grpc_addr: String,
    pub(crate) ingest_max_body_bytes: usize,
    pub(crate) ingest_max_batch_events: usize,
    /// Limits on an event's fields (see `domain::limits`); each between 1 and its ceiling.
    pub(crate) ingest_max_service_chars: usize,
    pub(crate) ingest_max_message_bytes: usize,
    pub(crate) ingest_max_metadata_entries: usize,
    pub(crate) ingest_max_metadata_key_chars: usize,
    pub(crate) ingest_max_metadata_value_bytes: usize,
    pub(crate) ingest_max_future_skew_seconds: u64,
    /// Most ingest requests handled at once; more get 503 (0: no limit).
    pub(crate) ingest_max_in_flight: usize,
}

impl Default for IngestSettings {
    fn default() -> Self {
        let http = IngestHttpConfig::default();
        Self {
            ingestion_addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            otlp_grpc_addr: "0.0.0.0:4317".into(),
            ingest_max_body_bytes: http.max_body_bytes,
            ingest_max_batch_events: http.max_batch_events,
            ingest_max_service_chars: SERVICE_MAX_CHARS,
            ingest_max_message_bytes: MESSAGE_MAX_BYTES,
            ingest_max_metadata_entries: METADATA_MAX_ENTRIES,
            ingest_max_metadata_key_chars: METADATA_KEY_MAX_CHARS,
            ingest_max_metadata_value_bytes: METADATA_VALUE_MAX_BYTES,
            ingest_max_future_skew_seconds: MAX_FUTURE_SKEW_NANOS / 1_000_000_000,
            ingest_max_in_flight: http.max_in_flight,
        }
    }
}

/// How drain signals reach the worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct DrainSignalSettings {
    pub(crate) worker_grpc_url: String,
    /// The worker's token, sent with every drain signal; empty: none.
    #[serde(deserialize_with = "service_runtime::secret_text")]
    pub(crate) worker_grpc_token: String,
}

impl Default for DrainSignalSettings {
    fn default() -> Self {
        Self {
            worker_grpc_url: GrpcClientConfig::default().url,
            worker_grpc_token: String::new(),
        }
    }
}

impl DrainSignalSettings {
    /// The gRPC client's configuration; the error names the variable (never the token).
    fn config(&self) -> Result<GrpcClientConfig, String> {
        let token = SharedToken::from_setting(&self.worker_grpc_token)
            .map_err(|invalid| format!("WORKER_GRPC_TOKEN: {invalid}"))?;
        Ok(GrpcClientConfig {
            token,
            ..GrpcClientConfig::with_url(&self.worker_grpc_url)
        })
    }
}

/// Syslog listeners (empty: off) and their largest frame.
#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct SyslogSettings {
    pub(crate) syslog_tcp_addr: String,
    pub(crate) syslog_udp_addr: String,
    pub(crate) syslog_max_frame_bytes: usize,
}

impl Default for SyslogSettings {
    fn default() -> Self {
        Self {
            syslog_tcp_addr: String::new(),
            syslog_udp_addr: String::new(),
            syslog_max_frame_bytes: syslog_adapter::DEFAULT_MAX_FRAME_BYTES,
        }
    }
}

impl Settings {
    /// Reads every block from the same layers (defaults, `.env`, the environment).
    fn load() -> Result<Self, Box<ConfigError>> {
        let source = SettingsSource::read()?;
        Ok(Self {
            redis: source.extract()?,
            queue: source.extract()?,
            http: source.extract()?,
            ingest: source.extract()?,
            drain_signal: source.extract()?,
            syslog: source.extract()?,
        })
    }

    pub(crate) fn redis(&self) -> RedisConfig {
        RedisConfig {
            wait_replicas: self.queue.redis_wait_replicas,
            wait_timeout_ms: self.queue.redis_wait_timeout_ms,
            response_timeout_ms: self.queue.redis_response_timeout_ms,
            max_queue_events: self.queue.queue_max_events,
            ..self.redis.config()
        }
    }

    pub(crate) fn http(&self) -> IngestHttpConfig {
        IngestHttpConfig {
            max_body_bytes: self.ingest.ingest_max_body_bytes,
            max_batch_events: self.ingest.ingest_max_batch_events,
            request_timeout_ms: self.http.http_request_timeout_ms,
            max_in_flight: self.ingest.ingest_max_in_flight,
        }
    }

    /// The OTLP/gRPC receiver's limits: the same as the HTTP ingestion's.
    pub(crate) fn otlp_grpc(&self) -> OtlpGrpcConfig {
        OtlpGrpcConfig {
            max_message_bytes: self.ingest.ingest_max_body_bytes,
            max_records: self.ingest.ingest_max_batch_events,
            ..OtlpGrpcConfig::default()
        }
    }

    /// The syslog listeners' settings; the error names the variable.
    fn syslog(&self) -> Result<SyslogConfig, String> {
        let syslog = &self.syslog;
        if syslog.syslog_max_frame_bytes == 0 {
            return Err("SYSLOG_MAX_FRAME_BYTES: must be at least 1".into());
        }
        Ok(SyslogConfig {
            tcp_addr: SyslogConfig::parse_addr("SYSLOG_TCP_ADDR", &syslog.syslog_tcp_addr)?,
            udp_addr: SyslogConfig::parse_addr("SYSLOG_UDP_ADDR", &syslog.syslog_udp_addr)?,
            max_frame_bytes: syslog.syslog_max_frame_bytes,
            max_batch_events: self.ingest.ingest_max_batch_events,
            shutdown_grace: self.http.shutdown_grace(),
        })
    }

    /// The configured event limits; the error names the variable out of range.
    fn event_limits(&self) -> Result<EventLimits, String> {
        let named =
            |variable: &'static str| move |error: LimitError| format!("{variable}: {error}");
        let ingest = &self.ingest;
        EventLimits::default()
            .with_service_max_chars(ingest.ingest_max_service_chars)
            .map_err(named("INGEST_MAX_SERVICE_CHARS"))?
            .with_message_max_bytes(ingest.ingest_max_message_bytes)
            .map_err(named("INGEST_MAX_MESSAGE_BYTES"))?
            .with_metadata_max_entries(ingest.ingest_max_metadata_entries)
            .map_err(named("INGEST_MAX_METADATA_ENTRIES"))?
            .with_metadata_key_max_chars(ingest.ingest_max_metadata_key_chars)
            .map_err(named("INGEST_MAX_METADATA_KEY_CHARS"))?
            .with_metadata_value_max_bytes(ingest.ingest_max_metadata_value_bytes)
            .map_err(named("INGEST_MAX_METADATA_VALUE_BYTES"))?
            .with_max_future_skew_seconds(ingest.ingest_max_future_skew_seconds)
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
    let settings = Settings::load().map_err(|error| error.to_string())?;
    let event_limits = settings.event_limits()?;
    let keys = settings.http.keys()?;
    let worker = settings.drain_signal.config()?;
    let otlp_grpc_addr = otlp_grpc_adapter::listen_address(&settings.ingest.otlp_grpc_addr)
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

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail closures return figment::Error
mod tests {
    use figment::Jail;

    use super::*;

    #[test]
    fn a_bad_value_in_a_shared_block_is_reported_with_its_variable_name() {
        Jail::expect_with(|jail| {
            jail.set_env("REDIS_QUEUE_SHARDS", "abc");
            let error = Settings::load().unwrap_err().to_string();
            assert!(error.starts_with("REDIS_QUEUE_SHARDS: "), "{error}");
            jail.set_env("REDIS_QUEUE_SHARDS", "4");
            jail.set_env("HTTP_REQUEST_TIMEOUT_MS", "soon");
            let error = Settings::load().unwrap_err().to_string();
            assert!(error.starts_with("HTTP_REQUEST_TIMEOUT_MS: "), "{error}");
            Ok(())
        });
    }

    #[test]
    fn each_block_reaches_its_adapter_and_unset_settings_keep_their_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(".env", "REDIS_QUEUE_SHARDS=4\nINGEST_MAX_BATCH_EVENTS=7\n")?;
            jail.set_env("REDIS_WAIT_REPLICAS", "1");
            jail.set_env("HTTP_REQUEST_TIMEOUT_MS", "1234");
            let settings = Settings::load().unwrap();
            let redis = settings.redis();
            assert_eq!(redis.queue_shards, 4);
            assert_eq!(redis.wait_replicas, 1);
            assert_eq!(redis.url, RedisConfig::default().url);
            assert_eq!(redis.lease_ms, RedisConfig::default().lease_ms);
            let http = settings.http();
            assert_eq!(http.request_timeout_ms, 1234);
            assert_eq!(http.max_batch_events, 7);
            assert_eq!(settings.otlp_grpc().max_records, 7);
            assert_eq!(settings.ingest.ingestion_addr.port(), 8080);
            Ok(())
        });
    }
}
