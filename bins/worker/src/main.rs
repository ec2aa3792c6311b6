//! The worker: applies migrations, then drains the Redis queue into ClickHouse in batches, on a
//! gRPC signal (default :50051) or every poll interval; serves `GET /metrics` on
//! `WORKER_METRICS_ADDR` (default 127.0.0.1:9091). `worker dead-letters ...` runs operator commands
//! instead (see [`operator`]).

mod metered;
mod operator;

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use application::ports::{LogWriter, QueueConsumer};
use application::{DrainSettings, DrainTrigger, DrainUseCase, RetentionUseCase};
use clickhouse_adapter::{
    ClickHouseConfig, ClickHouseLogStore, ClickHouseRetention, apply_migrations,
};
use grpc_adapter::{SharedToken, WorkerHealth};
use redis_adapter::{RedisConfig, RedisLogQueue};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::metered::{MeteredQueue, MeteredRetention, MeteredStore};

/// How often the queue's sizes are read for the metrics.
const QUEUE_SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// Every setting, named after its environment variable (see `.env.example`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
struct Settings {
    worker_grpc_listen: SocketAddr,
    /// The token Drain calls must carry; empty: none is required.
    #[serde(deserialize_with = "service_runtime::secret_text")]
    worker_grpc_token: String,
    /// Where `GET /metrics` is served (Prometheus text format).
    worker_metrics_addr: SocketAddr,
    /// Names this worker's processing list; keep it stable across restarts.
    worker_id: String,
    worker_batch_size: NonZeroUsize,
    /// How long a short batch may wait to fill, measured from its oldest event.
    worker_batch_timeout_ms: u64,
    worker_poll_interval_ms: u64,
    /// How long this worker's lease lasts without a heartbeat; after that other workers take
    /// over the batches it holds.
    worker_lease_ms: u64,
    redis_url: String,
    redis_queue_key: String,
    clickhouse_url: String,
    clickhouse_database: String,
    clickhouse_user: String,
    clickhouse_password: String,
    clickhouse_insert_timeout_ms: u64,
    /// Days of logs to keep; older days are dropped whole, hourly. Unset: keep everything.
    log_retention_days: Option<NonZeroU32>,
}

impl Default for Settings {
    fn default() -> Self {
        let redis = RedisConfig::default();
        let clickhouse = ClickHouseConfig::default();
        Self {
            // Loopback: only this machine reaches the port unless told otherwise.
            worker_grpc_listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            worker_grpc_token: String::new(),
            worker_metrics_addr: SocketAddr::from(([127, 0, 0, 1], 9091)),
            worker_id: hostname(),
            worker_batch_size: DrainSettings::default().batch_size,
            worker_batch_timeout_ms: 50,
            worker_poll_interval_ms: 5_000,
            worker_lease_ms: redis.lease_ms,
            redis_url: redis.url,
            redis_queue_key: redis.queue_key,
            clickhouse_url: clickhouse.url,
            clickhouse_database: clickhouse.database,
            clickhouse_user: clickhouse.user,
            clickhouse_password: clickhouse.password,
            clickhouse_insert_timeout_ms: clickhouse.insert_timeout_ms,
            log_retention_days: None,
        }
    }
}

impl Settings {
    fn redis(&self) -> RedisConfig {
        RedisConfig {
            url: self.redis_url.clone(),
            queue_key: self.redis_queue_key.clone(),
            lease_ms: self.worker_lease_ms,
            ..RedisConfig::default()
        }
    }

    fn clickhouse(&self) -> ClickHouseConfig {
        ClickHouseConfig {
            url: self.clickhouse_url.clone(),
            database: self.clickhouse_database.clone(),
            user: self.clickhouse_user.clone(),
            password: self.clickhouse_password.clone(),
            insert_timeout_ms: self.clickhouse_insert_timeout_ms,
            ..ClickHouseConfig::default()
        }
    }

