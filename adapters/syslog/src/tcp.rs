//! The TCP listener: one task per connection reads, splits frames (RFC 6587), and pushes each
//! read's lines with one push before reading on. A push the queue refuses is retried while the
//! connection is not read, so the kernel's buffers fill and TCP flow control holds the sender
//! back: nothing is dropped to keep up.
//!
//! On shutdown the listener stops accepting; each connection reads what the kernel already
//! holds for it (bytes TCP acknowledged to the sender), pushes it within the shutdown grace and
//! closes. Syslog over TCP has no acknowledgement of its own: a TCP acknowledgement is all a
//! sender gets, so that is what "acknowledged" means here.

use std::net::SocketAddr;
use std::sync::Arc;

use application::IngestUseCase;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::framing::FrameDecoder;
use crate::push::{Batch, Transport, push};

const READ_BUFFER_BYTES: usize = 64 * 1024;

/// What every connection needs.
#[derive(Debug)]
pub(crate) struct Connections {
    pub(crate) ingest: IngestUseCase,
    pub(crate) max_frame_bytes: usize,
    pub(crate) max_batch_events: usize,
    /// Fired when shutdown is requested: stop reading from the network.
    pub(crate) shutdown: CancellationToken,
    /// Fired when the shutdown grace is over: stop retrying pushes.
    pub(crate) abandon: CancellationToken,
}

/// Accepts connections until shutdown, then waits for every connection to finish.
pub(crate) async fn serve(listener: TcpListener, connections: Arc<Connections>) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            () = connections.shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    debug!(%peer, "syslog tcp connection");
                    tasks.spawn(read_connection(stream, peer, Arc::clone(&connections)));
                }
                Err(accept_error) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    warn!(error = %accept_error, "syslog tcp accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    // Connections the kernel completed but nobody accepted yet may hold acknowledged bytes too.
    while let Ok(Ok((stream, peer))) =
        tokio::time::timeout(std::time::Duration::ZERO, listener.accept()).await
    {
        tasks.spawn(read_connection(stream, peer, Arc::clone(&connections)));
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
    info!("syslog tcp listener stopped");
}

async fn read_connection(stream: TcpStream, peer: SocketAddr, connections: Arc<Connections>) {
    let peer_text = peer.to_string();
    let mut decoder = FrameDecoder::new(connections.max_frame_bytes);
    let mut buffer = vec![0_u8; READ_BUFFER_BYTES];
    let mut open = true;
    while open {
        let read = tokio::select! {
            biased;
            () = connections.shutdown.cancelled() => break,
            read = read_some(&stream, &mut buffer) => read,
        };
        match read {
            Ok(0) => open = false,
            Ok(length) => decoder.extend(&buffer[..length]),
            Err(read_error) => {
                warn!(peer = %peer_text, error = %read_error, "syslog tcp read failed");
                open = false;
            }
        }
        let batch = frames(&mut decoder, !open, &peer_text);
        push(
            &connections.ingest,
            batch,
            connections.max_batch_events,
            &connections.abandon,
        )
        .await;
    }
    if open {
        // Shutdown: what the kernel holds was acknowledged to the sender; read it without
        // waiting for more.
        loop {
            match stream.try_read(&mut buffer) {
                Ok(0) => break,
                Ok(length) => decoder.extend(&buffer[..length]),
                Err(_) => break,
            }
        }
        let batch = frames(&mut decoder, true, &peer_text);
        push(
            &connections.ingest,
            batch,
            connections.max_batch_events,
            &connections.abandon,
        )
        .await;
    }
    debug!(peer = %peer_text, "syslog tcp connection closed");
}

/// Waits for bytes and reads what is there (0: the peer closed).
async fn read_some(stream: &TcpStream, buffer: &mut [u8]) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buffer) {
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
            read => return read,
        }
    }
}

/// The complete frames the decoder holds (and, at the end of the stream, the last one).
fn frames(decoder: &mut FrameDecoder, at_end: bool, peer: &str) -> Batch {
    let mut batch = Batch::new(Transport::Tcp, peer.to_owned());
    while let Some(item) = decoder.next_frame() {
        match item {
            Ok(frame) => batch.add_frame(&frame),
            Err(refusal) => batch.refuse_frame(&refusal),
        }
    }
    if at_end {
        match decoder.finish() {
            Some(Ok(frame)) => batch.add_frame(&frame),
            Some(Err(refusal)) => batch.refuse_frame(&refusal),
            None => {}
        }
    }
    batch
}
