//! What a push request holds on the wire, read into one shape for both encodings: protobuf
//! (`proto/loki/push.proto`, snappy-compressed) and Loki's JSON. Decoding problems of the body as
//! a whole are [`PushFailure`]s; a problem of one entry (a JSON timestamp that is not a number) is
//! kept with that entry, so the others can still be accepted.

use std::collections::BTreeMap;

use prost::Message as _;
use serde_json::Value;

use super::labels::parse_labels;
use super::response::PushFailure;

/// The messages generated from `proto/loki/push.proto` by `build.rs`; private to this module.
/// (`PushResponse` is declared for completeness: the HTTP answer to a push is an empty 204.)
#[allow(dead_code)]
mod proto {
    include!(concat!(env!("OUT_DIR"), "/logproto.rs"));
}

/// The encoding of a push body, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushEncoding {
    /// `application/x-protobuf`, or no `Content-Type` (Loki reads that as protobuf too): a
    /// snappy-compressed (raw block format) `PushRequest`.
    Protobuf,
    /// `application/json`: `{"streams":[{"stream":{..},"values":[["<ns>","<line>"],..]}]}`.
    Json,
}

impl PushEncoding {
    /// The encoding of a `Content-Type`; `None` when it is neither protobuf nor JSON.
    pub(crate) fn from_content_type(content_type: Option<&str>) -> Option<Self> {
        let Some(content_type) = content_type else {
            return Some(Self::Protobuf);
        };
        let mime = content_type.parse::<mime::Mime>().ok()?;
        match (mime.type_().as_str(), mime.subtype().as_str()) {
            ("application", "x-protobuf") => Some(Self::Protobuf),
            ("application", "json") => Some(Self::Json),
            _ => None,
        }
    }
}

/// One stream of a push: its labels and its entries, in body order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PushedStream {
    /// The labels, or why they could not be read (then every entry of the stream is refused).
    pub(crate) labels: Result<BTreeMap<String, String>, String>,
    pub(crate) entries: Vec<PushedEntry>,
}

/// One log line of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PushedEntry {
    /// Nanoseconds since the Unix epoch; `Ok(None)` when the entry carries none (protobuf
    /// without a timestamp), `Err` with a reason when it is unreadable.
    pub(crate) timestamp_nanos: Result<Option<u64>, String>,
    pub(crate) line: String,
    pub(crate) structured_metadata: Vec<(String, String)>,
}

/// A decoded push: its streams, and how the body names an entry's position (`values` in JSON,
/// `entries` in protobuf).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PushedRequest {
    pub(crate) streams: Vec<PushedStream>,
    pub(crate) entries_field: &'static str,
}

impl PushedRequest {
    /// How many entries the push holds, over all its streams.
    pub(crate) fn entry_count(&self) -> usize {
        self.streams.iter().map(|stream| stream.entries.len()).sum()
    }
}

/// Decodes an inflated body (gzip already undone) of `encoding`. `max_bytes` bounds the
/// snappy-decompressed size of a protobuf body.
pub(crate) fn decode_push(
    encoding: PushEncoding,
    bytes: &[u8],
    max_bytes: usize,
) -> Result<PushedRequest, PushFailure> {
    match encoding {
        PushEncoding::Protobuf => decode_protobuf(&unsnappy(bytes, max_bytes)?),
        PushEncoding::Json => decode_json(bytes),
    }
}

/// Undoes snappy's raw block format, refusing before any work a body that says it would inflate
/// past `max_bytes` (the length is the block's first bytes).
fn unsnappy(bytes: &[u8], max_bytes: usize) -> Result<Vec<u8>, PushFailure> {
    let length = snap::raw::decompress_len(bytes).map_err(|error| {
        PushFailure::BadRequest(format!(
            "the protobuf body is not snappy-compressed (raw block format): {error}"
        ))
    })?;
    if length > max_bytes {
        return Err(PushFailure::too_large(max_bytes));
    }
    snap::raw::Decoder::new()
        .decompress_vec(bytes)
        .map_err(|error| {
            PushFailure::BadRequest(format!(
                "the protobuf body is not valid snappy (raw block format): {error}"
            ))
        })
}

