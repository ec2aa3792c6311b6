//! From Loki's streams to our events (the mapping the README documents):
//!
//! - `service`: the stream label `service_name`, else `service`, else `job`, else
//!   [`UNKNOWN_SERVICE`]; the label used is not repeated in `metadata`.
//! - `level`: the first of `level`, `detected_level`, `severity` with a known value (read with
//!   [`level_of`]) in the entry's structured metadata, else among the stream labels. Level
//!   entries saying the same are not repeated in `metadata`; ones saying something else stay. A
//!   name we do not know (Loki's own `unknown`, `verbose`, ...) gives INFO and stays in
//!   `metadata` as sent, so nothing is lost; no level at all gives INFO.
//! - `metadata`: the other stream labels and the structured metadata. A structured metadata
//!   entry named like a stream label with another value is kept as `structured_metadata.<name>`.
//! - `message`: the line; `timestamp`: the entry's nanoseconds (none: the receive time).

use std::collections::BTreeMap;

use domain::{Level, LogEventDraft, Timestamp, TimestampInput};

use super::wire::{PushedEntry, PushedRequest};

/// The service of a stream without a `service_name`, `service` or `job` label (the name Loki and
/// OpenTelemetry give such streams).
pub(crate) const UNKNOWN_SERVICE: &str = "unknown_service";

/// Stream labels that name the service, in order of preference.
const SERVICE_LABELS: [&str; 3] = ["service_name", "service", "job"];
/// Labels or structured metadata that carry the level, in order of preference.
const LEVEL_NAMES: [&str; 3] = ["level", "detected_level", "severity"];
/// The prefix of a structured metadata entry whose name a stream label already has.
const STRUCTURED_PREFIX: &str = "structured_metadata.";

/// One entry's place in the body: `streams[i].values[j]` (JSON) or `streams[i].entries[j]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryPosition {
    pub(crate) stream: usize,
    pub(crate) entry: usize,
    pub(crate) entries_field: &'static str,
}

impl std::fmt::Display for EntryPosition {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "streams[{}].{}[{}]",
            self.stream, self.entries_field, self.entry
        )
    }
}

/// Every entry of a push in body order: its position, and its draft or why it has none.
pub(crate) fn map_push(
    pushed: PushedRequest,
) -> Vec<(EntryPosition, Result<LogEventDraft, String>)> {
    let entries_field = pushed.entries_field;
    let mut mapped = Vec::with_capacity(pushed.entry_count());
    for (stream_index, stream) in pushed.streams.into_iter().enumerate() {
        for (entry_index, entry) in stream.entries.into_iter().enumerate() {
            let position = EntryPosition {
                stream: stream_index,
                entry: entry_index,
                entries_field,
            };
            let draft = match &stream.labels {
                Ok(labels) => map_entry(labels, entry),
                Err(reason) => Err(reason.clone()),
            };
            mapped.push((position, draft));
        }
    }
    mapped
}

fn map_entry(
    labels: &BTreeMap<String, String>,
    entry: PushedEntry,
) -> Result<LogEventDraft, String> {
    let timestamp = entry
        .timestamp_nanos?
        .map(|nanos| TimestampInput::Text(Timestamp::from_unix_nanos(nanos).to_rfc3339()));
    let mut labels = labels.clone();
    let service_label = SERVICE_LABELS.into_iter().find(|name| {
        labels
            .get(*name)
            .is_some_and(|value| !value.trim().is_empty())
    });
    let service = service_label
        .and_then(|name| labels.remove(name))
        .unwrap_or_else(|| UNKNOWN_SERVICE.to_owned());

    let mut structured: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in entry.structured_metadata {
        structured.insert(name, value);
    }
    let level = level_in(&structured)
        .or_else(|| level_in(&labels))
        .unwrap_or(Level::Info);
    // Every level entry that says the same is in `level` now; one that says something else
    // (or something we do not know) stays, so nothing is lost.
    for pairs in [&mut structured, &mut labels] {
        pairs.retain(|name, value| {
            !(LEVEL_NAMES.contains(&name.as_str()) && level_of(value) == Some(level))
        });
    }

    let mut metadata = labels;
    for (name, value) in structured {
        match metadata.get(&name) {
            Some(existing) if *existing != value => {
                metadata.insert(format!("{STRUCTURED_PREFIX}{name}"), value);
            }
            _ => {
                metadata.insert(name, value);
            }
        }
    }
    Ok(LogEventDraft {
        service,
        level: level.as_str().to_owned(),
        message: entry.line,
        metadata,
        timestamp,
        trace_id: None,
        span_id: None,
    })
}

/// The level of the first of [`LEVEL_NAMES`] in `pairs` that holds a known one.
fn level_in(pairs: &BTreeMap<String, String>) -> Option<Level> {
    LEVEL_NAMES
        .into_iter()
        .find_map(|name| level_of(pairs.get(name)?))
}

