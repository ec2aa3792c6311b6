//! `POST /v1/logs`: OpenTelemetry's OTLP/HTTP logs export, so that any OpenTelemetry SDK or
//! Collector can ship logs here. Protobuf (`application/x-protobuf`) or OTLP/JSON
//! (`application/json`), optionally gzip; the answer is an `ExportLogsServiceResponse` in the
//! request's encoding, failures a `google.rpc.Status`.
//!
//! The records go through the same use case as `POST /ingest` (`IngestUseCase::ingest_batch`):
//! same validation and limits, same queue, one push and one drain signal per request. Records
//! that fail validation are left out and counted in `partial_success`; the rest are queued. The
//! mapping and that accounting are the `otlp-adapter` crate's, shared with OTLP/gRPC; this
//! module is the HTTP around them (content types, gzip, body limit, answers).

mod docs;
mod json;
mod response;

use application::IngestUseCase;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use otlp_adapter::{ExportError, export_logs};
use poem::web::Data;
use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaRequest, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, OpenApi};
use prost::Message as _;

use crate::common::access::Authorized;
use crate::common::config::IngestHttpConfig;
use crate::common::error::{ErrorCode, Failure};
use crate::common::metrics::{
    IngestSource, count_accepted, count_rejected, count_rejected_request, failure_code,
};
use crate::common::raw_body::RawBody;
use crate::common::trace::RequestTraceId;
use crate::ingest::body::BodyEncoding;
pub(crate) use response::unavailable;
use response::{ExportFailure, JSON, OtlpEncoding, OtlpResponse, PROTOBUF};

/// The OTLP/HTTP path of the logs signal.
pub(crate) const OTLP_LOGS_PATH: &str = "/v1/logs";

/// The raw request of `POST /v1/logs`. Nothing is checked here: the handler, which knows the
/// limits, reads the body and answers every problem in OTLP's error format.
#[derive(Debug)]
pub(crate) struct OtlpRequest(RawBody);

impl std::ops::Deref for OtlpRequest {
    type Target = RawBody;

    fn deref(&self) -> &RawBody {
        &self.0
    }
}

impl<'a> ApiExtractor<'a> for OtlpRequest {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(_registry: &mut Registry) {}

    fn request_meta() -> Option<MetaRequest> {
        Some(docs::request_meta())
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        RawBody::take(request, body).map(Self)
    }
}

/// The OTLP/HTTP logs receiver.
pub(crate) struct OtlpApi {
    pub(crate) ingest: IngestUseCase,
    pub(crate) limits: IngestHttpConfig,
}

impl OtlpApi {
    /// Reads, inflates and decodes the body, maps its records and ingests them.
    async fn export(
        &self,
        encoding: OtlpEncoding,
        request: OtlpRequest,
        trace: RequestTraceId,
    ) -> Result<ExportLogsServiceResponse, ExportFailure> {
        let OtlpRequest(request) = request;
        let compression = BodyEncoding::from_header(request.content_encoding.as_deref())
            .ok_or_else(|| {
                ExportFailure::UnsupportedMediaType(format!(
                    "Content-Encoding {:?} is not supported: send gzip or no encoding",
                    request.content_encoding.as_deref().unwrap_or_default()
                ))
            })?;
        let max_bytes = self.limits.max_body_bytes;
        let gzip = compression == BodyEncoding::Gzip;
        let body = request.read_limited(max_bytes, gzip).await?;
        let bytes = &body[..];
        let decoded = decode(encoding, bytes)?;
        let exported = export_logs(
            &self.ingest,
            self.limits.max_batch_events,
            decoded,
            Some(trace.0),
        )
        .await
        .map_err(|error| match error {
            ExportError::TooManyRecords { .. } => ExportFailure::TooLarge(error.to_string()),
            ExportError::Ingest { error, records } => {
                let failure = Failure::from(error);
                count_rejected(IngestSource::Otlp, failure_code(&failure), records);
                ExportFailure::from(failure)
            }
        })?;
        count_accepted(IngestSource::Otlp, exported.accepted);
        count_rejected(
            IngestSource::Otlp,
            ErrorCode::InvalidField,
            exported.rejected,
        );
        Ok(exported.response)
    }
}

