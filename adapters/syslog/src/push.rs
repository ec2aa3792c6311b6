//! What both listeners do with frames: parse and map them, count and log the refused ones, and
//! push the rest through the `IngestUseCase` (one push per read), retrying a push the queue
//! refused until it succeeds or the shutdown grace is over. While a push is retried the
//! listener reads nothing more: over TCP the sender is held back by flow control.

use std::time::Duration;

use application::{Backoff, IngestError, IngestUseCase};
use domain::LogEventDraft;
use metrics::counter;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use crate::mapping::to_draft;
use crate::parse::parse;

// The ingestion service's event counters (described by the HTTP adapter with the others).
const EVENTS_ACCEPTED: &str = "logpipeline_ingest_events_accepted_total";
const EVENTS_REJECTED: &str = "logpipeline_ingest_events_rejected_total";

/// First and longest wait between attempts of a push the queue refused (with jitter).
const FIRST_RETRY: Duration = Duration::from_millis(50);
const LONGEST_RETRY: Duration = Duration::from_secs(2);

/// The listener a line came through, as the metrics' `source` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Self::Tcp => "syslog_tcp",
            Self::Udp => "syslog_udp",
        }
    }
}

/// Counts lines refused before they became events (`malformed_frame`, `malformed_syslog`).
pub(crate) fn count_refused(transport: Transport, reason: &'static str) {
    counter!(EVENTS_REJECTED, "source" => transport.label(), "reason" => reason).increment(1);
}

/// Frames of one read turned into drafts; refused frames are counted and logged, not kept.
#[derive(Debug)]
pub(crate) struct Batch {
    transport: Transport,
    peer: String,
    received_at: OffsetDateTime,
    pub(crate) drafts: Vec<LogEventDraft>,
}

impl Batch {
    pub(crate) fn new(transport: Transport, peer: String) -> Self {
        Self {
            transport,
            peer,
            received_at: OffsetDateTime::now_utc(),
            drafts: Vec::new(),
        }
    }

    /// Parses a frame into the batch, or counts and logs its refusal.
    pub(crate) fn add_frame(&mut self, frame: &[u8]) {
        match parse(frame, self.received_at) {
            Ok(message) => self.drafts.push(to_draft(message)),
            Err(refusal) => {
                count_refused(self.transport, "malformed_syslog");
                warn!(source = self.transport.label(), peer = %self.peer, error = %refusal, "syslog line refused");
            }
        }
    }

    /// Counts and logs bytes that were not a frame.
    pub(crate) fn refuse_frame(&self, refusal: &dyn std::fmt::Display) {
        count_refused(self.transport, "malformed_frame");
        warn!(source = self.transport.label(), peer = %self.peer, error = %refusal, "syslog frame refused");
    }
}

/// Pushes the batch's drafts (in pushes of at most `max_events`), retrying each refused push
/// until the queue takes it or `abandon` fires. Returns how many drafts were abandoned (0 unless
/// the shutdown grace ran out).
pub(crate) async fn push(
    ingest: &IngestUseCase,
    batch: Batch,
    max_events: usize,
    abandon: &CancellationToken,
) -> usize {
    let Batch {
        transport,
        peer,
        drafts,
        ..
    } = batch;
    let mut remaining = drafts;
    while !remaining.is_empty() {
        let rest = remaining.split_off(remaining.len().min(max_events.max(1)));
        let chunk = std::mem::replace(&mut remaining, rest);
        let chunk_lines = chunk.len();
        if !push_chunk(ingest, chunk, transport, &peer, abandon).await {
            let lost = chunk_lines + remaining.len();
            error!(source = transport.label(), peer = %peer, lines = lost, "shutdown grace over; syslog lines not queued");
            counter!(EVENTS_REJECTED, "source" => transport.label(), "reason" => "shutdown")
                .increment(lost as u64);
            return lost;
        }
    }
    0
}

/// One push, retried; false when abandoned (the chunk's lines are counted as lost).
async fn push_chunk(
    ingest: &IngestUseCase,
    chunk: Vec<LogEventDraft>,
    transport: Transport,
    peer: &str,
    abandon: &CancellationToken,
) -> bool {
    let mut backoff = Backoff::new(FIRST_RETRY, LONGEST_RETRY);
    loop {
        match ingest.ingest_batch(chunk.clone(), None).await {
            Ok(outcome) => {
                counter!(EVENTS_ACCEPTED, "source" => transport.label())
                    .increment(outcome.accepted.len() as u64);
                for rejected in &outcome.rejected {
                    counter!(EVENTS_REJECTED, "source" => transport.label(), "reason" => "invalid_field")
                        .increment(1);
                    warn!(source = transport.label(), peer = %peer, field = rejected.error.field(), error = %rejected.error, "syslog line refused");
                }
                return true;
            }
            Err(IngestError::Queue(refusal)) => {
                warn!(source = transport.label(), peer = %peer, lines = chunk.len(), error = %refusal, "queue refused syslog lines; holding them and reading nothing more until it takes them");
            }
            Err(IngestError::Invalid(invalid)) => {
                // A batch reports invalid events one by one; this cannot happen, but must not loop.
                error!(source = transport.label(), error = %invalid, "unexpected validation failure of a batch");
                return true;
            }
        }
        tokio::select! {
            () = abandon.cancelled() => return false,
            () = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}
