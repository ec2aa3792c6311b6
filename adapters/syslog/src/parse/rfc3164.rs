//! RFC 3164 (BSD syslog): `Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG` after `<PRI>`, read the way
//! receivers read it in practice: every part may be missing, and what cannot be read as a header
//! is message.
//!
//! The timestamp has neither year nor zone. It is taken as UTC, in the year that puts it closest
//! before the receive time: the receive time's year, or the year before when that would put it
//! more than a day in the future (a December line received in January). Senders that log local
//! time off UTC should send RFC 5424, whose timestamps carry their offset.

use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time};

use super::{SyslogFormat, SyslogMessage, SyslogTimestamp, message_text};

/// The longest TAG read as one (RFC 3164 says 32; real programs' names run longer).
const MAX_TAG_CHARS: usize = 48;

/// Parses what follows `<PRI>`; never fails, the unreadable rest being the message.
pub(super) fn parse(
    facility: u8,
    severity: u8,
    rest: &[u8],
    received_at: OffsetDateTime,
) -> SyslogMessage {
    let (timestamp, rest) = match timestamp(rest, received_at) {
        Some((timestamp, rest)) => (Some(timestamp), rest),
        None => (None, rest),
    };
    // A HOSTNAME follows a timestamp, unless the first word already is the TAG (`app[1]:`), as
    // in lines written to a local socket.
    let (hostname, rest) = match (&timestamp, word(rest)) {
        (Some(_), Some((host, after))) if !looks_like_tag(host) => (Some(host), after),
        _ => (None, rest),
    };
    let (app_name, proc_id, rest) = match tag(rest) {
        Some(tag) => (Some(tag.name), tag.pid, tag.rest),
        None => (None, None, rest),
    };
    SyslogMessage {
        format: SyslogFormat::Rfc3164,
        facility,
        severity,
        timestamp,
        hostname: hostname.map(lossy),
        app_name: app_name.map(lossy),
        proc_id: proc_id.map(lossy),
        msg_id: None,
        structured_data: Vec::new(),
        message: message_text(rest),
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The next space-terminated word and what follows its space.
fn word(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = bytes.iter().position(|byte| *byte == b' ')?;
    (end > 0).then(|| (&bytes[..end], &bytes[end + 1..]))
}

fn looks_like_tag(word: &[u8]) -> bool {
    word.ends_with(b":") || word.contains(&b'[')
}

/// A TAG, its PID and what follows its colon.
struct Tag<'a> {
    name: &'a [u8],
    pid: Option<&'a [u8]>,
    rest: &'a [u8],
}

/// `TAG: ` or `TAG[PID]: `: the tag, the pid and the message after the colon (and one space).
fn tag(bytes: &[u8]) -> Option<Tag<'_>> {
    let end = bytes
        .iter()
        .position(|byte| matches!(byte, b'[' | b':' | b' '))?;
    let (name, rest) = bytes.split_at(end);
    if name.is_empty() || name.len() > MAX_TAG_CHARS || !name.iter().all(u8::is_ascii_graphic) {
        return None;
    }
    let (pid, rest) = match rest.strip_prefix(b"[") {
        Some(inside) => {
            let close = inside.iter().position(|byte| *byte == b']')?;
            (Some(&inside[..close]), &inside[close + 1..])
        }
        None => (None, rest),
    };
    let rest = rest.strip_prefix(b":")?;
    Some(Tag {
        name,
        pid,
        rest: rest.strip_prefix(b" ").unwrap_or(rest),
    })
}

/// `Mmm dd hh:mm:ss ` (the day space- or zero-padded, or one digit), or an RFC 3339 timestamp
/// as some forwarders write in this format.
fn timestamp(bytes: &[u8], received_at: OffsetDateTime) -> Option<(SyslogTimestamp, &[u8])> {
    if bytes.len() > 4 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-' {
        let (text, rest) = word(bytes)?;
        return Some((SyslogTimestamp::Rfc3339(lossy(text)), rest));
    }
    let month = month(bytes.get(..3)?)?;
    let mut rest = bytes.get(3..)?.strip_prefix(b" ")?;
    rest = rest.strip_prefix(b" ").unwrap_or(rest);
    let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
    if !(1..=2).contains(&digits) {
        return None;
    }
    let day = number(&rest[..digits])?;
    let rest = rest[digits..].strip_prefix(b" ")?;
    let clock = rest.get(..8)?;
    if clock[2] != b':' || clock[5] != b':' {
        return None;
    }
    let time = Time::from_hms(
        number(&clock[..2])?,
        number(&clock[3..5])?,
        number(&clock[6..8])?,
    )
    .ok()?;
    let rest = rest[8..].strip_prefix(b" ").unwrap_or(&rest[8..]);
    let resolved = resolve_year(month, day, time, received_at)?;
    let nanos = resolved.unix_timestamp_nanos();
    Some((SyslogTimestamp::UnixNanos(nanos), rest))
}

/// The date in the receive time's year, or the year before when that is more than a day ahead.
fn resolve_year(
    month: Month,
    day: u8,
    time: Time,
    received_at: OffsetDateTime,
) -> Option<OffsetDateTime> {
    let in_year = |year| {
        Date::from_calendar_date(year, month, day)
            .ok()
            .map(|date| PrimitiveDateTime::new(date, time).assume_utc())
    };
    let year = received_at.year();
    match in_year(year) {
        Some(candidate) if candidate <= received_at + Duration::days(1) => Some(candidate),
        // Ahead, or 29 February outside a leap year: the year before.
        _ => in_year(year - 1),
    }
}

