//! The `logs` table's row, column for column, and its conversion from and to [`LogEvent`].
//!
//! Rows travel as RowBinary without the server checking names or types (validation is off for
//! ClickHouse 18.16), so the field order and types here must match
//! `migrations/001_create_logs.sql` exactly; the round-trip tests against a real server guard it.

use domain::limits::EventLimits;
use domain::{
    EventId, IdText, Level, LogEvent, LogEventParts, Message, Metadata, ServiceName, SpanId,
    Timestamp, TraceId, ValidationError,
};
use serde::{Deserialize, Serialize};

/// The limits stored rows are read back with: the widest any configuration may have.
const CEILING: EventLimits = EventLimits::CEILING;

/// The table the store writes and reads, relative to the configured database.
pub(crate) const LOGS_TABLE: &str = "logs";

/// One row of `logs`.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
pub(crate) struct LogRow {
    /// `UInt64`: event time, ns since the Unix epoch.
    pub(crate) timestamp: u64,
    /// `UInt64`: receive time, ns.
    pub(crate) observed_timestamp: u64,
    /// `String`: hyphenated UUIDv7.
    pub(crate) id: String,
    /// `String`: 32 lowercase hex.
    pub(crate) trace_id: String,
    /// `String`: 16 lowercase hex, or empty for no span.
    pub(crate) span_id: String,
    pub(crate) service: String,
    /// `Enum8`, sent and read as its number (see [`level_code`]).
    pub(crate) level: i8,
    pub(crate) message: String,
    /// `Array(String)`, parallel to `metadata_values`, ordered by key.
    pub(crate) metadata_keys: Vec<String>,
    pub(crate) metadata_values: Vec<String>,
}

/// The `Enum8` number of a level in the `logs.level` column.
pub(crate) fn level_code(level: Level) -> i8 {
    match level {
        Level::Trace => 1,
        Level::Debug => 5,
        Level::Info => 9,
        Level::Warn => 13,
        Level::Error => 17,
        Level::Fatal => 21,
    }
}

/// The level with `Enum8` number `code` in the `logs.level` column.
pub(crate) fn level_from_code(code: i8) -> Option<Level> {
    Level::ALL
        .into_iter()
        .find(|level| level_code(*level) == code)
}

/// A stored row that is not a valid event: the table was written by something other than this
/// adapter, or its schema drifted from the row struct.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InvalidStoredRow {
    #[error("stored row {id:?} is not a valid event: {source}")]
    Invalid {
        id: String,
        #[source]
        source: ValidationError,
    },
    #[error("stored row {id:?} has unknown level number {code}")]
    UnknownLevel { id: String, code: i8 },
    #[error("stored row {id:?} has {keys} metadata keys but {values} values")]
    MetadataLengths {
        id: String,
        keys: usize,
        values: usize,
    },
}

/// The texts of an event's ids, written on the stack, that a [`LogRowRef`] borrows.
pub(crate) struct RowIds {
    id: IdText<36>,
    trace_id: IdText<32>,
    span_id: Option<IdText<16>>,
}

impl RowIds {
    pub(crate) fn of(event: &LogEvent) -> Self {
        let parts = event.parts();
        Self {
            id: parts.id.text(),
            trace_id: parts.trace_id.text(),
            span_id: parts.span_id.map(|span| span.text()),
        }
    }
}

/// The row an insert writes: [`LogRow`], column for column, borrowed from the event and its
/// [`RowIds`], so that writing a row allocates nothing.
#[derive(clickhouse::Row, Serialize)]
pub(crate) struct LogRowRef<'a> {
    timestamp: u64,
    observed_timestamp: u64,
    id: &'a str,
    trace_id: &'a str,
    span_id: &'a str,
    service: &'a str,
    level: i8,
    message: &'a str,
    metadata_keys: MetadataColumn<'a, 0>,
    metadata_values: MetadataColumn<'a, 1>,
}

/// The metadata keys (`SIDE` 0) or values (`SIDE` 1) as an `Array(String)`, in key order.
pub(crate) struct MetadataColumn<'a, const SIDE: u8>(&'a Metadata);

