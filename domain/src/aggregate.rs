//! What the counting endpoints ask for: the field to group by, and the width of histogram
//! buckets.

use std::fmt;

use crate::{LogEvent, Timestamp, ValidationError, ValidationReason};

const NANOS_PER_MINUTE: u64 = 60 * 1_000_000_000;

/// The field whose values `stats` counts logs by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupBy {
    /// One group per level.
    Level,
    /// One group per service.
    Service,
}

impl GroupBy {
    /// Reads `level` or `service` (any case); errors name `group_by`.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "level" => Ok(Self::Level),
            "service" => Ok(Self::Service),
            _ => Err(ValidationError::new(
                "group_by",
                ValidationReason::InvalidFormat("level or service"),
            )),
        }
    }

    /// The group `event` belongs to: its level's name or its service.
    pub fn key_of(self, event: &LogEvent) -> String {
        match self {
            Self::Level => event.level().as_str().to_owned(),
            Self::Service => event.service().as_str().to_owned(),
        }
    }
}

impl fmt::Display for GroupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Level => "level",
            Self::Service => "service",
        })
    }
}

/// Whether a histogram counts each level of a bucket apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HistogramSplit {
    /// One count per bucket.
    #[default]
    None,
    /// One count per level of each bucket.
    Level,
}

impl HistogramSplit {
    /// Reads an absent or empty `by` as no split and `level` (any case) as a split by level;
    /// errors name `by`.
    pub fn parse(by: Option<&str>) -> Result<Self, ValidationError> {
        match by.map(str::trim) {
            None | Some("") => Ok(Self::None),
            Some(text) if text.eq_ignore_ascii_case("level") => Ok(Self::Level),
            Some(_) => Err(ValidationError::new(
                "by",
                ValidationReason::InvalidFormat("level"),
            )),
        }
    }

    /// Whether each level is counted apart.
    pub fn by_level(self) -> bool {
        self == Self::Level
    }
}

/// The width of histogram buckets: 1m, 5m, 15m, 1h or 1d. Buckets are aligned to the Unix
/// epoch, so in UTC a `1h` bucket starts on the hour and a `1d` bucket at midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HistogramInterval {
    OneMinute,
    FiveMinutes,
    FifteenMinutes,
    OneHour,
    OneDay,
}

impl HistogramInterval {
    /// Reads `1m`, `5m`, `15m`, `1h` or `1d`; errors name `interval`.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "1m" => Ok(Self::OneMinute),
            "5m" => Ok(Self::FiveMinutes),
            "15m" => Ok(Self::FifteenMinutes),
            "1h" => Ok(Self::OneHour),
            "1d" => Ok(Self::OneDay),
            _ => Err(ValidationError::new(
                "interval",
                ValidationReason::InvalidFormat("one of 1m, 5m, 15m, 1h, 1d"),
            )),
        }
    }

    /// The bucket width in nanoseconds.
    pub fn nanos(self) -> u64 {
        NANOS_PER_MINUTE
            * match self {
                Self::OneMinute => 1,
                Self::FiveMinutes => 5,
                Self::FifteenMinutes => 15,
                Self::OneHour => 60,
                Self::OneDay => 24 * 60,
            }
    }

    /// The start of the bucket holding `moment`.
    pub fn bucket_start(self, moment: Timestamp) -> Timestamp {
        let nanos = moment.unix_nanos();
        Timestamp::from_unix_nanos(nanos - nanos % self.nanos())
    }
}

impl fmt::Display for HistogramInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OneMinute => "1m",
            Self::FiveMinutes => "5m",
            Self::FifteenMinutes => "15m",
            Self::OneHour => "1h",
            Self::OneDay => "1d",
        })
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn unknown_groups_and_splits_are_refused_naming_their_parameter() {
        assert_eq!(GroupBy::parse("host").unwrap_err().field(), "group_by");
        assert_eq!(
            HistogramSplit::parse(Some("host")).unwrap_err().field(),
            "by"
        );
        assert_eq!(
            HistogramInterval::parse("1w").unwrap_err().field(),
            "interval"
        );
        assert_eq!(
            HistogramSplit::parse(Some(" LEVEL ")).unwrap(),
            HistogramSplit::Level
        );
        assert_eq!(
            HistogramSplit::parse(Some("")).unwrap(),
            HistogramSplit::None
        );
        assert_eq!(HistogramSplit::parse(None).unwrap(), HistogramSplit::None);
    }

    use super::*;

    #[test]
    fn group_by_accepts_level_and_service_and_names_itself_in_errors() {
        assert_eq!(GroupBy::parse("Level"), Ok(GroupBy::Level));
        assert_eq!(GroupBy::parse(" service "), Ok(GroupBy::Service));
        for bad in ["", "host", "level,service", "' OR 1=1"] {
            assert_eq!(GroupBy::parse(bad).unwrap_err().field(), "group_by");
        }
    }

    #[test]
    fn intervals_parse_from_their_short_names_and_print_back() {
        for name in ["1m", "5m", "15m", "1h", "1d"] {
            assert_eq!(HistogramInterval::parse(name).unwrap().to_string(), name);
        }
        assert_eq!(
            HistogramInterval::parse("1H").map(HistogramInterval::nanos),
            Ok(3_600_000_000_000)
        );
        for bad in ["", "2m", "60s", "1w", "-1m"] {
            assert_eq!(
                HistogramInterval::parse(bad).unwrap_err().field(),
                "interval"
            );
        }
    }

    #[test]
    fn buckets_start_on_whole_intervals_since_the_epoch() {
        let moment = Timestamp::parse_rfc3339("2026-05-05T10:07:31.5Z", "t").unwrap();
        let start = |interval| HistogramInterval::bucket_start(interval, moment).to_rfc3339();
        assert_eq!(
            start(HistogramInterval::OneMinute),
            "2026-05-05T10:07:00.000000000Z"
        );
        assert_eq!(
            start(HistogramInterval::FiveMinutes),
            "2026-05-05T10:05:00.000000000Z"
        );
        assert_eq!(
            start(HistogramInterval::FifteenMinutes),
            "2026-05-05T10:00:00.000000000Z"
        );
        assert_eq!(
            start(HistogramInterval::OneHour),
            "2026-05-05T10:00:00.000000000Z"
        );
        assert_eq!(
            start(HistogramInterval::OneDay),
            "2026-05-05T00:00:00.000000000Z"
        );
    }
}
