//! The receiver served on a free port and called over real HTTP/2 with tonic clients: the
//! generated OTLP client for well-formed calls, and raw calls (any bytes, any headers) for the
//! hostile-input corpus. The queue and drain signal are mocks that check what is pushed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use application::IngestUseCase;
use application::ports::{MockDrainSignal, MockQueueProducer, QueueError};
use bytes::Bytes;
use domain::{Level, LogEvent};
use http_adapter::{ApiKeys, Scope};
use http_body_util::{BodyExt as _, Full};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyKind;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::codegen::http;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

use crate::{EXPORT_PATH, LOGS_SERVICE_NAME, OtlpGrpcConfig, serve_otlp_grpc};

const MAX_MESSAGE_BYTES: usize = 64 * 1024;
const INGEST_KEY: &str = "ingest-key-0123456789";
const QUERY_KEY: &str = "query-key-0123456789";

/// A served receiver; stops when dropped.
struct Served {
    addr: SocketAddr,
    channel: Channel,
    stop: CancellationToken,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Served {
    async fn start(
        queue: MockQueueProducer,
        signals: usize,
        keys: ApiKeys,
        max_records: usize,
    ) -> Self {
        let mut signal = MockDrainSignal::new();
        signal
            .expect_request_drain()
            .times(signals)
            .returning(|| Ok(()));
        Self::start_with(queue, signal, keys, max_records).await
    }

    async fn start_with(
        queue: MockQueueProducer,
        signal: MockDrainSignal,
        keys: ApiKeys,
        max_records: usize,
    ) -> Self {
        let ingest = IngestUseCase::new(Arc::new(queue), Arc::new(signal));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let config = OtlpGrpcConfig {
            max_message_bytes: MAX_MESSAGE_BYTES,
            max_records,
            health_interval: Duration::from_millis(50),
        };
        tokio::spawn(serve_otlp_grpc(
            listener,
            ingest,
            keys,
            config,
            stop.clone().cancelled_owned(),
        ));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Self {
            addr,
            channel,
            stop,
        }
    }

    fn client(&self) -> LogsServiceClient<Channel> {
        LogsServiceClient::new(self.channel.clone())
    }

    async fn export(
        &self,
        request: ExportLogsServiceRequest,
    ) -> Result<ExportLogsServiceResponse, Status> {
        self.client()
            .export(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// Sends `body` as the whole HTTP/2 request body of an Export call, with `headers`, and
    /// returns the answer's gRPC status (from the head, or from the trailers).
    async fn raw(&self, headers: &[(&str, &str)], body: Vec<u8>) -> Status {
        use tonic::codegen::Service as _;
        let mut request = http::Request::builder()
            .method("POST")
            .uri(format!("http://{}{EXPORT_PATH}", self.addr))
            .header("te", "trailers");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(tonic::body::Body::new(Full::new(Bytes::from(body))))
            .unwrap();
        let mut channel = self.channel.clone();
        std::future::poll_fn(|context| channel.poll_ready(context))
            .await
            .unwrap();
        let response = channel.call(request).await.unwrap();
        if let Some(status) = Status::from_header_map(response.headers()) {
            return status;
        }
        let collected = response.into_body().collect().await.unwrap();
        collected
            .trailers()
            .and_then(Status::from_header_map)
            .unwrap_or_else(|| Status::unknown("the answer has no grpc-status"))
    }
}

/// A gRPC message frame: the compressed flag, the length, the message.
fn frame(compressed: bool, message: &[u8]) -> Vec<u8> {
    let mut framed = vec![u8::from(compressed)];
    framed.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    framed.extend_from_slice(message);
    framed
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

const GRPC: (&str, &str) = ("content-type", "application/grpc");

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

fn record(severity_number: i32, body: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: 1_777_975_200_000_000_000,
        severity_number,
        body: text(body),
        attributes: vec![attribute("user_id", text("42"))],
        trace_id: vec![0x4b; 16],
        span_id: vec![0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7],
        ..LogRecord::default()
    }
}

fn export_request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![attribute("service.name", text("checkout"))],
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

/// A queue that answers health checks and expects one push whose events satisfy `check`, or
/// none when `check` is `None`.
fn queue(check: Option<fn(&[LogEvent]) -> bool>) -> MockQueueProducer {
    let mut queue = MockQueueProducer::new();
    queue.expect_health().returning(|| Ok(()));
    match check {
        Some(check) => {
            queue
                .expect_push()
                .times(1)
                .withf(check)
                .returning(|_| Ok(()));
        }
        None => {
            queue.expect_push().times(0);
        }
    }
    queue
}

fn keys() -> ApiKeys {
    let mut keys = ApiKeys::none();
    keys.add_list(Scope::Ingest, INGEST_KEY, "INGEST_API_KEYS")
        .unwrap();
    keys.add_list(Scope::Query, QUERY_KEY, "QUERY_API_KEYS")
        .unwrap();
    keys
}

fn three_levels(events: &[LogEvent]) -> bool {
    let levels: Vec<Level> = events.iter().map(LogEvent::level).collect();
    events.len() == 3
        && levels == [Level::Info, Level::Warn, Level::Error]
        && events.iter().all(|event| {
            event.service().as_str() == "checkout"
                && event.metadata().get("user_id") == Some("42")
                && event.metadata().get("resource.service.name") == Some("checkout")
                && event.trace_id().to_string() == "4b".repeat(16)
                && event.span_id().map(|span| span.to_string()).as_deref()
                    == Some("00f067aa0ba902b7")
                && event.timestamp().unix_nanos() == 1_777_975_200_000_000_000
        })
        && events[2].message().as_str() == "failed"
}

fn three_records() -> ExportLogsServiceRequest {
    export_request(vec![
        record(9, "started"),
        record(13, "slow"),
        record(17, "failed"),
    ])
}

#[tokio::test]
async fn an_export_is_mapped_like_otlp_http_and_queued_with_one_push() {
    let served = Served::start(queue(Some(three_levels)), 1, ApiKeys::none(), 100).await;

    let response = served.export(three_records()).await.unwrap();

    assert_eq!(response.partial_success, None);
}

#[tokio::test]
async fn a_gzip_export_is_inflated_and_queued() {
    let served = Served::start(queue(Some(three_levels)), 1, ApiKeys::none(), 100).await;

    let response = served
        .client()
        .send_compressed(CompressionEncoding::Gzip)
        .export(three_records())
        .await
        .unwrap();

    assert_eq!(response.into_inner().partial_success, None);
}

#[tokio::test]
async fn records_without_a_trace_id_get_the_calls_traceparent_which_comes_back() {
    let mut without_ids = record(9, "no ids");
    without_ids.trace_id = vec![0; 16];
    without_ids.span_id.clear();
    let queue = queue(Some(|events| {
        events[0].trace_id().to_string() == "0af7651916cd43dd8448eb211c80319c"
            && events[0].span_id().is_none()
    }));
    let served = Served::start(queue, 1, ApiKeys::none(), 100).await;
    let mut request = tonic::Request::new(export_request(vec![without_ids]));
    request.metadata_mut().insert(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            .parse()
            .unwrap(),
    );

    let response = served.client().export(request).await.unwrap();

    assert_eq!(
        response.metadata().get("x-trace-id").unwrap(),
        "0af7651916cd43dd8448eb211c80319c"
    );
}

#[tokio::test]
async fn invalid_records_are_a_partial_success_and_the_others_are_queued() {
    let mut too_many_attributes = record(9, "crowded");
    too_many_attributes.attributes = (0..129)
        .map(|index| attribute(&format!("key{index}"), text("v")))
        .collect();
    let mut short_trace_id = record(9, "odd id");
    short_trace_id.trace_id = vec![1, 2, 3];
    let queue = queue(Some(|events| {
        events.len() == 1 && events[0].message().as_str() == "fine"
    }));
    let served = Served::start(queue, 1, ApiKeys::none(), 100).await;

    let response = served
        .export(export_request(vec![
            record(9, "fine"),
            too_many_attributes,
            short_trace_id,
        ]))
        .await
        .unwrap();

    let partial = response.partial_success.unwrap();
    assert_eq!(partial.rejected_log_records, 2);
    let message = &partial.error_message;
    assert!(
        message.starts_with("2 of 3 log records rejected"),
        "{message}"
    );
    assert!(
        message.contains("resourceLogs[0].scopeLogs[0].logRecords[1]: metadata"),
        "{message}"
    );
    assert!(
        message.contains("resourceLogs[0].scopeLogs[0].logRecords[2]: trace_id"),
        "{message}"
    );
}

#[tokio::test]
async fn an_empty_export_succeeds_and_queues_nothing() {
    let served = Served::start(queue(None), 0, ApiKeys::none(), 100).await;

    let response = served
        .export(ExportLogsServiceRequest::default())
        .await
        .unwrap();

    assert_eq!(response.partial_success, None);
}

#[tokio::test]
async fn more_records_than_the_batch_limit_is_resource_exhausted_without_retry_info() {
    let served = Served::start(queue(None), 0, ApiKeys::none(), 2).await;

    let status = served.export(three_records()).await.unwrap_err();

    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status.message().contains("at most 2 log records"),
        "{}",
        status.message()
    );
    assert!(status.get_details_retry_info().is_none(), "{status:?}");
}

#[tokio::test]
async fn a_full_queue_is_resource_exhausted_and_an_unreachable_one_unavailable_with_retry_info() {
    type Case = (fn() -> QueueError, Code);
    let cases: [Case; 2] = [
        (
            || QueueError::Full {
                depth: 10,
                capacity: 5,
            },
            Code::ResourceExhausted,
        ),
        (
            || QueueError::Unavailable("connection refused".into()),
            Code::Unavailable,
        ),
    ];
    for (error, expected) in cases {
        let mut queue = MockQueueProducer::new();
        queue.expect_health().returning(|| Ok(()));
        queue
            .expect_push()
            .times(1)
            .returning(move |_| Err(error()));
        let served = Served::start(queue, 0, ApiKeys::none(), 100).await;

        let status = served.export(three_records()).await.unwrap_err();

        assert_eq!(status.code(), expected, "{status:?}");
        assert!(
            status.message().contains("nothing was accepted"),
            "{status:?}"
        );
        let retry = status
            .get_details_retry_info()
            .expect("RetryInfo in the details");
        assert_eq!(retry.retry_delay, Some(Duration::from_secs(1)));
    }
}

#[tokio::test]
async fn with_api_keys_an_ingest_key_is_needed_as_bearer_or_x_api_key() {
    let mut queue = MockQueueProducer::new();
    queue.expect_health().returning(|| Ok(()));
    queue.expect_push().times(2).returning(|_| Ok(()));
    let served = Served::start(queue, 2, keys(), 100).await;
    let call = |name: &'static str, value: String| {
        let mut request = tonic::Request::new(three_records());
        request.metadata_mut().insert(name, value.parse().unwrap());
        request
    };

    let missing = served.client().export(three_records()).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert!(missing.message().contains("x-api-key"), "{missing:?}");
    let unknown = served
        .client()
        .export(call("x-api-key", "not-a-configured-key-000".into()))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated);
    let query_key = served
        .client()
        .export(call("authorization", format!("Bearer {QUERY_KEY}")))
        .await
        .unwrap_err();
    assert_eq!(query_key.code(), Code::PermissionDenied);

