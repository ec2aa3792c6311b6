//! Loki push bodies (`POST /loki/api/v1/push`) of the same synthetic events as the `/ingest`
//! batches, for `loadgen batch --format loki-json|loki-protobuf`: entries grouped into one
//! stream per service and level, as a shipper groups them by label set, with the event's
//! fields as structured metadata. Protobuf bodies are snappy-compressed like Loki clients send.

use std::collections::BTreeMap;

use bytes::Bytes;
use prost::Message as _;
use serde_json::{Value, json};

use crate::events::{loki_entry, now_nanos};

/// Loki's `logproto` wire messages (field numbers of `proto/loki/push.proto`).
mod wire {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PushRequest {
        #[prost(message, repeated, tag = "1")]
        pub streams: Vec<StreamAdapter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StreamAdapter {
        #[prost(string, tag = "1")]
        pub labels: String,
        #[prost(message, repeated, tag = "2")]
        pub entries: Vec<EntryAdapter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EntryAdapter {
        #[prost(message, optional, tag = "1")]
        pub timestamp: Option<Timestamp>,
        #[prost(string, tag = "2")]
        pub line: String,
        #[prost(message, repeated, tag = "3")]
        pub structured_metadata: Vec<LabelPairAdapter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LabelPairAdapter {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// `google.protobuf.Timestamp`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Timestamp {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }
}

/// One entry: nanoseconds, line, structured metadata.
type Entry = (u64, String, [(&'static str, String); 2]);

/// Events `first..first + count` grouped by (service, level), stamped with the current time.
fn streams(first: u64, count: u64) -> BTreeMap<(&'static str, &'static str), Vec<Entry>> {
    let now = now_nanos();
    let mut streams: BTreeMap<_, Vec<Entry>> = BTreeMap::new();
    for sequence in first..first + count {
        let (service, level, line, metadata) = loki_entry(sequence);
        streams.entry((service, level)).or_default().push((
            now + sequence % 1_000_000,
            line,
            metadata,
        ));
    }
    streams
}

/// Loki's JSON push body.
pub fn push_json(first: u64, count: u64) -> Bytes {
    let streams: Vec<Value> = streams(first, count)
        .into_iter()
        .map(|((service, level), entries)| {
            let values: Vec<Value> = entries
                .into_iter()
                .map(|(nanos, line, metadata)| {
                    let metadata: serde_json::Map<String, Value> = metadata
                        .into_iter()
                        .map(|(name, value)| (name.to_owned(), Value::String(value)))
                        .collect();
                    json!([nanos.to_string(), line, metadata])
                })
                .collect();
            json!({"stream": {"service_name": service, "level": level.to_ascii_lowercase()}, "values": values})
        })
        .collect();
    Bytes::from(json!({ "streams": streams }).to_string())
}

/// Loki's protobuf push body, snappy-compressed (raw block format).
pub fn push_protobuf(first: u64, count: u64) -> Result<Bytes, snap::Error> {
    let request = wire::PushRequest {
        streams: streams(first, count)
            .into_iter()
            .map(|((service, level), entries)| wire::StreamAdapter {
                labels: format!(
                    "{{service_name=\"{service}\", level=\"{}\"}}",
                    level.to_ascii_lowercase()
                ),
                entries: entries
                    .into_iter()
                    .map(|(nanos, line, metadata)| wire::EntryAdapter {
                        timestamp: Some(wire::Timestamp {
                            seconds: i64::try_from(nanos / 1_000_000_000).unwrap_or(i64::MAX),
                            nanos: i32::try_from(nanos % 1_000_000_000).unwrap_or(0),
                        }),
                        line,
                        structured_metadata: metadata
                            .into_iter()
                            .map(|(name, value)| wire::LabelPairAdapter {
                                name: name.to_owned(),
                                value,
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    };
    let compressed = snap::raw::Encoder::new().compress_vec(&request.encode_to_vec())?;
    Ok(Bytes::from(compressed))
}
