//! The JSON document one queued event is stored as, its conversion to and from the domain, and
//! the queue elements that hold those documents.
//!
//! An element of the queue list holds the documents of one or more events pushed together, one
//! per line (NDJSON without a final newline): `redis-cli LRANGE` still shows readable JSON, and
//! an element of one event is the single document versions before queued, so either version
//! drains the other's queue. JSON text never holds a raw newline (serde_json escapes it inside
//! strings), so the lines of an element are exactly its documents.

use std::borrow::Cow;

use domain::limits::EventLimits;
use domain::{
    EventId, Level, LogEvent, LogEventParts, Message, Metadata, ServiceName, SpanId, Timestamp,
    TraceId, ValidationError,
};
use serde::Deserialize;
#[cfg(test)]
use serde::Serialize;

use crate::json_text;

/// The limits queued events are read back with: the widest any configuration may have.
const CEILING: EventLimits = EventLimits::CEILING;

/// One event on the queue. Field names are stable: operators read them with `LRANGE`, and events
/// queued by one version are drained by the next. Written by [`write_document`], which must
/// produce exactly the document `serde_json` makes of this struct. Read with the fields that
/// are only parsed (ids, level, service) borrowed from the element when they hold no escape.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct QueuedEvent<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    /// Nanoseconds since the Unix epoch.
    timestamp: u64,
    observed_timestamp: u64,
    #[serde(borrow)]
    service: Cow<'a, str>,
    #[serde(borrow)]
    level: Cow<'a, str>,
    message: String,
    /// In document order (the encoder writes key order); no map is built on the way.
    #[serde(default, deserialize_with = "entries")]
    #[cfg_attr(test, serde(serialize_with = "entries_as_object"))]
    metadata: Vec<(String, String)>,
    #[serde(borrow)]
    trace_id: Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    span_id: Option<Cow<'a, str>>,
}

/// The entries of a JSON object of strings, in document order.
fn entries<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<(String, String)>, D::Error> {
    struct Entries;
    impl<'de> serde::de::Visitor<'de> for Entries {
        type Value = Vec<(String, String)>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("an object of strings")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
            while let Some(entry) = map.next_entry()? {
                entries.push(entry);
            }
            Ok(entries)
        }
    }
    deserializer.deserialize_map(Entries)
}

#[cfg(test)]
fn entries_as_object<S: serde::Serializer>(
    entries: &[(String, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(entries.iter().map(|(key, value)| (key, value)))
}

/// Why a queued item could not be turned back into an event.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("not a queued event document: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid queued event: {0}")]
    Invalid(#[from] ValidationError),
}

pub(crate) fn encode(event: &LogEvent) -> String {
    // Most documents are a few hundred bytes: one allocation instead of several doublings.
    let mut document = String::with_capacity(256 + event.parts().message.as_str().len());
    write_document(&mut document, event);
    document
}

/// Appends the queue document of `event` to `out`: the bytes `serde_json` writes for the
/// [`QueuedEvent`] of the event (fields in declaration order, metadata in key order, no
/// `span_id` when there is none), written by hand with ids formatted on the stack.
fn write_document(out: &mut String, event: &LogEvent) {
    let parts = event.parts();
    out.push_str("{\"id\":");
    json_text::push_string(out, parts.id.text().as_str());
    out.push_str(",\"timestamp\":");
    json_text::push_u64(out, parts.timestamp.unix_nanos());
    out.push_str(",\"observed_timestamp\":");
    json_text::push_u64(out, parts.observed_timestamp.unix_nanos());
    out.push_str(",\"service\":");
    json_text::push_string(out, parts.service.as_str());
    out.push_str(",\"level\":");
    json_text::push_string(out, parts.level.as_str());
    out.push_str(",\"message\":");
    json_text::push_string(out, parts.message.as_str());
    out.push_str(",\"metadata\":{");
    for (index, (key, value)) in parts.metadata.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        json_text::push_string(out, key);
        out.push(':');
        json_text::push_string(out, value);
    }
    out.push_str("},\"trace_id\":");
    json_text::push_string(out, parts.trace_id.text().as_str());
    if let Some(span_id) = parts.span_id {
        out.push_str(",\"span_id\":");
        json_text::push_string(out, span_id.text().as_str());
    }
    out.push('}');
}

/// Most events in one element: a push of more is split, so that a consumer's batch (which
/// takes whole elements) can come close to its size.
pub(crate) const ELEMENT_MAX_EVENTS: usize = 1_000;

/// An element is closed once it holds this many bytes (a single larger event is an element of
/// its own).
pub(crate) const ELEMENT_MAX_BYTES: usize = 1 << 20;

/// The queue elements holding `events`, in order: one per [`ELEMENT_MAX_EVENTS`] events or
/// [`ELEMENT_MAX_BYTES`] bytes, whichever comes first.
pub(crate) fn encode_elements(events: &[LogEvent]) -> Vec<String> {
    let mut elements = Vec::new();
    let mut element = String::new();
    let mut count = 0;
    for (index, event) in events.iter().enumerate() {
        if count == ELEMENT_MAX_EVENTS || element.len() >= ELEMENT_MAX_BYTES {
            elements.push(std::mem::take(&mut element));
            count = 0;
        }
        if count > 0 {
            element.push('\n');
        }
        write_document(&mut element, event);
        if count == 0 {
            // Room for the rest of the element, guessed from its first document: one
            // allocation instead of a dozen doublings.
            let rest = (events.len() - index - 1).min(ELEMENT_MAX_EVENTS - 1);
            element.reserve(((element.len() + 1) * rest).min(ELEMENT_MAX_BYTES));
        }
        count += 1;
    }
    if count > 0 {
        elements.push(element);
    }
    elements
}

/// The documents of one queue element, in the order they were pushed.
pub(crate) fn documents(element: &str) -> std::str::Split<'_, char> {
    element.split('\n')
}

