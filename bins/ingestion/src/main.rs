//! The ingestion service: validates log events and queues them in Redis over HTTP (default
//! :8080), OTLP/gRPC (default :4317) and syslog, nudging the worker over gRPC. Settings:
//! [`settings`]; listeners: [`servers`].

mod servers;
mod settings;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use application::IngestUseCase;
use grpc_adapter::GrpcDrainSignal;
use http_adapter::Scope;
use redis_adapter::RedisLogQueue;
use tracing::{error, info, warn};

use crate::settings::Configuration;

// Decoding and validating a batch makes many short-lived allocations; glibc's allocator spent
// about 40% of the service's CPU time on them in the batch benchmark (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let Configuration {
        settings,
        event_limits,
        keys,
        worker,
        otlp_grpc_addr,
        syslog,
    } = match settings::configure() {
        Ok(configuration) => configuration,
        Err(error) => return service_runtime::invalid_configuration("ingestion", error),
    };
    let queue = match RedisLogQueue::producer(&settings.redis()) {
        Ok(queue) => Arc::new(queue),
        Err(invalid) => return service_runtime::invalid_configuration("ingestion", invalid),
    };
    let runtime = match service_runtime::start("ingestion") {
        Ok(runtime) => runtime,
        Err(metrics_error) => {
            error!(error = %metrics_error, "cannot install the metrics recorder");
            return ExitCode::FAILURE;
        }
    };
    http_adapter::describe_http_metrics();
    if keys.is_open(Scope::Ingest) {
        warn!(
            addr = %settings.ingest.ingestion_addr,
            "running without API keys: anyone who can reach this port can send logs; set \
             INGEST_API_KEYS or API_KEYS_FILE"
        );
    } else {
        info!(keys = keys.count(Scope::Ingest), "ingest API keys required");
    }
    let signal = match GrpcDrainSignal::from_config(&worker, runtime.shutdown.clone()) {
        Ok(signal) => Arc::new(signal),
        Err(invalid) => return service_runtime::invalid_configuration("ingestion", invalid),
    };
    // Group commit: concurrent requests share Redis round trips (one joint LPUSH of at most a
    // batch's worth of events). The documented bound holds for every request, also one waiting
    // behind a joint push to a stalled Redis.
    let ingest = IngestUseCase::new(queue, signal)
        .with_push_coalescing(settings.ingest.ingest_max_batch_events)
        .with_queue_deadline(Duration::from_millis(
            settings.queue.redis_response_timeout_ms,
        ))
        .with_event_limits(event_limits);
    let Some(servers) = servers::bind(settings.ingest.ingestion_addr, otlp_grpc_addr, syslog).await
    else {
        return ExitCode::FAILURE;
    };
    let app = http_adapter::ingestion_app(ingest.clone(), settings.http(), keys.clone());
    let app = http_adapter::with_metrics(app, runtime.metrics.renderer());
    info!(addr = %settings.ingest.ingestion_addr, worker = %settings.drain_signal.worker_grpc_url, "ingestion service listening");
    let grace = settings.http.shutdown_grace();
    let stopped = runtime.shutdown.clone().cancelled_owned();
    let serve_http = |listener| http_adapter::serve(listener, app, stopped, grace);
    let otlp_grpc = (keys, settings.otlp_grpc());
    servers
        .run(ingest, serve_http, otlp_grpc, &runtime.shutdown)
        .await
}
