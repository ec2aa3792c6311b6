//! Property tests of `POST /ingest` bodies: decoding ([`decode_payload`]) and validation
//! ([`LogEvent::from_draft`]), alone and through the whole endpoint (body limit, handler, use
//! case, an in-memory queue).
//!
//! They run in every `cargo test` with proptest's default 256 cases per property (fewer for the
//! expensive ones); `PROPTEST_CASES=10000 cargo test -p http-adapter ingest_props` searches
//! longer. A failure is shrunk to a minimal input and its seed saved under
//! `adapters/http/proptest-regressions/`, which is committed: every later run replays it first.
//! Hand-picked hostile bodies live in `adapters/http/tests/corpus/`, each with the answer it must
//! get (`the_seed_corpus_gets_its_documented_answers`).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use application::IngestUseCase;
use application::ports::{MockDrainSignal, QueueConsumer, QueueProducer};
use application::testing::InMemoryLogQueue;
use domain::limits::{
    MESSAGE_MAX_BYTES, METADATA_KEY_MAX_CHARS, METADATA_MAX_ENTRIES, METADATA_VALUE_MAX_BYTES,
    SERVICE_MAX_CHARS,
};
use domain::{Level, LogEvent, Timestamp, TraceId};
use poem::Body;
use poem::http::StatusCode;
use poem::test::TestClient;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::app::ingestion_app;
use crate::common::config::IngestHttpConfig;
use crate::common::error::ErrorCode;
use crate::common::keys::ApiKeys;
use crate::ingest::body::{BodyEncoding, BodyError, BodyFormat, IngestPayload, decode_payload};

/// Generated timestamps lie before this (2023-11-14), so they are never "in the future".
const LATEST_SECONDS: i64 = 1_700_000_000;
const NANOS: i64 = 1_000_000_000;

/// A valid event as a client writes it, with what the pipeline must make of it.
#[derive(Debug, Clone)]
struct ValidEvent {
    json: Value,
    service: String,
    level: Level,
    message: String,
    metadata: BTreeMap<String, String>,
    timestamp_nanos: Option<u64>,
    trace_id: Option<String>,
    span_id: Option<String>,
}

impl ValidEvent {
    /// Asserts that `event` holds exactly this event's fields; `batch_trace_id` is the trace id
    /// of the request, given to events without their own.
    fn assert_matches(&self, event: &LogEvent, batch_trace_id: &str) {
        assert_eq!(event.service().as_str(), self.service);
        assert_eq!(event.level(), self.level);
        assert_eq!(event.message().as_str(), self.message);
        let metadata: BTreeMap<String, String> = event
            .metadata()
            .iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect();
        assert_eq!(metadata, self.metadata);
        if let Some(nanos) = self.timestamp_nanos {
            assert_eq!(event.timestamp().unix_nanos(), nanos);
        } else {
            assert_eq!(event.timestamp(), event.observed_timestamp());
        }
        assert_eq!(
            event.trace_id().to_string(),
            self.trace_id.as_deref().unwrap_or(batch_trace_id)
        );
        assert_eq!(
            event.span_id().map(|span| span.to_string()),
            self.span_id.clone()
        );
    }
}

/// A service name with optional padding, and the trimmed name it must become.
fn service() -> impl Strategy<Value = (String, String)> {
    (
        "[ \t]{0,2}",
        "[^\\p{Cc}\\s]([^\\p{Cc}]{0,126}[^\\p{Cc}\\s])?",
        "[ \t]{0,2}",
    )
        .prop_map(|(before, name, after)| (format!("{before}{name}{after}"), name))
}

const LEVEL_NAMES: [(&str, Level); 9] = [
    ("trace", Level::Trace),
    ("debug", Level::Debug),
    ("info", Level::Info),
    ("warn", Level::Warn),
    ("warning", Level::Warn),
    ("error", Level::Error),
    ("fatal", Level::Fatal),
    ("critical", Level::Fatal),
    ("panic", Level::Fatal),
];

/// A level name or alias in any case, and the level it names.
fn level() -> impl Strategy<Value = (String, Level)> {
    (prop::sample::select(&LEVEL_NAMES[..]), any::<u16>(), " ?").prop_map(
        |((name, level), case, pad)| {
            let text: String = name
                .chars()
                .enumerate()
                .map(|(position, letter)| {
                    if case >> (position % 16) & 1 == 1 {
                        letter.to_ascii_uppercase()
                    } else {
                        letter
                    }
                })
                .collect();
            (format!("{pad}{text}{pad}"), level)
        },
    )
}

