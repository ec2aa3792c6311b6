//! The ingestion service: validates log events and queues them in Redis over HTTP (default
//! :8080), nudging the worker over gRPC.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use application::IngestUseCase;
use domain::limits::{
    EventLimits, LimitError, MAX_FUTURE_SKEW_NANOS, MESSAGE_MAX_BYTES, METADATA_KEY_MAX_CHARS,
    METADATA_MAX_ENTRIES, METADATA_VALUE_MAX_BYTES, SERVICE_MAX_CHARS,
};
use grpc_adapter::{GrpcClientConfig, GrpcDrainSignal, SharedToken};
use http_adapter::{ApiKeys, IngestHttpConfig, Scope};
use redis_adapter::{RedisConfig, RedisLogQueue};
use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

/// Every setting, named after its environment variable (see `.env.example`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
struct Settings {
    ingestion_addr: SocketAddr,
    worker_grpc_url: String,
    /// The worker's token, sent with every drain signal; empty: none.
    #[serde(deserialize_with = "service_runtime::secret_text")]
    worker_grpc_token: String,
    redis_url: String,
    redis_queue_key: String,
    redis_response_timeout_ms: u64,
    /// Most events the queue may hold before ingestion answers 429 (0: no limit).
    queue_max_events: u64,
    ingest_max_body_bytes: usize,
    ingest_max_batch_events: usize,
    /// Limits on an event's fields (see `domain::limits`); each between 1 and its ceiling.
    ingest_max_service_chars: usize,
    ingest_max_message_bytes: usize,
    ingest_max_metadata_entries: usize,
    ingest_max_metadata_key_chars: usize,
    ingest_max_metadata_value_bytes: usize,
    ingest_max_future_skew_seconds: u64,
    http_request_timeout_ms: u64,
    shutdown_grace_ms: u64,
    /// API keys (comma-separated; a key or `sha256:<hex digest>`) and the key file.
    #[serde(deserialize_with = "service_runtime::secret_text")]
    ingest_api_keys: String,
    #[serde(deserialize_with = "service_runtime::secret_text")]
    query_api_keys: String,
    api_keys_file: String,
}

impl Default for Settings {
    fn default() -> Self {
        let redis = RedisConfig::default();
        Self {
            ingestion_addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            worker_grpc_url: "http://127.0.0.1:50051".into(),
            worker_grpc_token: String::new(),
            redis_url: redis.url,
            redis_queue_key: redis.queue_key,
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
            shutdown_grace_ms: 10_000,
            ingest_api_keys: String::new(),
            query_api_keys: String::new(),
            api_keys_file: String::new(),
        }
    }
}

impl Settings {
    fn redis(&self) -> RedisConfig {
        RedisConfig {
            url: self.redis_url.clone(),
            queue_key: self.redis_queue_key.clone(),
            response_timeout_ms: self.redis_response_timeout_ms,
            max_queue_events: self.queue_max_events,
            ..RedisConfig::default()
        }
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

// Decoding and validating a batch makes many short-lived allocations; glibc's allocator spent
// about 40% of the service's CPU time on them in the batch benchmark (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What the service runs with, checked before anything starts.
struct Configuration {
    settings: Settings,
    event_limits: EventLimits,
    keys: ApiKeys,
    worker_token: Option<SharedToken>,
}

/// Loads the settings and checks the limits and API keys; the error names the variable (never
/// a key).
fn configure() -> Result<Configuration, String> {
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
    Ok(Configuration {
        settings,
        event_limits,
        keys,
        worker_token,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let Configuration {
        settings,
        event_limits,
        keys,
        worker_token,
    } = match configure() {
        Ok(configuration) => configuration,
        Err(error) => {
            eprintln!("ingestion: invalid configuration: {error}");
            return ExitCode::from(2);
        }
    };
    service_runtime::init_tracing("ingestion");
    let metrics = match service_runtime::install_metrics() {
        Ok(metrics) => metrics,
        Err(metrics_error) => {
            error!(error = %metrics_error, "cannot install the metrics recorder");
            return ExitCode::FAILURE;
        }
    };
    http_adapter::describe_http_metrics();
    if keys.is_open(Scope::Ingest) {
        warn!(
            addr = %settings.ingestion_addr,
            "running without API keys: anyone who can reach this port can send logs; set \
             INGEST_API_KEYS or API_KEYS_FILE"
        );
    } else {
        info!(keys = keys.count(Scope::Ingest), "ingest API keys required");
    }
    let queue = match RedisLogQueue::producer(&settings.redis()) {
        Ok(queue) => Arc::new(queue),
        Err(invalid) => {
            error!(error = %invalid, "invalid redis settings");
            return ExitCode::from(2);
        }
    };
    let shutdown = service_runtime::shutdown_on_signal();
    let worker = GrpcClientConfig {
        token: worker_token,
        ..GrpcClientConfig::with_url(&settings.worker_grpc_url)
    };
    let signal = match GrpcDrainSignal::from_config(&worker, shutdown.clone()) {
        Ok(signal) => Arc::new(signal),
        Err(invalid) => {
            error!(error = %invalid, "invalid WORKER_GRPC_URL");
            return ExitCode::from(2);
        }
    };
    let app = http_adapter::ingestion_app(
        // Group commit: concurrent requests share Redis round trips (one joint LPUSH of at most
        // a batch's worth of events).
        IngestUseCase::new(queue, signal)
            .with_push_coalescing(settings.ingest_max_batch_events)
            .with_event_limits(event_limits),
        IngestHttpConfig {
            max_body_bytes: settings.ingest_max_body_bytes,
            max_batch_events: settings.ingest_max_batch_events,
            request_timeout_ms: settings.http_request_timeout_ms,
        },
        keys,
    );
    let app = http_adapter::with_metrics(app, metrics.renderer());
    let listener = match std::net::TcpListener::bind(settings.ingestion_addr) {
        Ok(listener) => listener,
        Err(bind_error) => {
            error!(addr = %settings.ingestion_addr, error = %bind_error, "cannot bind INGESTION_ADDR");
            return ExitCode::FAILURE;
        }
    };
    info!(addr = %settings.ingestion_addr, worker = %settings.worker_grpc_url, "ingestion service listening");
    let grace = Duration::from_millis(settings.shutdown_grace_ms);
    match http_adapter::serve(listener, app, shutdown.cancelled_owned(), grace).await {
        Ok(()) => {
            info!("ingestion service stopped");
            ExitCode::SUCCESS
        }
        Err(serve_error) => {
            error!(error = %serve_error, "ingestion service failed");
            ExitCode::FAILURE
        }
    }
}
