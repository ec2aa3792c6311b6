//! Nanosecond timestamps since the Unix epoch, and the formats clients may send them in.

use std::fmt;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use crate::{ValidationError, ValidationReason};

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// A point in time with nanosecond precision, never before 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

/// A timestamp as a client sent it, before validation.
#[derive(Debug, Clone, PartialEq)]
pub enum TimestampInput {
    /// RFC 3339 text (`2026-05-05T10:00:00.123Z`), or digits read as an epoch number.
    Text(String),
    /// A Unix epoch number in seconds, milliseconds, microseconds or nanoseconds,
    /// told apart by magnitude (see [`Timestamp::from_epoch_number`]).
    Integer(i128),
    /// A Unix epoch number with a fraction, read the same way as an integer.
    Float(f64),
}

impl Timestamp {
    /// Nanoseconds since the Unix epoch; every `u64` is a valid timestamp.
    pub const fn from_unix_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    /// The current time of the system clock.
    pub fn now() -> Self {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Self(u64::try_from(nanos).unwrap_or(0))
    }

    /// Nanoseconds since the Unix epoch.
    pub const fn unix_nanos(self) -> u64 {
        self.0
    }

    /// This timestamp moved forward by `nanos`, saturating at the end of the range.
    pub const fn saturating_add_nanos(self, nanos: u64) -> Self {
        Self(self.0.saturating_add(nanos))
    }

    /// Parses RFC 3339 text such as `2026-05-05T10:00:00Z` or `2026-05-05T12:00:00.5+02:00`.
    /// `field` names the input in the error.
    pub fn parse_rfc3339(text: &str, field: &str) -> Result<Self, ValidationError> {
        let parsed = OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|_| {
            ValidationError::new(
                field,
                ValidationReason::InvalidFormat(
                    "an RFC 3339 date-time such as 2026-05-05T10:00:00Z",
                ),
            )
        })?;
        Self::from_nanos_i128(parsed.unix_timestamp_nanos(), field)
    }

    /// Reads a Unix epoch number whose unit is told by its magnitude: below 10^11 seconds,
    /// below 10^14 milliseconds, below 10^17 microseconds, otherwise nanoseconds. (10^11 seconds
    /// is the year 5138, so no plausible timestamp is ambiguous.)
    pub fn from_epoch_number(value: f64, field: &str) -> Result<Self, ValidationError> {
        if !value.is_finite() {
            return Err(ValidationError::new(
                field,
                ValidationReason::InvalidFormat("a finite number"),
            ));
        }
        let magnitude = value.abs();
        let nanos_per_unit = if magnitude < 1e11 {
            1e9
        } else if magnitude < 1e14 {
            1e6
        } else if magnitude < 1e17 {
            1e3
        } else {
            1.0
        };
        // f64 holds 53 bits: integers are read exactly through `from_epoch_integer` instead.
        Self::from_nanos_i128((value * nanos_per_unit).round() as i128, field)
    }

    /// Like [`Timestamp::from_epoch_number`], exact for integers of any magnitude.
    pub fn from_epoch_integer(value: i128, field: &str) -> Result<Self, ValidationError> {
        let magnitude = value.unsigned_abs();
        let nanos_per_unit: i128 = if magnitude < 100_000_000_000 {
            NANOS_PER_SECOND
        } else if magnitude < 100_000_000_000_000 {
            1_000_000
        } else if magnitude < 100_000_000_000_000_000 {
            1_000
        } else {
            1
        };
        let nanos = value
            .checked_mul(nanos_per_unit)
            .ok_or_else(|| out_of_range(field))?;
        Self::from_nanos_i128(nanos, field)
    }

    /// Validates a client's timestamp in any of the accepted shapes.
    pub fn from_input(input: &TimestampInput, field: &str) -> Result<Self, ValidationError> {
        match input {
            TimestampInput::Integer(value) => Self::from_epoch_integer(*value, field),
            TimestampInput::Float(value) => Self::from_epoch_number(*value, field),
            TimestampInput::Text(text) => {
                let trimmed = text.trim();
                if trimmed.is_empty() {
                    Err(ValidationError::new(field, ValidationReason::Empty))
                } else if let Ok(integer) = trimmed.parse::<i128>() {
                    Self::from_epoch_integer(integer, field)
                } else {
                    Self::parse_rfc3339(trimmed, field)
                }
            }
        }
    }

    fn from_nanos_i128(nanos: i128, field: &str) -> Result<Self, ValidationError> {
        u64::try_from(nanos)
            .map(Self)
            .map_err(|_| out_of_range(field))
    }

    /// RFC 3339 in UTC with all nine fraction digits, e.g. `2026-05-05T10:00:00.000000000Z`.
    pub fn to_rfc3339(self) -> String {
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z"
        );
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0))
            .ok()
            .and_then(|moment| moment.format(&format).ok())
            .unwrap_or_else(|| format!("{}ns", self.0))
    }
}

