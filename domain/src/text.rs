//! Validated text values: service names and messages.

use std::fmt;

use crate::limits::{
    MESSAGE_MAX_BYTES, MESSAGE_MAX_BYTES_CEILING, SERVICE_MAX_CHARS, SERVICE_MAX_CHARS_CEILING,
};
use crate::{ValidationError, ValidationReason};

/// The name of the service that emitted an event: 1 to 128 characters after trimming by
/// default (at most the configured limit, never more than [`SERVICE_MAX_CHARS_CEILING`]), no
/// control characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceName(String);

impl ServiceName {
    /// Trims `text` and validates it against the default limit ([`SERVICE_MAX_CHARS`]);
    /// `field` names it in the error (`service`, or a query parameter).
    pub fn parse(text: &str, field: &str) -> Result<Self, ValidationError> {
        Self::parse_at_most(text, field, SERVICE_MAX_CHARS)
    }

    /// Like [`ServiceName::parse`], with at most `max_chars` characters (capped at
    /// [`SERVICE_MAX_CHARS_CEILING`]); the error quotes that number.
    pub fn parse_at_most(
        text: &str,
        field: &str,
        max_chars: usize,
    ) -> Result<Self, ValidationError> {
        Self::checked(text, field, max_chars).map(|name| Self(name.to_owned()))
    }

    /// Like [`ServiceName::parse_at_most`], keeping the buffer of `text` when it needs no
    /// trimming (an event's service moves into the event instead of being copied).
    pub fn from_string_at_most(
        text: String,
        field: &str,
        max_chars: usize,
    ) -> Result<Self, ValidationError> {
        let name = Self::checked(&text, field, max_chars)?;
        if name.len() == text.len() {
            Ok(Self(text))
        } else {
            Ok(Self(name.to_owned()))
        }
    }

    /// `text` trimmed, once it passed the rules.
    fn checked<'a>(
        text: &'a str,
        field: &str,
        max_chars: usize,
    ) -> Result<&'a str, ValidationError> {
        let max_chars = max_chars.min(SERVICE_MAX_CHARS_CEILING);
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(ValidationError::new(field, ValidationReason::Empty));
        }
        if trimmed.chars().count() > max_chars {
            return Err(ValidationError::new(
                field,
                ValidationReason::TooLong {
                    max: max_chars,
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
        Ok(trimmed)
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

/// The text of a log event: not blank, at most 64 KiB of UTF-8 by default (at most the
/// configured limit, never more than [`MESSAGE_MAX_BYTES_CEILING`]). Kept exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Message(String);

impl Message {
    /// Validates `text` without altering it, against the default limit ([`MESSAGE_MAX_BYTES`]).
    pub fn new(text: String) -> Result<Self, ValidationError> {
        Self::at_most(text, MESSAGE_MAX_BYTES)
    }

    /// Like [`Message::new`], with at most `max_bytes` bytes (capped at
    /// [`MESSAGE_MAX_BYTES_CEILING`]); the error quotes that number.
    pub fn at_most(text: String, max_bytes: usize) -> Result<Self, ValidationError> {
        let max_bytes = max_bytes.min(MESSAGE_MAX_BYTES_CEILING);
        if text.trim().is_empty() {
            return Err(ValidationError::new("message", ValidationReason::Empty));
        }
        if text.len() > max_bytes {
            return Err(ValidationError::new(
                "message",
                ValidationReason::TooLong {
                    max: max_bytes,
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
    fn an_owned_service_name_is_checked_and_trimmed_like_a_borrowed_one() {
        for text in ["auth", "  auth \t", "", " ", "auth\u{7}", &"s".repeat(6)] {
            assert_eq!(
                ServiceName::from_string_at_most(text.to_owned(), "service", 5),
                ServiceName::parse_at_most(text, "service", 5),
                "{text:?}"
            );
        }
        let name = ServiceName::from_string_at_most(" auth ".into(), "service", 5).unwrap();
        assert_eq!(name.as_str(), "auth");
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

    #[test]
    fn configured_limits_apply_at_their_boundary_and_are_quoted_but_never_pass_the_ceiling() {
        assert!(ServiceName::parse_at_most(&"s".repeat(5), "service", 5).is_ok());
        let short = ServiceName::parse_at_most(&"s".repeat(6), "service", 5).unwrap_err();
        assert_eq!(short.to_string(), "service must be at most 5 characters");
        assert!(ServiceName::parse_at_most(&"s".repeat(300), "service", 300).is_ok());
        assert_eq!(
            ServiceName::parse_at_most(&"s".repeat(1025), "service", usize::MAX)
                .unwrap_err()
                .to_string(),
            "service must be at most 1024 characters"
        );

        assert!(Message::at_most("m".repeat(100), 100).is_ok());
        let long = Message::at_most("m".repeat(101), 100).unwrap_err();
        assert_eq!(long.to_string(), "message must be at most 100 bytes");
        assert!(Message::at_most("m".repeat(200_000), 200_000).is_ok());
        assert!(Message::at_most("m".repeat(MESSAGE_MAX_BYTES_CEILING + 1), usize::MAX).is_err());
    }
}
