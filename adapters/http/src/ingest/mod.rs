//! `POST /ingest`: one JSON log event in, `202 Accepted` with its trace id out; or a batch (a JSON
//! array or NDJSON, optionally gzip) in, `202` with per-event results out.

pub(crate) mod body;
mod fields;

use std::collections::HashMap;

use application::{BatchOutcome, IngestUseCase};
use domain::LogEventDraft;
use poem::web::Data;
use poem::{Request, RequestBody};
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi, Union,
};
use serde_json::Value;
use tracing::info;

use crate::common::access::{Authorized, DeniedAnswer, denied_answer};
use crate::common::config::IngestHttpConfig;
use crate::common::error::{ErrorBody, ErrorCode, Failure, RETRY_AFTER_SECONDS, request_error};
use crate::common::metrics::{
    IngestSource, count_accepted, count_rejected, count_rejected_request, failure_code,
};
use crate::common::trace::RequestTraceId;
use crate::ingest::body::{
    BatchRecord, BodyEncoding, BodyError, BodyFormat, IngestPayload, decode_payload,
};

/// A log event, as sent to `POST /ingest`.
#[derive(Debug, Object)]
#[oai(rename = "LogEventIn")]
pub(crate) struct IngestEventDoc {
    /// The emitting service: 1 to 128 characters after trimming (`INGEST_MAX_SERVICE_CHARS`),
    /// no control characters.
    #[oai(validator(min_length = 1))]
    service: String,
    /// TRACE, DEBUG, INFO, WARN, ERROR or FATAL, any case; WARNING, CRITICAL and PANIC are accepted.
    #[oai(validator(min_length = 1))]
    level: String,
    /// The log line: not blank, at most 64 KiB (`INGEST_MAX_MESSAGE_BYTES`).
    #[oai(validator(min_length = 1))]
    message: String,
    /// At most 128 entries (`INGEST_MAX_METADATA_ENTRIES`); keys 1-128 characters
    /// (`INGEST_MAX_METADATA_KEY_CHARS`); values strings, numbers, booleans or null (objects and
    /// arrays are kept as their compact JSON text), at most 8 KiB each
    /// (`INGEST_MAX_METADATA_VALUE_BYTES`). The numbers are the defaults of those settings.
    metadata: Option<HashMap<String, Value>>,
    /// When it happened: RFC 3339 text, or Unix epoch seconds, milliseconds, microseconds or
    /// nanoseconds (told apart by magnitude). At most 24 hours in the future
    /// (`INGEST_MAX_FUTURE_SKEW_SECONDS`). Default: now.
    timestamp: Option<Value>,
    /// 32 hex characters; default: the request's `traceparent`/`X-Trace-Id`, else a new one.
    trace_id: Option<String>,
    /// 16 hex characters.
    span_id: Option<String>,
}

/// The raw body of `POST /ingest` with its framing and encoding, checked for a supported
/// `Content-Type` and `Content-Encoding` (else 415). Decoding happens in the handler, which knows
/// the limits.
#[derive(Debug)]
pub(crate) struct IngestBody {
    format: BodyFormat,
    encoding: BodyEncoding,
    bytes: Vec<u8>,
}

impl<'a> ApiExtractor<'a> for IngestBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        IngestEventDoc::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some(
                "One log event (a JSON object), or a batch: a JSON array of events, or NDJSON with \
                 one event per line (blank lines are ignored). Either may be sent with \
                 `Content-Encoding: gzip`; the body limit applies before and after decompression.",
            ),
            content: vec![
                MetaMediaType {
                    content_type: "application/json",
                    schema: json_schema(),
                },
                MetaMediaType {
                    content_type: "application/x-ndjson",
                    schema: ndjson_schema(),
                },
            ],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let Some(format) = request
            .content_type()
            .and_then(BodyFormat::from_content_type)
        else {
            return Err(poem_openapi::error::ContentTypeError::NotSupported {
                content_type: request.content_type().unwrap_or("(none)").to_owned(),
            }
            .into());
        };
        let content_encoding = request
            .headers()
            .get(poem::http::header::CONTENT_ENCODING)
            .map(|value| value.to_str().unwrap_or("(not text)"));
        let Some(encoding) = BodyEncoding::from_header(content_encoding) else {
            let error = BodyError::unsupported_encoding(content_encoding.unwrap_or_default());
            let status = error.status();
            return Err(poem::Error::new(error, status));
        };
        let bytes = body.take()?.into_vec().await?;
        Ok(Self {
            format,
            encoding,
            bytes,
        })
    }
}

