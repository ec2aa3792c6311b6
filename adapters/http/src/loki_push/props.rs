//! Property tests and a hostile-input corpus of `POST /loki/api/v1/push`, through the whole
//! ingestion app over an in-memory queue that already holds another client's event: whatever a
//! push holds, the answer is a documented status with a plain-text reason, never a panic or a
//! 5xx, and the other event stays queued unchanged. `PROPTEST_CASES=10000 cargo test -p
//! http-adapter loki_push::props` searches longer.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use application::IngestUseCase;
use application::ports::{MockDrainSignal, QueueConsumer, QueueProducer};
use application::testing::InMemoryLogQueue;
use domain::{Level, LogEvent, LogEventDraft, Timestamp, TraceId};
use poem::http::StatusCode;
use poem::test::TestClient;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::LOKI_PUSH_PATH;
use super::mapping::level_of;
use super::wire::encode::{Entry, protobuf_push, snappy};
use crate::app::ingestion_app;
use crate::common::config::IngestHttpConfig;
use crate::common::keys::ApiKeys;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";
/// Generated timestamps lie between 2001 and 2023: never in the future.
const EARLIEST_NANOS: u64 = 1_000_000_000_000_000_000;
const LATEST_NANOS: u64 = 1_700_000_000_000_000_000;

/// What one request did: its status, its text, and the events queued besides the other
/// client's (which is checked to be intact).
struct Outcome {
    status: StatusCode,
    text: String,
    queued: Vec<LogEvent>,
}

fn limits() -> IngestHttpConfig {
    IngestHttpConfig {
        max_body_bytes: 256 * 1024,
        max_batch_events: 64,
        ..IngestHttpConfig::default()
    }
}

/// The event another client queued before the push.
fn other_clients_event() -> LogEvent {
    LogEvent::from_draft(
        LogEventDraft {
            service: "bystander".into(),
            level: "INFO".into(),
            message: "queued before the push".into(),
            ..LogEventDraft::default()
        },
        Timestamp::now(),
        TraceId::generate(),
    )
    .expect("a valid event")
}

fn push(
    content_type: Option<&str>,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> Result<Outcome, TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| TestCaseError::fail(error.to_string()))?;
    runtime.block_on(async move {
        let queue = Arc::new(InMemoryLogQueue::default());
        let bystander = other_clients_event();
        queue
            .push(std::slice::from_ref(&bystander))
            .await
            .map_err(|error| TestCaseError::fail(error.to_string()))?;
        let mut signal = MockDrainSignal::new();
        signal.expect_request_drain().returning(|| Ok(()));
        let app = ingestion_app(
            IngestUseCase::new(
                Arc::clone(&queue) as Arc<dyn QueueProducer>,
                Arc::new(signal),
            ),
            limits(),
            ApiKeys::none(),
        );
        let client = TestClient::new(app);
        let mut request = client.post(LOKI_PUSH_PATH).body(body);
        if let Some(content_type) = content_type {
            request = request.content_type(content_type);
        }
        if let Some(encoding) = encoding {
            request = request.header("Content-Encoding", encoding);
        }
        let response = request.send().await.0;
        let status = response.status();
        let text = response
            .into_body()
            .into_string()
            .await
            .map_err(|error| TestCaseError::fail(error.to_string()))?;
        let mut queued = queue
            .reserve(usize::MAX)
            .await
            .map_err(|error| TestCaseError::fail(error.to_string()))?
            .events;
        prop_assert!(!queued.is_empty(), "the other client's event is gone");
        prop_assert_eq!(
            &queued.remove(0),
            &bystander,
            "the other client's event changed"
        );
        Ok(Outcome {
            status,
            text,
            queued,
        })
    })
}

