//! OTLP/HTTP logs (`POST /v1/logs`) end to end, through the real binaries into ClickHouse and
//! back out of `GET /logs`: records sent by the official OpenTelemetry Python SDK through
//! Python's `logging` (tests/otlp/send_logs.py, run with the interpreter in `OTLP_TEST_PYTHON`,
//! which infra/test.sh sets up), plus hand-built OTLP/JSON, gzip protobuf and partly invalid
//! requests.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code fails loudly

use std::io::Write;

use e2e_tests::otlp_python::{
    OtlpProtocol, STORED_WITHIN, assert_python_records_stored, find, send_with_python_sdk,
};
use e2e_tests::{Stack, StackOptions};
use flate2::Compression;
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyKind;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use serde_json::{Value, json};

const PROTOBUF: &str = "application/x-protobuf";

#[tokio::test]
async fn records_sent_through_python_logging_by_the_official_sdk_are_stored_with_their_mapped_fields()
 {
    let stack = Stack::start(StackOptions::default()).await;

    let sent = send_with_python_sdk(&stack, OtlpProtocol::Http, "otlp-python", false).await;

    assert_python_records_stored(&stack, &sent).await;
    let levels: Vec<&str> = sent["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["DEBUG", "INFO", "WARN", "ERROR", "FATAL"]);
}

#[tokio::test]
async fn the_official_sdk_exporting_with_gzip_is_stored_the_same_way() {
    let stack = Stack::start(StackOptions::default()).await;

    let sent = send_with_python_sdk(&stack, OtlpProtocol::Http, "otlp-python-gzip", true).await;

    assert_python_records_stored(&stack, &sent).await;
}

/// POSTs to `/v1/logs`; returns status, content type and body.
async fn post(
    stack: &Stack,
    content_type: &str,
    content_encoding: Option<&str>,
    body: Vec<u8>,
) -> (u16, String, Vec<u8>) {
    let mut request = stack
        .http
        .post(format!("{}/v1/logs", stack.ingestion_url))
        .header("Content-Type", content_type)
        .body(body);
    if let Some(encoding) = content_encoding {
        request = request.header("Content-Encoding", encoding);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        status,
        content_type,
        response.bytes().await.unwrap().to_vec(),
    )
}

fn text(value: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(AnyKind::StringValue(value.into())),
    })
}

fn attribute(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
        ..KeyValue::default()
    }
}

fn protobuf_request(service: &str, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![attribute("service.name", text(service))],
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
}

