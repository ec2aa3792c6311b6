//! Logs as JSON lines on stdout, written in batches (`log_output`); the level comes from
//! `RUST_LOG` (default `info`).
//!
//! One line per event: `{"timestamp":…,"level":"INFO","fields":{"message":…,…},"span":{…,"name":…}}`,
//! where `span` holds the fields of the span the event happened in (a request's `trace_id`, say)
//! and is left out outside any span. The line is written straight from the event's fields and
//! from the span's fields as formatted once when the span was created: the JSON format of
//! `tracing-subscriber` builds a map of every event's fields and parses the span's formatted
//! fields back from text for every event, which was a measurable part of an access-log line, one
//! per request (docs/BENCHMARKS.md).

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::log_output::{LogFlush, buffered_stdout};

/// Installs the JSON log subscriber for the service named `service`, writing to standard output
/// in batches (`log_output`); the service holds the [`LogFlush`] until it exits.
pub fn init_tracing(service: &'static str) -> LogFlush {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (output, flush) = buffered_stdout();
    tracing_subscriber::fmt()
        .fmt_fields(JsonObjectFields)
        .event_format(JsonLine)
        .with_env_filter(filter)
        .with_writer(output)
        .init();
    tracing::info!(service, version = env!("CARGO_PKG_VERSION"), "starting");
    flush
}

/// Formats fields as one JSON object, `{"name":value,…}`: a span's fields when it is created
/// (kept as text with the span), and the fields of each event.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonObjectFields;

impl<'writer> FormatFields<'writer> for JsonObjectFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        writer.write_char('{')?;
        let mut members = JsonMembers::new(&mut writer);
        fields.record(&mut members);
        members.result?;
        writer.write_char('}')
    }

    /// Fields recorded on a span after its creation join its object (no parsing).
    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        if current.fields.pop() != Some('}') {
            // No object formatted yet: start one.
            current.fields.clear();
            return self.format_fields(current.as_writer(), fields);
        }
        let first = current.fields == "{";
        let mut writer = current.as_writer();
        let mut members = JsonMembers::new(&mut writer);
        members.first = first;
        fields.record(&mut members);
        members.result?;
        writer.write_char('}')
    }
}

/// Writes fields as JSON object members, `"name":value` separated by commas.
struct JsonMembers<'a, 'writer> {
    writer: &'a mut Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl<'a, 'writer> JsonMembers<'a, 'writer> {
    fn new(writer: &'a mut Writer<'writer>) -> Self {
        Self {
            writer,
            first: true,
            result: Ok(()),
        }
    }

    fn member(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'writer>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            if !self.first {
                self.writer.write_char(',')?;
            }
            self.first = false;
            write_json_string(self.writer, field.name())?;
            self.writer.write_char(':')?;
            value(self.writer)
        })();
    }
}

impl Visit for JsonMembers<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |writer| write_json_string(writer, value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |writer| write!(writer, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |writer| write!(writer, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |writer| write!(writer, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity.
        self.member(field, |writer| {
            if value.is_finite() {
                write!(writer, "{value}")
            } else {
                writer.write_str("null")
            }
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |writer| {
            writer.write_char('"')?;
            write!(JsonEscaped(writer), "{value:?}")?;
            writer.write_char('"')
        });
    }
}

/// Writes `text` as a JSON string, quotes included.
fn write_json_string(writer: &mut Writer<'_>, text: &str) -> fmt::Result {
    writer.write_char('"')?;
    JsonEscaped(writer).write_str(text)?;
    writer.write_char('"')
}

/// Escapes what it is given for the inside of a JSON string: quotes, backslashes and control
/// characters; the rest is written as is, in runs.
struct JsonEscaped<'a, 'writer>(&'a mut Writer<'writer>);

impl fmt::Write for JsonEscaped<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut start = 0;
        for (at, byte) in text.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f => "",
                _ => continue,
            };
            self.0.write_str(&text[start..at])?;
            if escape.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            start = at + 1;
        }
        self.0.write_str(&text[start..])
    }
}

/// The line format: timestamp, level, the event's fields, and the current span's fields with
/// its name.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLine;

