//! Splitting a TCP byte stream into syslog frames as RFC 6587 describes, the method detected per
//! frame: a frame starting with a digit is octet-counted (`LEN SP MSG`), anything else runs to
//! the next LF (non-transparent framing). Empty lines between frames are skipped.
//!
//! A frame over the size limit is refused and skipped without being held in memory: an
//! octet-counted one by its declared length, a line up to its LF. A length field that is not
//! `digits SP` is refused and the stream resynchronises at the next LF. Either way the frames
//! after it are read as usual.

/// Why bytes of the stream were not a frame; the decoder has skipped them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("frame of {declared} bytes refused: the limit is {max_bytes} bytes")]
    TooLarge { declared: usize, max_bytes: usize },
    #[error("line refused: longer than the limit of {max_bytes} bytes")]
    LineTooLong { max_bytes: usize },
    #[error(
        "an octet-counted frame starts with `LEN SP` (1-9 digits, no leading zero); skipped to the next line"
    )]
    BadLength,
    #[error("the connection closed inside a frame: {received} of {declared} bytes arrived")]
    Truncated { received: usize, declared: usize },
}

/// What the decoder is skipping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    Nothing,
    /// The rest of a refused octet-counted frame.
    Octets(usize),
    /// The rest of a refused line.
    Line,
}

/// Frames out of a byte stream fed to it in pieces.
#[derive(Debug)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
    /// Bytes of `buffer` already decoded.
    start: usize,
    max_frame_bytes: usize,
    skip: Skip,
}

/// The longest length field: nine digits is more than any frame limit.
const MAX_LENGTH_DIGITS: usize = 9;

impl FrameDecoder {
    pub fn new(max_frame_bytes: usize) -> Self {
        Self {
            buffer: Vec::new(),
            start: 0,
            max_frame_bytes,
            skip: Skip::Nothing,
        }
    }

    /// Adds bytes read from the stream.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buffer.len() / 2 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes received and not yet decoded.
    pub fn pending(&self) -> usize {
        self.buffer.len() - self.start
    }

