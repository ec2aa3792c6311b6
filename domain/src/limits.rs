//! Every limit a client can run into, in one place so the documentation can quote it.
//!
//! The limits on an event's fields are configurable within hard ceilings: the constants below
//! are their defaults, [`EventLimits`] carries the configured values, and the `*_CEILING`
//! constants bound every configuration. Values read back from the queue or the store are
//! checked against the ceilings ([`EventLimits::CEILING`]), so an event accepted under any
//! valid configuration can always be read back.

use std::fmt;
use std::time::Duration;

/// Longest service name, in characters, after trimming (default of [`EventLimits`]).
pub const SERVICE_MAX_CHARS: usize = 128;
/// Longest message, in bytes of UTF-8 (default of [`EventLimits`]).
pub const MESSAGE_MAX_BYTES: usize = 64 * 1024;
/// Most metadata entries on one event (default of [`EventLimits`]).
pub const METADATA_MAX_ENTRIES: usize = 128;
/// Longest metadata key, in characters (default of [`EventLimits`]).
pub const METADATA_KEY_MAX_CHARS: usize = 128;
/// Longest metadata value, in bytes of UTF-8 (default of [`EventLimits`]).
pub const METADATA_VALUE_MAX_BYTES: usize = 8 * 1024;
/// How far in the future an event's timestamp may lie, relative to its receive time (default
/// of [`EventLimits`]).
pub const MAX_FUTURE_SKEW_NANOS: u64 = 24 * 60 * 60 * 1_000_000_000;

/// The highest [`SERVICE_MAX_CHARS`] may be configured: a name, not a text.
pub const SERVICE_MAX_CHARS_CEILING: usize = 1024;
/// The highest [`MESSAGE_MAX_BYTES`] may be configured. A query page holds up to
/// [`MAX_PAGE_LIMIT_CEILING`] events in memory and the worker writes batches of thousands, so
/// one message stays well under the size of such a batch.
pub const MESSAGE_MAX_BYTES_CEILING: usize = 1024 * 1024;
/// The highest [`METADATA_MAX_ENTRIES`] may be configured.
pub const METADATA_MAX_ENTRIES_CEILING: usize = 1024;
/// The highest [`METADATA_KEY_MAX_CHARS`] may be configured.
pub const METADATA_KEY_MAX_CHARS_CEILING: usize = 1024;
/// The highest [`METADATA_VALUE_MAX_BYTES`] may be configured.
pub const METADATA_VALUE_MAX_BYTES_CEILING: usize = 64 * 1024;
/// The highest [`MAX_FUTURE_SKEW_NANOS`] may be configured: a week. An event further ahead
/// comes from a broken clock, and it would sit in a day partition that retention does not
/// reach for that long.
pub const MAX_FUTURE_SKEW_CEILING_NANOS: u64 = 7 * 24 * 60 * 60 * 1_000_000_000;

/// Page size when the client names none (or the configured maximum page, when smaller).
pub const DEFAULT_PAGE_LIMIT: u32 = 100;
/// Largest page a client may ask for, by default (the query service's `QUERY_MAX_PAGE_LIMIT`).
pub const MAX_PAGE_LIMIT: u32 = 1000;
/// The highest the largest page may be configured: a page is built in memory and answered as
/// one JSON document.
pub const MAX_PAGE_LIMIT_CEILING: u32 = 10_000;
/// Most items in a `service` list of a query.
pub const FILTER_MAX_LIST_ITEMS: usize = 100;
/// Most `metadata.<key>=<value>` conditions in one query.
pub const FILTER_MAX_METADATA_CONDITIONS: usize = 16;
/// Longest `q` text search, in characters.
pub const SEARCH_MAX_CHARS: usize = 1024;
/// Most terms (words or quoted phrases) in one `q`.
pub const SEARCH_MAX_TERMS: usize = 16;
/// Most buckets one histogram may have.
pub const HISTOGRAM_MAX_BUCKETS: u64 = 10_000;
/// Most steps of a metric query after its first (Loki's limit of 11,000 points per series,
/// which Loki checks as `(end - start) / step`).
pub const METRIC_MAX_POINTS: u32 = 11_000;
/// Most series one metric query may answer (Loki's default `max_query_series`).
pub const METRIC_MAX_SERIES: usize = 500;

/// A limit configured outside its allowed range: zero, or above its ceiling. Displayed as the
/// reason, e.g. `must be between 1 and 1048576 bytes, not 0`; the caller names the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be between 1 and {ceiling} {unit}, not {value}")]
pub struct LimitError {
    /// The refused value.
    pub value: u64,
    /// The highest allowed value.
    pub ceiling: u64,
    /// The unit of both numbers.
    pub unit: &'static str,
}

