//! The worker's health as its gRPC health service and its metrics report it: which dependency
//! answers.

use std::sync::Arc;
use std::time::Duration;

use application::ports::{LogWriter, QueueConsumer};
use clickhouse_adapter::ClickHouseLogStore;
use grpc_adapter::WorkerHealth;
use redis_adapter::RedisLogQueue;
use tokio_util::sync::CancellationToken;

use crate::metered;

/// Keeps the worker's gRPC health current: `<service>/redis` and `<service>/clickhouse` say which
/// dependency answers, and the worker as a whole is NOT_SERVING while either is down.
pub(crate) async fn report_dependencies(
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
