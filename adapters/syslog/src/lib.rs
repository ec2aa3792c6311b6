//! The syslog receiver of the ingestion service: RFC 5424 and RFC 3164 messages over TCP (RFC
//! 6587 octet counting or LF framing, detected per frame) and UDP, each listener off unless
//! given an address. Every line goes through the same `IngestUseCase` as `POST /ingest`.
//!
//! - [`parse`]: frames into syslog messages, no I/O.
//! - [`framing`]: TCP byte streams into frames.
//! - [`mapping`]: messages into event drafts.
//! - the listeners (`tcp`, `udp`) and what they share (`push`).

mod config;
pub mod framing;
pub mod mapping;
pub mod parse;
mod push;
mod tcp;
mod udp;

use std::net::SocketAddr;
use std::sync::Arc;

use application::IngestUseCase;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use config::{DEFAULT_MAX_FRAME_BYTES, SyslogConfig};

/// The bound sockets, ready to serve.
#[derive(Debug)]
pub struct SyslogListeners {
    config: SyslogConfig,
    tcp: Option<std::net::TcpListener>,
    udp: Option<std::net::UdpSocket>,
}

impl SyslogListeners {
    /// Binds the configured addresses (none: nothing listens). Binding happens here, at start,
    /// so a taken port stops the service before it serves anything.
    pub fn bind(config: SyslogConfig) -> std::io::Result<Self> {
        let tcp = config
            .tcp_addr
            .map(std::net::TcpListener::bind)
            .transpose()?;
        let udp = config.udp_addr.map(std::net::UdpSocket::bind).transpose()?;
        Ok(Self { config, tcp, udp })
    }

    /// Where the TCP listener listens (its port when bound to port 0).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|tcp| tcp.local_addr().ok())
    }

    /// Where the UDP listener listens.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp.as_ref().and_then(|udp| udp.local_addr().ok())
    }

    /// Serves until `shutdown` fires, then reads what the kernel holds for each TCP connection
    /// and pushes pending lines for at most the configured grace. Returns when every listener
    /// and connection has finished.
    pub async fn serve(
        self,
        ingest: IngestUseCase,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let abandon = CancellationToken::new();
        let grace = self.config.shutdown_grace;
        let connections = Arc::new(tcp::Connections {
            ingest,
            max_frame_bytes: self.config.max_frame_bytes,
            max_batch_events: self.config.max_batch_events,
            shutdown: shutdown.clone(),
            abandon: abandon.clone(),
        });
        let mut listeners = JoinSet::new();
        if let Some(listener) = self.tcp {
            listener.set_nonblocking(true)?;
            let listener = TcpListener::from_std(listener)?;
            info!(addr = %listener.local_addr()?, "syslog tcp listening");
            listeners.spawn(tcp::serve(listener, Arc::clone(&connections)));
        }
        if let Some(socket) = self.udp {
            socket.set_nonblocking(true)?;
            let socket = UdpSocket::from_std(socket)?;
            info!(addr = %socket.local_addr()?, "syslog udp listening");
            listeners.spawn(udp::serve(socket, Arc::clone(&connections)));
        }
        let deadline = tokio::spawn(async move {
            shutdown.cancelled().await;
            tokio::time::sleep(grace).await;
            abandon.cancel();
        });
        while listeners.join_next().await.is_some() {}
        deadline.abort();
        Ok(())
    }
}
