//! Our events as Loki streams. A stream is a label set ([`domain::stream_labels`]): `service`,
//! `level` and every metadata entry with a value (a metadata key named `service` or `level` is
//! left out: the label is the event's own field, which LogQL selects on). Loki answers the same
//! way when structured metadata is merged into the labels, which it does unless a client asks
//! for categorized labels. The line is the message, the time the event's timestamp in
//! nanoseconds.
//!
//! After a parser stage (`| json`, `| logfmt`) the labels it reads from each line join the
//! stream's labels, as in Loki: every top-level key of a JSON object with a string, number or
//! boolean value, every `key=` of a logfmt line, each read as the query's label filters read it
//! ([`domain::ParsedLabel`]); a name the stream already has comes as `<name>_extracted`. Keys
//! that are not label names (`[A-Za-z_][A-Za-z0-9_]*`) are left out.

use std::collections::{BTreeMap, HashMap};

use domain::{LineParser, LogEvent, ParsedLabel, stream_labels};

use crate::loki_query::answer::Stream;

/// Whether a label name is one of the event's own fields rather than a metadata key.
pub(crate) fn is_own_field(name: &str) -> bool {
    name == "service" || name == "level"
}

/// `["<nanoseconds>", "<line>"]`.
pub(crate) fn entry_of(event: &LogEvent) -> [String; 2] {
    [
        event.timestamp().unix_nanos().to_string(),
        event.message().as_str().to_owned(),
    ]
}

/// Groups events (in the query's order) by label set, with the labels `parser` reads from each
/// line; each stream keeps that order, and the streams are sorted by their labels as Loki sorts
/// them (`{a="1", b="2"}` text).
pub(crate) fn group_into_streams(events: &[LogEvent], parser: Option<LineParser>) -> Vec<Stream> {
    let mut streams: BTreeMap<String, Stream> = BTreeMap::new();
    let mut readers = LabelReaders::default();
    for event in events {
        let mut labels = stream_labels(event);
        if let Some(parser) = parser {
            readers.add_parsed(&mut labels, event.message().as_str(), parser);
        }
        streams
            .entry(label_text(&labels))
            .or_insert_with(|| Stream {
                stream: labels,
                values: Vec::new(),
            })
            .values
            .push(entry_of(event));
    }
    streams.into_values().collect()
}

/// The label readers of one answer, compiled once per key.
#[derive(Default)]
struct LabelReaders(HashMap<(LineParser, String), Option<ParsedLabel>>);

impl LabelReaders {
    fn add_parsed(
        &mut self,
        labels: &mut BTreeMap<String, String>,
        line: &str,
        parser: LineParser,
    ) {
        for key in keys_of(line, parser) {
            let reader = self
                .0
                .entry((parser, key.clone()))
                .or_insert_with(|| ParsedLabel::new(parser, &key).ok());
            let Some(reader) = reader else { continue };
            let value = reader.read(line);
            if value.is_empty() {
                continue;
            }
            let name = if labels.contains_key(&key) {
                format!("{key}_extracted")
            } else {
                key
            };
            labels.entry(name).or_insert(value);
        }
    }
}

/// Whether `name` is a label name: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The `key=` names of a logfmt line: a label name at the start or after a space or tab,
/// followed by `=` (where `domain::ParsedLabel`'s logfmt pattern starts a pair).
fn logfmt_keys(line: &str) -> Vec<String> {
    let bytes = line.as_bytes();
    let mut keys = Vec::new();
    for (start, _) in line.char_indices() {
        if start > 0 && !matches!(bytes[start - 1], b' ' | b'\t') {
            continue;
        }
        let name_end = line[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(line.len(), |offset| start + offset);
        if bytes.get(name_end) == Some(&b'=') && is_label_name(&line[start..name_end]) {
            keys.push(line[start..name_end].to_owned());
        }
    }
    keys
}

/// The label names a line offers to `parser`, in the line's order.
fn keys_of(line: &str, parser: LineParser) -> Vec<String> {
    match parser {
        LineParser::Json => {
            match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line) {
                Ok(object) => object
                    .into_iter()
                    .filter(|(key, value)| {
                        is_label_name(key)
                            && matches!(
                                value,
                                serde_json::Value::String(_)
                                    | serde_json::Value::Number(_)
                                    | serde_json::Value::Bool(_)
                            )
                    })
                    .map(|(key, _)| key)
                    .collect(),
                Err(_) => Vec::new(),
            }
        }
        LineParser::Logfmt => logfmt_keys(line),
    }
}

