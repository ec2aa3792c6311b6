//! Severity levels, ordered from least to most severe.

use std::fmt;
use std::str::FromStr;

use crate::{ValidationError, ValidationReason};

/// How severe a log event is. Ordered: `Trace < Debug < Info < Warn < Error < Fatal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    /// Every level, least severe first.
    pub const ALL: [Level; 6] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
        Level::Fatal,
    ];

    /// The canonical upper-case name, as stored and returned.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }

    /// Parses a level name case-insensitively, accepting the common aliases
    /// `WARNING` (WARN), `CRITICAL` and `PANIC` (FATAL). Surrounding white space is ignored.
    pub fn parse(text: &str) -> Result<Level, ValidationError> {
        let level = match text.trim().to_ascii_uppercase().as_str() {
            "TRACE" => Level::Trace,
            "DEBUG" => Level::Debug,
            "INFO" => Level::Info,
            "WARN" | "WARNING" => Level::Warn,
            "ERROR" => Level::Error,
            "FATAL" | "CRITICAL" | "PANIC" => Level::Fatal,
            "" => return Err(ValidationError::new("level", ValidationReason::Empty)),
            _ => {
                return Err(ValidationError::new(
                    "level",
                    ValidationReason::InvalidFormat(
                        "one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL (or WARNING, CRITICAL, PANIC)",
                    ),
                ));
            }
        };
        Ok(level)
    }
}

impl FromStr for Level {
    type Err = ValidationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Level::parse(text)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_case_insensitively_with_aliases() {
        let cases = [
            ("trace", Level::Trace),
            ("Debug", Level::Debug),
            (" info ", Level::Info),
            ("WARN", Level::Warn),
            ("warning", Level::Warn),
            ("error", Level::Error),
            ("FATAL", Level::Fatal),
            ("critical", Level::Fatal),
            ("Panic", Level::Fatal),
        ];
        for (text, expected) in cases {
            assert_eq!(Level::parse(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn unknown_and_empty_levels_are_rejected_naming_the_field() {
        let error = Level::parse("verbose").unwrap_err();
        assert_eq!(error.field(), "level");
        assert!(matches!(error.reason(), ValidationReason::InvalidFormat(_)));
        assert_eq!(
            Level::parse("  ").unwrap_err().reason(),
            &ValidationReason::Empty
        );
    }

    #[test]
    fn levels_are_ordered_by_severity_and_print_upper_case() {
        assert!(
            Level::Trace < Level::Debug
                && Level::Warn < Level::Error
                && Level::Error < Level::Fatal
        );
        let names: Vec<String> = Level::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]);
    }
}