/// Any text with at least one character that is not white space (control characters included).
fn message() -> impl Strategy<Value = String> {
    ("(?s).{0,30}", "[^\\s]", "(?s).{0,30}").prop_map(|(a, b, c)| format!("{a}{b}{c}"))
}

/// A metadata value of any JSON kind.
fn metadata_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        "(?s).{0,30}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::num::f64::NORMAL.prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        vec(any::<i32>(), 0..3).prop_map(|items| json!(items)),
        btree_map("[a-z]{1,5}", "(?s).{0,5}", 0..3).prop_map(|entries| json!(entries)),
    ]
}

/// The text a metadata value is stored as: strings as they are, anything else as compact JSON.
fn metadata_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A timestamp in one of the accepted shapes, and its nanoseconds since the epoch.
fn timestamp() -> impl Strategy<Value = (Value, u64)> {
    let nanos = |value: i64, per_unit: i64| u64::try_from(value * per_unit).unwrap_or_default();
    prop_oneof![
        (0..=LATEST_SECONDS).prop_map(move |s| (json!(s), nanos(s, NANOS))),
        (100_000_000_000..=LATEST_SECONDS * 1_000)
            .prop_map(move |ms| (json!(ms), nanos(ms, 1_000_000))),
        (100_000_000_000_000..=LATEST_SECONDS * 1_000_000)
            .prop_map(move |us| (json!(us), nanos(us, 1_000))),
        (100_000_000_000_000_000..=LATEST_SECONDS * NANOS)
            .prop_map(move |ns| (json!(ns), nanos(ns, 1))),
        (0..=LATEST_SECONDS).prop_map(move |s| (json!(s.to_string()), nanos(s, NANOS))),
        (0..=LATEST_SECONDS * NANOS).prop_map(move |ns| {
            let exact = nanos(ns, 1);
            (json!(Timestamp::from_unix_nanos(exact).to_rfc3339()), exact)
        }),
    ]
}

/// `len` hex characters in any case, not all zero, and their lower-case form.
fn hex_id(len: usize) -> impl Strategy<Value = (String, String)> {
    proptest::string::string_regex(&format!("[0-9a-fA-F]{{{len}}}"))
        .expect("a valid regex")
        .prop_filter("ids are not all zero", |text| {
            text.chars().any(|digit| digit != '0')
        })
        .prop_map(|text| {
            let lower = text.to_ascii_lowercase();
            (text, lower)
        })
}

fn valid_event() -> impl Strategy<Value = ValidEvent> {
    (
        service(),
        level(),
        message(),
        btree_map("[^\\p{Cc}]{1,20}", metadata_value(), 0..6),
        option::of(timestamp()),
        option::of(hex_id(32)),
        option::of(hex_id(16)),
        // Top-level fields that are not fields of an event: kept as metadata.
        btree_map("x_[a-z_]{1,8}", metadata_value(), 0..3),
    )
        .prop_map(
            |(
                (service_text, service),
                (level_text, level),
                message,
                metadata,
                timestamp,
                trace,
                span,
                extra_fields,
            )| {
                let mut object = serde_json::Map::new();
                let mut stored_metadata: BTreeMap<String, String> = metadata
                    .iter()
                    .map(|(key, value)| (key.clone(), metadata_text(value)))
                    .collect();
                for (name, value) in extra_fields {
                    if !metadata.contains_key(&name) {
                        stored_metadata.insert(name.clone(), metadata_text(&value));
                        object.insert(name, value);
                    }
                }
                object.insert("service".into(), service_text.into());
                object.insert("level".into(), level_text.into());
                object.insert("message".into(), message.clone().into());
                if !metadata.is_empty() {
                    object.insert("metadata".into(), json!(metadata));
                }
                if let Some((value, _)) = &timestamp {
                    object.insert("timestamp".into(), value.clone());
                }
                if let Some((text, _)) = &trace {
                    object.insert("trace_id".into(), text.clone().into());
                }
                if let Some((text, _)) = &span {
                    object.insert("span_id".into(), text.clone().into());
                }
                ValidEvent {
                    json: Value::Object(object),
                    service,
                    level,
                    message,
                    metadata: stored_metadata,
                    timestamp_nanos: timestamp.map(|(_, nanos)| nanos),
                    trace_id: trace.map(|(_, lower)| lower),
                    span_id: span.map(|(_, lower)| lower),
                }
            },
        )
}

