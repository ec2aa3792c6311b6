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

impl EventId {
    /// The hyphenated lowercase text form, written on the stack (no allocation): what
    /// `Display` prints.
    pub fn text(&self) -> IdText<36> {
        let mut text = IdText([0; 36]);
        self.0.hyphenated().encode_lower(&mut text.0);
        text
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().as_str())
    }
}

/// An id written out as `N` ASCII characters on the stack, so that encoders can borrow it as a
/// `&str` without allocating a `String` per event.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IdText<const N: usize>([u8; N]);

impl<const N: usize> IdText<N> {
    /// The text; always `N` ASCII characters.
    pub fn as_str(&self) -> &str {
        // Only ever filled with ASCII hex digits and hyphens, so never empty in practice.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl<const N: usize> fmt::Debug for IdText<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A W3C trace id: 16 bytes, never all zero, written as 32 lowercase hex characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId([u8; 16]);

/// A W3C span (parent) id: 8 bytes, never all zero, written as 16 lowercase hex characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId([u8; 8]);

impl TraceId {
    /// A new random trace id from a CSPRNG seeded from the operating system: the thread's
    /// ChaCha12 generator of the `rand` crate (reseeded from the OS as it goes), which costs no
    /// system call per id, unlike asking the OS each time.
    ///
    /// # Panics
    /// If the operating system has no random source to seed it, which no supported platform
    /// lacks.
    pub fn generate() -> Self {
        loop {
            let bytes: [u8; 16] = rand::random();
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

/// `bytes` as lowercase hex; `TEXT` must be twice `BYTES`.
fn hex_text<const BYTES: usize, const TEXT: usize>(bytes: &[u8; BYTES]) -> IdText<TEXT> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = IdText([b'0'; TEXT]);
    for (pair, byte) in text.0.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
    text
}

impl TraceId {
    /// The 32 lowercase hex characters, written on the stack: what `Display` prints.
    pub fn text(&self) -> IdText<32> {
        hex_text(&self.0)
    }
}

impl SpanId {
    /// The 16 lowercase hex characters, written on the stack: what `Display` prints.
    pub fn text(&self) -> IdText<16> {
        hex_text(&self.0)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().as_str())
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().as_str())
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
    fn ten_thousand_trace_ids_from_two_threads_are_all_distinct() {
        let other =
            std::thread::spawn(|| (0..5_000).map(|_| TraceId::generate()).collect::<Vec<_>>());
        let mut ids: std::collections::HashSet<TraceId> =
            (0..5_000).map(|_| TraceId::generate()).collect();
        ids.extend(other.join().unwrap());
        assert_eq!(ids.len(), 10_000);
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
    fn stack_texts_are_what_display_prints() {
        let trace = TraceId::parse("4BF92F3577B34DA6A3CE929D0E0E4736").unwrap();
        assert_eq!(trace.text().as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let span = SpanId::parse("00F067AA0BA902B7").unwrap();
        assert_eq!(span.text().as_str(), "00f067aa0ba902b7");
        let id = EventId::parse("0190B2A1-0000-7000-8ABC-00000000DEF0").unwrap();
        assert_eq!(id.text().as_str(), "0190b2a1-0000-7000-8abc-00000000def0");
        for _ in 0..100 {
            let (trace, id) = (TraceId::generate(), EventId::generate());
            assert_eq!(trace.text().as_str(), trace.to_string());
            assert_eq!(TraceId::parse(trace.text().as_str()), Ok(trace));
            assert_eq!(EventId::parse(id.text().as_str()), Ok(id));
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