impl<S> FormatEvent<S, JsonObjectFields> for JsonLine
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonObjectFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        writer.write_str("{\"timestamp\":\"")?;
        SystemTime.format_time(&mut writer)?;
        write!(
            writer,
            "\",\"level\":\"{}\",\"fields\":",
            event.metadata().level()
        )?;
        ctx.format_fields(writer.by_ref(), event)?;
        if let Some(span) = ctx.lookup_current() {
            let extensions = span.extensions();
            if let Some(fields) = extensions.get::<FormattedFields<JsonObjectFields>>() {
                // The span's object without its closing brace, then its name.
                let members = fields
                    .fields
                    .strip_suffix('}')
                    .filter(|open| open.starts_with('{'))
                    .unwrap_or("{");
                writer.write_str(",\"span\":")?;
                writer.write_str(members)?;
                if members.len() > 1 {
                    writer.write_char(',')?;
                }
                writer.write_str("\"name\":")?;
                write_json_string(&mut writer, span.name())?;
                writer.write_char('}')?;
            }
        }
        writer.write_str("}\n")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::{Value, json};
    use tracing::{info, info_span, warn};
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// Runs `emit` under the service's subscriber; the lines it wrote, each parsed as JSON.
    fn logged(emit: impl FnOnce()) -> Vec<Value> {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonObjectFields)
            .event_format(JsonLine)
            .with_writer(lines.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        assert!(text.ends_with('\n'), "{text:?}");
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    #[test]
    fn every_line_in_a_request_span_carries_the_span_fields_and_name() {
        let lines = logged(|| {
            let span = info_span!("request", trace_id = %"4bf92f3577b34da6a3ce929d0e0e4736", method = %"POST", path = %"/ingest");
            let _entered = span.enter();
            warn!(error = %"timed out", attempt = 2_u64, "queue slow");
            info!(status = 202_u64, latency_us = 55_u64, "request completed");
        });

        assert_eq!(lines.len(), 2);
        for line in &lines {
            assert_eq!(
                line["span"],
                json!({"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "method": "POST", "path": "/ingest", "name": "request"})
            );
            assert!(
                line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
                "{line}"
            );
        }
        assert_eq!(lines[0]["level"], "WARN");
        assert_eq!(
            lines[0]["fields"],
            json!({"message": "queue slow", "error": "timed out", "attempt": 2})
        );
        assert_eq!(lines[1]["level"], "INFO");
        assert_eq!(
            lines[1]["fields"],
            json!({"message": "request completed", "status": 202, "latency_us": 55})
        );
    }

    #[test]
    fn outside_a_span_there_is_no_span_member() {
        let lines = logged(|| info!(service = "ingestion", "starting"));

        assert_eq!(lines.len(), 1);
        assert_eq!(
            lines[0]["fields"],
            json!({"message": "starting", "service": "ingestion"})
        );
        assert!(lines[0].get("span").is_none(), "{}", lines[0]);
    }

    #[test]
    fn quotes_backslashes_newlines_and_control_characters_are_escaped() {
        let nasty = "a \"quoted\" C:\\path\nline two\ttab \u{1} bell \u{7f} é";
        let lines = logged(|| {
            let span = info_span!("request", path = nasty);
            let _entered = span.enter();
            info!(text = nasty, debug = ?nasty, ratio = 0.5, nan = f64::NAN, negative = -3_i64, ok = true, "{nasty}");
        });

        let fields = &lines[0]["fields"];
        assert_eq!(fields["text"], nasty);
        assert_eq!(fields["message"], nasty);
        assert_eq!(fields["debug"], format!("{nasty:?}"));
        assert_eq!(fields["ratio"], 0.5);
        assert_eq!(fields["nan"], Value::Null);
        assert_eq!(fields["negative"], -3);
        assert_eq!(fields["ok"], true);
        assert_eq!(lines[0]["span"]["path"], nasty);
    }

    #[test]
    fn fields_recorded_on_a_span_later_join_its_object() {
        let lines = logged(|| {
            let span = info_span!("request", trace_id = %"abc", status = tracing::field::Empty);
            let empty = info_span!("bare", later = tracing::field::Empty);
            span.record("status", 503_u64);
            empty.record("later", "set");
            span.in_scope(|| info!("in the first"));
            empty.in_scope(|| info!("in the second"));
            info_span!("nothing").in_scope(|| info!("in the third"));
        });

        assert_eq!(
            lines[0]["span"],
            json!({"trace_id": "abc", "status": 503, "name": "request"})
        );
        assert_eq!(lines[1]["span"], json!({"later": "set", "name": "bare"}));
        assert_eq!(lines[2]["span"], json!({"name": "nothing"}));
    }
}
