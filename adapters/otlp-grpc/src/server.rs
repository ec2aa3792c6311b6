//! Serving the logs and health services on a bound listener until shutdown.

use std::future::Future;
use std::sync::Arc;

use application::IngestUseCase;
use http_adapter::ApiKeys;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::LogsServiceServer;
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tracing::info;

use crate::OtlpGrpcConfig;
use crate::guard::Guarded;
use crate::health::queue_health;
use crate::service::LogsReceiver;

/// Serves `LogsService/Export` and `grpc.health.v1.Health` on `listener` until `shutdown`
/// completes, then stops accepting and lets calls in flight finish. Export needs a key of scope
/// `ingest` when `keys` has any; messages may be gzip-compressed.
pub async fn serve_otlp_grpc(
    listener: TcpListener,
    ingest: IngestUseCase,
    keys: ApiKeys,
    config: OtlpGrpcConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let local_addr = listener.local_addr().ok();
    let (health, health_task) = queue_health(ingest.clone(), config.health_interval).await;
    let logs = LogsServiceServer::new(LogsReceiver {
        ingest,
        max_records: config.max_records,
    })
    .accept_compressed(CompressionEncoding::Gzip)
    .max_decoding_message_size(config.max_message_bytes);
    let logs = Guarded::new(logs, Arc::new(keys), config.max_message_bytes);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    info!(addr = ?local_addr, "otlp/grpc listening");
    let served = Server::builder()
        .add_service(health)
        .add_service(logs)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    health_task.abort();
    info!(addr = ?local_addr, "otlp/grpc stopped");
    served
}