fn out_of_range(field: &str) -> ValidationError {
    ValidationError::new(
        field,
        ValidationReason::OutOfRange(
            "must be between 1970-01-01T00:00:00Z and 2554-07-21T23:34:33Z".into(),
        ),
    )
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAY_5_2026_10H: u64 = 1_777_975_200_000_000_000;

    #[test]
    fn rfc3339_text_is_read_with_offsets_and_fractions() {
        let plain = Timestamp::parse_rfc3339("2026-05-05T10:00:00Z", "from").unwrap();
        assert_eq!(plain.unix_nanos(), MAY_5_2026_10H);
        let offset =
            Timestamp::parse_rfc3339("2026-05-05T12:00:00.000000123+02:00", "from").unwrap();
        assert_eq!(offset.unix_nanos(), MAY_5_2026_10H + 123);
    }

    #[test]
    fn rfc3339_output_keeps_nanoseconds_and_round_trips() {
        let moment = Timestamp::from_unix_nanos(MAY_5_2026_10H + 5);
        assert_eq!(moment.to_rfc3339(), "2026-05-05T10:00:00.000000005Z");
        assert_eq!(
            Timestamp::parse_rfc3339(&moment.to_rfc3339(), "t"),
            Ok(moment)
        );
    }

    #[test]
    fn epoch_numbers_are_read_by_magnitude() {
        let seconds = MAY_5_2026_10H / 1_000_000_000;
        let cases = [
            (i128::from(seconds), MAY_5_2026_10H),
            (i128::from(seconds) * 1_000, MAY_5_2026_10H),
            (i128::from(seconds) * 1_000_000, MAY_5_2026_10H),
            (i128::from(MAY_5_2026_10H) + 7, MAY_5_2026_10H + 7),
        ];
        for (input, expected) in cases {
            let parsed =
                Timestamp::from_input(&TimestampInput::Integer(input), "timestamp").unwrap();
            assert_eq!(parsed.unix_nanos(), expected, "{input}");
        }
        let float =
            Timestamp::from_input(&TimestampInput::Float(seconds as f64 + 0.5), "timestamp")
                .unwrap();
        assert_eq!(float.unix_nanos(), MAY_5_2026_10H + 500_000_000);
        let digits =
            Timestamp::from_input(&TimestampInput::Text(seconds.to_string()), "timestamp").unwrap();
        assert_eq!(digits.unix_nanos(), MAY_5_2026_10H);
    }

    #[test]
    fn timestamps_before_1970_or_malformed_are_rejected_naming_the_field() {
        let before = Timestamp::parse_rfc3339("1969-12-31T23:59:59Z", "to").unwrap_err();
        assert_eq!(before.field(), "to");
        assert!(matches!(before.reason(), ValidationReason::OutOfRange(_)));
        let negative =
            Timestamp::from_input(&TimestampInput::Integer(-5), "timestamp").unwrap_err();
        assert!(matches!(negative.reason(), ValidationReason::OutOfRange(_)));
        let garbage = Timestamp::from_input(&TimestampInput::Text("yesterday".into()), "timestamp")
            .unwrap_err();
        assert!(matches!(
            garbage.reason(),
            ValidationReason::InvalidFormat(_)
        ));
        let nan = Timestamp::from_input(&TimestampInput::Float(f64::NAN), "timestamp").unwrap_err();
        assert!(matches!(nan.reason(), ValidationReason::InvalidFormat(_)));
    }
}