fn check(value: usize, ceiling: usize, unit: &'static str) -> Result<usize, LimitError> {
    if (1..=ceiling).contains(&value) {
        Ok(value)
    } else {
        Err(LimitError {
            value: u64::try_from(value).unwrap_or(u64::MAX),
            ceiling: u64::try_from(ceiling).unwrap_or(u64::MAX),
            unit,
        })
    }
}

/// The limits on one event's fields, each between 1 and its ceiling. [`EventLimits::default`]
/// holds the documented defaults; the `with_*` methods set one limit and refuse a value
/// outside its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLimits {
    service_max_chars: usize,
    message_max_bytes: usize,
    metadata_max_entries: usize,
    metadata_key_max_chars: usize,
    metadata_value_max_bytes: usize,
    max_future_skew_nanos: u64,
}

impl EventLimits {
    /// The default limits ([`SERVICE_MAX_CHARS`], [`MESSAGE_MAX_BYTES`], ...).
    pub const DEFAULT: Self = Self {
        service_max_chars: SERVICE_MAX_CHARS,
        message_max_bytes: MESSAGE_MAX_BYTES,
        metadata_max_entries: METADATA_MAX_ENTRIES,
        metadata_key_max_chars: METADATA_KEY_MAX_CHARS,
        metadata_value_max_bytes: METADATA_VALUE_MAX_BYTES,
        max_future_skew_nanos: MAX_FUTURE_SKEW_NANOS,
    };

    /// The widest limits any configuration may have: what events read back from the queue or
    /// the store, and query conditions on their fields, are checked against.
    pub const CEILING: Self = Self {
        service_max_chars: SERVICE_MAX_CHARS_CEILING,
        message_max_bytes: MESSAGE_MAX_BYTES_CEILING,
        metadata_max_entries: METADATA_MAX_ENTRIES_CEILING,
        metadata_key_max_chars: METADATA_KEY_MAX_CHARS_CEILING,
        metadata_value_max_bytes: METADATA_VALUE_MAX_BYTES_CEILING,
        max_future_skew_nanos: MAX_FUTURE_SKEW_CEILING_NANOS,
    };

    /// Longest service name, in characters after trimming: 1 to [`SERVICE_MAX_CHARS_CEILING`].
    pub fn with_service_max_chars(self, max: usize) -> Result<Self, LimitError> {
        Ok(Self {
            service_max_chars: check(max, SERVICE_MAX_CHARS_CEILING, "characters")?,
            ..self
        })
    }

    /// Longest message, in bytes: 1 to [`MESSAGE_MAX_BYTES_CEILING`].
    pub fn with_message_max_bytes(self, max: usize) -> Result<Self, LimitError> {
        Ok(Self {
            message_max_bytes: check(max, MESSAGE_MAX_BYTES_CEILING, "bytes")?,
            ..self
        })
    }

    /// Most metadata entries on one event: 1 to [`METADATA_MAX_ENTRIES_CEILING`].
    pub fn with_metadata_max_entries(self, max: usize) -> Result<Self, LimitError> {
        Ok(Self {
            metadata_max_entries: check(max, METADATA_MAX_ENTRIES_CEILING, "entries")?,
            ..self
        })
    }

    /// Longest metadata key, in characters: 1 to [`METADATA_KEY_MAX_CHARS_CEILING`].
    pub fn with_metadata_key_max_chars(self, max: usize) -> Result<Self, LimitError> {
        Ok(Self {
            metadata_key_max_chars: check(max, METADATA_KEY_MAX_CHARS_CEILING, "characters")?,
            ..self
        })
    }

    /// Longest metadata value, in bytes: 1 to [`METADATA_VALUE_MAX_BYTES_CEILING`].
    pub fn with_metadata_value_max_bytes(self, max: usize) -> Result<Self, LimitError> {
        Ok(Self {
            metadata_value_max_bytes: check(max, METADATA_VALUE_MAX_BYTES_CEILING, "bytes")?,
            ..self
        })
    }

    /// How far ahead of its receive time an event may lie: 1 second to a week
    /// ([`MAX_FUTURE_SKEW_CEILING_NANOS`]), in whole seconds.
    pub fn with_max_future_skew_seconds(self, seconds: u64) -> Result<Self, LimitError> {
        const NANOS_PER_SECOND: u64 = 1_000_000_000;
        let ceiling = MAX_FUTURE_SKEW_CEILING_NANOS / NANOS_PER_SECOND;
        if !(1..=ceiling).contains(&seconds) {
            return Err(LimitError {
                value: seconds,
                ceiling,
                unit: "seconds",
            });
        }
        Ok(Self {
            max_future_skew_nanos: seconds * NANOS_PER_SECOND,
            ..self
        })
    }

    /// Longest service name, in characters after trimming.
    pub fn service_max_chars(&self) -> usize {
        self.service_max_chars
    }

    /// Longest message, in bytes of UTF-8.
    pub fn message_max_bytes(&self) -> usize {
        self.message_max_bytes
    }

    /// Most metadata entries on one event.
    pub fn metadata_max_entries(&self) -> usize {
        self.metadata_max_entries
    }

