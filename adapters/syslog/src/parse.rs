//! Syslog messages, parsed from one frame's bytes without any I/O: RFC 5424 (`<PRI>1 ...`) and
//! the older BSD format of RFC 3164 (`<PRI>Mmm dd hh:mm:ss host tag: msg`), told apart by the
//! version digit after the priority.
//!
//! Header fields must be UTF-8 (they are ASCII by both RFCs); the message itself is taken as
//! UTF-8 with invalid bytes replaced (U+FFFD), because RFC 3164 allows any character set and
//! refusing a line for one byte would lose it.

mod rfc3164;
mod rfc5424;

use time::OffsetDateTime;

/// Which RFC a message followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogFormat {
    Rfc5424,
    Rfc3164,
}

/// When a message says it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogTimestamp {
    /// RFC 5424's RFC 3339 text, as sent (validated by the domain).
    Rfc3339(String),
    /// RFC 3164's `Mmm dd hh:mm:ss`, resolved to nanoseconds since the epoch (UTC, year chosen
    /// from the receive time; see [`rfc3164`]).
    UnixNanos(i128),
}

/// One structured-data element of RFC 5424: `[id name="value" ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement {
    pub id: String,
    pub params: Vec<(String, String)>,
}

/// A parsed syslog message; `None` stands for RFC 5424's nil value `-` or a part RFC 3164
/// messages lack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogMessage {
    pub format: SyslogFormat,
    /// 0-23 (`kern` .. `local7`).
    pub facility: u8,
    /// 0 (emergency) .. 7 (debug).
    pub severity: u8,
    pub timestamp: Option<SyslogTimestamp>,
    pub hostname: Option<String>,
    pub app_name: Option<String>,
    pub proc_id: Option<String>,
    pub msg_id: Option<String>,
    pub structured_data: Vec<SdElement>,
    /// MSG, without a leading BOM and without trailing line ends.
    pub message: String,
}

/// Why a frame is not a syslog message. The message says where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("a syslog message starts with `<PRI>`, this one with {0:?}")]
    MissingPriority(String),
    #[error("the priority must be `<0>` to `<191>` (1-3 digits, no leading zero)")]
    InvalidPriority,
    #[error("RFC 5424 field {field}: {reason}")]
    Header { field: &'static str, reason: String },
    #[error("RFC 5424 structured data: {0}")]
    StructuredData(String),
    #[error("the frame is empty")]
    Empty,
}

/// Parses one frame. `received_at` resolves RFC 3164's timestamps, which have no year.
pub fn parse(frame: &[u8], received_at: OffsetDateTime) -> Result<SyslogMessage, ParseError> {
    let frame = trim_line_end(frame);
    if frame.is_empty() {
        return Err(ParseError::Empty);
    }
    let (priority, rest) = priority(frame)?;
    let (facility, severity) = (priority / 8, priority % 8);
    // RFC 5424 puts VERSION ("1") and a space right after the priority; RFC 3164 never starts
    // its timestamp with a digit.
    match rest {
        [b'1', b' ', rest @ ..] => rfc5424::parse(facility, severity, rest),
        _ => Ok(rfc3164::parse(facility, severity, rest, received_at)),
    }
}

/// The severity's keyword (RFC 5424 table 2).
pub fn severity_name(severity: u8) -> &'static str {
    const NAMES: [&str; 8] = [
        "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
    ];
    NAMES.get(usize::from(severity)).copied().unwrap_or("debug")
}

/// The facility's keyword (RFC 5424 table 1, as syslog configurations name them).
pub fn facility_name(facility: u8) -> &'static str {
    const NAMES: [&str; 24] = [
        "kern",
        "user",
        "mail",
        "daemon",
        "auth",
        "syslog",
        "lpr",
        "news",
        "uucp",
        "cron",
        "authpriv",
        "ftp",
        "ntp",
        "security",
        "console",
        "solaris-cron",
        "local0",
        "local1",
        "local2",
        "local3",
        "local4",
        "local5",
        "local6",
        "local7",
    ];
    NAMES
        .get(usize::from(facility))
        .copied()
        .unwrap_or("local7")
}

/// Frames may end in LF, CRLF or NUL (some senders terminate with it); none of it is message.
fn trim_line_end(mut frame: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r' | b'\0'] = frame {
        frame = rest;
    }
    frame
}

/// `<PRI>`: 1-3 digits without a leading zero (except `<0>`), at most 191.
fn priority(frame: &[u8]) -> Result<(u8, &[u8]), ParseError> {
    let Some(rest) = frame.strip_prefix(b"<") else {
        let start = String::from_utf8_lossy(&frame[..frame.len().min(16)]).into_owned();
        return Err(ParseError::MissingPriority(start));
    };
    let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
    if !(1..=3).contains(&digits) || rest.get(digits) != Some(&b'>') {
        return Err(ParseError::InvalidPriority);
    }
    if digits > 1 && rest[0] == b'0' {
        return Err(ParseError::InvalidPriority);
    }
    let value = rest[..digits]
        .iter()
        .fold(0_u16, |value, digit| value * 10 + u16::from(digit - b'0'));
    let priority = u8::try_from(value)
        .ok()
        .filter(|priority| *priority <= 191)
        .ok_or(ParseError::InvalidPriority)?;
    Ok((priority, &rest[digits + 1..]))
}

/// The message text: a leading UTF-8 BOM dropped (RFC 5424 marks UTF-8 with it), then leading
/// spaces (rsyslog forwards the space that followed a BSD tag's colon), invalid UTF-8 replaced.
fn message_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes.iter().take_while(|byte| **byte == b' ').count();
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-12-04 15:00:00 UTC)
    }

    #[test]
    fn the_priority_gives_facility_and_severity() {
        let message = parse(b"<165>1 - - - - - - hello", now()).unwrap();
        assert_eq!((message.facility, message.severity), (20, 5));
        assert_eq!(facility_name(20), "local4");
        assert_eq!(severity_name(5), "notice");
        let message = parse(b"<0>1 - - - - - - kernel panic", now()).unwrap();
        assert_eq!((message.facility, message.severity), (0, 0));
    }

    #[test]
    fn a_frame_without_a_valid_priority_is_refused_saying_why() {
        for (frame, expected) in [
            (&b"hello"[..], "starts with `<PRI>`"),
            (b"<>1 - - - - - - x", "priority must be"),
            (b"<192>1 - - - - - - x", "priority must be"),
            (b"<013>1 - - - - - - x", "priority must be"),
            (b"<1234>x", "priority must be"),
            (b"<12 x", "priority must be"),
        ] {
            let error = parse(frame, now()).unwrap_err().to_string();
            assert!(error.contains(expected), "{frame:?}: {error}");
        }
        assert_eq!(parse(b"\r\n", now()), Err(ParseError::Empty));
    }

    #[test]
    fn line_ends_and_nul_terminators_are_not_part_of_the_message() {
        let message = parse(b"<13>1 - - - - - - text\r\n\0", now()).unwrap();
        assert_eq!(message.message, "text");
    }

    #[test]
    fn leading_spaces_of_the_message_are_dropped() {
        let message = parse(b"<156>1 - vm octet 4242 - -  hello octet\n", now()).unwrap();
        assert_eq!(message.message, "hello octet");
    }

    #[test]
    fn invalid_utf8_in_the_message_is_replaced_not_refused() {
        let message = parse(b"<13>1 - - - - - - caf\xE9 ok", now()).unwrap();
        assert_eq!(message.message, "caf\u{FFFD} ok");
    }
}