/// One event of a generated batch: valid, or broken in one known way.
#[derive(Debug, Clone)]
enum Record {
    Good(ValidEvent),
    Bad {
        /// The record's text in the body (JSON, or not even that).
        text: String,
        /// The `code` and `field` its error must carry.
        code: ErrorCode,
        field: Option<&'static str>,
    },
}

/// A valid event broken in one way; `malformed_text` allows records that are not JSON at all
/// (NDJSON lines; an array cannot hold them).
fn bad_record(malformed_text: bool) -> impl Strategy<Value = Record> {
    let kinds = if malformed_text { 0..10 } else { 0..9 };
    (valid_event(), kinds).prop_map(|(event, kind)| {
        let mut object = event.json;
        let (code, field) = match kind {
            0 => {
                object = json!(["not", "an", "object"]);
                (ErrorCode::MalformedJson, None)
            }
            1 => {
                object["service"] = json!(5);
                (ErrorCode::InvalidField, Some("service"))
            }
            2 => {
                object["level"] = json!("LOUD");
                (ErrorCode::InvalidField, Some("level"))
            }
            3 => {
                object["message"] = json!(" \t ");
                (ErrorCode::InvalidField, Some("message"))
            }
            4 => {
                object["trace_id"] = json!("xyz");
                (ErrorCode::InvalidField, Some("trace_id"))
            }
            5 => {
                object["metadata"] = json!("not an object");
                (ErrorCode::InvalidField, Some("metadata"))
            }
            6 => {
                object["timestamp"] = json!(true);
                (ErrorCode::InvalidField, Some("timestamp"))
            }
            7 => {
                object["timestamp"] = json!(-1);
                (ErrorCode::InvalidField, Some("timestamp"))
            }
            8 => {
                object["service"] = json!("x".repeat(SERVICE_MAX_CHARS + 1));
                (ErrorCode::InvalidField, Some("service"))
            }
            _ => {
                return Record::Bad {
                    text: "{\"service\": \"api\", ".into(),
                    code: ErrorCode::MalformedJson,
                    field: None,
                };
            }
        };
        Record::Bad {
            text: object.to_string(),
            code,
            field,
        }
    })
}

fn records(malformed_text: bool) -> impl Strategy<Value = Vec<Record>> {
    vec(
        prop_oneof![
            3 => valid_event().prop_map(Record::Good),
            1 => bad_record(malformed_text),
        ],
        1..12,
    )
}

impl Record {
    fn text(&self) -> String {
        match self {
            Record::Good(event) => event.json.to_string(),
            Record::Bad { text, .. } => text.clone(),
        }
    }
}

/// An NDJSON body of `records`, with the blank lines of `gaps` (white space of several kinds)
/// before them, and the 1-based line number of each record.
fn ndjson_body(records: &[Record], gaps: &[(usize, String)], crlf: bool) -> (Vec<u8>, Vec<usize>) {
    let newline = if crlf { "\r\n" } else { "\n" };
    let mut body = String::new();
    let mut lines = Vec::new();
    let mut line = 0;
    for (position, record) in records.iter().enumerate() {
        let (blank_lines, blank) = gaps.get(position).cloned().unwrap_or_default();
        for _ in 0..blank_lines {
            body.push_str(&blank);
            body.push_str(newline);
            line += 1;
        }
        body.push_str(&record.text());
        body.push_str(newline);
        line += 1;
        lines.push(line);
    }
    (body.into_bytes(), lines)
}

