//! JSON text written straight into a buffer, byte for byte as `serde_json` writes it: the queue
//! document has a fixed shape, so its writer needs no serializer, and its strings (most of an
//! event's bytes) are scanned eight bytes at a time for the few that need escaping, where
//! `serde_json` looks at every byte in turn.

/// Appends `text` as a JSON string: `"` and `\` escaped with a backslash, the control characters
/// U+0000 to U+001F as `\b`, `\t`, `\n`, `\f`, `\r` or `\u00xx`; everything else as it is.
pub(crate) fn push_string(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push('"');
    // `copied` and every escaped position are at ASCII bytes, so each slice below starts and
    // ends on a character boundary.
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        if let Some(word) = bytes[at..].first_chunk::<8>()
            && !needs_escape(u64::from_le_bytes(*word))
        {
            at += 8;
            continue;
        }
        let end = (at + 8).min(bytes.len());
        for (index, &byte) in bytes.iter().enumerate().take(end).skip(at) {
            if let Some(escape) = escape_of(byte) {
                out.push_str(&text[copied..index]);
                escape.write(out);
                copied = index + 1;
            }
        }
        at = end;
    }
    out.push_str(&text[copied..]);
    out.push('"');
}

/// Appends `number` in decimal.
pub(crate) fn push_u64(out: &mut String, number: u64) {
    out.push_str(itoa::Buffer::new().format(number));
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether any of the eight bytes of `word` is below 0x20, a `"` or a `\` (exact: the
/// "has less than" and "has zero byte" tests of Bit Twiddling Hacks, valid for limits up to
/// 128; bytes from 0x80 up have their high bit set in `word` and never match).
fn needs_escape(word: u64) -> bool {
    let below = |limit: u64| word.wrapping_sub(ONES * limit) & !word & HIGH_BITS;
    let zero_in = |value: u64| value.wrapping_sub(ONES) & !value & HIGH_BITS;
    (below(0x20)
        | zero_in(word ^ (ONES * u64::from(b'"')))
        | zero_in(word ^ (ONES * u64::from(b'\\'))))
        != 0
}

/// How one byte is escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// A backslash and this character.
    Short(char),
    /// `\u00` and the byte in two lowercase hex digits.
    Unicode(u8),
}

impl Escape {
    fn write(self, out: &mut String) {
        const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";
        out.push('\\');
        match self {
            Self::Short(character) => out.push(character),
            Self::Unicode(byte) => {
                out.push_str("u00");
                out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
                out.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
            }
        }
    }
}

fn escape_of(byte: u8) -> Option<Escape> {
    Some(match byte {
        b'"' => Escape::Short('"'),
        b'\\' => Escape::Short('\\'),
        0x08 => Escape::Short('b'),
        0x0c => Escape::Short('f'),
        b'\n' => Escape::Short('n'),
        b'\r' => Escape::Short('r'),
        b'\t' => Escape::Short('t'),
        0x00..=0x1f => Escape::Unicode(byte),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(text: &str) -> String {
        let mut out = String::from("prefix ");
        push_string(&mut out, text);
        out.split_off("prefix ".len())
    }

    #[test]
    fn every_character_class_is_written_as_serde_json_writes_it() {
        let mut texts: Vec<String> = [
            "",
            "plain ascii",
            "exactly8",
            "sixteen chars ok",
            "quote \" back \\ slash / tab \t newline \n cr \r bs \u{8} ff \u{c}",
            "nul \u{0} unit \u{1f} del \u{7f} space \u{20}",
            "ünïcode \u{1F600} 😀 日本語 \u{2028}\u{2029}",
            "\"\"\"\"\"\"\"\"\\\\\\\\\\\\\\\\",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        // Every byte value below 0x80 at every position of a word, among plain and multi-byte
        // neighbours.
        for byte in 0u8..0x80 {
            for position in 0..17 {
                let mut text = "é".repeat(2) + &"a".repeat(position);
                text.push(char::from(byte));
                text.push_str("tail of some length");
                texts.push(text);
            }
        }
        for text in &texts {
            assert_eq!(
                written(text),
                serde_json::to_string(text).unwrap(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_word_test_matches_the_byte_test_for_every_byte_in_every_lane() {
        for byte in 0u8..=255 {
            for lane in 0..8 {
                let mut word = [b'a'; 8];
                word[lane] = byte;
                assert_eq!(
                    needs_escape(u64::from_le_bytes(word)),
                    escape_of(byte).is_some(),
                    "byte {byte:#04x} in lane {lane}"
                );
            }
        }
        // Neighbours that borrow in the subtraction do not hide or invent a match.
        for (bytes, expected) in [
            ([0x00, 0x01, 0x20, 0x21, 0x80, 0xff, 0x5b, 0x5d], true),
            ([0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xff], false),
            ([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f], true),
            ([0xa2, 0xdc, 0x9f, 0x80, 0xe2, 0x22, 0xc2, 0xa0], true),
        ] {
            assert_eq!(
                needs_escape(u64::from_le_bytes(bytes)),
                expected,
                "{bytes:02x?}"
            );
        }
    }

    #[test]
    fn numbers_are_decimal() {
        let mut out = String::new();
        push_u64(&mut out, 0);
        out.push(',');
        push_u64(&mut out, u64::MAX);
        assert_eq!(out, "0,18446744073709551615");
    }
}
