//! The log event: what a client sends (a draft) and what the pipeline carries (a validated event).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::limits::{EventLimits, Span};
use crate::{
    EventId, Level, Message, ServiceName, SpanId, Timestamp, TimestampInput, TraceId,
    ValidationError, ValidationReason,
};

/// The rules every non-empty metadata key and its value follow, on events and in filters: keys
/// of at most `limits.metadata_key_max_chars()` characters without control characters, values
/// of at most `limits.metadata_value_max_bytes()` bytes.
pub(crate) fn check_metadata_entry(
    key: &str,
    value: &str,
    limits: &EventLimits,
) -> Result<(), ValidationError> {
    if key.chars().count() > limits.metadata_key_max_chars() {
        return Err(ValidationError::new(
            "metadata",
            ValidationReason::TooLong {
                max: limits.metadata_key_max_chars(),
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
    if value.len() > limits.metadata_value_max_bytes() {
        return Err(ValidationError::new(
            format!("metadata.{key}"),
            ValidationReason::TooLong {
                max: limits.metadata_value_max_bytes(),
                unit: "bytes",
            },
        ));
    }
    Ok(())
}

/// Free-form string attributes of an event: by default at most 128 entries, keys of 1 to 128
/// characters without control characters, values of at most 8 KiB (the configured
/// [`EventLimits`], never more than [`EventLimits::CEILING`]). Ordered by key.
///
/// Held as a vector sorted by key, not a map: an event carries a few entries, read in order or
/// looked up by binary search, and a worker holds two batches of tens of thousands of events,
/// where a map's node (room for eleven entries) would cost about 0.5 KB per event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata(Vec<(String, String)>);

impl Metadata {
    /// Validates every entry against the default limits; the error names the offending key as
    /// `metadata.<key>`.
    pub fn new(entries: BTreeMap<String, String>) -> Result<Self, ValidationError> {
        Self::with_limits(entries, &EventLimits::DEFAULT)
    }

    /// Like [`Metadata::new`], against the metadata limits of `limits`; the error quotes them.
    pub fn with_limits(
        entries: BTreeMap<String, String>,
        limits: &EventLimits,
    ) -> Result<Self, ValidationError> {
        Self::checked(entries.into_iter().collect(), limits)
    }

    /// Like [`Metadata::with_limits`], from entries in any order: sorted by key, and of entries
    /// with the same key the last one kept, as a JSON object read into a map keeps it.
    pub fn from_pairs_with_limits(
        mut entries: Vec<(String, String)>,
        limits: &EventLimits,
    ) -> Result<Self, ValidationError> {
        if !entries.is_sorted_by(|earlier, later| earlier.0 < later.0) {
            // Stable: entries with the same key stay in their order, and the later one's value
            // moves into the one kept.
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    std::mem::swap(&mut later.1, &mut kept.1);
                }
                same
            });
        }
        Self::checked(entries, limits)
    }

    /// `entries`, sorted by key without duplicates, once every one is valid.
    fn checked(
        entries: Vec<(String, String)>,
        limits: &EventLimits,
    ) -> Result<Self, ValidationError> {
        if entries.len() > limits.metadata_max_entries() {
            return Err(ValidationError::new(
                "metadata",
                ValidationReason::TooMany {
                    max: limits.metadata_max_entries(),
                },
            ));
        }
        for (key, value) in &entries {
            if key.is_empty() {
                return Err(ValidationError::new("metadata", ValidationReason::Empty));
            }
            check_metadata_entry(key, value, limits)?;
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
        self.0
            .binary_search_by(|(entry, _)| entry.as_str().cmp(key))
            .ok()
            .map(|index| self.0[index].1.as_str())
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
    /// Validates a draft received at `received_at` against the default [`EventLimits`]. The
    /// event gets a fresh [`EventId`]; its trace id is the draft's own when it has one, else
    /// `request_trace_id`. Fields are checked in the order service, level, message, metadata,
    /// timestamp, trace_id, span_id; the first failure is returned.
    pub fn from_draft(
        draft: LogEventDraft,
        received_at: Timestamp,
        request_trace_id: TraceId,
    ) -> Result<Self, ValidationError> {
        Self::from_draft_with_limits(draft, received_at, request_trace_id, &EventLimits::DEFAULT)
    }

    /// Like [`LogEvent::from_draft`], against `limits`; a rejection quotes the configured number.
    pub fn from_draft_with_limits(
        draft: LogEventDraft,
        received_at: Timestamp,
        request_trace_id: TraceId,
        limits: &EventLimits,
    ) -> Result<Self, ValidationError> {
        let service =
            ServiceName::from_string_at_most(draft.service, "service", limits.service_max_chars())?;
        let level = Level::parse(&draft.level)?;
        let message = Message::at_most(draft.message, limits.message_max_bytes())?;
        let metadata = Metadata::with_limits(draft.metadata, limits)?;
        let timestamp = match &draft.timestamp {
            Some(input) => Timestamp::from_input(input, "timestamp")?,
            None => received_at,
        };
        let skew = limits.max_future_skew_nanos();
        if timestamp > received_at.saturating_add_nanos(skew) {
            return Err(ValidationError::new(
                "timestamp",
                ValidationReason::OutOfRange(format!(
                    "must not be more than {} in the future",
                    Span(Duration::from_nanos(skew))
                )),
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
    use crate::limits::MAX_FUTURE_SKEW_NANOS;

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

    fn pairs(entries: &[(&str, &str)]) -> Vec<(String, String)> {
        entries
            .iter()
            .map(|&(key, value)| (key.to_owned(), value.to_owned()))
            .collect()
    }

    #[test]
    fn metadata_from_pairs_is_sorted_and_keeps_the_last_of_a_repeated_key_like_a_map() {
        let entries = [
            ("b", "1"),
            ("a", "2"),
            ("b", "3"),
            ("c", "4"),
            ("a", "5"),
            ("b", "6"),
        ];
        let from_pairs =
            Metadata::from_pairs_with_limits(pairs(&entries), &EventLimits::DEFAULT).unwrap();
        let from_map = Metadata::new(pairs(&entries).into_iter().collect()).unwrap();
        assert_eq!(from_pairs, from_map);
        assert_eq!(
            from_pairs.iter().collect::<Vec<_>>(),
            [("a", "5"), ("b", "6"), ("c", "4")]
        );
        let sorted = [("a", "1"), ("b", "2")];
        assert_eq!(
            Metadata::from_pairs_with_limits(pairs(&sorted), &EventLimits::DEFAULT)
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            sorted
        );
    }

    #[test]
    fn metadata_from_pairs_is_checked_like_metadata_from_a_map() {
        let limits = EventLimits::DEFAULT;
        let empty_key = Metadata::from_pairs_with_limits(pairs(&[("", "x")]), &limits);
        assert_eq!(
            empty_key,
            Err(ValidationError::new("metadata", ValidationReason::Empty))
        );
        let too_many: Vec<_> = (0..=limits.metadata_max_entries())
            .map(|index| (format!("k{index:04}"), String::new()))
            .collect();
        assert_eq!(
            Metadata::from_pairs_with_limits(too_many.clone(), &limits),
            Metadata::with_limits(too_many.into_iter().collect(), &limits)
        );
        let long_value = "v".repeat(limits.metadata_value_max_bytes() + 1);
        let error =
            Metadata::from_pairs_with_limits(pairs(&[("k", &long_value)]), &limits).unwrap_err();
        assert_eq!(error.field(), "metadata.k");
    }

    #[test]
    fn metadata_lookups_find_every_key_and_only_those() {
        let metadata = Metadata::new(
            (0..40)
                .map(|index| (format!("key{index:02}"), format!("value{index}")))
                .collect(),
        )
        .unwrap();
        for index in 0..40 {
            assert_eq!(
                metadata.get(&format!("key{index:02}")),
                Some(format!("value{index}").as_str())
            );
        }
        for absent in ["", "key", "key40", "key0", "kez00", "a"] {
            assert_eq!(metadata.get(absent), None, "{absent}");
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
    fn configured_limits_are_applied_at_their_boundary_and_quoted() {
        let tight = EventLimits::default()
            .with_service_max_chars(4)
            .and_then(|l| l.with_message_max_bytes(10))
            .and_then(|l| l.with_metadata_max_entries(2))
            .and_then(|l| l.with_metadata_key_max_chars(3))
            .and_then(|l| l.with_metadata_value_max_bytes(5))
            .and_then(|l| l.with_max_future_skew_seconds(60))
            .unwrap();
        let at_limit = LogEventDraft {
            service: "auth".into(),
            level: "info".into(),
            message: "0123456789".into(),
            metadata: BTreeMap::from([("abc".into(), "12345".into()), ("k".into(), "v".into())]),
            timestamp: Some(TimestampInput::Integer(i128::from(
                RECEIVED.unix_nanos() + 60_000_000_000,
            ))),
            ..LogEventDraft::default()
        };
        assert!(
            LogEvent::from_draft_with_limits(at_limit.clone(), RECEIVED, trace(), &tight).is_ok()
        );

        type Mutation = fn(&mut LogEventDraft);
        let over: [(Mutation, &str); 6] = [
            (
                |d| d.service = "auth1".into(),
                "service must be at most 4 characters",
            ),
            (|d| d.message.push('!'), "message must be at most 10 bytes"),
            (
                |d| {
                    d.metadata.insert("x".into(), String::new());
                },
                "metadata must have at most 2 entries",
            ),
            (
                |d| {
                    d.metadata = BTreeMap::from([("abcd".into(), String::new())]);
                },
                "metadata must be at most 3 characters per key",
            ),
            (
                |d| {
                    d.metadata.insert("k".into(), "123456".into());
                },
                "metadata.k must be at most 5 bytes",
            ),
            (
                |d| {
                    d.timestamp = Some(TimestampInput::Integer(i128::from(
                        RECEIVED.unix_nanos() + 60_000_000_001,
                    )))
                },
                "timestamp must not be more than 60 seconds in the future",
            ),
        ];
        for (mutate, reason) in over {
            let mut input = at_limit.clone();
            mutate(&mut input);
            let error = LogEvent::from_draft_with_limits(input.clone(), RECEIVED, trace(), &tight)
                .unwrap_err();
            assert_eq!(error.to_string(), reason);
            // The defaults accept every one of them.
            assert!(
                LogEvent::from_draft(input, RECEIVED, trace()).is_ok(),
                "{reason}"
            );
        }
    }

    #[test]
    fn configured_limits_above_the_defaults_accept_more() {
        let wide = EventLimits::default()
            .with_service_max_chars(200)
            .and_then(|l| l.with_message_max_bytes(100_000))
            .and_then(|l| l.with_metadata_max_entries(200))
            .and_then(|l| l.with_metadata_key_max_chars(200))
            .and_then(|l| l.with_metadata_value_max_bytes(10_000))
            .and_then(|l| l.with_max_future_skew_seconds(2 * 86_400))
            .unwrap();
        let big = LogEventDraft {
            service: "s".repeat(200),
            level: "info".into(),
            message: "m".repeat(100_000),
            metadata: (0..199)
                .map(|i| (format!("{i:0>200}"), String::new()))
                .chain([("big".to_owned(), "v".repeat(10_000))])
                .collect(),
            timestamp: Some(TimestampInput::Integer(i128::from(
                RECEIVED.unix_nanos() + 2 * MAX_FUTURE_SKEW_NANOS,
            ))),
            ..LogEventDraft::default()
        };
        let event =
            LogEvent::from_draft_with_limits(big.clone(), RECEIVED, trace(), &wide).unwrap();
        assert_eq!(event.metadata().len(), 200);
        assert_eq!(
            LogEvent::from_draft(big, RECEIVED, trace())
                .unwrap_err()
                .to_string(),
            "service must be at most 128 characters"
        );
        let mut one_more = LogEventDraft {
            service: "s".repeat(201),
            ..LogEventDraft::default()
        };
        one_more.level = "info".into();
        assert_eq!(
            LogEvent::from_draft_with_limits(one_more, RECEIVED, trace(), &wide)
                .unwrap_err()
                .to_string(),
            "service must be at most 200 characters"
        );
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
