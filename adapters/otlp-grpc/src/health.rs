//! The standard gRPC health service on the OTLP/gRPC port: SERVING, for the server (`""`) and for
//! the logs service, while the queue answers (what `GET /ready` says over HTTP), else
//! NOT_SERVING. The queue is asked every `health_interval`.

use std::time::Duration;

use application::IngestUseCase;
use tokio::task::JoinHandle;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};
use tracing::warn;

use crate::service::LOGS_SERVICE_NAME;

/// The health service, and the task that keeps it up to date; abort the task when serving ends.
/// The queue is asked once before this returns, so the service knows its status from the first
/// call on.
pub(crate) async fn queue_health(
    ingest: IngestUseCase,
    interval: Duration,
) -> (HealthServer<HealthService>, JoinHandle<()>) {
    let reporter = HealthReporter::new();
    let service = HealthServer::new(HealthService::from_health_reporter(reporter.clone()));
    let mut last = report(&reporter, &ingest, None).await;
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate, and the queue was just asked.
        ticks.tick().await;
        loop {
            ticks.tick().await;
            last = report(&reporter, &ingest, Some(last)).await;
        }
    });
    (service, task)
}

/// Asks the queue and reports the answer when it differs from `last`; returns the status.
async fn report(
    reporter: &HealthReporter,
    ingest: &IngestUseCase,
    last: Option<ServingStatus>,
) -> ServingStatus {
    let status = match ingest.check_ready().await {
        Ok(()) => ServingStatus::Serving,
        Err(error) => {
            if last != Some(ServingStatus::NotServing) {
                warn!(error = %error, "queue unavailable; otlp/grpc health is NOT_SERVING");
            }
            ServingStatus::NotServing
        }
    };
    if last != Some(status) {
        for service in ["", LOGS_SERVICE_NAME] {
            reporter.set_service_status(service, status).await;
        }
    }
    status
}