fn protobuf_record(severity_number: i32, body: &str) -> LogRecord {
    LogRecord {
        severity_number,
        body: text(body),
        attributes: vec![attribute("request_id", text("r-1"))],
        ..LogRecord::default()
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn an_otlp_json_request_is_answered_in_json_and_its_records_are_stored_as_mapped() {
    let stack = Stack::start(StackOptions::default()).await;
    let body = json!({"resourceLogs": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "otlp-json"}},
            {"key": "host.name", "value": {"stringValue": "web-1"}}
        ]},
        "scopeLogs": [{
            "scope": {"name": "billing", "attributes": [{"key": "team", "value": {"stringValue": "payments"}}]},
            "logRecords": [
                {
                    "timeUnixNano": "1777975200123456789", "severityNumber": 17,
                    "body": {"stringValue": "card declined"},
                    "attributes": [{"key": "user_id", "value": {"intValue": "42"}},
                                   {"key": "retry", "value": {"boolValue": false}}],
                    "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174"
                },
                {
                    "observedTimeUnixNano": 1777975201000000000_u64, "severityText": "warning",
                    "body": {"kvlistValue": {"values": [{"key": "queue", "value": {"intValue": 7}}]}}
                }
            ]
        }]
    }]});

    let (status, content_type, answer) = post(
        &stack,
        "application/json",
        None,
        body.to_string().into_bytes(),
    )
    .await;

    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(content_type, "application/json");
    assert_eq!(serde_json::from_slice::<Value>(&answer).unwrap(), json!({}));
    let logs = stack
        .wait_for_logs("service=otlp-json", 2, STORED_WITHIN)
        .await;
    assert_eq!(logs.len(), 2, "{logs:#?}");
    let declined = find(&logs, "card declined");
    assert_eq!(declined["level"], "ERROR");
    assert_eq!(declined["timestamp"], "2026-05-05T10:00:00.123456789Z");
    assert_eq!(declined["trace_id"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(declined["span_id"], "eee19b7ec3c1b174");
    assert_eq!(declined["metadata"]["user_id"], "42");
    assert_eq!(declined["metadata"]["retry"], "false");
    assert_eq!(declined["metadata"]["team"], "payments");
    assert_eq!(declined["metadata"]["otel.scope.name"], "billing");
    assert_eq!(declined["metadata"]["resource.host.name"], "web-1");
    let structured = find(&logs, r#"{"queue":7}"#);
    assert_eq!(structured["level"], "WARN");
    assert_eq!(structured["timestamp"], "2026-05-05T10:00:01.000000000Z");

    let (status, content_type, answer) = post(
        &stack,
        "application/json",
        None,
        b"{\"resourceLogs\":7}".to_vec(),
    )
    .await;
    assert_eq!((status, content_type.as_str()), (400, "application/json"));
    let rpc_status: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(rpc_status["code"], 3, "{rpc_status}");
    let (status, _, _) = post(&stack, "text/plain", None, b"hello".to_vec()).await;
    assert_eq!(status, 415);
}

#[tokio::test]
async fn a_gzip_protobuf_request_is_answered_in_protobuf_and_stored() {
    let stack = Stack::start(StackOptions::default()).await;
    let request = protobuf_request(
        "otlp-gzip",
        vec![
            protobuf_record(5, "compressed debug"),
            protobuf_record(21, "compressed fatal"),
        ],
    );

    let (status, content_type, answer) = post(
        &stack,
        PROTOBUF,
        Some("gzip"),
        gzip(&request.encode_to_vec()),
    )
    .await;

    assert_eq!(status, 200);
    assert_eq!(content_type, PROTOBUF);
    let response = ExportLogsServiceResponse::decode(&answer[..]).unwrap();
    assert_eq!(response.partial_success, None);
    let logs = stack
        .wait_for_logs("service=otlp-gzip", 2, STORED_WITHIN)
        .await;
    assert_eq!(find(&logs, "compressed debug")["level"], "DEBUG");
    assert_eq!(find(&logs, "compressed fatal")["level"], "FATAL");
    assert_eq!(
        find(&logs, "compressed fatal")["metadata"]["request_id"],
        "r-1"
    );
}

#[tokio::test]
async fn a_batch_with_an_invalid_record_stores_the_valid_ones_and_reports_it_in_partial_success() {
    let stack = Stack::start(StackOptions::default()).await;
    let mut crowded = protobuf_record(9, "too many attributes");
    crowded.attributes = (0..129)
        .map(|index| attribute(&format!("key{index}"), text("v")))
        .collect();
    let request = protobuf_request(
        "otlp-partial",
        vec![
            protobuf_record(9, "valid one"),
            crowded,
            protobuf_record(13, "valid two"),
        ],
    );

    let (status, _, answer) = post(&stack, PROTOBUF, None, request.encode_to_vec()).await;

    assert_eq!(status, 200);
    let partial = ExportLogsServiceResponse::decode(&answer[..])
        .unwrap()
        .partial_success
        .expect("a partial success");
    assert_eq!(partial.rejected_log_records, 1);
    assert!(
        partial
            .error_message
            .contains("resourceLogs[0].scopeLogs[0].logRecords[1]: metadata"),
        "{}",
        partial.error_message
    );
    let logs = stack
        .wait_for_logs("service=otlp-partial", 2, STORED_WITHIN)
        .await;
    let mut messages: Vec<&str> = logs
        .iter()
        .map(|log| log["message"].as_str().unwrap())
        .collect();
    messages.sort_unstable();
    assert_eq!(messages, ["valid one", "valid two"]);
    // The request's events were queued with one push: once two are stored, all of it is.
    assert_eq!(stack.stored_counts().await, (2, 2));
}
