//! Validated text values: service names and messages.

use std::fmt;

use crate::limits::{MESSAGE_MAX_BYTES, SERVICE_MAX_CHARS};
use crate::{ValidationError, ValidationReason};

/// The name of the service that emitted an event: 1 to 128 characters after trimming, no
/// control characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceName(String);

impl ServiceName {
    /// Trims `text` and validates it; `field` names it in the error (`service`, or a query parameter).
    pub fn parse(text: &str, field: &str) -> Result<Self, ValidationError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(ValidationError::new(field, ValidationReason::Empty));
        }
        if trimmed.chars().count() > SERVICE_MAX_CHARS {
            return Err(ValidationError::new(
                field,
                ValidationReason::TooLong {
                    max: SERVICE_MAX_CHARS,
                    unit: "characters",
                },
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ValidationError::new(
                field,
                ValidationReason::ControlCharacter,
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The text of a log event: not blank, at most 64 KiB of UTF-8. Kept exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Message(String);

impl Message {
    /// Validates `text` without altering it.
    pub fn new(text: String) -> Result<Self, ValidationError> {
        if text.trim().is_empty() {
            return Err(ValidationError::new("message", ValidationReason::Empty));
        }
        if text.len() > MESSAGE_MAX_BYTES {
            return Err(ValidationError::new(
                "message",
                ValidationReason::TooLong {
                    max: MESSAGE_MAX_BYTES,
                    unit: "bytes",
                },
            ));
        }
        Ok(Self(text))
    }

    /// The message text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_are_trimmed_and_bounded() {
        assert_eq!(
            ServiceName::parse("  auth-service ", "service")
                .unwrap()
                .as_str(),
            "auth-service"
        );
        assert_eq!(
            ServiceName::parse(&"é".repeat(128), "service")
                .unwrap()
                .as_str()
                .chars()
                .count(),
            128
        );
        let long = ServiceName::parse(&"a".repeat(129), "service").unwrap_err();
        assert_eq!(
            long.reason(),
            &ValidationReason::TooLong {
                max: 128,
                unit: "characters"
            }
        );
        assert_eq!(
            ServiceName::parse(" \t", "service").unwrap_err().reason(),
            &ValidationReason::Empty
        );
        let control = ServiceName::parse("auth\u{7}", "service").unwrap_err();
        assert_eq!(
            (control.field(), control.reason()),
            ("service", &ValidationReason::ControlCharacter)
        );
    }

    #[test]
    fn messages_must_not_be_blank_nor_over_64_kib() {
        assert_eq!(Message::new(" x ".into()).unwrap().as_str(), " x ");
        assert!(Message::new("a".repeat(MESSAGE_MAX_BYTES)).is_ok());
        let long = Message::new("a".repeat(MESSAGE_MAX_BYTES + 1)).unwrap_err();
        assert_eq!(long.field(), "message");
        assert_eq!(
            long.reason(),
            &ValidationReason::TooLong {
                max: 65536,
                unit: "bytes"
            }
        );
        assert_eq!(
            Message::new("\n ".into()).unwrap_err().reason(),
            &ValidationReason::Empty
        );
    }
}