fn gaps() -> impl Strategy<Value = Vec<(usize, String)>> {
    vec((0usize..3, "[ \t\r]{0,3}"), 12)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn limits(max_body_bytes: usize, max_batch_events: usize) -> IngestHttpConfig {
    IngestHttpConfig {
        max_body_bytes,
        max_batch_events,
        ..IngestHttpConfig::default()
    }
}

/// Any JSON value, with a bias towards objects that look like events.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|number| json!(number)),
        "(?s).{0,20}".prop_map(Value::from),
        prop::sample::select(
            &[
                "INFO",
                "warn",
                "",
                " ",
                "1700000000",
                "2026-05-05T10:00:00Z"
            ][..]
        )
        .prop_map(Value::from),
    ];
    let key = prop_oneof![
        prop::sample::select(
            &[
                "service",
                "level",
                "message",
                "metadata",
                "timestamp",
                "trace_id",
                "span_id"
            ][..]
        )
        .prop_map(String::from),
        "(?s).{0,8}",
    ];
    leaf.prop_recursive(3, 48, 8, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::Array),
            btree_map(key.clone(), inner, 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// The checks every decoded body must pass, whatever it was: errors are the documented ones, a
/// batch holds 1 to `max_batch_events` events in order, and every event that validates obeys the
/// field limits.
fn check_decoded(
    result: Result<IngestPayload, BodyError>,
    format: BodyFormat,
    max_batch_events: usize,
) {
    let received = Timestamp::now();
    let check_draft = |draft: domain::LogEventDraft| {
        if let Ok(event) = LogEvent::from_draft(draft, received, TraceId::generate()) {
            assert_within_limits(&event, received);
        }
    };
    match result {
        Ok(IngestPayload::Single(draft)) => {
            assert_eq!(format, BodyFormat::Json, "NDJSON is always a batch");
            check_draft(draft);
        }
        Ok(IngestPayload::Batch(records)) => {
            assert!((1..=max_batch_events).contains(&records.len()));
            let lines: Vec<Option<usize>> = records.iter().map(|record| record.line).collect();
            match format {
                BodyFormat::Json => assert!(lines.iter().all(Option::is_none)),
                BodyFormat::Ndjson => assert!(
                    lines.windows(2).all(|pair| pair[0] < pair[1]) && lines[0] >= Some(1),
                    "NDJSON line numbers rise from 1: {lines:?}"
                ),
            }
            for record in records {
                match record.draft {
                    Ok(draft) => check_draft(draft),
                    Err(error) => assert_record_error(&error),
                }
            }
        }
        Err(error) => assert_body_error(&error),
    }
}

fn assert_body_error(error: &BodyError) {
    let expected = match error.code {
        ErrorCode::MalformedJson | ErrorCode::InvalidField | ErrorCode::EmptyBatch => {
            StatusCode::BAD_REQUEST
        }
        ErrorCode::PayloadTooLarge | ErrorCode::TooManyEvents => StatusCode::PAYLOAD_TOO_LARGE,
        other => panic!("undocumented error code {other}: {error:?}"),
    };
    assert_eq!(error.status(), expected, "{error:?}");
    assert_eq!(error.code == ErrorCode::InvalidField, error.field.is_some());
}

fn assert_record_error(error: &BodyError) {
    assert!(
        matches!(
            error.code,
            ErrorCode::MalformedJson | ErrorCode::InvalidField
        ),
        "{error:?}"
    );
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error.code == ErrorCode::InvalidField, error.field.is_some());
}

/// Every field limit of the domain holds on a validated event.
fn assert_within_limits(event: &LogEvent, received: Timestamp) {
    let service = event.service().as_str();
    assert!((1..=SERVICE_MAX_CHARS).contains(&service.chars().count()));
    assert_eq!(service, service.trim());
    assert!(!service.chars().any(char::is_control));
    let message = event.message().as_str();
    assert!(message.len() <= MESSAGE_MAX_BYTES && !message.trim().is_empty());
    assert!(event.metadata().len() <= METADATA_MAX_ENTRIES);
    for (key, value) in event.metadata().iter() {
        assert!((1..=METADATA_KEY_MAX_CHARS).contains(&key.chars().count()));
        assert!(!key.chars().any(char::is_control));
        assert!(value.len() <= METADATA_VALUE_MAX_BYTES);
    }
    assert!(
        event.timestamp() <= received.saturating_add_nanos(domain::limits::MAX_FUTURE_SKEW_NANOS)
    );
}

/// A short summary of a decoding result, equal for equal results.
fn summary(result: &Result<IngestPayload, BodyError>) -> String {
    format!("{result:?}")
}

