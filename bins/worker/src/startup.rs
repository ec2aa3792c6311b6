//! The worker's start and end, kept out of the composition root: the schema applied before the
//! ports open, the two listeners bound, the background tasks (queue sampling, dependency health,
//! retention) spawned, and the servers' outcomes collected at the end.

use std::sync::Arc;
use std::time::Duration;

use application::{Backoff, RetentionUseCase};
use clickhouse_adapter::{
    ClickHouseConfig, ClickHouseLogStore, ClickHouseRetention, apply_migrations,
};
use grpc_adapter::WorkerHealth;
use redis_adapter::RedisLogQueue;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::health;
use crate::metered::{self, MeteredRetention};
use crate::settings::Settings;

/// How often the queue's sizes are read for the metrics.
const QUEUE_SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// Applies the schema, retrying while ClickHouse is not reachable yet (e.g. still starting).
/// False when it cannot succeed or shutdown came first.
pub(crate) async fn migrate(config: &ClickHouseConfig, shutdown: &CancellationToken) -> bool {
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

/// The worker's two ports: gRPC (drain signals, health) and `GET /metrics`.
pub(crate) struct Listeners {
    pub(crate) grpc: tokio::net::TcpListener,
    pub(crate) metrics: std::net::TcpListener,
}

/// Binds both ports (call once the schema exists: whoever sees the gRPC port open can rely on
/// it); `None`, logged, when one cannot be bound.
pub(crate) async fn bind(settings: &Settings) -> Option<Listeners> {
    let grpc = match tokio::net::TcpListener::bind(settings.worker.worker_grpc_listen).await {
        Ok(listener) => listener,
        Err(bind_error) => {
            error!(addr = %settings.worker.worker_grpc_listen, error = %bind_error, "cannot bind WORKER_GRPC_LISTEN");
            return None;
        }
    };
    let metrics = match std::net::TcpListener::bind(settings.worker.worker_metrics_addr) {
        Ok(listener) => listener,
        Err(bind_error) => {
            error!(addr = %settings.worker.worker_metrics_addr, error = %bind_error, "cannot bind WORKER_METRICS_ADDR");
            return None;
        }
    };
    Some(Listeners { grpc, metrics })
}

/// Warns when the gRPC port is reachable beyond this machine without a token.
pub(crate) fn warn_if_open(settings: &Settings, has_token: bool) {
    if !has_token && !settings.worker.worker_grpc_listen.ip().is_loopback() {
        warn!(
            addr = %settings.worker.worker_grpc_listen,
            "gRPC port open to the network without WORKER_GRPC_TOKEN: anyone who can reach it \
             can make this worker drain"
        );
    }
}

/// Starts what runs beside the drain until shutdown: the queue's sizes sampled for the metrics,
/// the dependencies' health (answered by the gRPC health service, returned), and retention when
/// `LOG_RETENTION_DAYS` is set.
pub(crate) fn spawn_background(
    settings: &Settings,
    queue: &Arc<RedisLogQueue>,
    store: &Arc<ClickHouseLogStore>,
    shutdown: &CancellationToken,
) -> WorkerHealth {
    tokio::spawn(metered::sample_queue(
        queue.clone(),
        QUEUE_SAMPLE_INTERVAL,
        shutdown.clone(),
    ));
    let health = WorkerHealth::new();
    tokio::spawn(health::report_dependencies(
        health.clone(),
        queue.clone(),
        store.clone(),
        shutdown.clone(),
    ));
    if let Some(keep_days) = settings.writes.log_retention_days {
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
    health
}

/// Says that the worker runs, with what it was given.
pub(crate) fn log_running(settings: &Settings) {
    info!(
        grpc = %settings.worker.worker_grpc_listen,
        metrics = %settings.worker.worker_metrics_addr,
        worker_id = %settings.worker.worker_id,
        batch_size = settings.worker.worker_batch_size.get(),
        poll_interval_ms = settings.worker.worker_poll_interval_ms,
        "worker running"
    );
}

/// Waits for both servers after shutdown: success unless the gRPC server failed.
pub(crate) async fn finish(
    metrics_server: JoinHandle<std::io::Result<()>>,
    grpc: JoinHandle<Result<(), grpc_adapter::GrpcError>>,
) -> std::process::ExitCode {
    if let Ok(Err(serve_error)) = metrics_server.await {
        warn!(error = %serve_error, "metrics server failed");
    }
    match grpc.await {
        Ok(Ok(())) => {
            info!("worker stopped");
            std::process::ExitCode::SUCCESS
        }
        Ok(Err(grpc_error)) => {
            error!(error = %grpc_error, "grpc server failed");
            std::process::ExitCode::FAILURE
        }
        Err(join_error) => {
            error!(error = %join_error, "grpc server task failed");
            std::process::ExitCode::FAILURE
        }
    }
}
