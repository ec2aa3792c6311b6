//! Our events as Loki streams. A stream is a label set ([`domain::stream_labels`]): `service`,
//! `level` and every metadata entry with a value (a metadata key named `service` or `level` is
//! left out: the label is the event's own field, which LogQL selects on). Loki answers the same
//! way when structured metadata is merged into the labels, which it does unless a client asks
//! for categorized labels. The line is the message, the time the event's timestamp in
//! nanoseconds.

use std::collections::BTreeMap;

use domain::{LogEvent, stream_labels};

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

/// Groups events (in the query's order) by label set; each stream keeps that order, and the
/// streams are sorted by their labels as Loki sorts them (`{a="1", b="2"}` text).
pub(crate) fn group_into_streams(events: &[LogEvent]) -> Vec<Stream> {
    let mut streams: BTreeMap<String, Stream> = BTreeMap::new();
    for event in events {
        let labels = stream_labels(event);
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

    #[test]
    fn streams_group_by_label_set_keep_the_order_and_sort_by_labels() {
        let events = [
            event("web", "info", &[], 9),
            event("api", "info", &[("user_id", "1")], 8),
            event("web", "info", &[], 7),
            event("api", "info", &[], 6),
        ];
        let streams = group_into_streams(&events);
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
