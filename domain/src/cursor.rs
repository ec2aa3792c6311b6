//! Cursors: opaque tokens that say where the next page of a result list starts.
//!
//! Results are ordered by `(timestamp, id)`, a key no two events share, so "after this key"
//! is a position that stays correct however many events share a timestamp and whatever is
//! stored meanwhile: paging by cursor has no gaps and no repeats. A cursor also records the
//! order it was issued for.

use std::fmt;

use crate::{EventId, LogEvent, SortOrder, Timestamp, ValidationError, ValidationReason};

const VERSION: u8 = 1;
/// version, order, timestamp (8 bytes), id (16 bytes), checksum.
const TOKEN_BYTES: usize = 27;

/// A position in a result list: just after the event with `(timestamp, id)`, in `order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    timestamp: Timestamp,
    id: EventId,
    order: SortOrder,
}

impl Cursor {
    /// The position just after `event` in a list sorted in `order`.
    pub fn after(event: &LogEvent, order: SortOrder) -> Self {
        Self {
            timestamp: event.timestamp(),
            id: event.id(),
            order,
        }
    }

    /// Reads a token made by [`Cursor::encode`]; anything else is rejected naming `cursor`.
    pub fn parse(token: &str) -> Result<Self, ValidationError> {
        let invalid = || {
            ValidationError::new(
                "cursor",
                ValidationReason::InvalidFormat("a next_cursor value from an earlier answer"),
            )
        };
        let token = token.trim();
        if token.len() != TOKEN_BYTES * 2 || !token.is_ascii() {
            return Err(invalid());
        }
        let mut bytes = [0u8; TOKEN_BYTES];
        for (byte, pair) in bytes.iter_mut().zip(token.as_bytes().chunks_exact(2)) {
            let text = std::str::from_utf8(pair).map_err(|_| invalid())?;
            *byte = u8::from_str_radix(text, 16).map_err(|_| invalid())?;
        }
        let (body, checksum) = bytes.split_at(TOKEN_BYTES - 1);
        if body[0] != VERSION || checksum[0] != checksum_of(body) {
            return Err(invalid());
        }
        let order = match body[1] {
            0 => SortOrder::Descending,
            1 => SortOrder::Ascending,
            _ => return Err(invalid()),
        };
        let mut nanos = [0u8; 8];
        nanos.copy_from_slice(&body[2..10]);
        let id_hex: String = body[10..26].iter().map(|b| format!("{b:02x}")).collect();
        let id = EventId::parse(&id_hex).map_err(|_| invalid())?;
        Ok(Self {
            timestamp: Timestamp::from_unix_nanos(u64::from_be_bytes(nanos)),
            id,
            order,
        })
    }

    /// The token: 54 lowercase hex characters.
    pub fn encode(&self) -> String {
        let mut body = Vec::with_capacity(TOKEN_BYTES);
        body.push(VERSION);
        body.push(match self.order {
            SortOrder::Descending => 0,
            SortOrder::Ascending => 1,
        });
        body.extend_from_slice(&self.timestamp.unix_nanos().to_be_bytes());
        let id_hex: String = self.id.to_string().chars().filter(|c| *c != '-').collect();
        for pair in id_hex.as_bytes().chunks_exact(2) {
            let byte = std::str::from_utf8(pair)
                .ok()
                .and_then(|text| u8::from_str_radix(text, 16).ok())
                .unwrap_or_default();
            body.push(byte);
        }
        body.push(checksum_of(&body));
        body.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// Event time of the last event before the position.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// Id of the last event before the position.
    pub fn id(&self) -> EventId {
        self.id
    }

    /// The order the cursor was issued for.
    pub fn order(&self) -> SortOrder {
        self.order
    }

    /// Whether the position lies before an event with this key, i.e. the event belongs to a
    /// later page, in the cursor's order.
    pub fn is_before(&self, timestamp: Timestamp, id: EventId) -> bool {
        let key = (timestamp, id);
        let position = (self.timestamp, self.id);
        match self.order {
            SortOrder::Descending => key < position,
            SortOrder::Ascending => key > position,
        }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

/// A one-byte check that catches a mistyped or truncated token.
fn checksum_of(body: &[u8]) -> u8 {
    body.iter()
        .fold(0x5a_u8, |sum, byte| sum.rotate_left(3) ^ byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(order: SortOrder) -> Cursor {
        Cursor {
            timestamp: Timestamp::from_unix_nanos(1_777_975_200_000_000_123),
            id: EventId::parse("019df0a1-2b3c-7d4e-8f60-718293a4b5c6").unwrap(),
            order,
        }
    }

    #[test]
    fn a_cursor_round_trips_through_its_token_in_either_order() {
        for order in [SortOrder::Descending, SortOrder::Ascending] {
            let original = cursor(order);
            let token = original.encode();
            assert_eq!(token.len(), 54);
            assert!(
                token
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
            );
            assert_eq!(Cursor::parse(&token), Ok(original));
        }
    }

    #[test]
    fn garbage_truncated_or_altered_tokens_are_rejected_naming_cursor() {
        let token = cursor(SortOrder::Descending).encode();
        let mut altered = token.clone().into_bytes();
        altered[20] = if altered[20] == b'0' { b'1' } else { b'0' };
        let altered = String::from_utf8(altered).unwrap();
        for bad in [
            "",
            "garbage",
            &token[..52],
            &format!("{token}00"),
            &altered,
            &"z".repeat(54),
            &"é".repeat(27),
            "' OR 1=1 --",
        ] {
            let error = Cursor::parse(bad).unwrap_err();
            assert_eq!(error.field(), "cursor", "{bad}");
        }
    }

    #[test]
    fn the_position_splits_events_by_timestamp_then_id_in_the_cursor_order() {
        let newest_first = cursor(SortOrder::Descending);
        let at = newest_first.timestamp();
        let later_id = EventId::parse("019df0a1-2b3c-7d4e-8f60-718293a4b5c7").unwrap();
        let earlier_id = EventId::parse("019df0a1-2b3c-7d4e-8f60-718293a4b5c5").unwrap();
        assert!(newest_first.is_before(at, earlier_id));
        assert!(!newest_first.is_before(at, newest_first.id()));
        assert!(!newest_first.is_before(at, later_id));
        assert!(newest_first.is_before(Timestamp::from_unix_nanos(1), later_id));
        let oldest_first = cursor(SortOrder::Ascending);
        assert!(oldest_first.is_before(at, later_id));
        assert!(!oldest_first.is_before(at, earlier_id));
    }
}