fn decode_protobuf(bytes: &[u8]) -> Result<PushedRequest, PushFailure> {
    let request = proto::PushRequest::decode(bytes).map_err(|error| {
        PushFailure::BadRequest(format!(
            "the body is not a protobuf logproto.PushRequest: {error}"
        ))
    })?;
    let streams = request
        .streams
        .into_iter()
        .map(|stream| PushedStream {
            labels: parse_labels(&stream.labels),
            entries: stream
                .entries
                .into_iter()
                .map(|entry| PushedEntry {
                    timestamp_nanos: entry.timestamp.map(protobuf_nanos).transpose(),
                    line: entry.line,
                    structured_metadata: entry
                        .structured_metadata
                        .into_iter()
                        .map(|pair| (pair.name, pair.value))
                        .collect(),
                })
                .collect(),
        })
        .collect();
    Ok(PushedRequest {
        streams,
        entries_field: "entries",
    })
}

/// A `google.protobuf.Timestamp` as nanoseconds since the epoch.
fn protobuf_nanos(timestamp: prost_types::Timestamp) -> Result<u64, String> {
    let seconds = u64::try_from(timestamp.seconds)
        .map_err(|_| format!("timestamp {}s is before 1970", timestamp.seconds))?;
    let nanos = u64::try_from(timestamp.nanos)
        .ok()
        .filter(|nanos| *nanos < 1_000_000_000)
        .ok_or_else(|| {
            format!(
                "timestamp nanos {} is not between 0 and 999999999",
                timestamp.nanos
            )
        })?;
    seconds
        .checked_mul(1_000_000_000)
        .and_then(|total| total.checked_add(nanos))
        .ok_or_else(|| format!("timestamp {}s is too far in the future", timestamp.seconds))
}

fn decode_json(bytes: &[u8]) -> Result<PushedRequest, PushFailure> {
    let bad = |reason: String| PushFailure::BadRequest(reason);
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|error| bad(format!("the body is not valid JSON: {error}")))?;
    let Some(Value::Array(streams)) = value.get("streams") else {
        return Err(bad(
            "the body must be a JSON object with a `streams` array".into()
        ));
    };
    let streams = streams
        .iter()
        .enumerate()
        .map(|(index, stream)| json_stream(index, stream))
        .collect::<Result<_, _>>()
        .map_err(bad)?;
    Ok(PushedRequest {
        streams,
        entries_field: "values",
    })
}

fn json_stream(index: usize, stream: &Value) -> Result<PushedStream, String> {
    let labels = match stream.get("stream") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(labels)) => labels
            .iter()
            .map(|(name, value)| match value {
                Value::String(text) => Ok((name.clone(), text.clone())),
                _ => Err(format!("streams[{index}].stream.{name} must be a string")),
            })
            .collect(),
        Some(_) => Err(format!(
            "streams[{index}].stream must be an object of labels"
        )),
    };
    let Some(Value::Array(values)) = stream.get("values") else {
        return Err(format!("streams[{index}].values must be an array"));
    };
    let entries = values
        .iter()
        .enumerate()
        .map(|(position, value)| json_entry(&format!("streams[{index}].values[{position}]"), value))
        .collect::<Result<_, _>>()?;
    Ok(PushedStream { labels, entries })
}