    /// Longest metadata key, in characters.
    pub fn metadata_key_max_chars(&self) -> usize {
        self.metadata_key_max_chars
    }

    /// Longest metadata value, in bytes of UTF-8.
    pub fn metadata_value_max_bytes(&self) -> usize {
        self.metadata_value_max_bytes
    }

    /// How far ahead of its receive time an event's timestamp may lie, in nanoseconds.
    pub fn max_future_skew_nanos(&self) -> u64 {
        self.max_future_skew_nanos
    }
}

impl Default for EventLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A span of time as the reasons quote it: whole hours when it is some, else seconds.
pub(crate) struct Span(pub(crate) Duration);

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.as_secs();
        if seconds == 3600 {
            f.write_str("1 hour")
        } else if seconds.is_multiple_of(3600) {
            write!(f, "{} hours", seconds / 3600)
        } else if seconds == 1 {
            f.write_str("1 second")
        } else {
            write!(f, "{seconds} seconds")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_documented_constants_and_within_the_ceilings() {
        let limits = EventLimits::default();
        assert_eq!(
            (
                limits.service_max_chars(),
                limits.message_max_bytes(),
                limits.metadata_max_entries(),
                limits.metadata_key_max_chars(),
                limits.metadata_value_max_bytes(),
                limits.max_future_skew_nanos(),
            ),
            (128, 65_536, 128, 128, 8192, 86_400_000_000_000)
        );
        let ceiling = EventLimits::CEILING;
        assert!(limits.service_max_chars() <= ceiling.service_max_chars());
        assert!(limits.message_max_bytes() <= ceiling.message_max_bytes());
        assert!(limits.metadata_max_entries() <= ceiling.metadata_max_entries());
        assert!(limits.metadata_key_max_chars() <= ceiling.metadata_key_max_chars());
        assert!(limits.metadata_value_max_bytes() <= ceiling.metadata_value_max_bytes());
        assert!(limits.max_future_skew_nanos() <= ceiling.max_future_skew_nanos());
    }

    #[test]
    fn each_limit_takes_one_up_to_its_ceiling_and_refuses_zero_and_more() {
        type Set = fn(EventLimits, usize) -> Result<EventLimits, LimitError>;
        type Get = fn(&EventLimits) -> usize;
        let cases: [(Set, Get, usize, &str); 5] = [
            (
                EventLimits::with_service_max_chars,
                EventLimits::service_max_chars,
                1024,
                "characters",
            ),
            (
                EventLimits::with_message_max_bytes,
                EventLimits::message_max_bytes,
                1_048_576,
                "bytes",
            ),
            (
                EventLimits::with_metadata_max_entries,
                EventLimits::metadata_max_entries,
                1024,
                "entries",
            ),
            (
                EventLimits::with_metadata_key_max_chars,
                EventLimits::metadata_key_max_chars,
                1024,
                "characters",
            ),
            (
                EventLimits::with_metadata_value_max_bytes,
                EventLimits::metadata_value_max_bytes,
                65_536,
                "bytes",
            ),
        ];
        for (set, get, ceiling, unit) in cases {
            for accepted in [1, 7, ceiling] {
                assert_eq!(
                    set(EventLimits::default(), accepted).map(|l| get(&l)),
                    Ok(accepted)
                );
            }
            for refused in [0, ceiling + 1] {
                let error = set(EventLimits::default(), refused).unwrap_err();
                assert_eq!(
                    error.to_string(),
                    format!("must be between 1 and {ceiling} {unit}, not {refused}")
                );
            }
        }
        let skew = EventLimits::default()
            .with_max_future_skew_seconds(60)
            .unwrap();
        assert_eq!(skew.max_future_skew_nanos(), 60_000_000_000);
        assert!(
            EventLimits::default()
                .with_max_future_skew_seconds(604_800)
                .is_ok()
        );
        for refused in [0, 604_801] {
            assert_eq!(
                EventLimits::default()
                    .with_max_future_skew_seconds(refused)
                    .unwrap_err()
                    .to_string(),
                format!("must be between 1 and 604800 seconds, not {refused}")
            );
        }
    }

    #[test]
    fn setting_one_limit_keeps_the_others() {
        let limits = EventLimits::default().with_message_max_bytes(100).unwrap();
        assert_eq!(limits.message_max_bytes(), 100);
        assert_eq!(
            limits.with_message_max_bytes(MESSAGE_MAX_BYTES),
            Ok(EventLimits::DEFAULT)
        );
    }

    #[test]
    fn spans_read_in_hours_when_whole() {
        let text = |seconds| Span(Duration::from_secs(seconds)).to_string();
        assert_eq!(text(86_400), "24 hours");
        assert_eq!(text(3600), "1 hour");
        assert_eq!(text(90), "90 seconds");
        assert_eq!(text(1), "1 second");
    }
}