impl<const SIDE: u8> Serialize for MetadataColumn<'_, SIDE> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.0
                .iter()
                .map(|(key, value)| if SIDE == 0 { key } else { value }),
        )
    }
}

impl<'a> LogRowRef<'a> {
    pub(crate) fn new(event: &'a LogEvent, ids: &'a RowIds) -> Self {
        let parts = event.parts();
        Self {
            timestamp: parts.timestamp.unix_nanos(),
            observed_timestamp: parts.observed_timestamp.unix_nanos(),
            id: ids.id.as_str(),
            trace_id: ids.trace_id.as_str(),
            span_id: ids.span_id.as_ref().map_or("", |span| span.as_str()),
            service: parts.service.as_str(),
            level: level_code(parts.level),
            message: parts.message.as_str(),
            metadata_keys: MetadataColumn(&parts.metadata),
            metadata_values: MetadataColumn(&parts.metadata),
        }
    }
}

impl LogRow {
    #[cfg(test)]
    pub(crate) fn from_event(event: &LogEvent) -> Self {
        let parts = event.parts();
        let (metadata_keys, metadata_values) = parts
            .metadata
            .iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .unzip();
        Self {
            timestamp: parts.timestamp.unix_nanos(),
            observed_timestamp: parts.observed_timestamp.unix_nanos(),
            id: parts.id.to_string(),
            trace_id: parts.trace_id.to_string(),
            span_id: parts
                .span_id
                .map(|span| span.to_string())
                .unwrap_or_default(),
            service: parts.service.as_str().to_owned(),
            level: level_code(parts.level),
            message: parts.message.as_str().to_owned(),
            metadata_keys,
            metadata_values,
        }
    }

    /// Rebuilds the event through the domain's constructors, so a stored row never yields an
    /// event that could not have been ingested.
    pub(crate) fn into_event(self) -> Result<LogEvent, InvalidStoredRow> {
        let invalid = |id: &str| {
            let id = id.to_owned();
            move |source| InvalidStoredRow::Invalid { id, source }
        };
        let id = EventId::parse(&self.id).map_err(invalid(&self.id))?;
        let level = level_from_code(self.level).ok_or_else(|| InvalidStoredRow::UnknownLevel {
            id: self.id.clone(),
            code: self.level,
        })?;
        if self.metadata_keys.len() != self.metadata_values.len() {
            return Err(InvalidStoredRow::MetadataLengths {
                id: self.id,
                keys: self.metadata_keys.len(),
                values: self.metadata_values.len(),
            });
        }
        // Stored in key order, as the events held them: no map on the way back.
        let entries: Vec<(String, String)> = self
            .metadata_keys
            .into_iter()
            .zip(self.metadata_values)
            .collect();
        let span_id = match self.span_id.as_str() {
            "" => None,
            text => Some(SpanId::parse(text).map_err(invalid(&self.id))?),
        };
        Ok(LogEvent::from_parts(LogEventParts {
            id,
            timestamp: Timestamp::from_unix_nanos(self.timestamp),
            observed_timestamp: Timestamp::from_unix_nanos(self.observed_timestamp),
            // Checked against the ceilings: the events were stored under the configured limits,
            // which may be above the defaults.
            service: ServiceName::from_string_at_most(
                self.service,
                "service",
                CEILING.service_max_chars(),
            )
            .map_err(invalid(&self.id))?,
            level,
            message: Message::at_most(self.message, CEILING.message_max_bytes())
                .map_err(invalid(&self.id))?,
            metadata: Metadata::from_pairs_with_limits(entries, &CEILING)
                .map_err(invalid(&self.id))?,
            trace_id: TraceId::parse(&self.trace_id).map_err(invalid(&self.id))?,
            span_id,
        }))
    }
}

#[cfg(test)]
mod tests {
    use application::testing::sample_event;

    use super::*;

    fn event() -> LogEvent {
        sample_event(
            "auth",
            Level::Warn,
            "disk almost full",
            Timestamp::from_unix_nanos(1_777_975_200_000_000_123),
        )
    }