/// `["<unix epoch nanoseconds>", "<line>"]`, optionally with a third element: an object of
/// structured metadata. A shape error refuses the body; a bad timestamp only this entry.
fn json_entry(position: &str, value: &Value) -> Result<PushedEntry, String> {
    let shape = || {
        format!(
            "{position} must be [\"<unix epoch nanoseconds>\", \"<log line>\"] with an optional \
             object of structured metadata"
        )
    };
    let Value::Array(parts) = value else {
        return Err(shape());
    };
    let (timestamp, line, metadata) = match parts.as_slice() {
        [timestamp, Value::String(line)] => (timestamp, line, None),
        [timestamp, Value::String(line), metadata] => (timestamp, line, Some(metadata)),
        _ => return Err(shape()),
    };
    let structured_metadata = match metadata {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(pairs)) => pairs
            .iter()
            .map(|(name, value)| match value {
                Value::String(text) => Ok((name.clone(), text.clone())),
                _ => Err(format!(
                    "{position}: structured metadata `{name}` must be a string"
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(shape()),
    };
    Ok(PushedEntry {
        timestamp_nanos: json_nanos(timestamp).map(Some),
        line: line.clone(),
        structured_metadata,
    })
}

/// Loki's JSON timestamp: a string of decimal Unix epoch nanoseconds.
fn json_nanos(value: &Value) -> Result<u64, String> {
    let reason = || "timestamp must be a string of Unix epoch nanoseconds (digits only)".to_owned();
    match value {
        Value::String(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => text
            .parse::<u64>()
            .map_err(|_| format!("timestamp {text} is too far in the future")),
        _ => Err(reason()),
    }
}

#[cfg(test)]
pub(crate) mod encode {
    //! Protobuf push bodies for the tests, built from the generated messages.

    use super::proto;
    use prost::Message as _;

    /// An entry: (seconds, nanos) or none, the line, structured metadata.
    pub(crate) type Entry<'a> = (Option<(i64, i32)>, &'a str, &'a [(&'a str, &'a str)]);

    /// The snappy-compressed protobuf `PushRequest` of these streams (labels text, entries).
    pub(crate) fn protobuf_push(streams: &[(&str, Vec<Entry<'_>>)]) -> Vec<u8> {
        let request = proto::PushRequest {
            streams: streams
                .iter()
                .map(|(labels, entries)| proto::StreamAdapter {
                    labels: (*labels).to_owned(),
                    entries: entries
                        .iter()
                        .map(|(timestamp, line, metadata)| proto::EntryAdapter {
                            timestamp: timestamp
                                .map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos }),
                            line: (*line).to_owned(),
                            structured_metadata: metadata
                                .iter()
                                .map(|(name, value)| proto::LabelPairAdapter {
                                    name: (*name).to_owned(),
                                    value: (*value).to_owned(),
                                })
                                .collect(),
                            parsed: Vec::new(),
                        })
                        .collect(),
                    hash: 0,
                })
                .collect(),
        };
        snappy(&request.encode_to_vec())
    }

    /// `bytes` in snappy's raw block format.
    pub(crate) fn snappy(bytes: &[u8]) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(bytes).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::encode::{protobuf_push, snappy};
    use super::*;

    const MAX: usize = 1024 * 1024;

    #[test]
    fn a_protobuf_push_decodes_labels_entries_timestamps_and_structured_metadata() {
        let body = protobuf_push(&[(
            r#"{job="api", env="prod"}"#,
            vec![
                (Some((1_777_975_200, 5)), "started", &[("user_id", "42")]),
                (None, "no time", &[]),
            ],
        )]);

        let pushed = decode_push(PushEncoding::Protobuf, &body, MAX).unwrap();

        assert_eq!(pushed.entries_field, "entries");
        let stream = &pushed.streams[0];
        let labels = stream.labels.as_ref().unwrap();
        assert_eq!(labels["job"], "api");
        assert_eq!(labels["env"], "prod");
        assert_eq!(
            stream.entries[0].timestamp_nanos,
            Ok(Some(1_777_975_200_000_000_005))
        );
        assert_eq!(stream.entries[0].line, "started");
        assert_eq!(
            stream.entries[0].structured_metadata,
            [("user_id".to_owned(), "42".to_owned())]
        );
        assert_eq!(stream.entries[1].timestamp_nanos, Ok(None));
    }

    #[test]
    fn protobuf_timestamps_before_1970_or_with_bad_nanos_are_entry_errors() {
        let body = protobuf_push(&[(
            "{}",
            vec![(Some((-1, 0)), "old", &[]), (Some((1, -5)), "odd", &[])],
        )]);
        let pushed = decode_push(PushEncoding::Protobuf, &body, MAX).unwrap();
        let entries = &pushed.streams[0].entries;
        assert!(
            entries[0]
                .timestamp_nanos
                .as_ref()
                .unwrap_err()
                .contains("before 1970")
        );
        assert!(
            entries[1]
                .timestamp_nanos
                .as_ref()
                .unwrap_err()
                .contains("nanos -5")
        );
    }

    #[test]
    fn a_json_push_decodes_with_optional_structured_metadata() {
        let body = br#"{"streams":[{"stream":{"service_name":"web"},"values":[
            ["1777975200000000001","hello"],
            ["1777975200000000002","with meta",{"trace_id":"abc"}],
            ["yesterday","bad time"]]}]}"#;

        let pushed = decode_push(PushEncoding::Json, body, MAX).unwrap();

        assert_eq!(pushed.entries_field, "values");
        let entries = &pushed.streams[0].entries;
        assert_eq!(
            entries[0].timestamp_nanos,
            Ok(Some(1_777_975_200_000_000_001))
        );
        assert_eq!(
            entries[1].structured_metadata,
            [("trace_id".to_owned(), "abc".to_owned())]
        );
        assert!(entries[2].timestamp_nanos.is_err());
    }

    #[test]
    fn json_of_the_wrong_shape_is_refused_naming_the_place() {
        let cases: [(&[u8], &str); 6] = [
            (b"{", "not valid JSON"),
            (b"[]", "`streams` array"),
            (
                br#"{"streams":[{"values":{}}]}"#,
                "streams[0].values must be an array",
            ),
            (
                br#"{"streams":[{"values":[["1"]]}]}"#,
                "streams[0].values[0] must be",
            ),
            (
                br#"{"streams":[{"values":[["1",2]]}]}"#,
                "streams[0].values[0] must be",
            ),
            (
                br#"{"streams":[{"values":[["1","x",{"k":1}]]}]}"#,
                "structured metadata `k` must be a string",
            ),
        ];
        for (body, expected) in cases {
            match decode_push(PushEncoding::Json, body, MAX) {
                Err(PushFailure::BadRequest(reason)) => {
                    assert!(reason.contains(expected), "{reason} lacks {expected}")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn bad_snappy_truncated_protobuf_and_a_snappy_bomb_are_refused() {
        assert!(matches!(
            decode_push(PushEncoding::Protobuf, b"\xff\xff\xff\xff\xff\xff", MAX),
            Err(PushFailure::BadRequest(reason)) if reason.contains("snappy")
        ));
        let whole = protobuf_push(&[("{}", vec![(None, "a line that will be cut", &[])])]);
        let mut inner = snap::raw::Decoder::new().decompress_vec(&whole).unwrap();
        inner.truncate(inner.len() - 3);
        assert!(matches!(
            decode_push(PushEncoding::Protobuf, &snappy(&inner), MAX),
            Err(PushFailure::BadRequest(reason)) if reason.contains("protobuf")
        ));
        let bomb = snappy(&vec![0_u8; 4 * MAX]);
        assert!(matches!(
            decode_push(PushEncoding::Protobuf, &bomb, MAX),
            Err(PushFailure::TooLarge(_))
        ));
    }

    #[test]
    fn the_content_type_picks_the_encoding() {
        use PushEncoding::{Json, Protobuf};
        assert_eq!(PushEncoding::from_content_type(None), Some(Protobuf));
        assert_eq!(
            PushEncoding::from_content_type(Some("application/x-protobuf")),
            Some(Protobuf)
        );
        assert_eq!(
            PushEncoding::from_content_type(Some("application/json; charset=utf-8")),
            Some(Json)
        );
        assert_eq!(PushEncoding::from_content_type(Some("text/plain")), None);
    }
}