/// `application/json`: one event object, or an array of them.
fn json_schema() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        one_of: vec![
            IngestEventDoc::schema_ref(),
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                items: Some(Box::new(IngestEventDoc::schema_ref())),
                min_items: Some(1),
                ..MetaSchema::new("array")
            })),
        ],
        ..MetaSchema::ANY
    }))
}

/// `application/x-ndjson`: text, one `LogEventIn` object per line.
fn ndjson_schema() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        description: Some("One LogEventIn JSON object per line; blank lines are ignored."),
        example: Some(Value::String(
            "{\"service\":\"api\",\"level\":\"INFO\",\"message\":\"started\"}\n\
             {\"service\":\"api\",\"level\":\"WARN\",\"message\":\"slow request\"}\n"
                .into(),
        )),
        ..MetaSchema::new("string")
    }))
}

/// The answer to an accepted single event (a JSON object body).
#[derive(Debug, Object)]
pub(crate) struct AcceptedBody {
    /// Always `accepted`: the event is queued, not yet stored.
    status: String,
    /// The event's trace id (32 lowercase hex).
    trace_id: String,
    /// The event's unique id (UUIDv7).
    id: String,
}

/// The answer to a batch (a JSON array or NDJSON body).
#[derive(Debug, Object)]
#[oai(rename = "BatchResult")]
pub(crate) struct BatchBody {
    /// `accepted` when at least one event was queued (status 202), `rejected` when none was
    /// (status 400).
    status: String,
    /// Number of events queued, not yet stored.
    accepted: u64,
    /// Number of events refused; `errors` lists each one. None of them was queued.
    rejected: u64,
    /// The request's trace id, given to every event of the batch that has none of its own.
    trace_id: String,
    /// One entry per refused event, in batch order.
    errors: Vec<EventErrorBody>,
}

/// Why one event of a batch was refused.
#[derive(Debug, Object)]
#[oai(rename = "BatchEventError")]
pub(crate) struct EventErrorBody {
    /// Zero-based position of the event in the batch (NDJSON: blank lines are not counted).
    index: u64,
    /// NDJSON only: the 1-based line number of the event in the body.
    #[oai(skip_serializing_if_is_none)]
    line: Option<u64>,
    /// `invalid_field` or `malformed_json`.
    code: ErrorCode,
    /// The field at fault, e.g. `level` or `metadata.user_id`.
    #[oai(skip_serializing_if_is_none)]
    field: Option<String>,
    /// A sentence for humans.
    reason: String,
}

/// 202: a single event's answer or a batch's.
#[derive(Debug, Union)]
#[oai(one_of)]
pub(crate) enum AcceptedAnswer {
    Event(AcceptedBody),
    Batch(BatchBody),
}

/// 400: the body as a whole is unusable (an error), or no event of a batch was valid (the
/// batch result, listing every event's problem).
#[derive(Debug, Union)]
#[oai(one_of)]
pub(crate) enum BadRequestAnswer {
    Error(ErrorBody),
    Batch(BatchBody),
}