    served
        .client()
        .export(call("authorization", format!("Bearer {INGEST_KEY}")))
        .await
        .unwrap();
    served
        .client()
        .export(call("x-api-key", INGEST_KEY.into()))
        .await
        .unwrap();
}

#[tokio::test]
async fn health_is_serving_while_the_queue_answers_and_not_serving_when_it_does_not() {
    let mut queue = MockQueueProducer::new();
    let mut answers = 0;
    queue.expect_health().times(2..).returning(move || {
        answers += 1;
        if answers == 1 {
            Ok(())
        } else {
            Err(QueueError::Unavailable("connection refused".into()))
        }
    });
    queue.expect_push().times(0);
    let served = Served::start(queue, 0, ApiKeys::none(), 100).await;
    let mut health = HealthClient::new(served.channel.clone());
    let status_of = |service: &str| HealthCheckRequest {
        service: service.into(),
    };

    let mut seen = Vec::new();
    for _ in 0..100 {
        let status = health
            .check(status_of(LOGS_SERVICE_NAME))
            .await
            .map(|response| response.into_inner().status())
            .ok();
        if seen.last() != Some(&status) {
            seen.push(status);
        }
        if status == Some(ServingStatus::NotServing) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    assert_eq!(
        seen,
        [
            Some(ServingStatus::Serving),
            Some(ServingStatus::NotServing)
        ]
    );
    let server = health.check(status_of("")).await.unwrap().into_inner();
    assert_eq!(server.status(), ServingStatus::NotServing);
}

// The hostile-input corpus: each call gets a clear status and queues nothing.

#[tokio::test]
async fn a_message_over_the_limit_is_resource_exhausted_before_and_after_decompression() {
    let served = Served::start(queue(None), 0, ApiKeys::none(), 100).await;
    let mut large = record(9, "");
    large.body = text(&"x".repeat(MAX_MESSAGE_BYTES));
    let large = export_request(vec![large]).encode_to_vec();

    let plain = served.raw(&[GRPC], frame(false, &large)).await;
    let inflated = served
        .raw(
            &[GRPC, ("grpc-encoding", "gzip")],
            frame(true, &gzip(&large)),
        )
        .await;
    let bomb = served
        .raw(
            &[GRPC, ("grpc-encoding", "gzip")],
            frame(true, &gzip(&vec![0; 100 * MAX_MESSAGE_BYTES])),
        )
        .await;

    for status in [plain, inflated, bomb] {
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(
            status
                .message()
                .contains(&format!("at most {MAX_MESSAGE_BYTES} bytes")),
            "{status:?}"
        );
        assert!(status.get_details_retry_info().is_none(), "{status:?}");
    }
}

#[tokio::test]
async fn a_truncated_or_garbage_message_is_invalid_argument() {
    let served = Served::start(queue(None), 0, ApiKeys::none(), 100).await;
    let whole = three_records().encode_to_vec();
    // Cut inside the first record's body text: the length prefix promises more than follows.
    let truncated = &whole[..whole.len() - 40];

    for message in [
        truncated.to_vec(),
        vec![0xff; 7],
        b"{\"resourceLogs\":[]}".to_vec(),
    ] {
        let status = served.raw(&[GRPC], frame(false, &message)).await;

        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{message:?}: {status:?}"
        );
        assert!(
            status
                .message()
                .contains("not a protobuf ExportLogsServiceRequest"),
            "{status:?}"
        );
    }
}