/// `{a="1", b="2"}`, as Prometheus writes a label set (names sorted, values quoted).
pub(crate) fn label_text(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|(name, value)| format!("{name}={value:?}"))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

#[cfg(test)]
mod tests {
    use domain::{LogEventDraft, Timestamp, TraceId};

    use super::*;

    fn event(service: &str, level: &str, metadata: &[(&str, &str)], at: u64) -> LogEvent {
        let draft = LogEventDraft {
            service: service.into(),
            level: level.into(),
            message: format!("{service} at {at}"),
            metadata: metadata
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            ..LogEventDraft::default()
        };
        LogEvent::from_draft(draft, Timestamp::from_unix_nanos(at), TraceId::generate()).unwrap()
    }

    #[test]
    fn labels_are_service_level_and_metadata_without_shadowing_the_own_fields() {
        let event = event(
            "api",
            "warn",
            &[("user_id", "42"), ("level", "loud"), ("empty", "")],
            7,
        );
        assert_eq!(
            stream_labels(&event),
            BTreeMap::from([
                ("level".to_owned(), "WARN".to_owned()),
                ("service".to_owned(), "api".to_owned()),
                ("user_id".to_owned(), "42".to_owned()),
            ])
        );
        assert_eq!(entry_of(&event), ["7".to_owned(), "api at 7".to_owned()]);
    }

    fn with_message(message: &str, metadata: &[(&str, &str)]) -> LogEvent {
        let draft = LogEventDraft {
            service: "api".into(),
            level: "info".into(),
            message: message.into(),
            metadata: metadata
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            ..LogEventDraft::default()
        };
        LogEvent::from_draft(draft, Timestamp::from_unix_nanos(1), TraceId::generate()).unwrap()
    }

    fn labels_of(
        message: &str,
        metadata: &[(&str, &str)],
        parser: LineParser,
    ) -> Vec<(String, String)> {
        let streams = group_into_streams(&[with_message(message, metadata)], Some(parser));
        streams[0].stream.clone().into_iter().collect()
    }

    fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn a_json_parser_adds_the_top_level_scalars_and_renames_a_clash() {
        let line = r#"{"status": 500, "path": "/a", "ok": true, "user": {"id": 1}, "none": null, "bad-key": "x", "level": "debug", "region": "us"}"#;
        assert_eq!(
            labels_of(line, &[("region", "eu")], LineParser::Json),
            pairs(&[
                ("level", "INFO"),
                ("level_extracted", "debug"),
                ("ok", "true"),
                ("path", "/a"),
                ("region", "eu"),
                ("region_extracted", "us"),
                ("service", "api"),
                ("status", "500"),
            ])
        );
        // Not a JSON object: nothing added.
        assert_eq!(
            labels_of("status=500", &[], LineParser::Json),
            pairs(&[("level", "INFO"), ("service", "api")])
        );
    }

    #[test]
    fn a_logfmt_parser_adds_every_pair_with_a_value() {
        let line = r#"ts=1 msg="took long" status=200 xstatus=1 empty= 9bad=1 took=3ms"#;
        assert_eq!(
            labels_of(line, &[], LineParser::Logfmt),
            pairs(&[
                ("level", "INFO"),
                ("msg", "took long"),
                ("service", "api"),
                ("status", "200"),
                ("took", "3ms"),
                ("ts", "1"),
                ("xstatus", "1"),
            ])
        );
    }

    #[test]
    fn streams_group_by_label_set_keep_the_order_and_sort_by_labels() {
        let events = [
            event("web", "info", &[], 9),
            event("api", "info", &[("user_id", "1")], 8),
            event("web", "info", &[], 7),
            event("api", "info", &[], 6),
        ];
        let streams = group_into_streams(&events, None);
        let summary: Vec<(String, Vec<String>)> = streams
            .iter()
            .map(|stream| {
                (
                    label_text(&stream.stream),
                    stream.values.iter().map(|[at, _]| at.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            // Sorted as text, as Loki sorts them: `,` before `}`.
            [
                (
                    r#"{level="INFO", service="api", user_id="1"}"#.to_owned(),
                    vec!["8".to_owned()]
                ),
                (
                    r#"{level="INFO", service="api"}"#.to_owned(),
                    vec!["6".to_owned()]
                ),
                (
                    r#"{level="INFO", service="web"}"#.to_owned(),
                    vec!["9".to_owned(), "7".to_owned()]
                ),
            ]
        );
    }
}