proptest! {
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn arbitrary_bytes_never_panic_and_decode_within_the_limits(
        bytes in vec(any::<u8>(), 0..512),
        ndjson in any::<bool>(),
        max_batch_events in 1usize..8,
    ) {
        let format = if ndjson { BodyFormat::Ndjson } else { BodyFormat::Json };
        let result = decode_payload(format, BodyEncoding::Identity, &bytes, &limits(1024, max_batch_events));
        check_decoded(result, format, max_batch_events);
    }

    #[test]
    fn arbitrary_json_never_panics_and_decodes_within_the_limits(
        values in vec(any_json(), 0..6),
        shape in 0..3,
        max_batch_events in 1usize..8,
    ) {
        let (format, body) = match shape {
            0 => (BodyFormat::Json, values.first().cloned().unwrap_or_default().to_string()),
            1 => (BodyFormat::Json, Value::Array(values).to_string()),
            _ => (
                BodyFormat::Ndjson,
                values.iter().map(Value::to_string).collect::<Vec<_>>().join("\n"),
            ),
        };
        let result = decode_payload(format, BodyEncoding::Identity, body.as_bytes(), &limits(1 << 20, max_batch_events));
        check_decoded(result, format, max_batch_events);
    }

    #[test]
    fn arbitrary_and_damaged_gzip_never_panics(
        bytes in vec(any::<u8>(), 0..512),
        damage in vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in option::of(any::<prop::sample::Index>()),
        compress in any::<bool>(),
        ndjson in any::<bool>(),
    ) {
        let mut body = if compress { gzip(&bytes) } else { bytes };
        if !body.is_empty() {
            for (position, byte) in damage {
                let position = position.index(body.len());
                body[position] = byte;
            }
        }
        if let Some(cut) = cut {
            body.truncate(cut.index(body.len() + 1));
        }
        let format = if ndjson { BodyFormat::Ndjson } else { BodyFormat::Json };
        let result = decode_payload(format, BodyEncoding::Gzip, &body, &limits(256, 4));
        check_decoded(result, format, 4);
    }

    #[test]
    fn a_gzip_body_decodes_exactly_like_the_plain_one(
        bytes in prop_oneof![
            vec(any::<u8>(), 0..256),
            vec(valid_event(), 1..4).prop_map(|events| {
                Value::Array(events.into_iter().map(|event| event.json).collect()).to_string().into_bytes()
            }),
        ],
        members in 1usize..4,
        ndjson in any::<bool>(),
    ) {
        let format = if ndjson { BodyFormat::Ndjson } else { BodyFormat::Json };
        // Any split into concatenated gzip members (as `gzip a; gzip b` writes) is the same body.
        let chunk = bytes.len().div_ceil(members).max(1);
        let compressed: Vec<u8> = if bytes.is_empty() {
            gzip(&bytes)
        } else {
            bytes.chunks(chunk).flat_map(gzip).collect()
        };
        let limits = limits(4096, 8);
        let plain = decode_payload(format, BodyEncoding::Identity, &bytes, &limits);
        let inflated = decode_payload(format, BodyEncoding::Gzip, &compressed, &limits);
        prop_assert_eq!(summary(&plain), summary(&inflated));
    }

    #[test]
    fn valid_events_round_trip_through_decoding_and_validation(
        events in vec(valid_event(), 1..8),
        shape in 0..3,
        gzipped in any::<bool>(),
    ) {
        let (format, body) = match shape {
            0 => (BodyFormat::Json, events[0].json.to_string()),
            1 => (
                BodyFormat::Json,
                Value::Array(events.iter().map(|event| event.json.clone()).collect()).to_string(),
            ),
            _ => (
                BodyFormat::Ndjson,
                events.iter().map(|event| event.json.to_string()).collect::<Vec<_>>().join("\n"),
            ),
        };
        let expected = if shape == 0 { &events[..1] } else { &events[..] };
        let (encoding, body) = if gzipped {
            (BodyEncoding::Gzip, gzip(body.as_bytes()))
        } else {
            (BodyEncoding::Identity, body.into_bytes())
        };
        let drafts = match decode_payload(format, encoding, &body, &limits(1 << 20, 8)) {
            Ok(IngestPayload::Single(draft)) => vec![draft],
            Ok(IngestPayload::Batch(records)) => records
                .into_iter()
                .map(|record| record.draft.expect("every generated event decodes"))
                .collect(),
            Err(error) => panic!("a valid body was refused: {error:?}"),
        };
        prop_assert_eq!(drafts.len(), expected.len());
        let request_trace = TraceId::generate();
        for (draft, event) in drafts.into_iter().zip(expected) {
            let validated = LogEvent::from_draft(draft, Timestamp::now(), request_trace)
                .unwrap_or_else(|error| panic!("a valid event was refused: {error:?}"));
            event.assert_matches(&validated, &request_trace.to_string());
        }
    }

    #[test]
    fn an_unknown_field_also_given_in_metadata_is_refused_naming_it(
        event in valid_event(),
        name in "y_[a-z]{1,8}",
        top in metadata_value(),
        inner in metadata_value(),
    ) {
        let mut json = event.json.clone();
        let object = json.as_object_mut().expect("an event is an object");
        object.insert(name.clone(), top);
        let metadata = object.entry("metadata").or_insert_with(|| json!({}));
        metadata.as_object_mut().expect("metadata is an object").insert(name.clone(), inner);
        let body = json.to_string();
        let error = match decode_payload(
            BodyFormat::Json,
            BodyEncoding::Identity,
            body.as_bytes(),
            &limits(1 << 20, 8),
        ) {
            Err(error) => error,
            Ok(payload) => panic!("a clashing field was accepted: {payload:?}"),
        };
        prop_assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        prop_assert_eq!(error.code, ErrorCode::InvalidField);
        prop_assert_eq!(error.field.as_deref(), Some(name.as_str()));
        prop_assert!(error.reason.contains(&format!("metadata.{name}")), "{}", error.reason);
    }

    #[test]
    fn batches_over_the_event_limit_are_refused_whole(
        count in 1usize..12,
        max_batch_events in 1usize..12,
        ndjson in any::<bool>(),
    ) {
        let event = r#"{"service":"api","level":"INFO","message":"m"}"#;
        let (format, body) = if ndjson {
            (BodyFormat::Ndjson, vec![event; count].join("\n"))
        } else {
            (BodyFormat::Json, format!("[{}]", vec![event; count].join(",")))
        };
        let result = decode_payload(format, BodyEncoding::Identity, body.as_bytes(), &limits(1 << 20, max_batch_events));
        match result {
            Ok(IngestPayload::Batch(records)) => {
                prop_assert!(count <= max_batch_events);
                prop_assert_eq!(records.len(), count);
            }
            Err(error) => {
                prop_assert!(count > max_batch_events);
                prop_assert_eq!((error.status(), error.code), (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooManyEvents));
            }
            Ok(IngestPayload::Single(_)) => prop_assert!(false, "a batch decoded as one event"),
        }
    }

    #[test]
    fn gzip_bodies_inflating_past_the_body_limit_are_refused(
        max_body_bytes in 64usize..4096,
        over in 0usize..3,
        under in 0usize..3,
    ) {
        let event = br#"{"service":"api","level":"INFO","message":"m"}"#;
        let size = (max_body_bytes + over).saturating_sub(under);
        let mut body = vec![b' '; size - event.len()];
        body.extend_from_slice(event);
        let result = decode_payload(BodyFormat::Json, BodyEncoding::Gzip, &gzip(&body), &limits(max_body_bytes, 8));
        if size > max_body_bytes {
            let error = result.expect_err("over the limit");
            prop_assert_eq!((error.status(), error.code), (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge));
        } else {
            prop_assert!(matches!(result, Ok(IngestPayload::Single(_))));
        }
    }
}