    /// The next complete frame, a refusal, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Vec<u8>, FramingError>> {
        loop {
            let rest = &self.buffer[self.start..];
            match self.skip {
                Skip::Octets(remaining) => {
                    let skipped = remaining.min(rest.len());
                    self.start += skipped;
                    if skipped < remaining {
                        self.skip = Skip::Octets(remaining - skipped);
                        return None;
                    }
                    self.skip = Skip::Nothing;
                }
                Skip::Line => match rest.iter().position(|byte| *byte == b'\n') {
                    Some(end) => {
                        self.start += end + 1;
                        self.skip = Skip::Nothing;
                    }
                    None => {
                        self.start = self.buffer.len();
                        return None;
                    }
                },
                Skip::Nothing => {
                    let blank = rest
                        .iter()
                        .take_while(|byte| matches!(byte, b'\n' | b'\r' | b'\0'))
                        .count();
                    self.start += blank;
                    let rest = &self.buffer[self.start..];
                    return match rest.first()? {
                        b'0'..=b'9' => self.octet_counted(),
                        _ => self.line(),
                    };
                }
            }
        }
    }

    fn octet_counted(&mut self) -> Option<Result<Vec<u8>, FramingError>> {
        let rest = &self.buffer[self.start..];
        let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
        if digits > MAX_LENGTH_DIGITS || rest[0] == b'0' {
            self.skip = Skip::Line;
            return Some(Err(FramingError::BadLength));
        }
        match rest.get(digits) {
            None => return None,
            Some(b' ') => {}
            Some(_) => {
                self.skip = Skip::Line;
                return Some(Err(FramingError::BadLength));
            }
        }
        let declared = rest[..digits].iter().fold(0_usize, |value, digit| {
            value * 10 + usize::from(digit - b'0')
        });
        let body = self.start + digits + 1;
        if declared > self.max_frame_bytes {
            self.start = body;
            self.skip = Skip::Octets(declared);
            return Some(Err(FramingError::TooLarge {
                declared,
                max_bytes: self.max_frame_bytes,
            }));
        }
        if self.buffer.len() - body < declared {
            return None;
        }
        self.start = body + declared;
        Some(Ok(self.buffer[body..body + declared].to_vec()))
    }

    fn line(&mut self) -> Option<Result<Vec<u8>, FramingError>> {
        let rest = &self.buffer[self.start..];
        match rest.iter().position(|byte| *byte == b'\n') {
            Some(end) if end > self.max_frame_bytes => {
                self.start += end + 1;
                Some(Err(FramingError::LineTooLong {
                    max_bytes: self.max_frame_bytes,
                }))
            }
            Some(end) => {
                let frame = rest[..end].to_vec();
                self.start += end + 1;
                Some(Ok(frame))
            }
            None if rest.len() > self.max_frame_bytes => {
                self.start = self.buffer.len();
                self.skip = Skip::Line;
                Some(Err(FramingError::LineTooLong {
                    max_bytes: self.max_frame_bytes,
                }))
            }
            None => None,
        }
    }

    /// At the end of the stream: a last line without its LF is a frame, a partial
    /// octet-counted frame an error.
    pub fn finish(&mut self) -> Option<Result<Vec<u8>, FramingError>> {
        let rest = &self.buffer[self.start..];
        self.start = self.buffer.len();
        if rest
            .iter()
            .all(|byte| matches!(byte, b'\n' | b'\r' | b'\0'))
            || self.skip != Skip::Nothing
        {
            return None;
        }
        let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
        if digits > 0 && rest.get(digits) == Some(&b' ') {
            let declared = rest[..digits].iter().fold(0_usize, |value, digit| {
                value
                    .saturating_mul(10)
                    .saturating_add(usize::from(digit - b'0'))
            });
            return Some(Err(FramingError::Truncated {
                received: rest.len() - digits - 1,
                declared,
            }));
        }
        if digits > 0 {
            return Some(Err(FramingError::BadLength));
        }
        Some(Ok(rest.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Feeds `stream` in pieces of `piece` bytes and collects everything decoded, then finishes.
    fn decode(stream: &[u8], piece: usize, max: usize) -> Vec<Result<String, FramingError>> {
        let mut decoder = FrameDecoder::new(max);
        let mut out = Vec::new();
        for chunk in stream.chunks(piece.max(1)) {
            decoder.extend(chunk);
            while let Some(item) = decoder.next_frame() {
                out.push(item.map(|frame| String::from_utf8_lossy(&frame).into_owned()));
            }
        }
        out.extend(
            decoder
                .finish()
                .map(|item| item.map(|frame| String::from_utf8_lossy(&frame).into_owned())),
        );
        out
    }

    fn ok(frames: &[&str]) -> Vec<Result<String, FramingError>> {
        frames.iter().map(|frame| Ok((*frame).to_owned())).collect()
    }

    #[test]
    fn octet_counted_and_newline_framed_messages_mix_on_one_stream() {
        let stream = b"11 <13>1 - - a\n<14>b\n\n11 <15>c\nstill\n<16>last";
        assert_eq!(
            decode(stream, 1000, 100),
            ok(&["<13>1 - - a", "<14>b", "<15>c\nstill", "<16>last"])
        );
    }

    #[test]
    fn frames_split_across_reads_at_every_byte_decode_alike() {
        let stream = b"11 <13>1 - - a\n<14>b\r\n12 <15>c\nstill";
        let whole = decode(stream, stream.len(), 100);
        for piece in 1..stream.len() {
            assert_eq!(decode(stream, piece, 100), whole, "pieces of {piece}");
        }
    }

    #[test]
    fn an_oversized_octet_counted_frame_is_refused_and_skipped_whole() {
        let mut stream = b"30 <13>".to_vec();
        stream.extend([b'x'; 26]);
        stream.extend(b"<14>next\n");
        assert_eq!(
            decode(&stream, 7, 20),
            vec![
                Err(FramingError::TooLarge {
                    declared: 30,
                    max_bytes: 20
                }),
                Ok("<14>next".to_owned()),
            ]
        );
    }

    #[test]
    fn an_overlong_line_is_refused_and_the_next_line_read() {
        let mut stream = vec![b'y'; 50];
        stream.extend(b"\n<14>after\n");
        for piece in [1, 7, 100] {
            assert_eq!(
                decode(&stream, piece, 20),
                vec![
                    Err(FramingError::LineTooLong { max_bytes: 20 }),
                    Ok("<14>after".to_owned())
                ],
                "pieces of {piece}"
            );
        }
    }

    #[test]
    fn a_broken_length_field_is_refused_and_the_stream_resynchronises_at_the_next_line() {
        assert_eq!(
            decode(b"12x <13>bad\n<14>good\n", 5, 100),
            vec![Err(FramingError::BadLength), Ok("<14>good".to_owned())]
        );
        assert_eq!(
            decode(b"0 \n012 <13>abcdefghi\n<14>good\n", 5, 100),
            vec![
                Err(FramingError::BadLength),
                Err(FramingError::BadLength),
                Ok("<14>good".to_owned())
            ]
        );
        assert_eq!(
            decode(b"1234567890 x\n<14>good\n", 3, 100),
            vec![Err(FramingError::BadLength), Ok("<14>good".to_owned())]
        );
    }

    #[test]
    fn a_count_shorter_than_the_message_leaves_the_rest_as_the_next_line() {
        // The lie costs the message its tail; the tail is refused by the parser (no `<PRI>`),
        // and the frame after it is intact.
        assert_eq!(
            decode(b"5 <13>hello\n<14>next\n", 4, 100),
            ok(&["<13>h", "ello", "<14>next"])
        );
    }

    #[test]
    fn a_stream_that_ends_inside_a_frame_reports_what_arrived() {
        assert_eq!(
            decode(b"<13>a\n40 <14>only part", 4, 100),
            vec![
                Ok("<13>a".to_owned()),
                Err(FramingError::Truncated {
                    received: 13,
                    declared: 40
                })
            ]
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_never_yield_a_frame_over_the_limit(
            stream in proptest::collection::vec(any::<u8>(), 0..600),
            piece in 1_usize..64,
        ) {
            for frame in decode(&stream, piece, 40).into_iter().flatten() {
                prop_assert!(frame.len() <= 40 * 4, "lossy text of at most 40 bytes");
            }
        }

        #[test]
        fn any_split_of_valid_frames_decodes_to_the_same_frames(
            lines in proptest::collection::vec("<[0-9]{1,2}>[ -~]{0,30}", 1..8),
            counted in proptest::collection::vec(any::<bool>(), 8),
            piece in 1_usize..50,
        ) {
            let mut stream = Vec::new();
            for (line, counted) in lines.iter().zip(&counted) {
                if *counted {
                    stream.extend(format!("{} {line}", line.len()).bytes());
                } else {
                    stream.extend(format!("{line}\n").bytes());
                }
            }
            let frames: Vec<String> = decode(&stream, piece, 100)
                .into_iter()
                .map(|item| item.unwrap())
                .collect();
            prop_assert_eq!(frames, lines);
        }
    }
}
