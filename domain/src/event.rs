//! The log event: what a client sends (a draft) and what the pipeline carries (a validated event).

use std::collections::BTreeMap;

use crate::limits::{
    MAX_FUTURE_SKEW_NANOS, METADATA_KEY_MAX_CHARS, METADATA_MAX_ENTRIES, METADATA_VALUE_MAX_BYTES,
};
use crate::{
    EventId, Level, Message, ServiceName, SpanId, Timestamp, TimestampInput, TraceId,
    ValidationError, ValidationReason,
};

/// The rules every non-empty metadata key and its value follow, on events and in filters: keys
/// of at most 128 characters without control characters, values of at most 8 KiB.
pub(crate) fn check_metadata_entry(key: &str, value: &str) -> Result<(), ValidationError> {
    if key.chars().count() > METADATA_KEY_MAX_CHARS {
        return Err(ValidationError::new(
            "metadata",
            ValidationReason::TooLong {
                max: METADATA_KEY_MAX_CHARS,
                unit: "characters per key",
            },
        ));
    }
    if key.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "metadata",
            ValidationReason::ControlCharacter,
        ));
    }
    if value.len() > METADATA_VALUE_MAX_BYTES {
        return Err(ValidationError::new(
            format!("metadata.{key}"),
            ValidationReason::TooLong {
                max: METADATA_VALUE_MAX_BYTES,
                unit: "bytes",
            },
        ));
    }
    Ok(())
}

/// Free-form string attributes of an event: at most 128 entries, keys of 1 to 128 characters
/// without control characters, values of at most 8 KiB. Ordered by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata(BTreeMap<String, String>);

impl Metadata {
    /// Validates every entry; the error names the offending key as `metadata.<key>`.
    pub fn new(entries: BTreeMap<String, String>) -> Result<Self, ValidationError> {
        if entries.len() > METADATA_MAX_ENTRIES {
            return Err(ValidationError::new(
                "metadata",
                ValidationReason::TooMany {
                    max: METADATA_MAX_ENTRIES,
                },
            ));
        }
        for (key, value) in &entries {
            if key.is_empty() {
                return Err(ValidationError::new("metadata", ValidationReason::Empty));
            }
            check_metadata_entry(key, value)?;
        }
        Ok(Self(entries))
    }

    /// The entries, ordered by key.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A log event as a client sent it, before validation. Every field is raw input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogEventDraft {
    pub service: String,
    pub level: String,
    pub message: String,
    pub metadata: BTreeMap<String, String>,
    /// When the event happened; the receive time when absent.
    pub timestamp: Option<TimestampInput>,
    /// A trace id the client put on the event itself; it wins over the request's trace id.
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
}

/// The fields of a [`LogEvent`], each already a valid value. Used by adapters to rebuild
/// events they stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEventParts {
    pub id: EventId,
    pub timestamp: Timestamp,
    pub observed_timestamp: Timestamp,
    pub service: ServiceName,
    pub level: Level,
    pub message: Message,
    pub metadata: Metadata,
    pub trace_id: TraceId,
    pub span_id: Option<SpanId>,
}

/// A validated log event with its unique id and trace id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    parts: LogEventParts,
}

impl LogEvent {
    /// Validates a draft received at `received_at`. The event gets a fresh [`EventId`]; its trace id
    /// is the draft's own when it has one, else `request_trace_id`. Fields are checked in the order
    /// service, level, message, metadata, timestamp, trace_id, span_id; the first failure is returned.
    pub fn from_draft(
        draft: LogEventDraft,
        received_at: Timestamp,
        request_trace_id: TraceId,
    ) -> Result<Self, ValidationError> {
        let service = ServiceName::parse(&draft.service, "service")?;
        let level = Level::parse(&draft.level)?;
        let message = Message::new(draft.message)?;
        let metadata = Metadata::new(draft.metadata)?;
        let timestamp = match &draft.timestamp {
            Some(input) => Timestamp::from_input(input, "timestamp")?,
            None => received_at,
        };
        if timestamp > received_at.saturating_add_nanos(MAX_FUTURE_SKEW_NANOS) {
            return Err(ValidationError::new(
                "timestamp",
                ValidationReason::OutOfRange("must not be more than 24 hours in the future".into()),
            ));
        }
        let trace_id = match draft.trace_id.as_deref().map(str::trim) {
            Some(text) if !text.is_empty() => TraceId::parse(text)?,
            _ => request_trace_id,
        };
        let span_id = match draft.span_id.as_deref().map(str::trim) {
            Some(text) if !text.is_empty() => Some(SpanId::parse(text)?),
            _ => None,
        };
        Ok(Self {
            parts: LogEventParts {
                id: EventId::generate(),
                timestamp,
                observed_timestamp: received_at,
                service,
                level,
                message,
                metadata,
                trace_id,
                span_id,
            },
        })
    }

    /// Rebuilds an event from valid parts, e.g. read back from a queue or a store.
    pub fn from_parts(parts: LogEventParts) -> Self {
        Self { parts }
    }

    /// The event's fields.
    pub fn parts(&self) -> &LogEventParts {
        &self.parts
    }

    /// Gives the event's fields back.
    pub fn into_parts(self) -> LogEventParts {
        self.parts
    }

    pub fn id(&self) -> EventId {
        self.parts.id
    }

    /// When the event happened.
    pub fn timestamp(&self) -> Timestamp {
        self.parts.timestamp
    }

