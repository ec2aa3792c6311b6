//! The one error type of validation: which field, and why.

use std::fmt;

/// Why a value was rejected. Displayed as a short human sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidationReason {
    /// The value is required and was missing or empty (after trimming where that applies).
    Empty,
    /// The value is longer than allowed; `max` is in the unit the field's documentation uses.
    TooLong { max: usize, unit: &'static str },
    /// The collection holds more items than allowed.
    TooMany { max: usize },
    /// The value contains a control character, which is not allowed there.
    ControlCharacter,
    /// The value does not have the expected shape; the text says what was expected.
    InvalidFormat(&'static str),
    /// The value is well-formed but outside the allowed range; the text says which.
    OutOfRange(String),
}

impl fmt::Display for ValidationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("must not be empty"),
            Self::TooLong { max, unit } => write!(f, "must be at most {max} {unit}"),
            Self::TooMany { max } => write!(f, "must have at most {max} entries"),
            Self::ControlCharacter => f.write_str("must not contain control characters"),
            Self::InvalidFormat(expected) => write!(f, "must be {expected}"),
            Self::OutOfRange(why) => f.write_str(why),
        }
    }
}

/// A rejected input value: the field it came from (`service`, `metadata.user_id`, `limit`, ...)
/// and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {reason}")]
pub struct ValidationError {
    field: String,
    reason: ValidationReason,
}

impl ValidationError {
    /// A rejection of `field` for `reason`.
    pub fn new(field: impl Into<String>, reason: ValidationReason) -> Self {
        Self {
            field: field.into(),
            reason,
        }
    }

    /// The name of the rejected field, as the client spelled it.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// Why it was rejected.
    pub fn reason(&self) -> &ValidationReason {
        &self.reason
    }

    /// The same reason, reported for another field name (e.g. a nested or prefixed one).
    pub fn renamed(self, field: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: self.reason,
        }
    }
}
