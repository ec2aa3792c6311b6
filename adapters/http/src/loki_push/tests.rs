//! The endpoint through the whole ingestion app (routing, body reading, the use case with a
//! mocked queue that asserts what it is given).

use std::io::Write;

use application::ports::{MockQueueProducer, QueueError};
use domain::{Level, LogEvent};
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::{Value, json};

use super::wire::encode::{protobuf_push, snappy};
use super::*;
use crate::common::error::RETRY_AFTER_SECONDS;
use crate::common::keys::{ApiKeys, Scope};
use crate::common::test_apps::{
    TEST_MAX_BODY_BYTES, ingestion_over_mocks, queue_pushing_once as queue,
};

const MAX_BODY_BYTES: usize = TEST_MAX_BODY_BYTES;
const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";
const KEY: &str = "loki-ingest-key-0123456789";

fn app_with(
    queue: MockQueueProducer,
    signals: usize,
    max_batch_events: usize,
    keys: ApiKeys,
) -> impl poem::Endpoint {
    ingestion_over_mocks(queue, signals, max_batch_events, keys)
}

fn app(queue: MockQueueProducer, signals: usize) -> impl poem::Endpoint {
    app_with(queue, signals, 100, ApiKeys::none())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

struct Answer {
    status: StatusCode,
    content_type: String,
    retry_after: Option<String>,
    www_authenticate: Option<String>,
    text: String,
}

async fn post(
    app: impl poem::Endpoint,
    content_type: Option<&str>,
    headers: &[(&'static str, &str)],
    body: Vec<u8>,
) -> Answer {
    let client = TestClient::new(app);
    let mut request = client.post(LOKI_PUSH_PATH).body(body);
    if let Some(content_type) = content_type {
        request = request.content_type(content_type);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.0;
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    Answer {
        status: response.status(),
        content_type: header("content-type").unwrap_or_default(),
        retry_after: header("retry-after"),
        www_authenticate: header("www-authenticate"),
        text: response.into_body().into_string().await.unwrap(),
    }
}

#[tokio::test]
async fn a_protobuf_push_is_mapped_queued_with_one_push_and_answered_204() {
    let body = protobuf_push(&[
        (
            r#"{service_name="checkout", env="prod", level="warn"}"#,
            vec![
                (Some((1_777_975_200, 1)), "slow", &[("user_id", "42")]),
                (
                    Some((1_777_975_200, 2)),
                    "failed",
                    &[("detected_level", "error")],
                ),
            ],
        ),
        (
            r#"{job="cron"}"#,
            vec![(Some((1_777_975_201, 0)), "ran", &[])],
        ),
    ]);
    let queue = queue(Some(|events| {
        events.len() == 3
            && events.iter().map(LogEvent::level).collect::<Vec<_>>()
                == [Level::Warn, Level::Error, Level::Info]
            && events[0].service().as_str() == "checkout"
            && events[0].message().as_str() == "slow"
            && events[0].metadata().get("env") == Some("prod")
            && events[0].metadata().get("user_id") == Some("42")
            && events[0].metadata().get("level").is_none()
            && events[0].timestamp().unix_nanos() == 1_777_975_200_000_000_001
            // the stream's level label stays in metadata when structured metadata gave the level
            && events[1].metadata().get("level") == Some("warn")
            && events[2].service().as_str() == "cron"
            && events[2].timestamp().unix_nanos() == 1_777_975_201_000_000_000
    }));

    let answer = post(app(queue, 1), Some(PROTOBUF), &[], body).await;

    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
    assert_eq!(answer.text, "");
}

#[tokio::test]
async fn a_json_push_plain_or_gzip_is_queued_and_answered_204() {
    let body = json!({"streams": [{
        "stream": {"service": "web", "host": "h1"},
        "values": [["1777975200000000123", "GET /", {"trace": "t1"}]]
    }]})
    .to_string();
    for gzipped in [false, true] {
        let queue = queue(Some(|events| {
            events.len() == 1
                && events[0].service().as_str() == "web"
                && events[0].level() == Level::Info
                && events[0].message().as_str() == "GET /"
                && events[0].metadata().get("host") == Some("h1")
                && events[0].metadata().get("trace") == Some("t1")
                && events[0].timestamp().unix_nanos() == 1_777_975_200_000_000_123
        }));
        let (headers, bytes): (&[(&'static str, &str)], Vec<u8>) = if gzipped {
            (&[("content-encoding", "gzip")], gzip(body.as_bytes()))
        } else {
            (&[], body.clone().into_bytes())
        };

        let answer = post(app(queue, 1), Some(JSON), headers, bytes).await;

        assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
    }
}

#[tokio::test]
async fn a_body_without_content_type_is_read_as_snappy_protobuf_as_loki_does() {
    let body = protobuf_push(&[("{job=\"a\"}", vec![(None, "no type", &[])])]);
    let queue = queue(Some(|events| events[0].message().as_str() == "no type"));

    let answer = post(app(queue, 1), None, &[("content-encoding", "snappy")], body).await;

    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
}

#[tokio::test]
async fn invalid_entries_are_listed_in_a_400_and_the_valid_ones_queued() {
    let body = json!({"streams": [
        {"stream": {"job": "a"}, "values": [
            ["1777975200000000000", "fine"],
            ["1777975200000000000", "   "],
            ["soon", "bad time"]
        ]},
        {"stream": {"job": "a", "long": "x".repeat(9000)}, "values": [["1777975200000000000", "big label"]]}
    ]})
    .to_string();
    let queue = queue(Some(|events| {
        events.len() == 1 && events[0].message().as_str() == "fine"
    }));

    let answer = post(app(queue, 1), Some(JSON), &[], body.into_bytes()).await;

    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.content_type.starts_with("text/plain"),
        "{}",
        answer.content_type
    );
    let text = &answer.text;
    assert!(
        text.starts_with("3 of 4 entries rejected (the other 1 were accepted)"),
        "{text}"
    );
    assert!(text.contains("streams[0].values[1]: message"), "{text}");
    assert!(text.contains("streams[0].values[2]: timestamp"), "{text}");
    assert!(
        text.contains("streams[1].values[0]: metadata.long"),
        "{text}"
    );
}

#[tokio::test]
async fn a_push_whose_entries_all_fail_is_400_and_queues_nothing() {
    let body = protobuf_push(&[("{job=\"a\"", vec![(None, "x", &[]), (None, "y", &[])])]);

    let answer = post(app(queue(None), 0), Some(PROTOBUF), &[], body).await;

    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.text.starts_with("2 of 2 entries rejected"),
        "{}",
        answer.text
    );
    assert!(answer.text.contains("stream labels"), "{}", answer.text);
}

#[tokio::test]
async fn an_empty_push_is_204_and_queues_nothing() {
    let answer = post(
        app(queue(None), 0),
        Some(JSON),
        &[],
        br#"{"streams":[]}"#.to_vec(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn undecodable_bodies_are_400_with_a_plain_text_reason() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (PROTOBUF, b"\xff\xff\xff\xff\xff".to_vec(), "snappy"),
        (PROTOBUF, snappy(b"\x0a\x05\x0a"), "protobuf"),
        // a line that is not UTF-8: protobuf strings must be
        (
            PROTOBUF,
            snappy(b"\x0a\x08\x12\x06\x12\x04\xff\xfe\xfd\xfc"),
            "protobuf",
        ),
        (JSON, b"{\"streams\":".to_vec(), "not valid JSON"),
        (JSON, b"\xff\xfe".to_vec(), "not valid JSON"),
    ];
    for (content_type, body, expected) in cases {
        let answer = post(app(queue(None), 0), Some(content_type), &[], body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{expected}");
        assert!(answer.text.contains(expected), "{}", answer.text);
    }
}

#[tokio::test]
async fn another_content_type_or_encoding_is_415() {
    let answer = post(app(queue(None), 0), Some("text/plain"), &[], b"hi".to_vec()).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(answer.text.contains("text/plain"), "{}", answer.text);

    let answer = post(
        app(queue(None), 0),
        Some(JSON),
        &[("content-encoding", "br")],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(answer.text.contains("\"br\""), "{}", answer.text);
}

#[tokio::test]
async fn oversized_bodies_and_too_many_entries_are_413_and_nothing_is_queued() {
    let answer = post(
        app(queue(None), 0),
        Some(PROTOBUF),
        &[],
        vec![0; MAX_BODY_BYTES + 1],
    )
    .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);

    let bomb = gzip(&vec![b' '; 10 * MAX_BODY_BYTES]);
    let answer = post(
        app(queue(None), 0),
        Some(JSON),
        &[("content-encoding", "gzip")],
        bomb,
    )
    .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);

    let entries: Vec<_> = (0..3).map(|_| (None, "x", &[][..])).collect();
    let answer = post(
        app_with(queue(None), 0, 2, ApiKeys::none()),
        Some(PROTOBUF),
        &[],
        protobuf_push(&[("{}", entries)]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer.text.contains("at most 2 entries"), "{}", answer.text);
}

#[tokio::test]
async fn a_full_queue_is_429_and_an_unreachable_one_503_both_with_retry_after() {
    type Case = (fn() -> QueueError, StatusCode);
    let cases: [Case; 2] = [
        (
            || QueueError::Full {
                depth: 10,
                capacity: 5,
            },
            StatusCode::TOO_MANY_REQUESTS,
        ),
        (
            || QueueError::Unavailable("connection refused".into()),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    ];
    for (error, expected) in cases {
        let mut queue = MockQueueProducer::new();
        queue
            .expect_push()
            .times(1)
            .returning(move |_| Err(error()));
        let body = protobuf_push(&[("{job=\"a\"}", vec![(None, "x", &[])])]);

        let answer = post(app(queue, 0), Some(PROTOBUF), &[], body).await;

        assert_eq!(answer.status, expected);
        assert_eq!(
            answer.retry_after.as_deref(),
            Some(RETRY_AFTER_SECONDS.to_string().as_str())
        );
    }
}

#[tokio::test]
async fn with_keys_a_push_needs_an_ingest_key_and_basic_auth_carries_it() {
    let mut keys = ApiKeys::none();
    keys.add_list(Scope::Ingest, KEY, "INGEST_API_KEYS")
        .unwrap();
    let body = || protobuf_push(&[("{job=\"a\"}", vec![(None, "x", &[])])]);

    let answer = post(
        app_with(queue(None), 0, 100, keys.clone()),
        Some(PROTOBUF),
        &[],
        body(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.www_authenticate.is_some());
    assert!(answer.text.contains("API key"), "{}", answer.text);

    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("promtail:{KEY}"))
    );
    let answer = post(
        app_with(queue(Some(|events| events.len() == 1)), 1, 100, keys),
        Some(PROTOBUF),
        &[("authorization", &basic)],
        body(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
}

#[tokio::test]
async fn the_openapi_document_describes_the_push_with_both_encodings() {
    let client = TestClient::new(app(queue(None), 0));
    let response = client.get("/openapi.json").send().await;
    let spec: Value = response.0.into_body().into_json().await.unwrap();

    let operation = &spec["paths"][LOKI_PUSH_PATH]["post"];
    let content = &operation["requestBody"]["content"];
    assert_eq!(content[PROTOBUF]["schema"]["format"], "binary", "{content}");
    assert_eq!(content[JSON]["schema"]["type"], "object", "{content}");
    for status in [
        "204", "400", "401", "403", "413", "415", "429", "500", "503",
    ] {
        assert!(operation["responses"][status].is_object(), "{status}");
    }
    // poem-openapi writes the header names of its responses in capitals.
    for status in ["429", "503"] {
        let headers = operation["responses"][status]["headers"]
            .as_object()
            .cloned();
        assert!(
            headers.is_some_and(|headers| headers
                .keys()
                .any(|name| name.eq_ignore_ascii_case("Retry-After"))),
            "{status}"
        );
    }
}

#[tokio::test]
async fn the_request_timeout_answer_is_loki_shaped_503_with_retry_after() {
    let response = super::unavailable(Some(PROTOBUF), "the body took too long".into());

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        header("retry-after").as_deref(),
        Some(RETRY_AFTER_SECONDS.to_string().as_str())
    );
    assert!(
        header("content-type")
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    let text = response.into_body().into_string().await.unwrap();
    assert_eq!(text, "the body took too long");
}