#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "ingest_request_error")]
pub(crate) enum IngestResponse {
    /// Queued for storage; it becomes queryable shortly. A batch answer says how many events
    /// were accepted and why each rejected one was not.
    #[oai(status = 202)]
    Accepted(Json<AcceptedAnswer>),
    /// Malformed JSON, a field failed validation (`field` names it), an empty batch, or a batch
    /// none of whose events was valid (the batch result lists them).
    #[oai(status = 400)]
    BadRequest(Json<BadRequestAnswer>),
    /// No API key was sent (`missing_api_key`), or not a valid one (`invalid_api_key`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>, #[oai(header = "WWW-Authenticate")] String),
    /// The API key is valid but not of scope `ingest` (`insufficient_scope`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// The body is larger than the configured limit (default 1 MiB), before or after gzip
    /// decompression (`payload_too_large`), or a batch holds more events than allowed (default
    /// 10,000: `too_many_events`). Nothing was accepted.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not `application/json` or `application/x-ndjson`, or its
    /// `Content-Encoding` is not gzip.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Unexpected failure; nothing was accepted.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The queue is over its capacity (`QUEUE_MAX_EVENTS`); nothing was accepted. Retry after
    /// the given seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u32),
    /// The queue cannot be reached (`queue_unavailable`; nothing was accepted), or the request
    /// took longer than `HTTP_REQUEST_TIMEOUT_MS` (`request_timeout`). Retry after the given
    /// seconds.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u32),
}

impl IngestResponse {
    fn bad_request(body: ErrorBody) -> Self {
        Self::BadRequest(Json(BadRequestAnswer::Error(body)))
    }
}

impl From<BodyError> for IngestResponse {
    fn from(error: BodyError) -> Self {
        ErrorBody::new(error.code, error.field.as_deref(), error.reason).into()
    }
}

impl From<ErrorBody> for IngestResponse {
    /// The answer of a request refused before any event was read, by its code's status.
    fn from(body: ErrorBody) -> Self {
        match body.code.http_status() {
            413 => Self::PayloadTooLarge(Json(body)),
            415 => Self::UnsupportedMediaType(Json(body)),
            _ => Self::bad_request(body),
        }
    }
}

fn ingest_request_error(error: poem::Error) -> IngestResponse {
    match denied_answer(&error) {
        Some(DeniedAnswer::Unauthorized(body, challenge)) => {
            count_rejected_request(IngestSource::Ingest, body.code);
            return IngestResponse::Unauthorized(Json(body), challenge);
        }
        Some(DeniedAnswer::Forbidden(body)) => {
            count_rejected_request(IngestSource::Ingest, body.code);
            return IngestResponse::Forbidden(Json(body));
        }
        None => {}
    }
    if let Some(body_error) = error.downcast_ref::<BodyError>() {
        count_rejected_request(IngestSource::Ingest, body_error.code);
        return body_error.clone().into();
    }
    let (_, body) = request_error(&error);
    count_rejected_request(IngestSource::Ingest, body.code);
    body.into()
}

impl From<Failure> for IngestResponse {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::BadRequest(body) => Self::bad_request(body),
            Failure::Unavailable(body) => Self::Unavailable(Json(body), RETRY_AFTER_SECONDS),
            Failure::TooManyRequests(body) => {
                Self::TooManyRequests(Json(body), RETRY_AFTER_SECONDS)
            }
            Failure::Internal(body) => Self::Internal(Json(body)),
        }
    }
}

/// The batch answer: decoding failures and validation failures merged by position.
fn batch_answer(
    outcome: BatchOutcome,
    decode_failures: Vec<EventErrorBody>,
    positions: &[usize],
    lines: &[Option<usize>],
) -> IngestResponse {
    let mut errors = decode_failures;
    errors.extend(outcome.rejected.into_iter().map(|rejected| {
        // `rejected.index` counts the decoded drafts; map it back to the body's position.
        let index = positions
            .get(rejected.index)
            .copied()
            .unwrap_or(rejected.index);
        EventErrorBody {
            index: index as u64,
            line: lines.get(index).copied().flatten().map(|line| line as u64),
            code: ErrorCode::InvalidField,
            field: Some(rejected.error.field().to_owned()),
            reason: rejected.error.to_string(),
        }
    }));
    errors.sort_by_key(|error| error.index);
    let accepted = outcome.accepted.len() as u64;
    let body = BatchBody {
        status: if accepted > 0 { "accepted" } else { "rejected" }.into(),
        accepted,
        rejected: errors.len() as u64,
        trace_id: outcome.trace_id.to_string(),
        errors,
    };
    info!(
        accepted = body.accepted,
        rejected = body.rejected,
        "batch ingested"
    );
    if accepted > 0 {
        IngestResponse::Accepted(Json(AcceptedAnswer::Batch(body)))
    } else {
        IngestResponse::BadRequest(Json(BadRequestAnswer::Batch(body)))
    }
}

