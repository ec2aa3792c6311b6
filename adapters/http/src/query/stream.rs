//! The two streamed answers of the query API: the live tail as server-sent events and the
//! export as NDJSON. Both are pulled by the HTTP connection, so a slow client slows the reading
//! down instead of making the service buffer.

use application::ports::EventCursor;
use application::{QueryError, TailSubscription};
use futures_util::StreamExt;
use futures_util::stream;
use poem::Body;
use poem::web::sse::Event;
use poem_openapi::payload::EventStream;
use poem_openapi::types::ToJSON;
use tracing::warn;

use crate::query::model::{LogRecord, QueryFailure, TailEvents, TailMessage};

/// The subscription's items as server-sent events named after their kind.
pub(crate) fn tail_events(subscription: TailSubscription) -> TailEvents {
    let messages = stream::unfold(subscription, |mut subscription| async move {
        let item = subscription.next().await?;
        Some((TailMessage::from(item), subscription))
    });
    EventStream::new(messages.boxed()).to_event(|message| {
        let kind = message.kind();
        Event::message(message.to_json_string()).event_type(kind)
    })
}

/// The export as NDJSON. The first batch is read before answering, so that a store that is
/// down or too slow gets an error status rather than an empty `200`.
pub(crate) async fn ndjson_export(mut cursor: Box<dyn EventCursor>) -> Result<Body, QueryFailure> {
    let first = cursor
        .next_batch()
        .await
        .map_err(|error| QueryFailure::from(QueryError::Store(error)))?;
    let state = ExportState {
        cursor,
        first: Some(first),
        failed: false,
    };
    let chunks = stream::unfold(state, |mut state| async move {
        if state.failed {
            return None;
        }
        let batch = match state.first.take() {
            Some(batch) => batch,
            None => match state.cursor.next_batch().await {
                Ok(batch) => batch,
                Err(error) => {
                    warn!(error = %error, cause = ?std::error::Error::source(&error), "export ended early");
                    state.failed = true;
                    return Some((Err(std::io::Error::other(error)), state));
                }
            },
        };
        if batch.is_empty() {
            return None;
        }
        Some((ndjson_lines(batch), state))
    });
    Ok(Body::from_bytes_stream(chunks))
}

struct ExportState {
    cursor: Box<dyn EventCursor>,
    first: Option<Vec<domain::LogEvent>>,
    failed: bool,
}

/// One JSON document per event, each on its own line.
fn ndjson_lines(batch: Vec<domain::LogEvent>) -> Result<Vec<u8>, std::io::Error> {
    let mut lines = Vec::with_capacity(batch.len() * 512);
    for event in batch {
        serde_json::to_writer(&mut lines, &LogRecord::from(event))?;
        lines.push(b'\n');
    }
    Ok(lines)
}
