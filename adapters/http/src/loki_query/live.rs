//! `/loki/api/v1/tail`: Loki's live tail over WebSocket, what Grafana's "Live" button opens.
//!
//! As Loki does, it first sends the newest `limit` (100) stored entries since `start` (an hour
//! ago by default), then every new matching entry as it is stored, each message
//! `{"streams":[...],"dropped_entries":null}`. New entries come from the query service's one
//! tail poller (`QueryUseCase::tail`), so a thousand open tails cost the store what one does.
//! A WebSocket ping goes out every heartbeat interval (`QUERY_TAIL_HEARTBEAT_MS`). A client too
//! slow to keep up gets `dropped_entries` with one item per skipped entry (their labels and
//! times are not known: empty labels, the time of the notice). `delay_for` (0 to 5 seconds) is
//! accepted and has no effect: entries are sent once stored.

use std::collections::HashSet;

use application::{QueryUseCase, TailItem, TailSubscription};
use domain::{EventId, FilterDraft, LineParser, LogEvent, Timestamp};
use futures_util::{SinkExt, StreamExt};
use poem::web::websocket::{CloseCode, Message, WebSocket, WebSocketStream};
use poem::{FromRequest, IntoResponse, Request, Response};
use serde::Serialize;
use tracing::{debug, warn};

use crate::loki_query::answer::{LokiError, Stream};
use crate::loki_query::params::{Params, parse_duration, parse_time};
use crate::loki_query::query::{log_selection, selection_draft};
use crate::loki_query::streams::group_into_streams;

/// Loki's ceiling on `delay_for`, in seconds.
const MAX_DELAY_FOR_SECONDS: u64 = 5;
/// At most this many `dropped_entries` items in one notice.
const MAX_DROPPED_LISTED: u64 = 1000;

/// One message of the tail.
#[derive(Debug, Serialize)]
struct TailMessage {
    streams: Vec<Stream>,
    dropped_entries: Option<Vec<DroppedEntry>>,
}

#[derive(Debug, Serialize)]
struct DroppedEntry {
    labels: std::collections::BTreeMap<String, String>,
    timestamp: String,
}

/// Checks the request, subscribes and reads the stored entries, then upgrades the connection.
/// Problems found before the upgrade are answered as plain-text errors.
pub(crate) async fn tail(
    query: &QueryUseCase,
    request: &Request,
    params: &Params,
) -> Result<Response, LokiError> {
    let selection = log_selection(params.query()?)?;
    let limit = params.limit()?;
    if let Some(delay) = params.get("delay_for") {
        let nanos = parse_duration(delay, "delay_for")?;
        if nanos > MAX_DELAY_FOR_SECONDS * 1_000_000_000 {
            return Err(LokiError::parameter(
                "delay_for",
                "delay_for can't be greater than 5",
            ));
        }
    }
    let now = Timestamp::now();
    let start = match params.get("start") {
        Some(text) => parse_time(text, "start")?,
        None => Timestamp::from_unix_nanos(
            now.unix_nanos()
                .saturating_sub(super::params::DEFAULT_SINCE_NANOS),
        ),
    };
    let parser = selection.parser;
    let conditions = selection_draft(selection)?;
    // Subscribed before the stored entries are read: an entry stored in between comes from
    // the poller, and is skipped there when the read already had it.
    let subscription = query
        .tail(conditions.clone())
        .await
        .map_err(LokiError::query)?;
    let stored = query
        .query(FilterDraft {
            from: Some(start.to_rfc3339()),
            limit: Some(limit.to_string()),
            order: Some("desc".to_owned()),
            ..conditions
        })
        .await
        .map_err(LokiError::query)?;
    let websocket = WebSocket::from_request_without_body(request)
        .await
        .map_err(|error| {
            LokiError::bad_request(format!("the tail needs a WebSocket connection: {error}"))
        })?;
    let mut backfill = stored.logs;
    backfill.reverse();
    Ok(websocket
        .on_upgrade(move |socket| follow(socket, backfill, subscription, parser))
        .into_response())
}

/// Sends the stored entries, then the new ones, until the client leaves or the service stops.
async fn follow(
    socket: WebSocketStream,
    backfill: Vec<LogEvent>,
    mut subscription: TailSubscription,
    parser: Option<LineParser>,
) {
    let (mut sink, mut incoming) = socket.split();
    let sent: HashSet<EventId> = backfill.iter().map(LogEvent::id).collect();
    if !backfill.is_empty() && send_entries(&mut sink, &backfill, parser).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            item = subscription.next() => {
                let outcome = match item {
                    None => {
                        let _ = sink
                            .send(Message::Close(Some((CloseCode::Away, "the service is stopping".to_owned()))))
                            .await;
                        return;
                    }
                    Some(Ok(TailItem::Log(event))) if sent.contains(&event.id()) => Ok(()),
                    Some(Ok(TailItem::Log(event))) => send_entries(&mut sink, std::slice::from_ref(&event), parser).await,
                    Some(Ok(TailItem::Heartbeat(_))) => sink
                        .send(Message::Ping(Vec::new()))
                        .await
                        .map_err(|_| ClientGone),
                    Some(Ok(TailItem::Skipped(count))) => send_dropped(&mut sink, count).await,
                    Some(Err(error)) => {
                        warn!(error = %error, "loki tail failed");
                        let _ = sink
                            .send(Message::Close(Some((CloseCode::Error, "the log store cannot answer now; retry later".to_owned()))))
                            .await;
                        return;
                    }
                };
                if outcome.is_err() {
                    debug!("loki tail client went away");
                    return;
                }
            }
            message = incoming.next() => match message {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                // Pongs and anything a client sends are not requests.
                Some(Ok(_)) => {}
            },
        }
    }
}

type Sink = futures_util::stream::SplitSink<WebSocketStream, Message>;

async fn send_entries(
    sink: &mut Sink,
    events: &[LogEvent],
    parser: Option<LineParser>,
) -> Result<(), ClientGone> {
    send_json(
        sink,
        &TailMessage {
            streams: group_into_streams(events, parser),
            dropped_entries: None,
        },
    )
    .await
}

async fn send_dropped(sink: &mut Sink, count: u64) -> Result<(), ClientGone> {
    let timestamp = Timestamp::now().unix_nanos().to_string();
    let dropped = (0..count.min(MAX_DROPPED_LISTED))
        .map(|_| DroppedEntry {
            labels: Default::default(),
            timestamp: timestamp.clone(),
        })
        .collect();
    send_json(
        sink,
        &TailMessage {
            streams: Vec::new(),
            dropped_entries: Some(dropped),
        },
    )
    .await
}

async fn send_json<T: Serialize>(sink: &mut Sink, message: &T) -> Result<(), ClientGone> {
    let text = serde_json::to_string(message).map_err(|error| {
        warn!(error = %error, "loki tail message could not be written");
        ClientGone
    })?;
    sink.send(Message::Text(text)).await.map_err(|_| ClientGone)
}

/// The message could not be sent: the client went away (or it could not be written).
#[derive(Debug)]
struct ClientGone;
