//! `POST /ingest`: one JSON log event in, `202 Accepted` with its trace id out.

use std::collections::{BTreeMap, HashMap};

use application::IngestUseCase;
use domain::{LogEventDraft, TimestampInput};
use poem::web::Data;
use poem::{Request, RequestBody};
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi,
};
use serde_json::Value;

use crate::error::{ErrorBody, Failure, RETRY_AFTER_SECONDS, request_error};
use crate::health::{HealthResponse, ReadyResponse, health, readiness};
use crate::trace::RequestTraceId;

/// A log event, as sent to `POST /ingest`.
#[derive(Debug, Object)]
#[oai(rename = "LogEventIn")]
pub(crate) struct IngestEventDoc {
    /// The emitting service: 1 to 128 characters after trimming, no control characters.
    #[oai(default)]
    service: String,
    /// TRACE, DEBUG, INFO, WARN, ERROR or FATAL, any case; WARNING, CRITICAL and PANIC are accepted.
    #[oai(default)]
    level: String,
    /// The log line: not blank, at most 64 KiB.
    #[oai(default)]
    message: String,
    /// At most 128 entries; keys 1-128 characters; values strings, numbers, booleans or null
    /// (objects and arrays are kept as their compact JSON text), at most 8 KiB each.
    metadata: Option<HashMap<String, Value>>,
    /// When it happened: RFC 3339 text, or Unix epoch seconds, milliseconds, microseconds or
    /// nanoseconds (told apart by magnitude). At most 24 hours in the future. Default: now.
    timestamp: Option<Value>,
    /// 32 hex characters; default: the request's `traceparent`/`X-Trace-Id`, else a new one.
    trace_id: Option<String>,
    /// 16 hex characters.
    span_id: Option<String>,
}

/// The body of `POST /ingest`, decoded by hand so that every problem names its field.
#[derive(Debug)]
pub(crate) struct IngestBody(LogEventDraft);

/// A body that is not a usable event document: which field, and why.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub(crate) struct BodyError {
    code: &'static str,
    field: Option<String>,
    reason: String,
}

impl BodyError {
    fn field(field: &str, reason: &str) -> Self {
        Self {
            code: "invalid_field",
            field: Some(field.into()),
            reason: format!("{field} {reason}"),
        }
    }
}

fn decode_event(bytes: &[u8]) -> Result<LogEventDraft, BodyError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|error| BodyError {
        code: "malformed_json",
        field: None,
        reason: format!("the body is not valid JSON: {error}"),
    })?;
    let Value::Object(mut object) = value else {
        return Err(BodyError {
            code: "malformed_json",
            field: None,
            reason: "the body must be a JSON object".into(),
        });
    };
    let mut text = |name: &str| -> Result<Option<String>, BodyError> {
        match object.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(BodyError::field(name, "must be a string")),
        }
    };
    let service = text("service")?.unwrap_or_default();
    let level = text("level")?.unwrap_or_default();
    let message = text("message")?.unwrap_or_default();
    let trace_id = text("trace_id")?;
    let span_id = text("span_id")?;
    let metadata = match object.remove("metadata") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(entries)) => entries
            .into_iter()
            .map(|(key, value)| {
                let text = match value {
                    Value::String(text) => text,
                    other => other.to_string(),
                };
                (key, text)
            })
            .collect(),
        Some(_) => return Err(BodyError::field("metadata", "must be an object")),
    };
    let timestamp = match object.remove("timestamp") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(TimestampInput::Text(text)),
        Some(Value::Number(number)) => Some(
            number
                .as_i64()
                .map(|value| TimestampInput::Integer(value.into()))
                .or_else(|| {
                    number
                        .as_u64()
                        .map(|value| TimestampInput::Integer(value.into()))
                })
                .or_else(|| number.as_f64().map(TimestampInput::Float))
                .ok_or_else(|| BodyError::field("timestamp", "must be a finite number"))?,
        ),
        Some(_) => {
            return Err(BodyError::field(
                "timestamp",
                "must be RFC 3339 text or a Unix epoch number",
            ));
        }
    };
    Ok(LogEventDraft {
        service,
        level,
        message,
        metadata,
        timestamp,
        trace_id,
        span_id,
    })
}

fn is_json(content_type: &str) -> bool {
    content_type.parse::<mime::Mime>().is_ok_and(|mime| {
        mime.type_() == "application"
            && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
    })
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
            description: Some("One log event."),
            content: vec![MetaMediaType {
                content_type: "application/json",
                schema: schema(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(content_type) if is_json(content_type) => {}
            other => {
                return Err(poem_openapi::error::ContentTypeError::NotSupported {
                    content_type: other.unwrap_or("(none)").to_owned(),
                }
                .into());
            }
        }
        let bytes = body.take()?.into_vec().await?;
        let draft = decode_event(&bytes)
            .map_err(|error| poem::Error::new(error, poem::http::StatusCode::BAD_REQUEST))?;
        Ok(Self(draft))
    }
}

fn schema() -> MetaSchemaRef {
    IngestEventDoc::schema_ref()
}

/// The answer to an accepted event.
#[derive(Debug, Object)]
pub(crate) struct AcceptedBody {
    /// Always `accepted`: the event is queued, not yet stored.
    status: String,
    /// The event's trace id (32 lowercase hex).
    trace_id: String,
    /// The event's unique id (UUIDv7).
    id: String,
}

#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "ingest_request_error")]
pub(crate) enum IngestResponse {
    /// Queued for storage; it becomes queryable shortly.
    #[oai(status = 202)]
    Accepted(Json<AcceptedBody>),
    /// Malformed JSON, or a field failed validation (`field` names it).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The body is larger than the configured limit (default 1 MiB).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Unexpected failure; nothing was accepted.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The queue cannot be reached; nothing was accepted. Retry after the given seconds.
    /// The queue is over its capacity (`QUEUE_MAX_EVENTS`); nothing was accepted. Retry after
    /// the given seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u32),
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u32),
}