pub(crate) fn decode(raw: &str) -> Result<LogEvent, DecodeError> {
    let queued: QueuedEvent = serde_json::from_str(raw)?;
    Ok(LogEvent::from_parts(LogEventParts {
        id: EventId::parse(&queued.id)?,
        timestamp: Timestamp::from_unix_nanos(queued.timestamp),
        observed_timestamp: Timestamp::from_unix_nanos(queued.observed_timestamp),
        // Checked against the ceilings: the ingestion service may be configured to accept more
        // than the default limits, and what it queued must still decode.
        service: ServiceName::parse_at_most(
            &queued.service,
            "service",
            CEILING.service_max_chars(),
        )?,
        level: Level::parse(&queued.level)?,
        message: Message::at_most(queued.message, CEILING.message_max_bytes())?,
        metadata: Metadata::from_pairs_with_limits(queued.metadata, &CEILING)?,
        trace_id: TraceId::parse(&queued.trace_id)?,
        span_id: queued.span_id.as_deref().map(SpanId::parse).transpose()?,
    }))
}

/// When the first event of a queue element was received, read without decoding the whole event.
pub(crate) fn received_at(element: &str) -> Option<Timestamp> {
    let raw = documents(element).next()?;
    #[derive(Deserialize)]
    struct Received {
        observed_timestamp: u64,
    }
    serde_json::from_str::<Received>(raw)
        .ok()
        .map(|received| Timestamp::from_unix_nanos(received.observed_timestamp))
}

#[cfg(test)]
mod tests {
    use application::testing::sample_event;

    use super::*;

    #[test]
    fn events_round_trip_through_their_queue_document() {
        let event = sample_event(
            "auth-service",
            Level::Error,
            "quote \" and \\ and ünïcode",
            Timestamp::now(),
        );
        assert_eq!(decode(&encode(&event)).unwrap(), event);
    }

    #[test]
    fn the_document_is_readable_json_with_stable_field_names() {
        let event = sample_event(
            "auth-service",
            Level::Warn,
            "disk almost full",
            Timestamp::from_unix_nanos(1_777_975_200_000_000_005),
        );
        let document: serde_json::Value = serde_json::from_str(&encode(&event)).unwrap();
        assert_eq!(document["service"], "auth-service");
        assert_eq!(document["level"], "WARN");
        assert_eq!(document["message"], "disk almost full");
        assert_eq!(document["timestamp"], 1_777_975_200_000_000_005_u64);
        assert_eq!(document["metadata"]["user_id"], "42");
        assert_eq!(document["trace_id"].as_str().map(str::len), Some(32));
    }

    #[test]
    fn an_event_accepted_under_limits_above_the_defaults_decodes() {
        let wide = EventLimits::CEILING;
        let draft = domain::LogEventDraft {
            service: "s".repeat(1024),
            level: "info".into(),
            message: "m".repeat(1024 * 1024),
            metadata: (0..1024)
                .map(|i| (format!("{i:0>1024}"), "v".repeat(64)))
                .collect(),
            ..domain::LogEventDraft::default()
        };
        let event =
            LogEvent::from_draft_with_limits(draft, Timestamp::now(), TraceId::generate(), &wide)
                .unwrap();
        assert_eq!(decode(&encode(&event)).unwrap(), event);
    }