    #[test]
    fn an_event_becomes_a_row_and_back_unchanged() {
        let original = event();
        let row = LogRow::from_event(&original);
        assert_eq!(row.level, 13);
        assert_eq!(row.metadata_keys, ["host", "user_id"]);
        assert_eq!(row.metadata_values, ["db-primary", "42"]);
        assert_eq!(row.span_id, "00f067aa0ba902b7");
        assert_eq!(row.into_event().unwrap(), original);
    }

    #[test]
    fn an_event_accepted_under_limits_above_the_defaults_reads_back() {
        let draft = domain::LogEventDraft {
            service: "s".repeat(1024),
            level: "info".into(),
            message: "m".repeat(1024 * 1024),
            metadata: (0..1024)
                .map(|i| (format!("{i:0>1024}"), "v".repeat(64 * 1024)))
                .take(3)
                .chain((0..1021).map(|i| (i.to_string(), String::new())))
                .collect(),
            ..domain::LogEventDraft::default()
        };
        let original = LogEvent::from_draft_with_limits(
            draft,
            Timestamp::now(),
            TraceId::generate(),
            &EventLimits::CEILING,
        )
        .unwrap();
        assert_eq!(original.metadata().len(), 1024);
        assert_eq!(
            LogRow::from_event(&original).into_event().unwrap(),
            original
        );
    }

    #[test]
    fn the_borrowed_insert_row_serializes_like_the_owned_row() {
        // RowBinary is written from the serde data model field by field: the same sequence of
        // values in the same order (which JSON shows) makes the same RowBinary bytes.
        let no_span = LogEvent::from_draft(
            domain::LogEventDraft {
                service: "svc".into(),
                level: "trace".into(),
                message: "no span, no metadata".into(),
                ..domain::LogEventDraft::default()
            },
            Timestamp::now(),
            TraceId::generate(),
        )
        .unwrap();
        for event in [event(), no_span] {
            let ids = RowIds::of(&event);
            assert_eq!(
                serde_json::to_string(&LogRowRef::new(&event, &ids)).unwrap(),
                serde_json::to_string(&LogRow::from_event(&event)).unwrap()
            );
        }
        assert_eq!(
            <LogRowRef<'_> as clickhouse::Row>::COLUMN_NAMES,
            <LogRow as clickhouse::Row>::COLUMN_NAMES
        );
    }

    #[test]
    fn level_numbers_match_the_enum8_of_the_schema() {
        let codes: Vec<i8> = Level::ALL.into_iter().map(level_code).collect();
        assert_eq!(codes, [1, 5, 9, 13, 17, 21]);
        for level in Level::ALL {
            assert_eq!(level_from_code(level_code(level)), Some(level));
        }
        assert_eq!(level_from_code(2), None);
    }

    #[test]
    fn invalid_rows_are_errors_that_name_the_row_and_the_problem() {
        let base = LogRow::from_event(&event());
        let cases: Vec<(LogRow, &str)> = vec![
            (
                LogRow {
                    level: 3,
                    ..base.clone()
                },
                "unknown level number 3",
            ),
            (
                LogRow {
                    trace_id: "xyz".into(),
                    ..base.clone()
                },
                "trace_id must be",
            ),
            (
                LogRow {
                    span_id: "0000000000000000".into(),
                    ..base.clone()
                },
                "span_id must be",
            ),
            (
                LogRow {
                    service: " ".into(),
                    ..base.clone()
                },
                "service must not be empty",
            ),
            (
                LogRow {
                    message: String::new(),
                    ..base.clone()
                },
                "message must not be empty",
            ),
            (
                LogRow {
                    metadata_values: vec![],
                    ..base.clone()
                },
                "2 metadata keys but 0 values",
            ),
            (
                LogRow {
                    id: "not-a-uuid".into(),
                    ..base.clone()
                },
                "id must be a UUID",
            ),
        ];
        for (row, expected) in cases {
            let id = row.id.clone();
            let message = row.into_event().unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
            assert!(message.contains(&format!("{id:?}")), "{message}");
        }
    }
}
