//! The worker's gRPC server: the `Worker` service, whose Drain call wakes the drain loop, and
//! the standard gRPC health service next to it.

use std::future::Future;

use application::DrainTrigger;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};
use tracing::{debug, info};

use crate::GrpcError;
use crate::proto::worker_server::{self, Worker, WorkerServer};
use crate::proto::{DrainReply, DrainRequest};
use crate::token::{RequireToken, SharedToken};

/// The fully qualified name of the Worker service, as health checks (e.g. `grpc_health_probe
/// -service=...`) ask for it.
pub const WORKER_SERVICE_NAME: &str = worker_server::SERVICE_NAME;

/// The health the worker reports over `grpc.health.v1.Health`, for the server as a whole (`""`)
/// and for [`WORKER_SERVICE_NAME`]. Cheap to clone; every clone flips the same status.
#[derive(Debug, Clone, Default)]
pub struct WorkerHealth {
    reporter: HealthReporter,
}

impl WorkerHealth {
    /// A health handle to pass to [`serve_worker`], which reports SERVING once the
    /// server runs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports SERVING for the server and the Worker service.
    pub async fn set_serving(&self) {
        self.set(ServingStatus::Serving).await;
    }

    /// Reports NOT_SERVING for the server and the Worker service, e.g. while the worker cannot
    /// reach its queue or when it starts to shut down.
    pub async fn set_not_serving(&self) {
        self.set(ServingStatus::NotServing).await;
    }

    /// Reports whether a dependency of the worker (e.g. `redis`, `clickhouse`) answers, as the
    /// health service name `<WORKER_SERVICE_NAME>/<component>`, so that a health check names
    /// what is down: `grpc_health_probe -service=logpipeline.worker.v1.Worker/clickhouse`.
    pub async fn set_component(&self, component: &str, up: bool) {
        let status = if up {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.reporter
            .set_service_status(format!("{WORKER_SERVICE_NAME}/{component}"), status)
            .await;
    }

    async fn set(&self, status: ServingStatus) {
        for service in ["", WORKER_SERVICE_NAME] {
            self.reporter.set_service_status(service, status).await;
        }
    }

    fn service(&self) -> HealthServer<HealthService> {
        HealthServer::new(HealthService::from_health_reporter(self.reporter.clone()))
    }
}

/// Serves the Worker and health services on `listener` until `shutdown` completes, then stops
/// accepting and lets calls in flight finish. `health` is a handle the caller keeps to flip the
/// reported status, `token` what Drain calls must carry (`None`: any call is answered). Sets
/// SERVING when the server starts. The health service never needs the token.
pub async fn serve_worker(
    listener: TcpListener,
    trigger: DrainTrigger,
    health: WorkerHealth,
    token: Option<SharedToken>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GrpcError> {
    serve(
        listener,
        DrainService::new(trigger),
        health,
        token,
        shutdown,
    )
    .await
}

/// The one serving path, generic over the Worker implementation so that tests can wrap
/// [`DrainService`] to count calls.
pub(crate) async fn serve<W: Worker>(
    listener: TcpListener,
    worker: W,
    health: WorkerHealth,
    token: Option<SharedToken>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GrpcError> {
    let local_addr = listener.local_addr().ok();
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    health.set_serving().await;
    debug!(addr = ?local_addr, "grpc server starting");
    Server::builder()
        .add_service(health.service())
        .add_service(WorkerServer::with_interceptor(worker, RequireToken(token)))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(GrpcError::Serve)?;
    info!(addr = ?local_addr, "grpc server stopped");
    Ok(())
}

/// The Worker service: each Drain call wakes the drain loop. Wakes coalesce in the trigger, so
/// a flood of calls costs the worker one more pass over the queue, not one pass per call.
#[derive(Debug, Clone)]
pub(crate) struct DrainService {
    trigger: DrainTrigger,
}

impl DrainService {
    pub(crate) fn new(trigger: DrainTrigger) -> Self {
        Self { trigger }
    }
}

#[tonic::async_trait]
impl Worker for DrainService {
    async fn drain(&self, request: Request<DrainRequest>) -> Result<Response<DrainReply>, Status> {
        let coalesced_requests = request.get_ref().coalesced_requests;
        self.trigger.wake();
        debug!(coalesced_requests, "drain requested");
        Ok(Response::new(DrainReply { scheduled: true }))
    }
}