#[tokio::test]
async fn broken_framing_damaged_gzip_and_unknown_encodings_get_clear_statuses() {
    let served = Served::start(queue(None), 0, ApiKeys::none(), 100).await;
    let whole = three_records().encode_to_vec();

    // A frame announcing more bytes than the body holds.
    let cut_frame = frame(false, &whole)[..20].to_vec();
    let status = served.raw(&[GRPC], cut_frame).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // Not gRPC framing at all: JSON sent to the gRPC port.
    let status = served
        .raw(
            &[("content-type", "application/json")],
            br#"{"resourceLogs":[]}"#.to_vec(),
        )
        .await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    let status = served
        .raw(
            &[GRPC, ("grpc-encoding", "gzip")],
            frame(true, b"not gzip at all"),
        )
        .await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    let status = served
        .raw(&[GRPC, ("grpc-encoding", "br")], frame(true, &whole))
        .await;
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert!(status.message().contains("br"), "{status:?}");
}

#[tokio::test]
async fn a_valid_message_sent_raw_is_accepted_so_the_corpus_tests_the_damage_only() {
    let served = Served::start(queue(Some(three_levels)), 1, ApiKeys::none(), 100).await;

    let status = served
        .raw(&[GRPC], frame(false, &three_records().encode_to_vec()))
        .await;

    assert_eq!(status.code(), Code::Ok, "{status:?}");
}

