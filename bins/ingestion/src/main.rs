//! The ingestion service: validates log events and queues them in Redis over HTTP (default
//! :8080) and OTLP/gRPC (default :4317), nudging the worker over gRPC. Settings: [`settings`].

mod settings;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use application::IngestUseCase;
use grpc_adapter::GrpcDrainSignal;
use http_adapter::Scope;
use redis_adapter::RedisLogQueue;
use syslog_adapter::SyslogListeners;
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
            addr = %settings.ingestion_addr,
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
    // batch's worth of events).
    let ingest = IngestUseCase::new(queue, signal)
        .with_push_coalescing(settings.ingest_max_batch_events)
        // The documented bound holds for every request, also one waiting behind a joint push
        // to a stalled Redis.
        .with_queue_deadline(Duration::from_millis(settings.redis_response_timeout_ms))
        .with_event_limits(event_limits);
    let otlp_grpc = match otlp_grpc_addr {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => Some(otlp_grpc_adapter::serve_otlp_grpc(
                listener,
                ingest.clone(),
                keys.clone(),
                settings.otlp_grpc(),
                runtime.shutdown.clone().cancelled_owned(),
            )),
            Err(bind_error) => {
                error!(addr = %addr, error = %bind_error, "cannot bind OTLP_GRPC_ADDR");
                return ExitCode::FAILURE;
            }
        },
        None => {
            info!("OTLP/gRPC is off (OTLP_GRPC_ADDR=off)");
            None
        }
    };
    let syslog = match SyslogListeners::bind(syslog) {
        Ok(listeners) => listeners.serve(ingest.clone(), runtime.shutdown.clone()),
        Err(bind_error) => {
            error!(error = %bind_error, "cannot bind SYSLOG_TCP_ADDR / SYSLOG_UDP_ADDR");
            return ExitCode::FAILURE;
        }
    };
    let app = http_adapter::ingestion_app(ingest, settings.http(), keys);
    let app = http_adapter::with_metrics(app, runtime.metrics.renderer());
    let listener = match std::net::TcpListener::bind(settings.ingestion_addr) {
        Ok(listener) => listener,
        Err(bind_error) => {
            error!(addr = %settings.ingestion_addr, error = %bind_error, "cannot bind INGESTION_ADDR");
            return ExitCode::FAILURE;
        }
    };
    info!(addr = %settings.ingestion_addr, worker = %settings.worker_grpc_url, "ingestion service listening");
    let grace = Duration::from_millis(settings.shutdown_grace_ms);
    // Both listeners stop on the same signal; a failed one stops the other.
    let shutdown = &runtime.shutdown;
    let http = async {
        let stopped = shutdown.clone().cancelled_owned();
        let served = http_adapter::serve(listener, app, stopped, grace).await;
        if let Err(serve_error) = &served {
            error!(error = %serve_error, "ingestion service failed");
            shutdown.cancel();
        }
        served.is_ok()
    };
    let otlp_grpc = async {
        let Some(server) = otlp_grpc else {
            return true;
        };
        let served = server.await;
        if let Err(serve_error) = &served {
            error!(error = %serve_error, "otlp/grpc server failed");
            shutdown.cancel();
        }
        served.is_ok()
    };
    // The syslog listeners push what they already received before the process ends.
    let syslog = async {
        let served = syslog.await;
        if let Err(serve_error) = &served {
            error!(error = %serve_error, "syslog listeners failed");
            shutdown.cancel();
        }
        served.is_ok()
    };
    match tokio::join!(http, otlp_grpc, syslog) {
        (true, true, true) => {
            info!("ingestion service stopped");
            ExitCode::SUCCESS
        }
        _ => ExitCode::FAILURE,
    }
}