/// `cases` cases, unless `PROPTEST_CASES` asks for a number of its own (a longer search).
fn fewer_cases(cases: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_some() {
        default
    } else {
        ProptestConfig { cases, ..default }
    }
}

// Through the whole endpoint: fewer cases, each builds an app and a runtime.
proptest! {
    #![proptest_config(fewer_cases(64))]

    #[test]
    fn batch_errors_name_the_position_and_line_of_each_bad_record(
        records in records(true),
        gaps in gaps(),
        ndjson in any::<bool>(),
        crlf in any::<bool>(),
        gzipped in any::<bool>(),
    ) {
        // Records that are not JSON at all only fit in NDJSON.
        let records: Vec<Record> = if ndjson {
            records
        } else {
            records
                .into_iter()
                .filter(|record| !matches!(record, Record::Bad { text, .. } if serde_json::from_str::<Value>(text).is_err()))
                .collect()
        };
        prop_assume!(!records.is_empty());
        let (content_type, body, lines) = if ndjson {
            let (body, lines) = ndjson_body(&records, &gaps, crlf);
            ("application/x-ndjson", body, lines.into_iter().map(Some).collect())
        } else {
            let texts: Vec<String> = records.iter().map(Record::text).collect();
            ("application/json", format!("[{}]", texts.join(",")).into_bytes(), vec![None; records.len()])
        };
        let (status, answer, queued) = post(content_type, gzipped, body.clone(), limits(1 << 20, 16))?;

        let good: Vec<&ValidEvent> = records
            .iter()
            .filter_map(|record| match record {
                Record::Good(event) => Some(event),
                Record::Bad { .. } => None,
            })
            .collect();
        let expected_errors: Vec<Value> = records
            .iter()
            .zip(&lines)
            .enumerate()
            .filter_map(|(index, (record, line))| match record {
                Record::Bad { code, field, .. } => Some(json!({
                    "index": index, "line": line, "code": code.as_str(), "field": field,
                })),
                Record::Good(_) => None,
            })
            .collect();
        let errors: Vec<Value> = answer["errors"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|error| json!({
                "index": error["index"], "line": error["line"], "code": error["code"], "field": error["field"],
            }))
            .collect();
        prop_assert_eq!(errors, expected_errors, "answer {}", answer);
        prop_assert_eq!(&answer["accepted"], &json!(good.len()));
        prop_assert_eq!(&answer["rejected"], &json!(records.len() - good.len()));
        let expected_status = if good.is_empty() { StatusCode::BAD_REQUEST } else { StatusCode::ACCEPTED };
        prop_assert_eq!(status, expected_status);
        prop_assert_eq!(queued.len(), good.len());
        let trace_id = answer["trace_id"].as_str().unwrap_or_default().to_owned();
        for (event, expected) in queued.iter().zip(good) {
            expected.assert_matches(event, &trace_id);
        }
    }

    #[test]
    fn a_single_valid_event_is_queued_as_sent(event in valid_event(), gzipped in any::<bool>()) {
        let (status, answer, queued) =
            post("application/json", gzipped, event.json.to_string().into_bytes(), limits(1 << 20, 16))?;
        prop_assert_eq!(status, StatusCode::ACCEPTED, "answer {}", answer);
        prop_assert_eq!(queued.len(), 1);
        prop_assert_eq!(&answer["id"], &json!(queued[0].id().to_string()));
        let trace_id = answer["trace_id"].as_str().unwrap_or_default().to_owned();
        event.assert_matches(&queued[0], &trace_id);
    }

    #[test]
    fn arbitrary_bodies_get_a_documented_answer_never_a_5xx(
        body in prop_oneof![
            vec(any::<u8>(), 0..256),
            any_json().prop_map(|value| value.to_string().into_bytes()),
            vec(any_json(), 1..4).prop_map(|values| {
                values.iter().map(Value::to_string).collect::<Vec<_>>().join("\n").into_bytes()
            }),
        ],
        ndjson in any::<bool>(),
        gzipped in any::<bool>(),
    ) {
        let content_type = if ndjson { "application/x-ndjson" } else { "application/json" };
        let (status, answer, queued) = post(content_type, gzipped, body, limits(1 << 20, 4))?;
        let accepted = answer["accepted"].as_u64().unwrap_or(u64::from(answer["id"].is_string()));
        match status {
            StatusCode::ACCEPTED => prop_assert!(accepted >= 1),
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => prop_assert_eq!(accepted, 0),
            other => prop_assert!(false, "undocumented status {} {}", other, answer),
        }
        prop_assert!(answer["code"].is_string() || answer["status"].is_string(), "answer {}", answer);
        prop_assert_eq!(queued.len() as u64, accepted);
    }

    #[test]
    fn bodies_one_byte_over_the_limit_are_refused_with_413(
        max_body_bytes in 64usize..4096,
        over in 0usize..3,
        under in 0usize..3,
        declared in any::<bool>(),
    ) {
        let event = br#"{"service":"api","level":"INFO","message":"m"}"#;
        let size = (max_body_bytes + over).saturating_sub(under);
        let mut body = vec![b' '; size - event.len()];
        body.extend_from_slice(event);
        let (status, answer, queued) = send(
            "application/json",
            None,
            body,
            declared,
            limits(max_body_bytes, 16),
        )?;
        if size > max_body_bytes {
            prop_assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
            prop_assert_eq!(&answer["code"], "payload_too_large");
            prop_assert!(queued.is_empty());
        } else {
            prop_assert_eq!(status, StatusCode::ACCEPTED, "answer {}", answer);
            prop_assert_eq!(queued.len(), 1);
        }
    }
}

