//! RFC 5424: `VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP
//! STRUCTURED-DATA [SP MSG]`, the part after `<PRI>`'s version having been checked by the caller.

use super::{ParseError, SdElement, SyslogFormat, SyslogMessage, SyslogTimestamp, message_text};

/// Parses what follows `<PRI>1 `.
pub(super) fn parse(facility: u8, severity: u8, rest: &[u8]) -> Result<SyslogMessage, ParseError> {
    let mut cursor = Cursor { rest };
    let timestamp = cursor.field("TIMESTAMP", 64)?;
    let hostname = cursor.field("HOSTNAME", 255)?;
    let app_name = cursor.field("APP-NAME", 48)?;
    let proc_id = cursor.field("PROCID", 128)?;
    let msg_id = cursor.field("MSGID", 32)?;
    let structured_data = cursor.structured_data()?;
    let message = match cursor.rest {
        [] => String::new(),
        [b' ', message @ ..] => message_text(message),
        _ => {
            return Err(ParseError::StructuredData(
                "a space must separate it from the message".into(),
            ));
        }
    };
    Ok(SyslogMessage {
        format: SyslogFormat::Rfc5424,
        facility,
        severity,
        timestamp: timestamp.map(SyslogTimestamp::Rfc3339),
        hostname,
        app_name,
        proc_id,
        msg_id,
        structured_data,
        message,
    })
}

struct Cursor<'a> {
    rest: &'a [u8],
}