    fn drain(&self) -> DrainSettings {
        let lease = Duration::from_millis(self.worker_lease_ms.max(3));
        DrainSettings {
            batch_size: self.worker_batch_size,
            batch_timeout: Duration::from_millis(self.worker_batch_timeout_ms),
            poll_interval: Duration::from_millis(self.worker_poll_interval_ms),
            heartbeat_interval: lease / 3,
            reclaim_interval: lease / 2,
            ..DrainSettings::default()
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "worker".into())
}

#[tokio::main]
async fn main() -> ExitCode {
    let settings: Settings = match service_runtime::load_settings() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("worker: invalid configuration: {error}");
            return ExitCode::from(2);
        }
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
        Err(invalid) => {
            eprintln!("worker: invalid configuration: {invalid}");
            return ExitCode::from(2);
        }
    };
    if command != operator::Command::Serve {
        return operator::run(command, &queue).await;
    }
    let token = match SharedToken::from_setting(&settings.worker_grpc_token) {
        Ok(token) => token,
        Err(invalid) => {
            eprintln!("worker: invalid configuration: WORKER_GRPC_TOKEN: {invalid}");
            return ExitCode::from(2);
        }
    };
    service_runtime::init_tracing("worker");
    if token.is_none() && !settings.worker_grpc_listen.ip().is_loopback() {
        warn!(
            addr = %settings.worker_grpc_listen,
            "gRPC port open to the network without WORKER_GRPC_TOKEN: anyone who can reach it \
             can make this worker drain"
        );
    }
    let metrics = match service_runtime::install_metrics() {
        Ok(metrics) => metrics,
        Err(metrics_error) => {
            error!(error = %metrics_error, "cannot install the metrics recorder");
            return ExitCode::FAILURE;
        }
    };
    metered::describe();
    let shutdown = service_runtime::shutdown_on_signal();
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
    let metrics_server = tokio::spawn(http_adapter::serve(
        metrics_listener,
        http_adapter::metrics_app(metrics.renderer()),
        shutdown.clone().cancelled_owned(),
        Duration::from_secs(1),
    ));
    tokio::spawn(metered::sample_queue(
        queue.clone(),
        QUEUE_SAMPLE_INTERVAL,
        shutdown.clone(),
    ));

    let store = Arc::new(ClickHouseLogStore::new(&settings.clickhouse()));
    let health = WorkerHealth::new();
    tokio::spawn(report_dependencies(
        health.clone(),
        queue.clone(),
        store.clone(),
        shutdown.clone(),
    ));
    if let Some(keep_days) = settings.log_retention_days {
        let retention = RetentionUseCase::new(
            Arc::new(MeteredRetention(Arc::new(ClickHouseRetention::new(
                &settings.clickhouse(),
            )))),
            keep_days,
        );
        info!(
            keep_days = keep_days.get(),
            "retention on: older days are dropped hourly"
        );
        tokio::spawn({
            let shutdown = shutdown.clone();
            async move { retention.run(Duration::from_secs(3600), shutdown).await }
        });
    }
    let drain = DrainUseCase::new(
        Arc::new(MeteredQueue(queue)),
        Arc::new(MeteredStore(store)),
        settings.drain(),
    );
    let trigger = DrainTrigger::new();
    let grpc = tokio::spawn(grpc_adapter::serve_worker_with_health(
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

/// Keeps the worker's gRPC health current: `<service>/redis` and `<service>/clickhouse` say which
/// dependency answers, and the worker as a whole is NOT_SERVING while either is down.
async fn report_dependencies(
    health: WorkerHealth,
    queue: Arc<RedisLogQueue>,
    store: Arc<ClickHouseLogStore>,
    shutdown: CancellationToken,
) {
    let mut every = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                health.set_not_serving().await;
                return;
            }
            _ = every.tick() => {}
        }
        let (queue_up, store_up) = tokio::join!(queue.health(), store.health());
        health.set_component("redis", queue_up.is_ok()).await;
        health.set_component("clickhouse", store_up.is_ok()).await;
        metered::record_dependency("redis", queue_up.is_ok());
        metered::record_dependency("clickhouse", store_up.is_ok());
        if queue_up.is_ok() && store_up.is_ok() {
            health.set_serving().await;
        } else {
            health.set_not_serving().await;
        }
    }
}

/// Applies the schema, retrying while ClickHouse is not reachable yet (e.g. still starting).
/// False when it cannot succeed or shutdown came first.
async fn migrate(config: &ClickHouseConfig, shutdown: &CancellationToken) -> bool {
    let mut delay = Duration::from_millis(200);
    loop {
        match apply_migrations(config).await {
            Ok(applied) => {
                for migration in &applied {
                    info!(migration = ?migration, "applied migration");
                }
                return true;
            }
            Err(failure) if failure.is_retryable() => {
                warn!(error = %failure, retry_in_ms = delay.as_millis() as u64, "clickhouse not ready for migrations");
            }
            Err(failure) => {
                error!(error = %failure, cause = ?failure, "migrations failed");
                return false;
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return false,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