/// The ingestion API.
pub(crate) struct IngestApi {
    pub(crate) ingest: IngestUseCase,
    pub(crate) limits: IngestHttpConfig,
}

impl IngestApi {
    async fn ingest_one(&self, draft: LogEventDraft, trace: RequestTraceId) -> IngestResponse {
        match self.ingest.ingest(draft, Some(trace.0)).await {
            Ok(accepted) => {
                count_accepted(IngestSource::Ingest, 1);
                IngestResponse::Accepted(Json(AcceptedAnswer::Event(AcceptedBody {
                    status: "accepted".into(),
                    trace_id: accepted.trace_id.to_string(),
                    id: accepted.event_id.to_string(),
                })))
            }
            Err(error) => {
                let failure = Failure::from(error);
                count_rejected(IngestSource::Ingest, failure_code(&failure), 1);
                failure.into()
            }
        }
    }

    async fn ingest_batch(
        &self,
        records: Vec<BatchRecord>,
        trace: RequestTraceId,
    ) -> IngestResponse {
        let lines: Vec<Option<usize>> = records.iter().map(|record| record.line).collect();
        let mut drafts = Vec::with_capacity(records.len());
        let mut positions = Vec::with_capacity(records.len());
        let mut decode_failures = Vec::new();
        for (index, record) in records.into_iter().enumerate() {
            match record.draft {
                Ok(draft) => {
                    drafts.push(draft);
                    positions.push(index);
                }
                Err(error) => decode_failures.push(EventErrorBody {
                    index: index as u64,
                    line: record.line.map(|line| line as u64),
                    code: error.code,
                    field: error.field,
                    reason: error.reason,
                }),
            }
        }
        for failure in &decode_failures {
            count_rejected(IngestSource::Ingest, failure.code, 1);
        }
        let submitted = drafts.len();
        match self.ingest.ingest_batch(drafts, Some(trace.0)).await {
            Ok(outcome) => {
                count_accepted(IngestSource::Ingest, outcome.accepted.len());
                count_rejected(
                    IngestSource::Ingest,
                    ErrorCode::InvalidField,
                    outcome.rejected.len(),
                );
                batch_answer(outcome, decode_failures, &positions, &lines)
            }
            Err(error) => {
                let failure = Failure::from(error);
                count_rejected(IngestSource::Ingest, failure_code(&failure), submitted);
                failure.into()
            }
        }
    }
}