impl Cursor<'_> {
    /// One header field and the space after it; `-` is nil. Fields are printable US-ASCII.
    fn field(
        &mut self,
        field: &'static str,
        max_chars: usize,
    ) -> Result<Option<String>, ParseError> {
        let length = self
            .rest
            .iter()
            .position(|byte| *byte == b' ')
            .ok_or_else(|| ParseError::Header {
                field,
                reason: "missing: the header ends before it".into(),
            })?;
        let value = &self.rest[..length];
        self.rest = &self.rest[length + 1..];
        if value.is_empty() {
            return Err(ParseError::Header {
                field,
                reason: "empty (two spaces in a row); `-` stands for no value".into(),
            });
        }
        if value.len() > max_chars {
            return Err(ParseError::Header {
                field,
                reason: format!("longer than {max_chars} characters"),
            });
        }
        if let Some(byte) = value.iter().find(|byte| !(33..=126).contains(*byte)) {
            return Err(ParseError::Header {
                field,
                reason: format!("byte 0x{byte:02x} is not printable US-ASCII"),
            });
        }
        if value == b"-" {
            return Ok(None);
        }
        // Printable ASCII is UTF-8.
        Ok(Some(String::from_utf8_lossy(value).into_owned()))
    }

    /// `-` or one or more `[SD-ID *(SP PARAM-NAME="PARAM-VALUE")]`.
    fn structured_data(&mut self) -> Result<Vec<SdElement>, ParseError> {
        if let Some(rest) = self.rest.strip_prefix(b"-") {
            self.rest = rest;
            return Ok(Vec::new());
        }
        if !self.rest.starts_with(b"[") {
            return Err(ParseError::StructuredData("expected `-` or `[`".into()));
        }
        let mut elements = Vec::new();
        while let Some(rest) = self.rest.strip_prefix(b"[") {
            self.rest = rest;
            let id = self.sd_name("SD-ID")?;
            let mut params = Vec::new();
            loop {
                match self.rest {
                    [b']', rest @ ..] => {
                        self.rest = rest;
                        break;
                    }
                    [b' ', rest @ ..] => {
                        self.rest = rest;
                        let name = self.sd_name("PARAM-NAME")?;
                        let value = self.param_value(&id, &name)?;
                        params.push((name, value));
                    }
                    _ => {
                        return Err(ParseError::StructuredData(format!(
                            "element [{id}: expected a space and a parameter, or `]`"
                        )));
                    }
                }
            }
            elements.push(SdElement { id, params });
        }
        Ok(elements)
    }

    /// SD-NAME: 1-32 printable US-ASCII characters except `=`, space, `]` and `"`.
    fn sd_name(&mut self, what: &str) -> Result<String, ParseError> {
        let length = self
            .rest
            .iter()
            .take_while(|byte| (33..=126).contains(*byte) && !b"= ]\"".contains(byte))
            .count();
        if length == 0 || length > 32 {
            return Err(ParseError::StructuredData(format!(
                "{what} must be 1-32 printable characters without `=`, space, `]` or `\"`"
            )));
        }
        let name = String::from_utf8_lossy(&self.rest[..length]).into_owned();
        self.rest = &self.rest[length..];
        Ok(name)
    }

    /// `="value"` with `\"`, `\\` and `\]` escaped; any other backslash is itself.
    fn param_value(&mut self, id: &str, name: &str) -> Result<String, ParseError> {
        let Some(rest) = self.rest.strip_prefix(b"=\"") else {
            return Err(ParseError::StructuredData(format!(
                "[{id} {name}: expected `=\"` after the parameter name"
            )));
        };
        let mut value = Vec::new();
        let mut index = 0;
        loop {
            match rest.get(index) {
                None => {
                    return Err(ParseError::StructuredData(format!(
                        "[{id} {name}: the value's closing `\"` is missing"
                    )));
                }
                Some(b'"') => break,
                Some(b'\\') if matches!(rest.get(index + 1), Some(b'"' | b'\\' | b']')) => {
                    value.push(rest[index + 1]);
                    index += 2;
                }
                Some(byte) => {
                    value.push(*byte);
                    index += 1;
                }
            }
        }
        self.rest = &rest[index + 1..];
        String::from_utf8(value).map_err(|_| {
            ParseError::StructuredData(format!("[{id} {name}: the value is not UTF-8"))
        })
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::super::parse;
    use super::*;

    fn parsed(frame: &str) -> SyslogMessage {
        parse(frame.as_bytes(), datetime!(2026-12-04 15:00:00 UTC)).unwrap()
    }

    fn refused(frame: &[u8]) -> String {
        parse(frame, datetime!(2026-12-04 15:00:00 UTC))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn rfc5424_example_1_without_structured_data() {
        let message = parsed(
            "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \
             \u{FEFF}'su root' failed for lonvick on /dev/pts/8",
        );
        assert_eq!(message.format, SyslogFormat::Rfc5424);
        assert_eq!((message.facility, message.severity), (4, 2));
        assert_eq!(
            message.timestamp,
            Some(SyslogTimestamp::Rfc3339("2003-10-11T22:14:15.003Z".into()))
        );
        assert_eq!(message.hostname.as_deref(), Some("mymachine.example.com"));
        assert_eq!(message.app_name.as_deref(), Some("su"));
        assert_eq!(message.proc_id, None);
        assert_eq!(message.msg_id.as_deref(), Some("ID47"));
        assert!(message.structured_data.is_empty());
        assert_eq!(
            message.message,
            "'su root' failed for lonvick on /dev/pts/8"
        );
    }

    #[test]
    fn rfc5424_example_2_with_a_time_zone_offset_and_microseconds() {
        let message = parsed(
            "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - \
             %% It's time to make the do-nuts.",
        );
        assert_eq!(
            message.timestamp,
            Some(SyslogTimestamp::Rfc3339(
                "2003-08-24T05:14:15.000003-07:00".into()
            ))
        );
        assert_eq!(message.hostname.as_deref(), Some("192.0.2.1"));
        assert_eq!(message.proc_id.as_deref(), Some("8710"));
        assert_eq!(message.msg_id, None);
        assert_eq!(message.message, "%% It's time to make the do-nuts.");
    }

    #[test]
    fn rfc5424_example_3_structured_data_and_a_message() {
        let message = parsed(
            "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
             [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \
             \u{FEFF}An application event log entry...",
        );
        assert_eq!(
            message.structured_data,
            [SdElement {
                id: "exampleSDID@32473".into(),
                params: vec![
                    ("iut".into(), "3".into()),
                    ("eventSource".into(), "Application".into()),
                    ("eventID".into(), "1011".into()),
                ],
            }]
        );
        assert_eq!(message.message, "An application event log entry...");
    }

    #[test]
    fn rfc5424_example_4_two_elements_and_no_message() {
        let message = parsed(
            "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
             [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]\
             [examplePriority@32473 class=\"high\"]",
        );
        assert_eq!(message.structured_data.len(), 2);
        assert_eq!(
            message.structured_data[1].params,
            [("class".to_owned(), "high".to_owned())]
        );
        assert_eq!(message.message, "");
    }

    #[test]
    fn escaped_quotes_backslashes_and_brackets_in_values_are_unescaped() {
        let message =
            parsed(r#"<13>1 - - - - - [x@1 a="say \"hi\"" b="C:\\dir" c="[\]" d="\n"] m"#);
        assert_eq!(
            message.structured_data[0].params,
            [
                ("a".to_owned(), "say \"hi\"".to_owned()),
                ("b".to_owned(), "C:\\dir".to_owned()),
                ("c".to_owned(), "[]".to_owned()),
                ("d".to_owned(), "\\n".to_owned()),
            ]
        );
        assert_eq!(message.message, "m");
    }

    #[test]
    fn an_all_nil_header_parses_to_nothing_but_the_message() {
        let message = parsed("<14>1 - - - - - - only text");
        assert_eq!(message.timestamp, None);
        assert_eq!(
            (
                message.hostname,
                message.app_name,
                message.proc_id,
                message.msg_id
            ),
            (None, None, None, None)
        );
        assert_eq!(message.message, "only text");
    }

    #[test]
    fn broken_headers_and_structured_data_are_refused_naming_the_part() {
        for (frame, expected) in [
            (&b"<13>1 2003-10-11T22:14:15Z host"[..], "HOSTNAME: missing"),
            (
                b"<13>1 2003-10-11T22:14:15Z  app - - - m",
                "HOSTNAME: empty",
            ),
            (b"<13>1 - h\xC3\xA9 app - - - m", "HOSTNAME: byte 0xc3"),
            (
                b"<13>1 - - aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa - - - m",
                "APP-NAME: longer than 48",
            ),
            (b"<13>1 - - - - - x m", "expected `-` or `[`"),
            (
                b"<13>1 - - - - - [id a=\"1\"x] m",
                "expected a space and a parameter",
            ),
            (
                b"<13>1 - - - - - [id a=\"unterminated]",
                "closing `\"` is missing",
            ),
            (b"<13>1 - - - - - [id a=1] m", "expected `=\"`"),
            (b"<13>1 - - - - - [] m", "SD-ID must be"),
            (b"<13>1 - - - - - [id a=\"\xFF\"] m", "not UTF-8"),
            (b"<13>1 - - - - - -m", "a space must separate"),
        ] {
            let error = refused(frame);
            assert!(
                error.contains(expected),
                "{}: {error}",
                String::from_utf8_lossy(frame)
            );
        }
    }
}
