//! Field discovery: which field's values a reader lists (`service`, `level` or one metadata
//! key), and how many rows a discovery may read.

use std::fmt;

use crate::limits::METADATA_KEY_MAX_CHARS_CEILING;
use crate::{LogEvent, ParsedLabel, ValidationError, ValidationReason};

/// The prefix that names a metadata key as a field: `metadata.<key>`, as in `GET /logs`.
pub const METADATA_FIELD_PREFIX: &str = "metadata.";

/// A field whose values can be listed with counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldName {
    /// The event's service.
    Service,
    /// The event's level name.
    Level,
    /// One metadata key (1 to [`METADATA_KEY_MAX_CHARS_CEILING`] characters).
    Metadata(String),
    /// A label read from the message by a LogQL parser stage, or the metadata entry of its
    /// name when the event has one.
    Parsed(ParsedLabel),
}

impl FieldName {
    /// Reads `service`, `level` or `metadata.<key>`; errors name `field`.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        match text {
            "service" => Ok(Self::Service),
            "level" => Ok(Self::Level),
            _ => match text.strip_prefix(METADATA_FIELD_PREFIX) {
                Some(key) => Self::metadata(key),
                None => Err(ValidationError::new(
                    "field",
                    ValidationReason::InvalidFormat("service, level or metadata.<key>"),
                )),
            },
        }
    }

    /// A metadata key as a field; errors name `field`.
    pub fn metadata(key: &str) -> Result<Self, ValidationError> {
        if key.is_empty() {
            return Err(ValidationError::new("field", ValidationReason::Empty));
        }
        if key.chars().count() > METADATA_KEY_MAX_CHARS_CEILING {
            return Err(ValidationError::new(
                "field",
                ValidationReason::TooLong {
                    max: METADATA_KEY_MAX_CHARS_CEILING,
                    unit: "characters",
                },
            ));
        }
        Ok(Self::Metadata(key.to_owned()))
    }

    /// The event's value of this field; `None` when the event has no such metadata key.
    pub fn value_of(&self, event: &LogEvent) -> Option<String> {
        match self {
            Self::Service => Some(event.service().as_str().to_owned()),
            Self::Level => Some(event.level().as_str().to_owned()),
            Self::Metadata(key) => event.metadata().get(key).map(str::to_owned),
            Self::Parsed(label) => Some(match event.metadata().get(label.key()) {
                Some(value) => value.to_owned(),
                None => label.read(event.message().as_str()),
            }),
        }
    }
}

impl fmt::Display for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Service => f.write_str("service"),
            Self::Level => f.write_str("level"),
            Self::Metadata(key) => write!(f, "{METADATA_FIELD_PREFIX}{key}"),
            Self::Parsed(label) => write!(f, "{}({})", label.parser(), label.key()),
        }
    }
}

/// How many rows one metadata discovery reads at most: keys and values of metadata are arrays
/// outside the primary key, so counting them reads every row of the range; past this many rows
/// the counts describe a sample (the first rows the store reads), and the answer says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleRows(u64);

impl SampleRows {
    /// The default sample: one million rows (see `docs/BENCHMARKS.md` for what it costs).
    pub const DEFAULT: Self = Self(1_000_000);

    /// A sample of `rows` rows, at least one.
    pub fn new(rows: u64) -> Self {
        Self(rows.max(1))
    }

    /// The number of rows.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl Default for SampleRows {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_level_and_prefixed_metadata_keys_are_fields() {
        assert_eq!(FieldName::parse("service"), Ok(FieldName::Service));
        assert_eq!(FieldName::parse("level"), Ok(FieldName::Level));
        assert_eq!(
            FieldName::parse("metadata.user id"),
            Ok(FieldName::Metadata("user id".into()))
        );
        assert_eq!(
            FieldName::parse("metadata.service").unwrap().to_string(),
            "metadata.service"
        );
    }

    #[test]
    fn anything_else_is_refused_naming_field() {
        for text in ["", "Service", "user_id", "metadata.", "metadata"] {
            let error = FieldName::parse(text).unwrap_err();
            assert_eq!(error.field(), "field", "{text:?}");
        }
        let long = format!(
            "metadata.{}",
            "k".repeat(METADATA_KEY_MAX_CHARS_CEILING + 1)
        );
        assert!(FieldName::parse(&long).is_err());
    }

    #[test]
    fn a_sample_has_at_least_one_row() {
        assert_eq!(SampleRows::new(0).get(), 1);
        assert_eq!(SampleRows::default().get(), 1_000_000);
    }
}