fn number(digits: &[u8]) -> Option<u8> {
    digits.iter().try_fold(0_u8, |value, digit| {
        digit
            .is_ascii_digit()
            .then(|| value.checked_mul(10)?.checked_add(digit - b'0'))?
    })
}

fn month(name: &[u8]) -> Option<Month> {
    const MONTHS: [(&[u8], Month); 12] = [
        (b"Jan", Month::January),
        (b"Feb", Month::February),
        (b"Mar", Month::March),
        (b"Apr", Month::April),
        (b"May", Month::May),
        (b"Jun", Month::June),
        (b"Jul", Month::July),
        (b"Aug", Month::August),
        (b"Sep", Month::September),
        (b"Oct", Month::October),
        (b"Nov", Month::November),
        (b"Dec", Month::December),
    ];
    MONTHS
        .iter()
        .find(|(text, _)| text.eq_ignore_ascii_case(name))
        .map(|(_, month)| *month)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::super::parse as parse_frame;
    use super::*;

    const RECEIVED: OffsetDateTime = datetime!(2026-12-04 15:00:00 UTC);

    fn parsed(frame: &str) -> SyslogMessage {
        parse_frame(frame.as_bytes(), RECEIVED).unwrap()
    }

    fn nanos(at: OffsetDateTime) -> Option<SyslogTimestamp> {
        Some(SyslogTimestamp::UnixNanos(at.unix_timestamp_nanos()))
    }

    #[test]
    fn rfc3164_example_1_with_host_and_tag() {
        let message =
            parsed("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8");
        assert_eq!(message.format, SyslogFormat::Rfc3164);
        assert_eq!((message.facility, message.severity), (4, 2));
        // October lies before December: the receive time's year.
        assert_eq!(message.timestamp, nanos(datetime!(2026-10-11 22:14:15 UTC)));
        assert_eq!(message.hostname.as_deref(), Some("mymachine"));
        assert_eq!(message.app_name.as_deref(), Some("su"));
        assert_eq!(
            message.message,
            "'su root' failed for lonvick on /dev/pts/8"
        );
    }

    #[test]
    fn rfc3164_example_2_without_a_header_is_all_message() {
        let message = parsed("<13>Use the BFG!");
        assert_eq!(message.timestamp, None);
        assert_eq!(message.hostname, None);
        assert_eq!(message.app_name, None);
        assert_eq!(message.message, "Use the BFG!");
    }

    #[test]
    fn rfc3164_example_3_with_a_space_padded_day() {
        let message = parsed(
            "<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the do-nuts.",
        );
        // "CST" is read as the host name: the RFC's own example puts a non-standard zone there.
        assert_eq!(message.timestamp, nanos(datetime!(2026-08-24 05:34:00 UTC)));
        assert_eq!(message.hostname.as_deref(), Some("CST"));
        assert_eq!(message.app_name, None);
        assert_eq!(
            message.message,
            "1987 mymachine myproc[10]: %% It's time to make the do-nuts."
        );
    }

    #[test]
    fn logger_style_lines_give_tag_pid_and_message() {
        let message = parsed("<13>Dec  4 14:59:58 web-1 checkout[4242]: card declined");
        assert_eq!(message.timestamp, nanos(datetime!(2026-12-04 14:59:58 UTC)));
        assert_eq!(message.hostname.as_deref(), Some("web-1"));
        assert_eq!(message.app_name.as_deref(), Some("checkout"));
        assert_eq!(message.proc_id.as_deref(), Some("4242"));
        assert_eq!(message.message, "card declined");
    }

    #[test]
    fn a_line_from_a_local_socket_has_a_tag_but_no_host() {
        let message = parsed("<13>Dec 4 14:59:58 checkout[7]: paid");
        assert_eq!(message.hostname, None);
        assert_eq!(message.app_name.as_deref(), Some("checkout"));
        assert_eq!(message.proc_id.as_deref(), Some("7"));
        assert_eq!(message.message, "paid");
    }

    #[test]
    fn a_december_line_received_in_january_is_from_the_year_before() {
        let received = datetime!(2027-01-01 00:00:05 UTC);
        let message = parse_frame(b"<13>Dec 31 23:59:59 h app: late", received).unwrap();
        assert_eq!(message.timestamp, nanos(datetime!(2026-12-31 23:59:59 UTC)));
        // Up to a day ahead is clock skew, not last year.
        let message = parse_frame(b"<13>Jan  1 00:10:00 h app: early", received).unwrap();
        assert_eq!(message.timestamp, nanos(datetime!(2027-01-01 00:10:00 UTC)));
    }

    #[test]
    fn the_29th_of_february_outside_a_leap_year_falls_back_to_the_leap_year_before() {
        let received = datetime!(2025-03-01 00:00:00 UTC);
        let message = parse_frame(b"<13>Feb 29 12:00:00 h app: leap", received).unwrap();
        assert_eq!(message.timestamp, nanos(datetime!(2024-02-29 12:00:00 UTC)));
    }

    #[test]
    fn an_rfc3339_timestamp_in_the_bsd_format_is_kept_as_text() {
        let message = parsed("<13>2026-12-04T14:00:00.5+01:00 host app: forwarded");
        assert_eq!(
            message.timestamp,
            Some(SyslogTimestamp::Rfc3339(
                "2026-12-04T14:00:00.5+01:00".into()
            ))
        );
        assert_eq!(message.hostname.as_deref(), Some("host"));
        assert_eq!(message.message, "forwarded");
    }

    #[test]
    fn impossible_clock_times_leave_the_header_as_message() {
        let message = parsed("<13>Dec  4 25:61:00 host app: x");
        assert_eq!(message.timestamp, None);
        assert_eq!(message.message, "Dec  4 25:61:00 host app: x");
    }
}