/// A documented answer: 204 with an empty body, or a refusal with a sentence.
fn assert_documented(outcome: &Outcome) -> Result<(), TestCaseError> {
    match outcome.status {
        StatusCode::NO_CONTENT => prop_assert!(outcome.text.is_empty()),
        StatusCode::BAD_REQUEST
        | StatusCode::PAYLOAD_TOO_LARGE
        | StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            prop_assert!(
                !outcome.text.trim().is_empty(),
                "a refusal without a reason"
            )
        }
        other => prop_assert!(false, "undocumented status {} {}", other, outcome.text),
    }
    Ok(())
}

/// One generated entry with what it must become.
#[derive(Debug, Clone)]
struct GeneratedEntry {
    nanos: u64,
    line: String,
    structured: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
struct GeneratedStream {
    service_label: &'static str,
    service: String,
    level_label: Option<String>,
    other_labels: BTreeMap<String, String>,
    entries: Vec<GeneratedEntry>,
}

impl GeneratedStream {
    fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.other_labels.clone();
        labels.insert(self.service_label.into(), self.service.clone());
        if let Some(level) = &self.level_label {
            labels.insert("level".into(), level.clone());
        }
        labels
    }

    /// The labels in Prometheus' text form, as protobuf clients write them.
    fn label_text(&self) -> String {
        let pairs: Vec<String> = self
            .labels()
            .iter()
            .map(|(name, value)| {
                let escaped = value
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                format!("{name}=\"{escaped}\"")
            })
            .collect();
        format!("{{{}}}", pairs.join(", "))
    }
}

fn message() -> impl Strategy<Value = String> {
    ("(?s).{0,30}", "[^\\s]", "(?s).{0,30}").prop_map(|(a, b, c)| format!("{a}{b}{c}"))
}

fn stream() -> impl Strategy<Value = GeneratedStream> {
    (
        prop_oneof![Just("service_name"), Just("service"), Just("job")],
        "[a-z][a-z0-9-]{0,20}",
        proptest::option::of(prop_oneof![
            Just("debug".to_owned()),
            Just("info".to_owned()),
            Just("WARNING".to_owned()),
            Just("err".to_owned()),
            Just("critical".to_owned()),
            Just("verbose".to_owned()),
        ]),
        btree_map("x_[a-z0-9_]{1,8}", "(?s).{0,20}", 0..4),
        vec(
            (
                EARLIEST_NANOS..LATEST_NANOS,
                message(),
                btree_map("s_[a-z0-9_]{1,8}", "(?s).{0,20}", 0..3),
            )
                .prop_map(|(nanos, line, structured)| GeneratedEntry {
                    nanos,
                    line,
                    structured,
                }),
            0..5,
        ),
    )
        .prop_map(
            |(service_label, service, level_label, other_labels, entries)| GeneratedStream {
                service_label,
                service,
                level_label,
                other_labels,
                entries,
            },
        )
}

