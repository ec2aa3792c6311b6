//! OTLP/gRPC logs (`LogsService/Export` on `OTLP_GRPC_ADDR`) end to end, through the real
//! binaries into ClickHouse and back out of `GET /logs`: records sent by the official
//! OpenTelemetry Python SDK's OTLP/gRPC exporter through Python's `logging`
//! (tests/otlp/send_logs.py, as for OTLP/HTTP), plain and gzip, plus hand-built calls with the
//! tonic OTLP client: partial success, API keys, a full queue, Redis down, health, metrics.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code fails loudly

use std::time::{Duration, Instant};

use e2e_tests::otlp_python::{
    OtlpProtocol, STORED_WITHIN, assert_python_records_stored, find, send_with_python_sdk,
};
use e2e_tests::{Service, Stack, StackOptions, free_port};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyKind;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use tonic::Code;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

const INGEST_KEY: &str = "e2e-grpc-ingest-key-0123456789";
const QUERY_KEY: &str = "e2e-grpc-query-key-0123456789";

async fn channel(stack: &Stack) -> Channel {
    Channel::from_shared(stack.otlp_grpc_url.clone())
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap()
}

async fn client(stack: &Stack) -> LogsServiceClient<Channel> {
    LogsServiceClient::new(channel(stack).await)
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

fn export_request(service: &str, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    attribute("service.name", text(service)),
                    attribute("host.name", text("web-7")),
                ],
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "e2e.grpc".into(),
                    version: "2.1.0".into(),
                    ..InstrumentationScope::default()
                }),
                log_records: records,
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
}

fn record(message: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: 1_777_975_200_123_456_789,
        severity_number: 17,
        severity_text: "ERROR".into(),
        body: text(message),
        attributes: vec![
            attribute(
                "user_id",
                Some(AnyValue {
                    value: Some(AnyKind::IntValue(42)),
                }),
            ),
            attribute(
                "retry",
                Some(AnyValue {
                    value: Some(AnyKind::BoolValue(true)),
                }),
            ),
        ],
        trace_id: vec![0x5b; 16],
        span_id: vec![0xee; 8],
        ..LogRecord::default()
    }
}

#[tokio::test]
async fn records_sent_through_python_logging_by_the_sdks_grpc_exporter_are_stored_with_their_mapped_fields()
 {
    let stack = Stack::start(StackOptions::default()).await;

    let sent = send_with_python_sdk(&stack, OtlpProtocol::Grpc, "otlp-grpc-python", false).await;

    assert_eq!(sent["protocol"], "grpc");
    assert_python_records_stored(&stack, &sent).await;
}

