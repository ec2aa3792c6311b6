//! Identifiers: event ids (UUIDv7), W3C trace ids and span ids.

use std::fmt;

use crate::{ValidationError, ValidationReason};

/// A unique, time-ordered event id (UUIDv7): ids sort in the order the events were received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(uuid::Uuid);

impl EventId {
    /// A new id for an event received now.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    /// Parses the hyphenated text form.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        uuid::Uuid::parse_str(text)
            .map(Self)
            .map_err(|_| ValidationError::new("id", ValidationReason::InvalidFormat("a UUID")))
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

/// A W3C trace id: 16 bytes, never all zero, written as 32 lowercase hex characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId([u8; 16]);

/// A W3C span (parent) id: 8 bytes, never all zero, written as 16 lowercase hex characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId([u8; 8]);

impl TraceId {
    /// A new random trace id from the operating system's CSPRNG.
    ///
    /// # Panics
    /// If the operating system has no random source, which no supported platform lacks.
    pub fn generate() -> Self {
        loop {
            let mut bytes = [0u8; 16];
            #[allow(clippy::expect_used)]
            getrandom::fill(&mut bytes).expect("the operating system's random source is available");
            if bytes != [0; 16] {
                return Self(bytes);
            }
        }
    }

    /// Parses 32 hex characters (either case); the all-zero id is invalid.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        decode_nonzero_hex::<16>(text.trim(), "trace_id", "32 hex characters, not all zero")
            .map(Self)
    }

    /// Reads the trace id of a W3C `traceparent` header value (`00-<trace id>-<span id>-<flags>`).
    pub fn from_traceparent(header: &str) -> Result<(Self, SpanId), ValidationError> {
        let invalid = || {
            ValidationError::new(
                "traceparent",
                ValidationReason::InvalidFormat("a W3C traceparent: 00-<32 hex>-<16 hex>-<2 hex>"),
            )
        };
        let mut parts = header.trim().split('-');
        let (Some(version), Some(trace), Some(span), Some(flags)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let version_ok = version.len() == 2
            && version.bytes().all(|b| b.is_ascii_hexdigit())
            && !version.eq_ignore_ascii_case("ff");
        // Version 00 has exactly four parts; later versions may append more.
        let extra_ok = parts.next().is_none() || version != "00";
        let flags_ok = flags.len() == 2 && flags.bytes().all(|b| b.is_ascii_hexdigit());
        if !(version_ok && extra_ok && flags_ok) || trace.len() != 32 || span.len() != 16 {
            return Err(invalid());
        }
        let trace_id = Self::parse(trace).map_err(|_| invalid())?;
        let span_id = SpanId::parse(span).map_err(|_| invalid())?;
        Ok((trace_id, span_id))
    }
}

impl SpanId {
    /// Parses 16 hex characters (either case); the all-zero id is invalid.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        decode_nonzero_hex::<8>(text.trim(), "span_id", "16 hex characters, not all zero").map(Self)
    }
}

fn decode_nonzero_hex<const N: usize>(
    text: &str,
    field: &str,
    expected: &'static str,
) -> Result<[u8; N], ValidationError> {
    let invalid = || ValidationError::new(field, ValidationReason::InvalidFormat(expected));
    if text.len() != N * 2 {
        return Err(invalid());
    }
    let mut bytes = [0u8; N];
    for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let high = hex_value(pair[0]).ok_or_else(invalid)?;
        let low = hex_value(pair[1]).ok_or_else(invalid)?;
        *byte = high << 4 | low;
    }
    if bytes == [0; N] {
        return Err(invalid());
    }
    Ok(bytes)
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

fn write_hex(bytes: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    bytes.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(&self.0, f)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_trace_ids_are_32_lowercase_hex_and_distinct() {
        let first = TraceId::generate().to_string();
        let second = TraceId::generate().to_string();
        assert_eq!(first.len(), 32);
        assert!(
            first
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
        assert_ne!(first, second);
    }

    #[test]
    fn trace_ids_parse_from_hex_of_either_case_and_print_lowercase() {
        let id = TraceId::parse("4BF92F3577B34DA6A3CE929D0E0E4736").unwrap();
        assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn malformed_or_zero_trace_ids_are_rejected() {
        for text in [
            "",
            "abc",
            "00000000000000000000000000000000",
            "4bf92f3577b34da6a3ce929d0e0e473g",
        ] {
            let error = TraceId::parse(text).unwrap_err();
            assert_eq!(error.field(), "trace_id", "{text}");
        }
    }

    #[test]
    fn traceparent_headers_yield_trace_and_span_ids() {
        let (trace, span) =
            TraceId::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                .unwrap();
        assert_eq!(trace.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(span.to_string(), "00f067aa0ba902b7");
    }

    #[test]
    fn invalid_traceparent_headers_are_rejected() {
        for header in [
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736",
            "garbage",
        ] {
            assert_eq!(
                TraceId::from_traceparent(header).unwrap_err().field(),
                "traceparent",
                "{header}"
            );
        }
    }

    #[test]
    fn event_ids_are_time_ordered_and_round_trip_as_text() {
        let first = EventId::generate();
        let second = EventId::generate();
        assert!(first < second);
        assert_eq!(EventId::parse(&first.to_string()), Ok(first));
        assert_eq!(EventId::parse("nope").unwrap_err().field(), "id");
    }
}