fn json_body(streams: &[GeneratedStream]) -> Vec<u8> {
    let streams: Vec<Value> = streams
        .iter()
        .map(|stream| {
            json!({
                "stream": stream.labels(),
                "values": stream.entries.iter().map(|entry| {
                    if entry.structured.is_empty() {
                        json!([entry.nanos.to_string(), entry.line])
                    } else {
                        json!([entry.nanos.to_string(), entry.line, entry.structured])
                    }
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "streams": streams }).to_string().into_bytes()
}

fn protobuf_body(streams: &[GeneratedStream]) -> Vec<u8> {
    let label_texts: Vec<String> = streams.iter().map(GeneratedStream::label_text).collect();
    let structured: Vec<Vec<Vec<(&str, &str)>>> = streams
        .iter()
        .map(|stream| {
            stream
                .entries
                .iter()
                .map(|entry| {
                    entry
                        .structured
                        .iter()
                        .map(|(name, value)| (name.as_str(), value.as_str()))
                        .collect()
                })
                .collect()
        })
        .collect();
    let pushed: Vec<(&str, Vec<Entry<'_>>)> = streams
        .iter()
        .zip(&label_texts)
        .zip(&structured)
        .map(|((stream, labels), structured)| {
            let entries = stream
                .entries
                .iter()
                .zip(structured)
                .map(|(entry, pairs)| {
                    let seconds = i64::try_from(entry.nanos / 1_000_000_000).unwrap_or(i64::MAX);
                    let nanos = i32::try_from(entry.nanos % 1_000_000_000).unwrap_or(0);
                    (Some((seconds, nanos)), entry.line.as_str(), &pairs[..])
                })
                .collect();
            (labels.as_str(), entries)
        })
        .collect();
    protobuf_push(&pushed)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("writing to a Vec");
    encoder.finish().expect("writing to a Vec")
}

fn fewer_cases(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: ProptestConfig::default().cases.min(cases),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(fewer_cases(96))]

    #[test]
    fn valid_pushes_queue_every_entry_with_its_mapped_fields_in_both_encodings(
        streams in vec(stream(), 1..4),
        protobuf in any::<bool>(),
        gzipped in any::<bool>(),
    ) {
        let body = if protobuf { protobuf_body(&streams) } else { json_body(&streams) };
        let (body, encoding) = if gzipped { (gzip(&body), Some("gzip")) } else { (body, None) };
        let content_type = if protobuf { PROTOBUF } else { JSON };

        let outcome = push(Some(content_type), encoding, body)?;

        prop_assert_eq!(outcome.status, StatusCode::NO_CONTENT, "{}", outcome.text);
        let expected: Vec<(&GeneratedStream, &GeneratedEntry)> = streams
            .iter()
            .flat_map(|stream| stream.entries.iter().map(move |entry| (stream, entry)))
            .collect();
        prop_assert_eq!(outcome.queued.len(), expected.len());
        for (event, (stream, entry)) in outcome.queued.iter().zip(expected) {
            prop_assert_eq!(event.service().as_str(), stream.service.as_str());
            prop_assert_eq!(event.message().as_str(), entry.line.as_str());
            prop_assert_eq!(event.timestamp().unix_nanos(), entry.nanos);
            let known = stream.level_label.as_deref().and_then(level_of);
            prop_assert_eq!(event.level(), known.unwrap_or(Level::Info));
            let mut metadata = stream.other_labels.clone();
            if let (Some(label), None) = (&stream.level_label, known) {
                metadata.insert("level".into(), label.clone());
            }
            metadata.extend(entry.structured.clone());
            let stored: BTreeMap<String, String> = event
                .metadata()
                .iter()
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .collect();
            prop_assert_eq!(stored, metadata);
        }
    }

    #[test]
    fn arbitrary_bytes_get_a_documented_answer_and_leave_other_data_intact(
        bytes in vec(any::<u8>(), 0..512),
        content_type in prop_oneof![
            Just(Some(PROTOBUF)), Just(Some(JSON)), Just(None), Just(Some("text/plain")),
        ],
        wrap in 0..3,
    ) {
        let (body, encoding) = match wrap {
            0 => (bytes, None),
            1 => (snappy(&bytes), None),
            _ => (gzip(&bytes), Some("gzip")),
        };
        let outcome = push(content_type, encoding, body)?;
        assert_documented(&outcome)?;
        if outcome.status != StatusCode::NO_CONTENT {
            prop_assert!(outcome.queued.is_empty() || outcome.status == StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn arbitrary_json_gets_a_documented_answer(value in any_json()) {
        let outcome = push(Some(JSON), None, value.to_string().into_bytes())?;
        assert_documented(&outcome)?;
    }

    #[test]
    fn every_truncation_of_a_protobuf_push_is_refused_or_read_whole(
        streams in vec(stream(), 1..3),
        cut in any::<prop::sample::Index>(),
    ) {
        let whole = protobuf_body(&streams);
        let inner = snap::raw::Decoder::new()
            .decompress_vec(&whole)
            .map_err(|error| TestCaseError::fail(error.to_string()))?;
        let at = cut.index(inner.len().max(1));
        // Cut the protobuf (then compress it again) or the snappy block itself.
        for body in [snappy(&inner[..at]), whole[..cut.index(whole.len().max(1))].to_vec()] {
            let outcome = push(Some(PROTOBUF), None, body)?;
            assert_documented(&outcome)?;
        }
    }
}

/// Any JSON value up to a small depth, with Loki-shaped members now and then.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "(?s).{0,12}".prop_map(Value::from),
        Just(json!("1700000000000000000")),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(
                prop_oneof![
                    Just("streams".to_owned()),
                    Just("stream".to_owned()),
                    Just("values".to_owned()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..4
            )
            .prop_map(|map| json!(map)),
        ]
    })
}

/// The hostile corpus: each body with the status it must get and words its reason must hold.
/// Where a push mixes a good entry with a bad one, the good one must be queued.
#[test]
fn the_hostile_corpus_gets_clear_answers_and_leaves_other_data_intact() {
    let good = r#"["1700000000000000000","the good line"]"#;
    let json_push = |values: &str| {
        format!(r#"{{"streams":[{{"stream":{{"job":"hostile"}},"values":[{good},{values}]}}]}}"#)
            .into_bytes()
    };
    let valid_protobuf = protobuf_push(&[("{job=\"hostile\"}", vec![(None, "a line", &[])])]);
    let inner = snap::raw::Decoder::new()
        .decompress_vec(&valid_protobuf)
        .expect("valid snappy");
    let huge_line = "x".repeat(70 * 1024);
    // (name, content type, encoding, body, status, words in the reason, good entries queued)
    type Case = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Vec<u8>,
        StatusCode,
        &'static str,
        usize,
    );
    let cases: Vec<Case> = vec![
        (
            "truncated protobuf",
            Some(PROTOBUF),
            None,
            snappy(&inner[..inner.len() - 4]),
            StatusCode::BAD_REQUEST,
            "not a protobuf logproto.PushRequest",
            0,
        ),
        (
            "protobuf not snappy-compressed",
            Some(PROTOBUF),
            None,
            inner.clone(),
            StatusCode::BAD_REQUEST,
            "snappy",
            0,
        ),
        (
            "bad snappy",
            Some(PROTOBUF),
            None,
            b"\x10\x00\x00\xff\xff\xff".to_vec(),
            StatusCode::BAD_REQUEST,
            "snappy",
            0,
        ),
        (
            "snappy bomb",
            Some(PROTOBUF),
            None,
            snappy(&vec![0; 2 * limits().max_body_bytes]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "at most",
            0,
        ),
        (
            "snappy as Content-Encoding on JSON",
            Some(JSON),
            Some("snappy"),
            snappy(&json_push(good)),
            StatusCode::BAD_REQUEST,
            "not valid JSON",
            0,
        ),
        (
            "wrong content type",
            Some("text/plain"),
            None,
            json_push(good),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "text/plain",
            0,
        ),
        (
            "form content type",
            Some("application/x-www-form-urlencoded"),
            None,
            valid_protobuf.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type",
            0,
        ),
        (
            "unknown content encoding",
            Some(JSON),
            Some("zstd"),
            json_push(good),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "zstd",
            0,
        ),
        (
            "gzip header on plain JSON",
            Some(JSON),
            Some("gzip"),
            json_push(good),
            StatusCode::BAD_REQUEST,
            "gzip",
            0,
        ),
        (
            "body over the limit",
            Some(JSON),
            None,
            vec![b' '; limits().max_body_bytes + 1],
            StatusCode::PAYLOAD_TOO_LARGE,
            "at most",
            0,
        ),
        (
            "a huge line",
            Some(JSON),
            None,
            json_push(&format!(r#"["1700000000000000001","{huge_line}"]"#)),
            StatusCode::BAD_REQUEST,
            "streams[0].values[1]: message must be at most",
            1,
        ),
        (
            "invalid UTF-8 in JSON",
            Some(JSON),
            None,
            b"{\"streams\":[{\"stream\":{\"job\":\"\xff\"},\"values\":[]}]}".to_vec(),
            StatusCode::BAD_REQUEST,
            "not valid JSON",
            0,
        ),
        (
            "invalid UTF-8 in a protobuf line",
            Some(PROTOBUF),
            None,
            snappy(b"\x0a\x08\x12\x06\x12\x04\xff\xfe\xfd\xfc"),
            StatusCode::BAD_REQUEST,
            "not a protobuf",
            0,
        ),
        (
            "a timestamp that is not digits",
            Some(JSON),
            None,
            json_push(r#"["17e17","x"]"#),
            StatusCode::BAD_REQUEST,
            "streams[0].values[1]: timestamp must be a string of Unix epoch nanoseconds",
            1,
        ),
        (
            "a numeric timestamp",
            Some(JSON),
            None,
            json_push(r#"[1700000000000000000,"x"]"#),
            StatusCode::BAD_REQUEST,
            "values[1]: timestamp must be a string",
            1,
        ),
        (
            "a negative timestamp",
            Some(JSON),
            None,
            json_push(r#"["-1","x"]"#),
            StatusCode::BAD_REQUEST,
            "values[1]: timestamp",
            1,
        ),
        (
            "a timestamp past u64",
            Some(JSON),
            None,
            json_push(r#"["99999999999999999999","x"]"#),
            StatusCode::BAD_REQUEST,
            "values[1]: timestamp 99999999999999999999 is too far",
            1,
        ),
        (
            "a timestamp in the far future",
            Some(JSON),
            None,
            json_push(r#"["9000000000000000000","x"]"#),
            StatusCode::BAD_REQUEST,
            "values[1]: timestamp",
            1,
        ),
        (
            "a protobuf timestamp before 1970",
            Some(PROTOBUF),
            None,
            protobuf_push(&[(
                "{job=\"a\"}",
                vec![
                    (Some((1_700_000_000, 0)), "good", &[]),
                    (Some((-5, 0)), "old", &[]),
                ],
            )]),
            StatusCode::BAD_REQUEST,
            "streams[0].entries[1]: timestamp -5s is before 1970",
            1,
        ),
        (
            "broken stream labels",
            Some(PROTOBUF),
            None,
            protobuf_push(&[
                ("{job=\"a\"}", vec![(None, "good", &[])]),
                ("{job=a}", vec![(None, "x", &[])]),
            ]),
            StatusCode::BAD_REQUEST,
            "streams[1].entries[0]: stream labels",
            1,
        ),
        (
            "an entry of the wrong shape",
            Some(JSON),
            None,
            json_push(r#"["1700000000000000000"]"#),
            StatusCode::BAD_REQUEST,
            "streams[0].values[1] must be",
            0,
        ),
        (
            "too many entries",
            Some(PROTOBUF),
            None,
            protobuf_push(&[(
                "{job=\"a\"}",
                (0..65).map(|_| (None, "x", &[][..])).collect(),
            )]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "at most 64 entries",
            0,
        ),
        (
            "a blank line",
            Some(JSON),
            None,
            json_push(r#"["1700000000000000001"," \t "]"#),
            StatusCode::BAD_REQUEST,
            "values[1]: message",
            1,
        ),
    ];
    for (name, content_type, encoding, body, status, words, good_entries) in cases {
        let outcome =
            push(content_type, encoding, body).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(outcome.status, status, "{name}: {}", outcome.text);
        assert!(
            outcome.text.contains(words),
            "{name}: {:?} lacks {words:?}",
            outcome.text
        );
        assert_eq!(
            outcome.queued.len(),
            good_entries,
            "{name}: {}",
            outcome.text
        );
    }
}