fn ingest_request_error(error: poem::Error) -> IngestResponse {
    if let Some(body_error) = error.downcast_ref::<BodyError>() {
        return IngestResponse::BadRequest(Json(ErrorBody::new(
            body_error.code,
            body_error.field.as_deref(),
            body_error.reason.clone(),
        )));
    }
    match request_error(&error) {
        (415, body) => IngestResponse::UnsupportedMediaType(Json(body)),
        (413, body) => IngestResponse::PayloadTooLarge(Json(body)),
        (_, body) => IngestResponse::BadRequest(Json(body)),
    }
}

impl From<Failure> for IngestResponse {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::BadRequest(body) => Self::BadRequest(Json(body)),
            Failure::Unavailable(body) => Self::Unavailable(Json(body), RETRY_AFTER_SECONDS),
            Failure::TooManyRequests(body) => Self::TooManyRequests(Json(body), RETRY_AFTER_SECONDS),
            Failure::Internal(body) => Self::Internal(Json(body)),
        }
    }
}

/// The ingestion API.
pub(crate) struct IngestApi {
    pub(crate) ingest: IngestUseCase,
}

#[OpenApi]
impl IngestApi {
    /// Queue one log event
    ///
    /// Validates the event, gives it a trace id (the body's `trace_id`, else the request's
    /// `traceparent` or `X-Trace-Id` header, else a new one) and queues it. `202` means queued,
    /// not yet stored: the worker writes it to ClickHouse within moments.
    #[oai(path = "/ingest", method = "post")]
    async fn ingest(&self, body: IngestBody, trace: Data<&RequestTraceId>) -> IngestResponse {
        match self.ingest.ingest(body.0, Some(trace.0.0)).await {
            Ok(accepted) => IngestResponse::Accepted(Json(AcceptedBody {
                status: "accepted".into(),
                trace_id: accepted.trace_id.to_string(),
                id: accepted.event_id.to_string(),
            })),
            Err(error) => Failure::from(error).into(),
        }
    }

    /// Liveness: the process is up
    #[oai(path = "/health", method = "get")]
    async fn health(&self) -> HealthResponse {
        health()
    }

    /// Readiness: Redis answers
    #[oai(path = "/ready", method = "get")]
    async fn ready(&self) -> ReadyResponse {
        readiness(
            "redis",
            self.ingest
                .check_ready()
                .await
                .map_err(|error| error.to_string()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_design_body_decodes_with_stringified_metadata() {
        let body = br#"{"service":"auth-service","level":"ERROR","message":"DB connection failed",
            "metadata":{"user_id":"42","host":"db-primary","attempt":3,"ok":false,"none":null,"nested":{"a":[1,2]}}}"#;
        let draft = decode_event(body).unwrap();
        assert_eq!(draft.service, "auth-service");
        assert_eq!(draft.level, "ERROR");
        assert_eq!(draft.metadata["user_id"], "42");
        assert_eq!(draft.metadata["attempt"], "3");
        assert_eq!(draft.metadata["ok"], "false");
        assert_eq!(draft.metadata["none"], "null");
        assert_eq!(draft.metadata["nested"], r#"{"a":[1,2]}"#);
        assert_eq!(draft.timestamp, None);
    }

    #[test]
    fn timestamps_decode_from_text_integers_and_fractions() {
        let text = decode_event(br#"{"timestamp":"2026-05-05T10:00:00Z"}"#).unwrap();
        assert_eq!(
            text.timestamp,
            Some(TimestampInput::Text("2026-05-05T10:00:00Z".into()))
        );
        let integer = decode_event(br#"{"timestamp":1777975200000}"#).unwrap();
        assert_eq!(
            integer.timestamp,
            Some(TimestampInput::Integer(1_777_975_200_000))
        );
        let big = decode_event(br#"{"timestamp":17779752000000000000}"#).unwrap();
        assert_eq!(
            big.timestamp,
            Some(TimestampInput::Integer(17_779_752_000_000_000_000))
        );
        let fraction = decode_event(br#"{"timestamp":1777975200.5}"#).unwrap();
        assert_eq!(
            fraction.timestamp,
            Some(TimestampInput::Float(1_777_975_200.5))
        );
    }

    #[test]
    fn wrong_types_name_their_field() {
        for (body, field) in [
            (&br#"{"service":1}"#[..], "service"),
            (br#"{"level":["x"]}"#, "level"),
            (br#"{"message":{}}"#, "message"),
            (br#"{"metadata":"x"}"#, "metadata"),
            (br#"{"timestamp":true}"#, "timestamp"),
            (br#"{"trace_id":5}"#, "trace_id"),
        ] {
            let error = decode_event(body).unwrap_err();
            assert_eq!(
                (error.code, error.field.as_deref()),
                ("invalid_field", Some(field))
            );
        }
    }

    #[test]
    fn malformed_json_and_non_objects_are_malformed_json() {
        for body in [&b"{not json"[..], b"[1,2]", b"\"text\"", b""] {
            let error = decode_event(body).unwrap_err();
            assert_eq!((error.code, error.field), ("malformed_json", None));
        }
    }
}