/// Posts `body` to a fresh ingestion app over an in-memory queue; the answer's status and JSON,
/// and every event the request queued.
fn post(
    content_type: &str,
    gzipped: bool,
    body: Vec<u8>,
    limits: IngestHttpConfig,
) -> Result<(StatusCode, Value, Vec<LogEvent>), TestCaseError> {
    if gzipped {
        send(content_type, Some("gzip"), gzip(&body), true, limits)
    } else {
        send(content_type, None, body, true, limits)
    }
}

/// Like [`post`]; `declared` says whether the request carries a `Content-Length` (else the body
/// streams without one, as with chunked transfer).
fn send(
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
    declared: bool,
    limits: IngestHttpConfig,
) -> Result<(StatusCode, Value, Vec<LogEvent>), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| TestCaseError::fail(error.to_string()))?;
    runtime.block_on(async move {
        let queue = Arc::new(InMemoryLogQueue::default());
        let mut signal = MockDrainSignal::new();
        signal.expect_request_drain().returning(|| Ok(()));
        let app = ingestion_app(
            IngestUseCase::new(
                Arc::clone(&queue) as Arc<dyn QueueProducer>,
                Arc::new(signal),
            ),
            limits,
            ApiKeys::none(),
        );
        let client = TestClient::new(app);
        let length = body.len();
        let mut request = client.post("/ingest").content_type(content_type);
        if let Some(encoding) = encoding {
            request = request.header("Content-Encoding", encoding);
        }
        request = if declared {
            request.header("Content-Length", length).body(body)
        } else {
            request.body(Body::from_async_read(std::io::Cursor::new(body)))
        };
        let response = request.send().await;
        let status = response.0.status();
        let answer = response
            .0
            .into_body()
            .into_json::<Value>()
            .await
            .map_err(|error| TestCaseError::fail(format!("the answer is not JSON: {error}")))?;
        let queued = queue
            .reserve(usize::MAX)
            .await
            .map_err(|error| TestCaseError::fail(error.to_string()))?
            .events;
        Ok((status, answer, queued))
    })
}