#[OpenApi]
impl IngestApi {
    /// Queue one log event or a batch
    ///
    /// A JSON object is one event: it is validated, given a trace id (the body's `trace_id`,
    /// else the request's `traceparent` or `X-Trace-Id` header, else a new one) and queued; the
    /// answer is `{"status":"accepted","trace_id":..,"id":..}`. A JSON array, or NDJSON
    /// (`Content-Type: application/x-ndjson`), is a batch of up to `INGEST_MAX_BATCH_EVENTS`
    /// events (default 10,000): its valid events are queued together, each invalid one is
    /// reported by `index` (and `line` for NDJSON) with its `field` and `reason`, and the status
    /// is 202 when at least one event was accepted, 400 when none was. Bodies may be gzip
    /// (`Content-Encoding: gzip`). `202` means queued, not yet stored: the worker writes the
    /// events to ClickHouse within moments.
    #[oai(path = "/ingest", method = "post")]
    async fn ingest(
        &self,
        _authorized: Authorized,
        body: IngestBody,
        trace: Data<&RequestTraceId>,
    ) -> IngestResponse {
        match decode_payload(body.format, body.encoding, &body.bytes, &self.limits) {
            Ok(IngestPayload::Single(draft)) => self.ingest_one(draft, *trace.0).await,
            Ok(IngestPayload::Batch(records)) => self.ingest_batch(records, *trace.0).await,
            Err(error) => {
                // A single event whose field has the wrong type is one event refused; every other
                // body error refuses the request before any event could be read.
                if error.code == ErrorCode::InvalidField {
                    count_rejected(IngestSource::Ingest, error.code, 1);
                } else {
                    count_rejected_request(IngestSource::Ingest, error.code);
                }
                error.into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use application::ports::MockQueueProducer;
    use poem::http::StatusCode;
    use poem::test::TestClient;

    use super::*;
    use crate::common::keys::ApiKeys;
    use crate::common::test_apps::ingestion_over_mocks;

    fn app(
        queue: MockQueueProducer,
        signals: usize,
        max_batch_events: usize,
    ) -> impl poem::Endpoint {
        ingestion_over_mocks(queue, signals, max_batch_events, ApiKeys::none())
    }

    fn queue_expecting(pushes: usize, events: usize) -> MockQueueProducer {
        let mut queue = MockQueueProducer::new();
        queue
            .expect_push()
            .times(pushes)
            .withf(move |pushed| pushed.len() == events)
            .returning(|_| Ok(()));
        queue
    }

    async fn post(
        app: impl poem::Endpoint,
        content_type: &str,
        encoding: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let client = TestClient::new(app);
        let mut request = client.post("/ingest").content_type(content_type).body(body);
        if let Some(encoding) = encoding {
            request = request.header("Content-Encoding", encoding);
        }
        let response = request.send().await;
        let status = response.0.status();
        let json = response
            .0
            .into_body()
            .into_json::<Value>()
            .await
            .unwrap_or(Value::Null);
        (status, json)
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    const GOOD: &str = r#"{"service":"api","level":"INFO","message":"ok"}"#;

    #[tokio::test]
    async fn a_single_object_keeps_the_original_answer_shape() {
        let (status, body) = post(
            app(queue_expecting(1, 1), 1, 10),
            "application/json",
            None,
            GOOD.into(),
        )
        .await;

        assert_eq!(status, StatusCode::ACCEPTED);
        let mut keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["id", "status", "trace_id"]);
        assert_eq!(body["status"], "accepted");
    }

    #[tokio::test]
    async fn a_single_invalid_object_keeps_the_original_error() {
        let (status, body) = post(
            app(queue_expecting(0, 0), 0, 10),
            "application/json",
            None,
            br#"{"service":"api","level":"LOUD","message":"x"}"#.to_vec(),
        )
        .await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], "invalid_field");
        assert_eq!(body["field"], "level");
    }

    #[tokio::test]
    async fn a_batch_queues_its_valid_events_with_one_push_and_reports_each_bad_one() {
        let batch =
            format!(r#"[{GOOD}, {{"service":"api","level":"LOUD","message":"x"}}, 5, {GOOD}]"#);
        let (status, body) = post(
            app(queue_expecting(1, 2), 1, 10),
            "application/json",
            None,
            batch.into(),
        )
        .await;

        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["status"], "accepted");
        assert_eq!(
            (body["accepted"].as_u64(), body["rejected"].as_u64()),
            (Some(2), Some(2))
        );
        assert_eq!(body["trace_id"].as_str().map(str::len), Some(32));
        let errors = body["errors"].as_array().unwrap();
        assert_eq!(errors[0]["index"], 1);
        assert_eq!(errors[0]["code"], "invalid_field");
        assert_eq!(errors[0]["field"], "level");
        assert_eq!(errors[1]["index"], 2);
        assert_eq!(errors[1]["code"], "malformed_json");
        assert!(errors.iter().all(|error| error.get("line").is_none()));
    }

    #[tokio::test]
    async fn a_batch_without_a_valid_event_is_400_with_the_batch_result_and_queues_nothing() {
        let (status, body) = post(
            app(queue_expecting(0, 0), 0, 10),
            "application/x-ndjson",
            None,
            b"{\"level\":\"INFO\",\"message\":\"no service\"}\n\nnot json\n".to_vec(),
        )
        .await;

        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["status"], "rejected");
        assert_eq!(
            (body["accepted"].as_u64(), body["rejected"].as_u64()),
            (Some(0), Some(2))
        );
        let errors = body["errors"].as_array().unwrap();
        assert_eq!(
            (errors[0]["index"].as_u64(), errors[0]["line"].as_u64()),
            (Some(0), Some(1))
        );
        assert_eq!(errors[0]["field"], "service");
        assert_eq!(
            (errors[1]["index"].as_u64(), errors[1]["line"].as_u64()),
            (Some(1), Some(3))
        );
        assert_eq!(errors[1]["code"], "malformed_json");
    }