#[tokio::test]
async fn the_sdks_grpc_exporter_with_gzip_is_stored_the_same_way() {
    let stack = Stack::start(StackOptions::default()).await;

    let sent = send_with_python_sdk(&stack, OtlpProtocol::Grpc, "otlp-grpc-gzip", true).await;

    assert_python_records_stored(&stack, &sent).await;
    let metrics = stack.metrics(Service::Ingestion).await;
    assert!(
        metrics.contains(r#"logpipeline_ingest_events_accepted_total{source="otlp_grpc"} 5"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"route="/opentelemetry.proto.collector.logs.v1.LogsService/Export",method="POST",status="2xx""#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_partly_invalid_grpc_export_stores_the_valid_records_and_reports_the_others() {
    let stack = Stack::start(StackOptions::default()).await;
    let mut bad_span = record("odd span id");
    bad_span.span_id = vec![1, 2, 3];
    let mut far_future = record("never stored");
    far_future.time_unix_nano = 9_000_000_000_000_000_000;

    let response = client(&stack)
        .await
        .send_compressed(CompressionEncoding::Gzip)
        .export(export_request(
            "grpc-partial",
            vec![record("card declined"), bad_span, far_future],
        ))
        .await
        .unwrap();

    let trace = response
        .metadata()
        .get("x-trace-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(trace.len(), 32);
    let partial = response.into_inner().partial_success.unwrap();
    assert_eq!(partial.rejected_log_records, 2);
    assert!(
        partial
            .error_message
            .contains("resourceLogs[0].scopeLogs[0].logRecords[1]: span_id"),
        "{}",
        partial.error_message
    );
    assert!(
        partial
            .error_message
            .contains("resourceLogs[0].scopeLogs[0].logRecords[2]: timestamp"),
        "{}",
        partial.error_message
    );
    let logs = stack
        .wait_for_logs("service=grpc-partial", 1, STORED_WITHIN)
        .await;
    assert_eq!(logs.len(), 1, "{logs:#?}");
    let log = find(&logs, "card declined");
    assert_eq!(log["level"], "ERROR");
    assert_eq!(log["timestamp"], "2026-05-05T10:00:00.123456789Z");
    assert_eq!(log["trace_id"], "5b".repeat(16));
    assert_eq!(log["span_id"], "ee".repeat(8));
    let metadata = &log["metadata"];
    assert_eq!(metadata["user_id"], "42");
    assert_eq!(metadata["retry"], "true");
    assert_eq!(metadata["resource.service.name"], "grpc-partial");
    assert_eq!(metadata["resource.host.name"], "web-7");
    assert_eq!(metadata["otel.scope.name"], "e2e.grpc");
    assert_eq!(metadata["otel.scope.version"], "2.1.0");
}

#[tokio::test]
async fn with_api_keys_grpc_calls_need_an_ingest_key_and_the_refused_ones_store_nothing() {
    let stack = Stack::start(StackOptions {
        extra_env: vec![
            (Service::Ingestion, "INGEST_API_KEYS", INGEST_KEY.to_owned()),
            (Service::Ingestion, "QUERY_API_KEYS", QUERY_KEY.to_owned()),
        ],
        ..StackOptions::default()
    })
    .await;
    let mut client = client(&stack).await;
    let call = |message: &str, key: Option<(&'static str, String)>| {
        let mut request = tonic::Request::new(export_request("grpc-keys", vec![record(message)]));
        if let Some((name, value)) = key {
            request.metadata_mut().insert(name, value.parse().unwrap());
        }
        request
    };

    let missing = client.export(call("no key", None)).await.unwrap_err();
    let unknown = client
        .export(call(
            "unknown key",
            Some(("x-api-key", "not-configured-0123456789".into())),
        ))
        .await
        .unwrap_err();
    let query_key = client
        .export(call(
            "query key",
            Some(("authorization", format!("Bearer {QUERY_KEY}"))),
        ))
        .await
        .unwrap_err();
    client
        .export(call(
            "bearer key",
            Some(("authorization", format!("Bearer {INGEST_KEY}"))),
        ))
        .await
        .unwrap();
    client
        .export(call(
            "x-api-key",
            Some(("x-api-key", INGEST_KEY.to_owned())),
        ))
        .await
        .unwrap();

    assert_eq!(missing.code(), Code::Unauthenticated, "{missing:?}");
    assert_eq!(unknown.code(), Code::Unauthenticated, "{unknown:?}");
    assert_eq!(query_key.code(), Code::PermissionDenied, "{query_key:?}");
    let logs = stack
        .wait_for_logs("service=grpc-keys", 2, STORED_WITHIN)
        .await;
    let mut messages: Vec<&str> = logs
        .iter()
        .map(|log| log["message"].as_str().unwrap())
        .collect();
    messages.sort_unstable();
    assert_eq!(messages, ["bearer key", "x-api-key"]);
    let metrics = stack.metrics(Service::Ingestion).await;
    for reason in ["missing_api_key", "invalid_api_key", "insufficient_scope"] {
        assert!(
            metrics.contains(&format!(
                r#"logpipeline_ingest_requests_rejected_total{{source="otlp_grpc",reason="{reason}"}} 1"#
            )),
            "{reason}: {metrics}"
        );
    }
}

#[tokio::test]
async fn a_full_queue_answers_resource_exhausted_with_retry_info_and_queues_nothing_more() {
    let mut stack = Stack::start(StackOptions {
        extra_env: vec![(Service::Ingestion, "QUEUE_MAX_EVENTS", "5".to_owned())],
        ..StackOptions::default()
    })
    .await;
    stack.kill(Service::Worker);
    let mut client = client(&stack).await;
    let records = || {
        (0..4)
            .map(|index| record(&format!("filler {index}")))
            .collect()
    };

    let deadline = Instant::now() + Duration::from_secs(20);
    let refused = loop {
        match client.export(export_request("grpc-full", records())).await {
            Ok(_) => assert!(Instant::now() < deadline, "the queue never filled up"),
            Err(status) => break status,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("nothing was accepted"),
        "{refused:?}"
    );
    let retry = refused.get_details_retry_info().expect("RetryInfo");
    assert_eq!(retry.retry_delay, Some(Duration::from_secs(1)));
    let queued = stack.queue_length().await;
    assert_eq!(queued % 4, 0, "whole requests or nothing: {queued}");
    assert!(
        queued <= 8,
        "at most one request past the capacity: {queued}"
    );
}

#[tokio::test]
async fn redis_down_answers_unavailable_with_retry_info_and_health_is_not_serving() {
    let stack = Stack::start(StackOptions {
        ingestion_redis_url: Some(format!("redis://127.0.0.1:{}", free_port())),
        ..StackOptions::default()
    })
    .await;
    let channel = channel(&stack).await;

    let started = Instant::now();
    let refused = LogsServiceClient::new(channel.clone())
        .export(export_request("grpc-down", vec![record("lost?")]))
        .await
        .unwrap_err();

    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "answered, not hung"
    );
    let retry = refused.get_details_retry_info().expect("RetryInfo");
    assert_eq!(retry.retry_delay, Some(Duration::from_secs(1)));
    let mut health = HealthClient::new(channel);
    for service in ["", "opentelemetry.proto.collector.logs.v1.LogsService"] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.status(), ServingStatus::NotServing, "{service:?}");
    }
}

#[tokio::test]
async fn health_is_serving_while_redis_answers() {
    let stack = Stack::start(StackOptions::default()).await;

    let answer = HealthClient::new(channel(&stack).await)
        .check(HealthCheckRequest {
            service: "opentelemetry.proto.collector.logs.v1.LogsService".into(),
        })
        .await
        .unwrap()
        .into_inner();

    assert_eq!(answer.status(), ServingStatus::Serving);
}

#[tokio::test]
async fn otlp_grpc_off_opens_no_port() {
    let stack = Stack::start(StackOptions {
        extra_env: vec![(Service::Ingestion, "OTLP_GRPC_ADDR", "off".to_owned())],
        ..StackOptions::default()
    })
    .await;
    // The stack's own port is not bound either: `off` won over it (a later value wins).
    let off = Channel::from_shared(stack.otlp_grpc_url.clone())
        .unwrap()
        .connect()
        .await;
    assert!(off.is_err(), "something answers on {}", stack.otlp_grpc_url);
    let (status, _) = stack
        .ingest(&serde_json::json!({"service": "api", "level": "INFO", "message": "up"}))
        .await;
    assert_eq!(status, 202, "HTTP ingestion runs on");
}
