//! The worker: applies migrations, then drains the Redis queue into ClickHouse in batches, on a
//! gRPC signal (default :50051) or every poll interval; serves `GET /metrics` on
//! `WORKER_METRICS_ADDR` (default 127.0.0.1:9091). `worker dead-letters ...` runs operator commands
//! instead (see [`operator`]). Settings: [`settings`]; start and end: [`startup`].

mod health;
mod metered;
mod operator;
mod settings;
mod startup;

use std::process::ExitCode;
use std::sync::Arc;

use application::{DrainTrigger, DrainUseCase};
use clickhouse_adapter::ClickHouseLogStore;
use grpc_adapter::SharedToken;
use redis_adapter::RedisLogQueue;
use tracing::error;

use crate::metered::{MeteredQueue, MeteredStore};
use crate::settings::Settings;

// Decoding queued events and encoding rows makes many short-lived allocations (malloc was about
// 15% of the worker's CPU in the batch benchmark's profile); see docs/BENCHMARKS.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(error) => return service_runtime::invalid_configuration("worker", error),
    };
    let command = match operator::parse(&std::env::args().skip(1).collect::<Vec<_>>()) {
        Ok(command) => command,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let queue = match RedisLogQueue::new(&settings.redis(), &settings.worker.worker_id) {
        Ok(queue) => Arc::new(queue),
        Err(invalid) => return service_runtime::invalid_configuration("worker", invalid),
    };
    if command != operator::Command::Serve {
        return operator::run(command, &queue).await;
    }
    let token = match SharedToken::from_setting(&settings.worker.worker_grpc_token) {
        Ok(token) => token,
        Err(invalid) => {
            let error = format!("WORKER_GRPC_TOKEN: {invalid}");
            return service_runtime::invalid_configuration("worker", error);
        }
    };
    serve(settings, queue, token).await
}

/// Runs the worker service until SIGINT or SIGTERM.
async fn serve(
    settings: Settings,
    queue: Arc<RedisLogQueue>,
    token: Option<SharedToken>,
) -> ExitCode {
    let runtime = match service_runtime::start("worker") {
        Ok(runtime) => runtime,
        Err(metrics_error) => {
            error!(error = %metrics_error, "cannot install the metrics recorder");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = runtime.shutdown;
    startup::warn_if_open(&settings, token.is_some());
    metered::describe();
    if !startup::migrate(&settings.clickhouse(), &shutdown).await {
        return ExitCode::FAILURE;
    }
    let Some(listeners) = startup::bind(&settings).await else {
        return ExitCode::FAILURE;
    };
    let metrics_server = tokio::spawn(service_runtime::serve_metrics(
        listeners.metrics,
        runtime.metrics,
        shutdown.clone().cancelled_owned(),
    ));
    let store = Arc::new(ClickHouseLogStore::new(&settings.clickhouse()));
    let health = startup::spawn_background(&settings, &queue, &store, &shutdown);
    let drain = DrainUseCase::new(
        Arc::new(MeteredQueue(queue)),
        Arc::new(MeteredStore(store)),
        settings.drain(),
    );
    let trigger = DrainTrigger::new();
    let grpc = tokio::spawn(grpc_adapter::serve_worker(
        listeners.grpc,
        trigger.clone(),
        health,
        token,
        shutdown.clone().cancelled_owned(),
    ));
    startup::log_running(&settings);
    drain.run(trigger, shutdown.clone()).await;
    shutdown.cancel();
    startup::finish(metrics_server, grpc).await
}