    #[tokio::test]
    async fn a_gzip_ndjson_batch_is_decoded_and_queued() {
        let ndjson = format!("{GOOD}\n{GOOD}\n{GOOD}\n");
        let (status, body) = post(
            app(queue_expecting(1, 3), 1, 10),
            "application/x-ndjson",
            Some("gzip"),
            gzip(ndjson.as_bytes()),
        )
        .await;

        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["accepted"], 3);
    }

    #[tokio::test]
    async fn a_gzip_body_inflating_past_the_limit_is_413_and_queues_nothing() {
        let bomb = gzip(&vec![b' '; 10 * 1024 * 1024]);
        let (status, body) = post(
            app(queue_expecting(0, 0), 0, 10),
            "application/json",
            Some("gzip"),
            bomb,
        )
        .await;

        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert_eq!(body["code"], "payload_too_large");
    }

    #[tokio::test]
    async fn a_batch_over_the_maximum_is_413_too_many_events_and_queues_nothing() {
        let batch = format!("[{}]", [GOOD; 4].join(","));
        let (status, body) = post(
            app(queue_expecting(0, 0), 0, 3),
            "application/json",
            None,
            batch.into(),
        )
        .await;

        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert_eq!(body["code"], "too_many_events");
    }

    #[tokio::test]
    async fn an_unsupported_encoding_or_content_type_is_415() {
        for (content_type, encoding) in [("application/json", Some("br")), ("text/plain", None)] {
            let (status, body) = post(
                app(queue_expecting(0, 0), 0, 10),
                content_type,
                encoding,
                GOOD.into(),
            )
            .await;

            assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
            assert_eq!(body["code"], "unsupported_media_type");
        }
    }

    #[tokio::test]
    async fn a_method_the_ingest_paths_do_not_take_is_405_naming_post() {
        let client = TestClient::new(app(queue_expecting(0, 0), 0, 10));
        for path in ["/ingest", "/v1/logs"] {
            for method in [poem::http::Method::GET, poem::http::Method::DELETE] {
                let response = client.request(method, path).send().await;
                response.assert_status(StatusCode::METHOD_NOT_ALLOWED);
                response.assert_header("allow", "POST");
            }
        }
    }

    #[tokio::test]
    async fn the_openapi_document_describes_both_content_types_and_the_batch_answers() {
        let client = TestClient::new(app(queue_expecting(0, 0), 0, 10));
        let response = client.get("/openapi.json").send().await;
        let spec: Value = response.0.into_body().into_json().await.unwrap();

        let operation = &spec["paths"]["/ingest"]["post"];
        let content = &operation["requestBody"]["content"];
        assert!(
            content["application/json"]["schema"]["oneOf"].is_array(),
            "{content}"
        );
        assert_eq!(content["application/x-ndjson"]["schema"]["type"], "string");
        for status in ["202", "400", "413", "415", "500", "503"] {
            assert!(
                operation["responses"][status].is_object(),
                "{status} missing"
            );
        }
        let schemas = &spec["components"]["schemas"];
        for name in ["LogEventIn", "BatchResult", "BatchEventError", "ErrorBody"] {
            assert!(schemas[name].is_object(), "{name} missing from {schemas}");
        }
    }
}
