//! A parsed syslog message as an event draft, validated afterwards by the use case like any
//! `POST /ingest` event.
//!
//! | syslog | event |
//! |---|---|
//! | APP-NAME (RFC 3164: the TAG) | `service`; [`FALLBACK_SERVICE`] when `-` or missing |
//! | severity | `level`: emerg, alert, crit FATAL; err ERROR; warning WARN; notice, info INFO; debug DEBUG |
//! | TIMESTAMP | `timestamp`; when `-` or missing, the receive time |
//! | MSG | `message`, BOM and line end removed; [`EMPTY_MESSAGE`] when empty |
//! | facility, severity keyword, HOSTNAME, PROCID, MSGID | metadata `syslog.facility`, `syslog.severity`, `syslog.hostname`, `syslog.procid`, `syslog.msgid` |
//! | structured data `[id name="value"]` | metadata `id.name`; a name repeated in one element keeps every value, as a JSON array text |

use std::collections::BTreeMap;

use domain::{LogEventDraft, TimestampInput};

use crate::parse::{SyslogMessage, SyslogTimestamp, facility_name, severity_name};

/// The service of a message without an APP-NAME (or TAG).
pub const FALLBACK_SERVICE: &str = "syslog";
/// The message of a syslog message with an empty MSG (e.g. structured data only): an event
/// needs a message, and the line should not be lost for lacking one.
pub const EMPTY_MESSAGE: &str = "(empty message)";

/// The draft of one message.
pub fn to_draft(message: SyslogMessage) -> LogEventDraft {
    let mut metadata = BTreeMap::new();
    metadata.insert(
        "syslog.facility".to_owned(),
        facility_name(message.facility).to_owned(),
    );
    metadata.insert(
        "syslog.severity".to_owned(),
        severity_name(message.severity).to_owned(),
    );
    for (key, value) in [
        ("syslog.hostname", message.hostname),
        ("syslog.procid", message.proc_id),
        ("syslog.msgid", message.msg_id),
    ] {
        if let Some(value) = value {
            metadata.insert(key.to_owned(), value);
        }
    }
    for element in message.structured_data {
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in element.params {
            values
                .entry(format!("{}.{name}", element.id))
                .or_default()
                .push(value);
        }
        for (key, mut values) in values {
            let value = if values.len() == 1 {
                values.swap_remove(0)
            } else {
                json_array_text(&values)
            };
            metadata.insert(key, value);
        }
    }
    let message_text = if message.message.trim().is_empty() {
        EMPTY_MESSAGE.to_owned()
    } else {
        message.message
    };
    LogEventDraft {
        service: message
            .app_name
            .unwrap_or_else(|| FALLBACK_SERVICE.to_owned()),
        level: level(message.severity).to_owned(),
        message: message_text,
        metadata,
        timestamp: message.timestamp.map(|timestamp| match timestamp {
            SyslogTimestamp::Rfc3339(text) => TimestampInput::Text(text),
            SyslogTimestamp::UnixNanos(nanos) => TimestampInput::Integer(nanos),
        }),
        trace_id: None,
        span_id: None,
    }
}

/// The event level of a syslog severity.
pub fn level(severity: u8) -> &'static str {
    match severity {
        0..=2 => "FATAL",
        3 => "ERROR",
        4 => "WARN",
        5 | 6 => "INFO",
        _ => "DEBUG",
    }
}

/// `["a","b"]` with JSON string escaping.
fn json_array_text(values: &[String]) -> String {
    let quoted: Vec<String> = values
        .iter()
        .map(|value| {
            let mut text = String::from("\"");
            for character in value.chars() {
                match character {
                    '"' => text.push_str("\\\""),
                    '\\' => text.push_str("\\\\"),
                    control if control.is_control() => {
                        text.push_str(&format!("\\u{:04x}", u32::from(control)));
                    }
                    other => text.push(other),
                }
            }
            text.push('"');
            text
        })
        .collect();
    format!("[{}]", quoted.join(","))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::parse::parse;

    fn draft(frame: &str) -> LogEventDraft {
        to_draft(parse(frame.as_bytes(), datetime!(2026-12-04 15:00:00 UTC)).unwrap())
    }

    #[test]
    fn an_rfc5424_message_maps_every_part() {
        let draft = draft(
            "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 77 ID47 \
             [exampleSDID@32473 iut=\"3\" eventSource=\"Application\"][meta tag=\"a\" tag=\"b\\\"c\"] \
             \u{FEFF}An application event log entry",
        );
        assert_eq!(draft.service, "evntslog");
        assert_eq!(draft.level, "INFO");
        assert_eq!(draft.message, "An application event log entry");
        assert_eq!(
            draft.timestamp,
            Some(TimestampInput::Text("2003-10-11T22:14:15.003Z".into()))
        );
        let expected: BTreeMap<String, String> = [
            ("syslog.facility", "local4"),
            ("syslog.severity", "notice"),
            ("syslog.hostname", "mymachine.example.com"),
            ("syslog.procid", "77"),
            ("syslog.msgid", "ID47"),
            ("exampleSDID@32473.iut", "3"),
            ("exampleSDID@32473.eventSource", "Application"),
            ("meta.tag", r#"["a","b\"c"]"#),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        assert_eq!(draft.metadata, expected);
    }

    #[test]
    fn nil_fields_fall_back_and_leave_no_metadata() {
        let draft = draft("<11>1 - - - - - -");
        assert_eq!(draft.service, FALLBACK_SERVICE);
        assert_eq!(draft.level, "ERROR");
        assert_eq!(draft.message, EMPTY_MESSAGE);
        assert_eq!(draft.timestamp, None);
        assert_eq!(
            draft.metadata.keys().collect::<Vec<_>>(),
            ["syslog.facility", "syslog.severity"]
        );
    }

    #[test]
    fn an_rfc3164_message_maps_tag_pid_host_and_a_resolved_time() {
        let draft = draft("<12>Dec  4 14:00:00 web-1 checkout[9]: slow");
        assert_eq!(draft.service, "checkout");
        assert_eq!(draft.level, "WARN");
        assert_eq!(draft.metadata["syslog.hostname"], "web-1");
        assert_eq!(draft.metadata["syslog.procid"], "9");
        assert_eq!(draft.metadata["syslog.facility"], "user");
        assert_eq!(
            draft.timestamp,
            Some(TimestampInput::Integer(
                datetime!(2026-12-04 14:00:00 UTC).unix_timestamp_nanos()
            ))
        );
    }

    #[test]
    fn every_severity_has_a_level() {
        let levels: Vec<&str> = (0..8).map(level).collect();
        assert_eq!(
            levels,
            [
                "FATAL", "FATAL", "FATAL", "ERROR", "WARN", "INFO", "INFO", "DEBUG"
            ]
        );
    }
}
