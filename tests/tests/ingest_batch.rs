//! Batches on `POST /ingest`, end to end: JSON arrays, NDJSON and gzip bodies through the real
//! binaries into ClickHouse, and the refusals that must enqueue nothing.
#![allow(clippy::unwrap_used)] // test code fails loudly

use std::io::Write;
use std::time::Duration;

use e2e_tests::{Stack, StackOptions};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

/// POSTs raw bytes to `/ingest`; returns status and parsed body.
async fn post(
    stack: &Stack,
    content_type: &str,
    content_encoding: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut request = stack
        .http
        .post(format!("{}/ingest", stack.ingestion_url))
        .header("Content-Type", content_type)
        .body(body);
    if let Some(encoding) = content_encoding {
        request = request.header("Content-Encoding", encoding);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn event(service: &str, level: &str, message: &str) -> Value {
    json!({"service": service, "level": level, "message": message})
}

fn messages(logs: &[Value]) -> Vec<String> {
    let mut messages: Vec<String> = logs
        .iter()
        .map(|log| log["message"].as_str().unwrap().to_owned())
        .collect();
    messages.sort();
    messages
}

/// Sends one valid event after a refused request and waits until it is stored: once it is, the
/// refused request would have been stored too had anything of it been queued.
async fn assert_only_the_marker_gets_stored(stack: &Stack) {
    assert_eq!(
        stack.queue_length().await,
        0,
        "a refused request queued events"
    );
    let (status, body) = stack.ingest(&event("marker", "INFO", "marker")).await;
    assert_eq!(status, 202, "{body}");
    let logs = stack
        .wait_for_logs("service=marker", 1, Duration::from_secs(20))
        .await;
    assert_eq!(logs.len(), 1);
    assert_eq!(stack.stored_counts().await, (1, 1));
}

#[tokio::test]
async fn a_batch_with_a_bad_record_is_partly_accepted_and_its_good_events_become_queryable() {
    let stack = Stack::start(StackOptions::default()).await;
    let batch = json!([
        event("batch-api", "INFO", "first"),
        event("batch-api", "LOUD", "bad level"),
        event("batch-api", "ERROR", "third"),
        "not an event",
        event("batch-api", "warning", "fifth"),
    ]);

    let (status, body) = post(&stack, "application/json", None, batch.to_string().into()).await;

    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "accepted");
    assert_eq!(
        (body["accepted"].as_u64(), body["rejected"].as_u64()),
        (Some(3), Some(2))
    );
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(
        (&errors[0]["index"], &errors[0]["code"], &errors[0]["field"]),
        (&json!(1), &json!("invalid_field"), &json!("level"))
    );
    assert_eq!(
        (&errors[1]["index"], &errors[1]["code"]),
        (&json!(3), &json!("malformed_json"))
    );
    let logs = stack
        .wait_for_logs("service=batch-api", 3, Duration::from_secs(20))
        .await;
    assert_eq!(messages(&logs), ["fifth", "first", "third"]);
    assert!(logs.iter().all(|log| log["trace_id"] == body["trace_id"]));
    assert_eq!(stack.stored_counts().await, (3, 3));
}

#[tokio::test]
async fn a_batch_without_a_valid_event_is_400_and_stores_nothing() {
    let stack = Stack::start(StackOptions::default()).await;
    let batch = json!([event("", "INFO", "no service"), event("api", "INFO", " ")]);

    let (status, body) = post(&stack, "application/json", None, batch.to_string().into()).await;

    assert_eq!(status, 400, "{body}");
    assert_eq!(body["status"], "rejected");
    let fields: Vec<&Value> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| &error["field"])
        .collect();
    assert_eq!(fields, [&json!("service"), &json!("message")]);
    assert_only_the_marker_gets_stored(&stack).await;
}

#[tokio::test]
async fn an_ndjson_batch_is_accepted_line_by_line_and_becomes_queryable() {
    let stack = Stack::start(StackOptions::default()).await;
    let ndjson = format!(
        "{}\n\n{}\r\n{{broken\n{}\n",
        event("ndjson-api", "INFO", "one"),
        event("ndjson-api", "DEBUG", "two"),
        event("ndjson-api", "FATAL", "three"),
    );

    let (status, body) = post(&stack, "application/x-ndjson", None, ndjson.into()).await;

    assert_eq!(status, 202, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["rejected"].as_u64()),
        (Some(3), Some(1))
    );
    let error = &body["errors"][0];
    assert_eq!(
        (&error["index"], &error["line"], &error["code"]),
        (&json!(2), &json!(4), &json!("malformed_json"))
    );
    let logs = stack
        .wait_for_logs("service=ndjson-api", 3, Duration::from_secs(20))
        .await;
    assert_eq!(messages(&logs), ["one", "three", "two"]);
}

#[tokio::test]
async fn a_gzip_body_decodes_for_a_single_event_and_for_a_batch() {
    let stack = Stack::start(StackOptions::default()).await;
    let single = event("gzip-api", "INFO", "single");
    let batch = json!([event("gzip-api", "WARN", "batched")]);

    let (single_status, single_body) = post(
        &stack,
        "application/json",
        Some("gzip"),
        gzip(single.to_string().as_bytes()),
    )
    .await;
    let (batch_status, batch_body) = post(
        &stack,
        "application/json",
        Some("gzip"),
        gzip(batch.to_string().as_bytes()),
    )
    .await;

    assert_eq!(single_status, 202, "{single_body}");
    assert!(single_body["id"].is_string(), "{single_body}");
    assert_eq!(batch_status, 202, "{batch_body}");
    assert_eq!(batch_body["accepted"], 1);
    let logs = stack
        .wait_for_logs("service=gzip-api", 2, Duration::from_secs(20))
        .await;
    assert_eq!(messages(&logs), ["batched", "single"]);
}

#[tokio::test]
async fn a_gzip_bomb_gets_413_and_enqueues_nothing() {
    let stack = Stack::start(StackOptions::default()).await;
    // A valid batch padded with 64 MiB of whitespace: about 64 KiB compressed, far past the
    // 1 MiB limit once inflated.
    let mut inflated = b"[".to_vec();
    inflated.extend(event("bomb", "INFO", "never stored").to_string().as_bytes());
    inflated.resize(inflated.len() + 64 * 1024 * 1024, b' ');
    inflated.push(b']');
    let bomb = gzip(&inflated);
    assert!(bomb.len() < 1024 * 1024);

    let (status, body) = post(&stack, "application/json", Some("gzip"), bomb).await;

    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "payload_too_large");
    assert_only_the_marker_gets_stored(&stack).await;
}

#[tokio::test]
async fn a_batch_over_the_maximum_is_refused_with_413_and_enqueues_nothing() {
    let stack = Stack::start(StackOptions::default()).await;
    // The default maximum is 10,000 events a request.
    let too_many = Value::Array(vec![event("oversize", "INFO", "m"); 10_001]);
    let ndjson_too_many = format!("{}\n", event("oversize", "INFO", "m")).repeat(10_001);

    let (status, body) = post(
        &stack,
        "application/json",
        None,
        too_many.to_string().into(),
    )
    .await;
    let (ndjson_status, ndjson_body) =
        post(&stack, "application/x-ndjson", None, ndjson_too_many.into()).await;

    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "too_many_events");
    assert_eq!(ndjson_status, 413, "{ndjson_body}");
    assert_eq!(ndjson_body["code"], "too_many_events");
    assert_only_the_marker_gets_stored(&stack).await;
}