/// Loki's level names (its `detected_level` values), syslog's and the usual abbreviations,
/// any case: trace/trc; debug/dbg/dbug; info/inf/information/informational/notice; warn/warning/
/// wrn; error/err/eror; fatal/critical/crit/panic/emerg/emergency/alert. Anything else: `None`.
pub(crate) fn level_of(name: &str) -> Option<Level> {
    let level = match name.trim().to_ascii_lowercase().as_str() {
        "trace" | "trc" => Level::Trace,
        "debug" | "dbg" | "dbug" => Level::Debug,
        "info" | "inf" | "information" | "informational" | "notice" => Level::Info,
        "warn" | "warning" | "wrn" => Level::Warn,
        "error" | "err" | "eror" => Level::Error,
        "fatal" | "critical" | "crit" | "panic" | "emerg" | "emergency" | "alert" => Level::Fatal,
        _ => return None,
    };
    Some(level)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loki_push::wire::PushedStream;

    fn pairs(items: &[(&str, &str)]) -> BTreeMap<String, String> {
        items
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn entry(structured: &[(&str, &str)]) -> PushedEntry {
        PushedEntry {
            timestamp_nanos: Ok(Some(1_777_975_200_000_000_007)),
            line: "the line".into(),
            structured_metadata: structured
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn service_prefers_service_name_then_service_then_job_and_leaves_the_others_in_metadata() {
        let draft = map_entry(
            &pairs(&[
                ("job", "batch"),
                ("service", "svc"),
                ("service_name", "named"),
            ]),
            entry(&[]),
        )
        .unwrap();
        assert_eq!(draft.service, "named");
        assert_eq!(
            draft.metadata,
            pairs(&[("job", "batch"), ("service", "svc")])
        );

        let draft = map_entry(&pairs(&[("job", "batch"), ("service", " ")]), entry(&[])).unwrap();
        assert_eq!(draft.service, "batch");
        assert_eq!(draft.metadata, pairs(&[("service", " ")]));

        let draft = map_entry(&pairs(&[("env", "prod")]), entry(&[])).unwrap();
        assert_eq!(draft.service, UNKNOWN_SERVICE);
        assert_eq!(draft.metadata, pairs(&[("env", "prod")]));
    }

    #[test]
    fn the_line_and_the_nanosecond_timestamp_are_kept_exactly() {
        let draft = map_entry(&pairs(&[("job", "a")]), entry(&[])).unwrap();
        assert_eq!(draft.message, "the line");
        let Some(TimestampInput::Text(text)) = &draft.timestamp else {
            panic!("{:?}", draft.timestamp);
        };
        assert_eq!(
            Timestamp::from_input(draft.timestamp.as_ref().unwrap(), "timestamp")
                .unwrap()
                .unix_nanos(),
            1_777_975_200_000_000_007,
            "{text}"
        );
    }

    #[test]
    fn structured_metadata_level_wins_over_the_stream_label_which_stays_when_it_differs() {
        let draft = map_entry(
            &pairs(&[("job", "a"), ("level", "info")]),
            entry(&[("detected_level", "ERR"), ("user", "7")]),
        )
        .unwrap();
        assert_eq!(draft.level, "ERROR");
        assert_eq!(draft.metadata, pairs(&[("level", "info"), ("user", "7")]));

        let draft = map_entry(
            &pairs(&[("job", "a"), ("severity", "warning"), ("level", "WARN")]),
            entry(&[("detected_level", "wrn")]),
        )
        .unwrap();
        assert_eq!(draft.level, "WARN");
        assert!(draft.metadata.is_empty(), "{:?}", draft.metadata);
    }

    #[test]
    fn an_unknown_level_is_info_and_kept_in_metadata_and_no_level_is_info() {
        let draft = map_entry(&pairs(&[("job", "a"), ("level", "verbose")]), entry(&[])).unwrap();
        assert_eq!(draft.level, "INFO");
        assert_eq!(draft.metadata, pairs(&[("level", "verbose")]));

        let draft = map_entry(&pairs(&[("job", "a")]), entry(&[])).unwrap();
        assert_eq!(draft.level, "INFO");
    }

    #[test]
    fn every_level_name_maps_onto_ours() {
        for (names, level) in [
            (&["trace", "TRC"][..], Level::Trace),
            (&["debug", "dbg", "DBUG"], Level::Debug),
            (
                &["info", "Inf", "information", "informational", "notice"],
                Level::Info,
            ),
            (&["warn", "WARNING", "wrn"], Level::Warn),
            (&["error", "err", "eror"], Level::Error),
            (
                &[
                    "fatal",
                    "critical",
                    "crit",
                    "panic",
                    "emerg",
                    "emergency",
                    "alert",
                ],
                Level::Fatal,
            ),
        ] {
            for name in names {
                assert_eq!(level_of(name), Some(level), "{name}");
            }
        }
        assert_eq!(level_of("unknown"), None);
    }

    #[test]
    fn structured_metadata_clashing_with_a_label_is_kept_under_a_prefix() {
        let draft = map_entry(
            &pairs(&[("job", "a"), ("host", "web-1"), ("pod", "p")]),
            entry(&[("host", "web-2"), ("pod", "p")]),
        )
        .unwrap();
        assert_eq!(
            draft.metadata,
            pairs(&[
                ("host", "web-1"),
                ("pod", "p"),
                ("structured_metadata.host", "web-2")
            ])
        );
    }

    #[test]
    fn entries_of_a_stream_with_bad_labels_or_a_bad_timestamp_carry_the_reason() {
        let mut bad_time = entry(&[]);
        bad_time.timestamp_nanos = Err("timestamp must be digits".into());
        let pushed = PushedRequest {
            streams: vec![
                PushedStream {
                    labels: Err("stream labels: expected `{`".into()),
                    entries: vec![entry(&[])],
                },
                PushedStream {
                    labels: Ok(pairs(&[("job", "a")])),
                    entries: vec![entry(&[]), bad_time],
                },
            ],
            entries_field: "values",
        };

        let mapped = map_push(pushed);

        assert_eq!(mapped.len(), 3);
        assert_eq!(mapped[0].0.to_string(), "streams[0].values[0]");
        assert!(mapped[0].1.as_ref().unwrap_err().contains("expected `{`"));
        assert!(mapped[1].1.is_ok());
        assert_eq!(mapped[2].0.to_string(), "streams[1].values[1]");
        assert!(mapped[2].1.as_ref().unwrap_err().contains("digits"));
    }
}
