//! The UDP listener: one message per datagram. Datagrams that arrived together are pushed with
//! one push. UDP has no acknowledgement and no flow control: a datagram can be lost on the way,
//! or in the kernel's receive buffer while a refused push is retried; neither can be seen or
//! counted here. What is counted is what this listener refuses.

use std::sync::Arc;

use tokio::net::UdpSocket;
use tracing::{info, warn};

use crate::push::{Batch, Transport, push};
use crate::tcp::Connections;

/// The largest UDP payload.
const DATAGRAM_BYTES: usize = 65_536;

/// Receives datagrams until shutdown.
pub(crate) async fn serve(socket: UdpSocket, settings: Arc<Connections>) {
    let mut buffer = vec![0_u8; DATAGRAM_BYTES];
    loop {
        let received = tokio::select! {
            biased;
            () = settings.shutdown.cancelled() => break,
            received = socket.recv_from(&mut buffer) => received,
        };
        let (length, peer) = match received {
            Ok(received) => received,
            Err(receive_error) => {
                warn!(error = %receive_error, "syslog udp receive failed");
                continue;
            }
        };
        let mut batch = Batch::new(Transport::Udp, peer.to_string());
        add_datagram(&mut batch, &buffer[..length], settings.max_frame_bytes);
        // Whatever else has arrived goes into the same push.
        while batch.drafts.len() < settings.max_batch_events {
            match socket.try_recv_from(&mut buffer) {
                Ok((length, _)) => {
                    add_datagram(&mut batch, &buffer[..length], settings.max_frame_bytes)
                }
                Err(_) => break,
            }
        }
        push(
            &settings.ingest,
            batch,
            settings.max_batch_events,
            &settings.abandon,
        )
        .await;
    }
    info!("syslog udp listener stopped");
}

fn add_datagram(batch: &mut Batch, datagram: &[u8], max_frame_bytes: usize) {
    if datagram.len() > max_frame_bytes {
        batch.refuse_frame(&format!(
            "datagram of {} bytes refused: the limit is {max_frame_bytes} bytes",
            datagram.len()
        ));
        return;
    }
    batch.add_frame(datagram);
}