/// The metrics reason of a failure that refused the request before its records were read
/// (queue failures are counted with the records they concern).
fn refused_request_reason(failure: &ExportFailure) -> Option<ErrorCode> {
    match failure {
        ExportFailure::BadRequest(_)
        | ExportFailure::TooLarge(_)
        | ExportFailure::UnsupportedMediaType(_) => Some(failure.code()),
        _ => None,
    }
}

fn decode(encoding: OtlpEncoding, bytes: &[u8]) -> Result<ExportLogsServiceRequest, ExportFailure> {
    match encoding {
        OtlpEncoding::Protobuf => ExportLogsServiceRequest::decode(bytes).map_err(|error| {
            ExportFailure::BadRequest(format!(
                "the body is not a protobuf ExportLogsServiceRequest: {error}"
            ))
        }),
        OtlpEncoding::Json => json::decode_request(bytes).map_err(|error| {
            ExportFailure::BadRequest(format!(
                "the body is not an OTLP/JSON ExportLogsServiceRequest: {error}"
            ))
        }),
    }
}

#[OpenApi]
impl OtlpApi {
    /// Export logs over OTLP/HTTP
    ///
    /// OpenTelemetry's OTLP/HTTP logs endpoint: point an SDK's or a Collector's OTLP/HTTP log
    /// exporter at this service (`OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=http://host:8080/v1/logs`).
    /// Each log record becomes one event: resource `service.name` (else `unknown_service`) is
    /// the service, severity text or number the level, the body the message, scope and record
    /// attributes the metadata (resource attributes under `resource.`), trace and span ids hex.
    /// Records that fail validation are reported in `partialSuccess`; the others are queued with
    /// one push, like a `POST /ingest` batch.
    #[oai(path = "/v1/logs", method = "post")]
    async fn export_logs(
        &self,
        _authorized: Authorized,
        request: OtlpRequest,
        trace: Data<&RequestTraceId>,
    ) -> OtlpResponse {
        let Some(encoding) = request
            .content_type
            .as_deref()
            .and_then(OtlpEncoding::from_content_type)
        else {
            let content_type = request.content_type.as_deref().unwrap_or("(none)");
            count_rejected_request(IngestSource::Otlp, ErrorCode::UnsupportedMediaType);
            return OtlpResponse::Failed {
                encoding: OtlpEncoding::Json,
                failure: ExportFailure::UnsupportedMediaType(format!(
                    "Content-Type {content_type:?} is not supported: send {PROTOBUF} or {JSON}"
                )),
            };
        };
        match self.export(encoding, request, *trace.0).await {
            Ok(response) => OtlpResponse::Exported { encoding, response },
            Err(failure) => {
                if let Some(reason) = refused_request_reason(&failure) {
                    count_rejected_request(IngestSource::Otlp, reason);
                }
                OtlpResponse::Failed { encoding, failure }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use application::ports::{MockQueueProducer, QueueError};
    use domain::{Level, LogEvent};
    use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyKind;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use poem::http::StatusCode;
    use poem::test::TestClient;
    use serde_json::{Value, json};

    use super::response::RpcStatus;
    use super::*;
    use crate::common::error::RETRY_AFTER_SECONDS;
    use crate::common::keys::ApiKeys;
    use crate::common::test_apps::{
        TEST_MAX_BODY_BYTES, ingestion_over_mocks, queue_pushing_once as queue,
    };

    /// The `google.rpc.Code` numbers the answers must carry, written out on their own so that
    /// the error table is checked against them.
    mod grpc_code {
        pub(super) const INVALID_ARGUMENT: i32 = 3;
        pub(super) const RESOURCE_EXHAUSTED: i32 = 8;
        pub(super) const UNAVAILABLE: i32 = 14;
    }

    const MAX_BODY_BYTES: usize = TEST_MAX_BODY_BYTES;

    fn app(
        queue: MockQueueProducer,
        signals: usize,
        max_batch_events: usize,
    ) -> impl poem::Endpoint {
        ingestion_over_mocks(queue, signals, max_batch_events, ApiKeys::none())
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

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    struct Answer {
        status: StatusCode,
        content_type: String,
        retry_after: Option<String>,
        body: Vec<u8>,
    }

    impl Answer {
        fn protobuf<M: prost::Message + Default>(&self) -> M {
            assert_eq!(self.content_type, PROTOBUF);
            M::decode(&self.body[..]).unwrap()
        }

        fn json(&self) -> Value {
            assert_eq!(self.content_type, JSON);
            serde_json::from_slice(&self.body).unwrap()
        }
    }

    async fn post(
        app: impl poem::Endpoint,
        content_type: &str,
        headers: &[(&'static str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        let client = TestClient::new(app);
        let mut request = client
            .post(OTLP_LOGS_PATH)
            .content_type(content_type)
            .body(body);
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
            body: response.into_body().into_vec().await.unwrap(),
        }
    }

    #[tokio::test]
    async fn a_protobuf_export_is_mapped_queued_with_one_push_and_answered_in_protobuf() {
        let request = export_request(vec![
            record(9, "started"),
            record(13, "slow"),
            record(17, "failed"),
        ]);
        let queue = queue(Some(|events| {
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
        }));

        let answer = post(app(queue, 1, 100), PROTOBUF, &[], request.encode_to_vec()).await;

        assert_eq!(answer.status, StatusCode::OK);
        let response: ExportLogsServiceResponse = answer.protobuf();
        assert_eq!(response.partial_success, None);
    }

    #[tokio::test]
    async fn a_json_export_is_answered_in_json_with_an_empty_object() {
        let body = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [{
            "timeUnixNano": "1777975200000000000", "severityText": "WARN",
            "body": {"stringValue": "disk almost full"},
            "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174"
        }]}]}]});
        let queue = queue(Some(|events| {
            events.len() == 1
                && events[0].service().as_str() == otlp_adapter::UNKNOWN_SERVICE
                && events[0].level() == Level::Warn
                && events[0].trace_id().to_string() == "5b8efff798038103d269b633813fc60c"
        }));