/// What an answer says, in the words of `tests/corpus/expected.txt`: the error `code`,
/// `accepted` for one queued event, or `accepted=<n>,rejected=<m>` for a batch.
fn answer_summary(answer: &Value) -> String {
    if let Some(code) = answer["code"].as_str() {
        code.to_owned()
    } else if answer["id"].is_string() {
        "accepted".to_owned()
    } else {
        format!(
            "accepted={},rejected={}",
            answer["accepted"], answer["rejected"]
        )
    }
}

#[test]
fn the_seed_corpus_gets_its_documented_answers() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let expected = std::fs::read_to_string(corpus.join("expected.txt")).unwrap();
    let mut checked = 0;
    for line in expected.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [file, status, summary] = fields[..] else {
            panic!("expected.txt: `<file> <status> <answer>`, got {line:?}");
        };
        let body = std::fs::read(corpus.join(file)).unwrap();
        let content_type = if file.contains(".ndjson") {
            "application/x-ndjson"
        } else {
            "application/json"
        };
        let encoding = file.ends_with(".gz").then_some("gzip");
        let (actual_status, answer, queued) = send(
            content_type,
            encoding,
            body,
            true,
            IngestHttpConfig::default(),
        )
        .unwrap();
        assert_eq!(
            (actual_status.as_u16().to_string(), answer_summary(&answer)),
            (status.to_owned(), summary.to_owned()),
            "{file}: {answer}"
        );
        let accepted = answer["accepted"]
            .as_u64()
            .unwrap_or(u64::from(answer["id"].is_string()));
        assert_eq!(queued.len() as u64, accepted, "{file}");
        checked += 1;
    }
    let files = std::fs::read_dir(&corpus).unwrap().count();
    // Every file but expected.txt and README.md has its line.
    assert_eq!(
        checked,
        files - 2,
        "a corpus file without a line in expected.txt"
    );
}