    /// When the pipeline received it.
    pub fn observed_timestamp(&self) -> Timestamp {
        self.parts.observed_timestamp
    }

    pub fn service(&self) -> &ServiceName {
        &self.parts.service
    }

    pub fn level(&self) -> Level {
        self.parts.level
    }

    pub fn message(&self) -> &Message {
        &self.parts.message
    }

    pub fn metadata(&self) -> &Metadata {
        &self.parts.metadata
    }

    pub fn trace_id(&self) -> TraceId {
        self.parts.trace_id
    }

    pub fn span_id(&self) -> Option<SpanId> {
        self.parts.span_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECEIVED: Timestamp = Timestamp::from_unix_nanos(1_777_975_200_000_000_000);

    fn draft() -> LogEventDraft {
        LogEventDraft {
            service: "auth-service".into(),
            level: "error".into(),
            message: "DB connection failed".into(),
            metadata: BTreeMap::from([
                ("user_id".into(), "42".into()),
                ("host".into(), "db-primary".into()),
            ]),
            ..LogEventDraft::default()
        }
    }

    fn trace() -> TraceId {
        TraceId::parse("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
    }

    #[test]
    fn a_valid_draft_becomes_an_event_stamped_with_receive_time_and_request_trace() {
        let event = LogEvent::from_draft(draft(), RECEIVED, trace()).unwrap();
        assert_eq!(event.service().as_str(), "auth-service");
        assert_eq!(event.level(), Level::Error);
        assert_eq!(event.message().as_str(), "DB connection failed");
        assert_eq!(event.metadata().get("user_id"), Some("42"));
        assert_eq!(event.timestamp(), RECEIVED);
        assert_eq!(event.observed_timestamp(), RECEIVED);
        assert_eq!(event.trace_id(), trace());
        assert_eq!(event.span_id(), None);
    }

    #[test]
    fn a_client_timestamp_and_trace_id_on_the_event_are_kept() {
        let mut input = draft();
        input.timestamp = Some(TimestampInput::Text("2026-05-05T09:00:00Z".into()));
        input.trace_id = Some("0af7651916cd43dd8448eb211c80319c".into());
        input.span_id = Some("b7ad6b7169203331".into());
        let event = LogEvent::from_draft(input, RECEIVED, trace()).unwrap();
        assert_eq!(
            event.timestamp().unix_nanos(),
            RECEIVED.unix_nanos() - 3_600_000_000_000
        );
        assert_eq!(
            event.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(
            event.span_id().map(|s| s.to_string()).as_deref(),
            Some("b7ad6b7169203331")
        );
    }

    #[test]
    fn each_invalid_field_is_named_in_the_error() {
        type Mutation = Box<dyn Fn(&mut LogEventDraft)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("service", Box::new(|d| d.service = " ".into())),
            ("level", Box::new(|d| d.level = "LOUD".into())),
            ("message", Box::new(|d| d.message = String::new())),
            (
                "metadata",
                Box::new(|d| {
                    d.metadata = (0..129).map(|i| (i.to_string(), String::new())).collect()
                }),
            ),
            (
                "metadata",
                Box::new(|d| {
                    d.metadata.insert(String::new(), "x".into());
                }),
            ),
            (
                "metadata",
                Box::new(|d| {
                    d.metadata.insert("k".repeat(129), "x".into());
                }),
            ),
            (
                "metadata.big",
                Box::new(|d| {
                    d.metadata.insert("big".into(), "v".repeat(8 * 1024 + 1));
                }),
            ),
            (
                "timestamp",
                Box::new(|d| d.timestamp = Some(TimestampInput::Text("soon".into()))),
            ),
            (
                "timestamp",
                Box::new(|d| d.timestamp = Some(TimestampInput::Integer(-1))),
            ),
            ("trace_id", Box::new(|d| d.trace_id = Some("xyz".into()))),
            (
                "span_id",
                Box::new(|d| d.span_id = Some("0000000000000000".into())),
            ),
        ];
        for (field, mutate) in cases {
            let mut input = draft();
            mutate(&mut input);
            let error = LogEvent::from_draft(input, RECEIVED, trace()).unwrap_err();
            assert_eq!(error.field(), field, "{error}");
        }
    }

    #[test]
    fn timestamps_more_than_a_day_ahead_are_rejected_but_a_day_is_fine() {
        let mut within = draft();
        within.timestamp = Some(TimestampInput::Integer(i128::from(
            RECEIVED.unix_nanos() + MAX_FUTURE_SKEW_NANOS,
        )));
        assert!(LogEvent::from_draft(within, RECEIVED, trace()).is_ok());
        let mut beyond = draft();
        beyond.timestamp = Some(TimestampInput::Integer(i128::from(
            RECEIVED.unix_nanos() + MAX_FUTURE_SKEW_NANOS + 1,
        )));
        let error = LogEvent::from_draft(beyond, RECEIVED, trace()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "timestamp must not be more than 24 hours in the future"
        );
    }

    #[test]
    fn events_get_distinct_ids_and_round_trip_through_parts() {
        let first = LogEvent::from_draft(draft(), RECEIVED, trace()).unwrap();
        let second = LogEvent::from_draft(draft(), RECEIVED, trace()).unwrap();
        assert_ne!(first.id(), second.id());
        assert_eq!(LogEvent::from_parts(first.clone().into_parts()), first);
    }
}
