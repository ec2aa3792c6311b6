//! The worker: applies migrations, then drains the Redis queue into ClickHouse in batches, on a
//! gRPC signal (default :50051) or every poll interval; serves `GET /metrics` on
//! `WORKER_METRICS_ADDR` (default 127.0.0.1:9091). `worker dead-letters ...` runs operator commands
//! instead (see [`operator`]). Settings: [`settings`].

mod health;
mod metered;
mod operator;
mod settings;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use application::{Backoff, DrainTrigger, DrainUseCase, RetentionUseCase};
use clickhouse_adapter::{
    ClickHouseConfig, ClickHouseLogStore, ClickHouseRetention, apply_migrations,
};
use grpc_adapter::{SharedToken, WorkerHealth};
use redis_adapter::RedisLogQueue;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::metered::{MeteredQueue, MeteredRetention, MeteredStore};
use crate::settings::Settings;

/// How often the queue's sizes are read for the metrics.
const QUEUE_SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> ExitCode {
    let settings: Settings = match service_runtime::load_settings() {
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
    let queue = match RedisLogQueue::new(&settings.redis(), &settings.worker_id) {
        Ok(queue) => Arc::new(queue),
        Err(invalid) => return service_runtime::invalid_configuration("worker", invalid),
    };
    if command != operator::Command::Serve {
        return operator::run(command, &queue).await;
    }
    let token = match SharedToken::from_setting(&settings.worker_grpc_token) {
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
    if token.is_none() && !settings.worker_grpc_listen.ip().is_loopback() {
        warn!(
            addr = %settings.worker_grpc_listen,
            "gRPC port open to the network without WORKER_GRPC_TOKEN: anyone who can reach it \
             can make this worker drain"
        );
    }
    metered::describe();
    if !migrate(&settings.clickhouse(), &shutdown).await {
        return ExitCode::FAILURE;
    }
    // Bound only once the schema exists: whoever sees the gRPC port open can rely on it.
    let listener = match tokio::net::TcpListener::bind(settings.worker_grpc_listen).await {
        Ok(listener) => listener,
        Err(bind_error) => {
            error!(addr = %settings.worker_grpc_listen, error = %bind_error, "cannot bind WORKER_GRPC_LISTEN");
            return ExitCode::FAILURE;
        }
    };
    let metrics_listener = match std::net::TcpListener::bind(settings.worker_metrics_addr) {
        Ok(listener) => listener,
        Err(bind_error) => {
            error!(addr = %settings.worker_metrics_addr, error = %bind_error, "cannot bind WORKER_METRICS_ADDR");
            return ExitCode::FAILURE;
        }
    };
    let metrics_server = tokio::spawn(service_runtime::serve_metrics(
        metrics_listener,
        runtime.metrics,
        shutdown.clone().cancelled_owned(),
    ));
    tokio::spawn(metered::sample_queue(
        queue.clone(),
        QUEUE_SAMPLE_INTERVAL,
        shutdown.clone(),
    ));
    let store = Arc::new(ClickHouseLogStore::new(&settings.clickhouse()));
    let health = WorkerHealth::new();
    tokio::spawn(health::report_dependencies(
        health.clone(),
        queue.clone(),
        store.clone(),
        shutdown.clone(),
    ));
    if let Some(keep_days) = settings.log_retention_days {
        let retention = ClickHouseRetention::new(&settings.clickhouse());
        let retention =
            RetentionUseCase::new(Arc::new(MeteredRetention(Arc::new(retention))), keep_days);
        info!(
            keep_days = keep_days.get(),
            "retention on: older days are dropped hourly"
        );
        let shutdown = shutdown.clone();
        tokio::spawn(async move { retention.run(Duration::from_secs(3600), shutdown).await });
    }
    let drain = DrainUseCase::new(
        Arc::new(MeteredQueue(queue)),
        Arc::new(MeteredStore(store)),
        settings.drain(),
    );
    let trigger = DrainTrigger::new();
    let grpc = tokio::spawn(grpc_adapter::serve_worker(
        listener,
        trigger.clone(),
        health,
        token,
        shutdown.clone().cancelled_owned(),
    ));
    info!(
        grpc = %settings.worker_grpc_listen,
        metrics = %settings.worker_metrics_addr,
        worker_id = %settings.worker_id,
        batch_size = settings.worker_batch_size.get(),
        poll_interval_ms = settings.worker_poll_interval_ms,
        "worker running"
    );
    drain.run(trigger, shutdown.clone()).await;
    shutdown.cancel();
    if let Ok(Err(serve_error)) = metrics_server.await {
        warn!(error = %serve_error, "metrics server failed");
    }
    match grpc.await {
        Ok(Ok(())) => {
            info!("worker stopped");
            ExitCode::SUCCESS
        }
        Ok(Err(grpc_error)) => {
            error!(error = %grpc_error, "grpc server failed");
            ExitCode::FAILURE
        }
        Err(join_error) => {
            error!(error = %join_error, "grpc server task failed");
            ExitCode::FAILURE
        }
    }
}

/// Applies the schema, retrying while ClickHouse is not reachable yet (e.g. still starting).
/// False when it cannot succeed or shutdown came first.
async fn migrate(config: &ClickHouseConfig, shutdown: &CancellationToken) -> bool {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        match apply_migrations(config).await {
            Ok(applied) => {
                for migration in &applied {
                    info!(migration = ?migration, "applied migration");
                }
                return true;
            }
            Err(failure) if failure.is_retryable() => {
                let delay = backoff.next_delay();
                warn!(error = %failure, retry_in_ms = delay.as_millis() as u64, "clickhouse not ready for migrations");
                tokio::select! {
                    () = shutdown.cancelled() => return false,
                    () = tokio::time::sleep(delay) => {}
                }
            }
            Err(failure) => {
                error!(error = %failure, cause = ?failure, "migrations failed");
                return false;
            }
        }
    }
}
