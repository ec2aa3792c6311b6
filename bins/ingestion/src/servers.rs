//! The ingestion service's listeners: HTTP (every HTTP protocol on one port), OTLP/gRPC and
//! syslog. All are bound before any is served, so a port that cannot be had stops the service
//! at start; then they run together until shutdown, and one that fails stops the others.

use std::net::SocketAddr;
use std::process::ExitCode;

use application::IngestUseCase;
use http_adapter::ApiKeys;
use otlp_grpc_adapter::OtlpGrpcConfig;
use syslog_adapter::{SyslogConfig, SyslogListeners};
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

/// Every listener of the service, bound.
pub(crate) struct Servers {
    http: std::net::TcpListener,
    otlp_grpc: Option<tokio::net::TcpListener>,
    syslog: SyslogListeners,
}

/// Binds HTTP on `http_addr`, OTLP/gRPC on `otlp_grpc_addr` (`None`: off) and the syslog
/// listeners `syslog` names; `None`, logged with the variable, when a port cannot be bound.
pub(crate) async fn bind(
    http_addr: SocketAddr,
    otlp_grpc_addr: Option<SocketAddr>,
    syslog: SyslogConfig,
) -> Option<Servers> {
    let otlp_grpc = match otlp_grpc_addr {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => Some(listener),
            Err(bind_error) => {
                error!(addr = %addr, error = %bind_error, "cannot bind OTLP_GRPC_ADDR");
                return None;
            }
        },
        None => {
            info!("OTLP/gRPC is off (OTLP_GRPC_ADDR=off)");
            None
        }
    };
    let syslog = match SyslogListeners::bind(syslog) {
        Ok(listeners) => listeners,
        Err(bind_error) => {
            error!(error = %bind_error, "cannot bind SYSLOG_TCP_ADDR / SYSLOG_UDP_ADDR");
            return None;
        }
    };
    let http = match std::net::TcpListener::bind(http_addr) {
        Ok(listener) => listener,
        Err(bind_error) => {
            error!(addr = %http_addr, error = %bind_error, "cannot bind INGESTION_ADDR");
            return None;
        }
    };
    Some(Servers {
        http,
        otlp_grpc,
        syslog,
    })
}

impl Servers {
    /// Serves until `shutdown` is cancelled (or one server fails, which cancels it): HTTP as
    /// `serve_http` does on its listener, OTLP/gRPC with `keys` and `otlp_grpc`, syslog. Success
    /// when every server stopped cleanly.
    pub(crate) async fn run<H>(
        self,
        ingest: IngestUseCase,
        serve_http: impl FnOnce(std::net::TcpListener) -> H,
        (keys, otlp_grpc): (ApiKeys, OtlpGrpcConfig),
        shutdown: &CancellationToken,
    ) -> ExitCode
    where
        H: Future<Output = std::io::Result<()>>,
    {
        let otlp_grpc = self.otlp_grpc.map(|listener| {
            otlp_grpc_adapter::serve_otlp_grpc(
                listener,
                ingest.clone(),
                keys,
                otlp_grpc,
                shutdown.clone().cancelled_owned(),
            )
        });
        // The syslog listeners push what they already received before the process ends.
        let syslog = self.syslog.serve(ingest, shutdown.clone());
        let http = serve_http(self.http);
        let otlp_grpc = async {
            match otlp_grpc {
                Some(server) => server.await,
                None => Ok(()),
            }
        };
        let (http, otlp_grpc, syslog) = tokio::join!(
            stops_all_on_failure(http, "ingestion service", shutdown),
            stops_all_on_failure(otlp_grpc, "otlp/grpc server", shutdown),
            stops_all_on_failure(syslog, "syslog listeners", shutdown),
        );
        if http && otlp_grpc && syslog {
            info!("ingestion service stopped");
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// Runs one server; when it fails, logs why and stops the others. True when it stopped cleanly.
async fn stops_all_on_failure<E: std::fmt::Display>(
    server: impl Future<Output = Result<(), E>>,
    name: &str,
    shutdown: &CancellationToken,
) -> bool {
    let served = server.await;
    if let Err(serve_error) = &served {
        error!(server = name, error = %serve_error, "server failed");
        shutdown.cancel();
    }
    served.is_ok()
}