/// Any bytes as the message, and any cut of a valid one: the answer is OK exactly when the bytes
/// decode as an `ExportLogsServiceRequest`, else INVALID_ARGUMENT; never INTERNAL or a dropped
/// call. (The queue takes whatever decodes; what it takes is checked by the tests above.)
#[test]
fn arbitrary_and_truncated_messages_are_answered_ok_or_invalid_argument() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let served = runtime.block_on(async {
        let mut queue = MockQueueProducer::new();
        queue.expect_health().returning(|| Ok(()));
        queue.expect_push().returning(|_| Ok(()));
        let mut signal = MockDrainSignal::new();
        signal.expect_request_drain().returning(|| Ok(()));
        Served::start_with(queue, signal, ApiKeys::none(), 10_000).await
    });
    let whole = three_records().encode_to_vec();
    let cases = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        (0..whole.len()).prop_map(move |cut| whole[..cut].to_vec()),
    ];

    TestRunner::new(Config::with_cases(128))
        .run(&cases, |message| {
            let status = runtime.block_on(served.raw(&[GRPC], frame(false, &message)));
            let decodes = ExportLogsServiceRequest::decode(&message[..]).is_ok();
            let expected = if decodes {
                Code::Ok
            } else {
                Code::InvalidArgument
            };
            prop_assert_eq!(status.code(), expected, "{:?}", status);
            Ok(())
        })
        .unwrap();
}