        let answer = post(
            app(queue, 1, 100),
            "application/json; charset=utf-8",
            &[],
            body.to_string().into_bytes(),
        )
        .await;

        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.json(), json!({}));
    }

    #[tokio::test]
    async fn records_failing_validation_are_counted_in_partial_success_and_the_others_queued() {
        let mut too_many_attributes = record(9, "crowded");
        too_many_attributes.attributes = (0..129)
            .map(|index| attribute(&format!("key{index}"), text("v")))
            .collect();
        let mut short_trace_id = record(9, "odd id");
        short_trace_id.trace_id = vec![1, 2, 3];
        let request = export_request(vec![record(9, "fine"), too_many_attributes, short_trace_id]);
        let queue = queue(Some(|events| {
            events.len() == 1 && events[0].message().as_str() == "fine"
        }));

        let answer = post(app(queue, 1, 100), PROTOBUF, &[], request.encode_to_vec()).await;

        assert_eq!(answer.status, StatusCode::OK);
        let response: ExportLogsServiceResponse = answer.protobuf();
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
    async fn a_json_partial_success_writes_the_count_as_a_string() {
        let body = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
            {"body": {"stringValue": "ok"}},
            {"body": {"stringValue": "from the far future"}, "timeUnixNano": "9000000000000000000"}
        ]}]}]});
        let queue = queue(Some(|events| events.len() == 1));

        let answer = post(app(queue, 1, 100), JSON, &[], body.to_string().into_bytes()).await;

        assert_eq!(answer.status, StatusCode::OK);
        let written = answer.json();
        assert_eq!(written["partialSuccess"]["rejectedLogRecords"], "1");
        let message = written["partialSuccess"]["errorMessage"].as_str().unwrap();
        assert!(message.contains("logRecords[1]: timestamp"), "{message}");
    }

    #[tokio::test]
    async fn a_request_whose_records_all_fail_is_200_with_all_rejected_and_queues_nothing() {
        let mut bad = record(9, "x");
        bad.span_id = vec![9; 3];
        let request = export_request(vec![bad.clone(), bad]);

        let answer = post(
            app(queue(None), 0, 100),
            PROTOBUF,
            &[],
            request.encode_to_vec(),
        )
        .await;

        assert_eq!(answer.status, StatusCode::OK);
        let response: ExportLogsServiceResponse = answer.protobuf();
        assert_eq!(response.partial_success.unwrap().rejected_log_records, 2);
    }

    #[tokio::test]
    async fn an_empty_request_is_200_and_queues_nothing() {
        let answer = post(
            app(queue(None), 0, 100),
            PROTOBUF,
            &[],
            ExportLogsServiceRequest::default().encode_to_vec(),
        )
        .await;

        assert_eq!(answer.status, StatusCode::OK);
        let response: ExportLogsServiceResponse = answer.protobuf();
        assert_eq!(response.partial_success, None);
    }

    #[tokio::test]
    async fn records_without_a_trace_id_get_the_request_trace() {
        let mut without_ids = record(9, "no ids");
        without_ids.trace_id = vec![0; 16];
        without_ids.span_id.clear();
        let queue = queue(Some(|events| {
            events[0].trace_id().to_string() == "0af7651916cd43dd8448eb211c80319c"
                && events[0].span_id().is_none()
        }));

        let answer = post(
            app(queue, 1, 100),
            PROTOBUF,
            &[(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )],
            export_request(vec![without_ids]).encode_to_vec(),
        )
        .await;

        assert_eq!(answer.status, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_gzip_export_is_inflated_and_queued() {
        let request = export_request(vec![record(5, "a"), record(1, "b")]);
        let queue = queue(Some(|events| {
            events.iter().map(LogEvent::level).collect::<Vec<_>>() == [Level::Debug, Level::Trace]
        }));

        let answer = post(
            app(queue, 1, 100),
            PROTOBUF,
            &[("content-encoding", "gzip")],
            gzip(&request.encode_to_vec()),
        )
        .await;

        assert_eq!(answer.status, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_413_with_a_status_in_the_request_encoding() {
        let oversized = vec![0_u8; MAX_BODY_BYTES + 1];
        let answer = post(app(queue(None), 0, 100), PROTOBUF, &[], oversized).await;
        assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
        let status: RpcStatus = answer.protobuf();
        assert_eq!(status.code, grpc_code::RESOURCE_EXHAUSTED);

        let bomb = gzip(&vec![b' '; 10 * MAX_BODY_BYTES]);
        let answer = post(
            app(queue(None), 0, 100),
            JSON,
            &[("content-encoding", "gzip")],
            bomb,
        )
        .await;
        assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(answer.json()["code"], grpc_code::RESOURCE_EXHAUSTED);
    }

    #[tokio::test]
    async fn more_records_than_the_batch_maximum_is_413_and_nothing_is_queued() {
        let request = export_request(vec![record(9, "a"), record(9, "b"), record(9, "c")]);

        let answer = post(
            app(queue(None), 0, 2),
            PROTOBUF,
            &[],
            request.encode_to_vec(),
        )
        .await;

        assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
        let status: RpcStatus = answer.protobuf();
        assert!(
            status.message.contains("at most 2 log records"),
            "{}",
            status.message
        );
    }

    #[tokio::test]
    async fn an_undecodable_body_is_400_with_a_status_in_the_request_encoding() {
        let answer = post(app(queue(None), 0, 100), PROTOBUF, &[], vec![0xff; 7]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        let status: RpcStatus = answer.protobuf();
        assert_eq!(status.code, grpc_code::INVALID_ARGUMENT);
        assert!(status.message.contains("protobuf"), "{}", status.message);

        let answer = post(
            app(queue(None), 0, 100),
            JSON,
            &[],
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"spanId":"nothex"}]}]}]}"#.to_vec(),
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        let status = answer.json();
        assert_eq!(status["code"], grpc_code::INVALID_ARGUMENT);
        assert!(
            status["message"]
                .as_str()
                .unwrap()
                .contains("logRecords[0].spanId"),
            "{status}"
        );

        let answer = post(
            app(queue(None), 0, 100),
            PROTOBUF,
            &[("content-encoding", "gzip")],
            b"not gzip".to_vec(),
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn another_content_type_or_encoding_is_415() {
        let answer = post(
            app(queue(None), 0, 100),
            "text/plain",
            &[],
            b"hello".to_vec(),
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(answer.json()["code"], grpc_code::INVALID_ARGUMENT);

        let answer = post(
            app(queue(None), 0, 100),
            PROTOBUF,
            &[("content-encoding", "br")],
            Vec::new(),
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let status: RpcStatus = answer.protobuf();
        assert!(status.message.contains("\"br\""), "{}", status.message);
    }

    #[tokio::test]
    async fn a_full_queue_is_429_and_an_unreachable_one_503_both_with_retry_after() {
        type Case = (fn() -> QueueError, StatusCode, i32);
        let cases: [Case; 2] = [
            (
                || QueueError::Full {
                    depth: 10,
                    capacity: 5,
                },
                StatusCode::TOO_MANY_REQUESTS,
                grpc_code::RESOURCE_EXHAUSTED,
            ),
            (
                || QueueError::Unavailable("connection refused".into()),
                StatusCode::SERVICE_UNAVAILABLE,
                grpc_code::UNAVAILABLE,
            ),
        ];
        for (error, expected_status, expected_code) in cases {
            let mut queue = MockQueueProducer::new();
            queue
                .expect_push()
                .times(1)
                .returning(move |_| Err(error()));
            let request = export_request(vec![record(9, "a")]);

            let answer = post(app(queue, 0, 100), PROTOBUF, &[], request.encode_to_vec()).await;

            assert_eq!(answer.status, expected_status);
            assert_eq!(
                answer.retry_after.as_deref(),
                Some(RETRY_AFTER_SECONDS.to_string().as_str())
            );
            let status: RpcStatus = answer.protobuf();
            assert_eq!(status.code, expected_code);
        }
    }

    #[tokio::test]
    async fn ingest_keeps_its_own_body_limit_answer() {
        let client = TestClient::new(app(queue(None), 0, 100));
        let response = client
            .post("/ingest")
            .content_type("application/json")
            .body(vec![b' '; MAX_BODY_BYTES + 1])
            .send()
            .await;

        response.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
        let body: Value = response.0.into_body().into_json().await.unwrap();
        assert_eq!(body["code"], "payload_too_large");
    }

    #[tokio::test]
    async fn the_openapi_document_describes_v1_logs_with_both_encodings() {
        let client = TestClient::new(app(queue(None), 0, 100));
        let response = client.get("/openapi.json").send().await;
        let spec: Value = response.0.into_body().into_json().await.unwrap();

        let operation = &spec["paths"]["/v1/logs"]["post"];
        let content = &operation["requestBody"]["content"];
        assert_eq!(content[PROTOBUF]["schema"]["format"], "binary", "{content}");
        assert_eq!(content[JSON]["schema"]["type"], "object", "{content}");
        for status in ["200", "400", "413", "415", "429", "500", "503"] {
            let answer = &operation["responses"][status];
            assert!(
                answer["content"][PROTOBUF].is_object(),
                "{status}: {answer}"
            );
            assert!(answer["content"][JSON].is_object(), "{status}: {answer}");
        }
        assert!(operation["responses"]["429"]["headers"]["Retry-After"].is_object());
        let schemas = &spec["components"]["schemas"];
        for name in [
            "OtlpExportLogsServiceResponse",
            "OtlpExportLogsPartialSuccess",
            "GoogleRpcStatus",
        ] {
            assert!(schemas[name].is_object(), "{name} missing from {schemas}");
        }
        assert!(spec["paths"]["/ingest"]["post"].is_object());
    }
}