    #[test]
    fn metadata_written_out_of_order_or_twice_decodes_as_a_map_would_read_it() {
        let event = sample_event("svc", Level::Info, "hand-written", Timestamp::now());
        let document = encode(&event);
        let (head, tail) = document
            .split_once(",\"metadata\":{")
            .expect("a metadata object");
        let rest = tail.split_once('}').expect("the end of the object").1;
        let hand_written =
            format!(r#"{head},"metadata":{{"zone":"a","host":"b","zone":"c","app":"d"}}{rest}"#);
        let decoded = decode(&hand_written).unwrap();
        assert_eq!(
            decoded.metadata().iter().collect::<Vec<_>>(),
            [("app", "d"), ("host", "b"), ("zone", "c")]
        );
    }

    /// The document `serde_json` makes of the [`QueuedEvent`] (how events were encoded before
    /// [`write_document`]): the queue's bytes must not change.
    fn owned_document(event: &LogEvent) -> String {
        let parts = event.parts();
        serde_json::to_string(&QueuedEvent {
            id: parts.id.to_string().into(),
            timestamp: parts.timestamp.unix_nanos(),
            observed_timestamp: parts.observed_timestamp.unix_nanos(),
            service: parts.service.to_string().into(),
            level: parts.level.to_string().into(),
            message: parts.message.as_str().to_owned(),
            metadata: parts
                .metadata
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            trace_id: parts.trace_id.to_string().into(),
            span_id: parts.span_id.map(|span| span.to_string().into()),
        })
        .unwrap()
    }

    #[test]
    fn the_borrowed_encoder_writes_the_bytes_of_the_owned_document() {
        let mut events = vec![
            sample_event("auth", Level::Info, "plain", Timestamp::now()),
            sample_event(
                "ünïcode \u{1F600} 😀",
                Level::Fatal,
                "quote \" back \\ tab \t newline \n nul \u{0} del \u{7f} <>&'",
                Timestamp::from_unix_nanos(1),
            ),
        ];
        let draft = domain::LogEventDraft {
            service: "svc".into(),
            level: "debug".into(),
            message: "no span, no metadata".into(),
            ..domain::LogEventDraft::default()
        };
        events.push(LogEvent::from_draft(draft, Timestamp::now(), TraceId::generate()).unwrap());
        let draft = domain::LogEventDraft {
            service: "svc".into(),
            level: "warn".into(),
            message: "many entries".into(),
            metadata: (0..50)
                .map(|i| (format!("k\"{i}é"), format!("v\\{i}\r\u{1}")))
                .chain([("z".to_owned(), String::new())])
                .collect(),
            trace_id: Some("4BF92F3577B34DA6A3CE929D0E0E4736".into()),
            span_id: Some("00F067AA0BA902B7".into()),
            ..domain::LogEventDraft::default()
        };
        events.push(LogEvent::from_draft(draft, Timestamp::now(), TraceId::generate()).unwrap());
        for event in &events {
            let borrowed = encode(event);
            assert_eq!(borrowed, owned_document(event));
            assert_eq!(&decode(&borrowed).unwrap(), event);
        }
    }

    #[test]
    fn elements_hold_at_most_a_thousand_events_or_about_a_mebibyte_one_document_a_line() {
        let small: Vec<LogEvent> = (0..2_001)
            .map(|i| sample_event("svc", Level::Info, &format!("line\n{i}"), Timestamp::now()))
            .collect();
        let elements = encode_elements(&small);
        let counts: Vec<usize> = elements.iter().map(|e| documents(e).count()).collect();
        assert_eq!(counts, [1_000, 1_000, 1]);
        let decoded: Vec<LogEvent> = elements
            .iter()
            .flat_map(|element| documents(element).map(|line| decode(line).unwrap()))
            .collect();
        assert_eq!(
            decoded, small,
            "in order, intact, newlines in messages escaped"
        );
        assert_eq!(
            elements[2],
            encode(&small[2_000]),
            "one event: its document"
        );

        let big_message = "m".repeat(300 * 1024);
        let big: Vec<LogEvent> = (0..9)
            .map(|_| {
                let draft = domain::LogEventDraft {
                    service: "svc".into(),
                    level: "info".into(),
                    message: big_message.clone(),
                    ..domain::LogEventDraft::default()
                };
                LogEvent::from_draft_with_limits(
                    draft,
                    Timestamp::now(),
                    TraceId::generate(),
                    &CEILING,
                )
                .unwrap()
            })
            .collect();
        let counts: Vec<usize> = encode_elements(&big)
            .iter()
            .map(|e| documents(e).count())
            .collect();
        assert_eq!(counts, [4, 4, 1], "closed once past 1 MiB");
        assert!(encode_elements(&[]).is_empty());
    }

    #[test]
    fn garbage_and_invalid_documents_are_decode_errors() {
        assert!(matches!(decode("not json"), Err(DecodeError::Json(_))));
        let invalid = r#"{"id":"0190b2a1-0000-7000-8000-000000000000","timestamp":1,"observed_timestamp":1,
            "service":"","level":"INFO","message":"m","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}"#;
        assert!(matches!(decode(invalid), Err(DecodeError::Invalid(_))));
    }
}
