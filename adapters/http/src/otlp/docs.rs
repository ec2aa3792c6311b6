//! The OpenAPI description of `POST /v1/logs`: both encodings of its request and of each
//! answer (the protobuf bodies are binary; the JSON ones have schemas and examples), and the
//! conversion of poem-openapi's own request errors into OTLP failures.

use poem_openapi::registry::{
    MetaHeader, MetaMediaType, MetaRequest, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef,
    Registry,
};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object};
use tracing::warn;

use crate::common::access::AccessDenied;
use crate::common::keys::Denial;
use crate::common::metrics::{IngestSource, count_rejected_request};

use super::response::{ExportFailure, JSON, OtlpEncoding, OtlpResponse, PROTOBUF};

/// `ExportLogsServiceResponse` in OTLP/JSON (documentation of the 200 answer).
#[derive(Debug, Object)]
#[oai(rename = "OtlpExportLogsServiceResponse", rename_all = "camelCase")]
struct ExportLogsServiceResponseDoc {
    /// Set only when some records were rejected.
    partial_success: Option<ExportLogsPartialSuccessDoc>,
}

/// How many records were rejected, and why.
#[derive(Debug, Object)]
#[oai(rename = "OtlpExportLogsPartialSuccess", rename_all = "camelCase")]
struct ExportLogsPartialSuccessDoc {
    /// Number of rejected log records (an int64, written as a decimal string as OTLP/JSON does).
    rejected_log_records: String,
    /// Each rejected record's position (`resourceLogs[i].scopeLogs[j].logRecords[k]`) and the
    /// field that failed validation (the first ten).
    error_message: String,
}

/// `google.rpc.Status` in OTLP/JSON (documentation of failures).
#[derive(Debug, Object)]
#[oai(rename = "GoogleRpcStatus")]
struct RpcStatusDoc {
    /// gRPC status code: 3 invalid argument (400, 415), 8 resource exhausted (413, 429),
    /// 13 internal (500), 14 unavailable (503).
    code: i32,
    /// A sentence for humans.
    message: String,
}

fn protobuf_schema(description: &'static str) -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        description: Some(description),
        ..MetaSchema::new_with_format("string", "binary")
    }))
}

/// Both encodings of one answer: the JSON schema and the protobuf message it is.
fn both_encodings(
    json_schema: MetaSchemaRef,
    protobuf_message: &'static str,
) -> Vec<MetaMediaType> {
    vec![
        MetaMediaType {
            content_type: PROTOBUF,
            schema: protobuf_schema(protobuf_message),
        },
        MetaMediaType {
            content_type: JSON,
            schema: json_schema,
        },
    ]
}

fn www_authenticate_header() -> MetaHeader {
    MetaHeader {
        name: "WWW-Authenticate".into(),
        description: Some("The authentication challenge: `Bearer realm=\"ingest\"`.".into()),
        required: true,
        deprecated: false,
        schema: String::schema_ref(),
    }
}

fn retry_after_header() -> MetaHeader {
    MetaHeader {
        name: "Retry-After".into(),
        description: Some("Seconds to wait before retrying.".into()),
        required: true,
        deprecated: false,
        schema: u32::schema_ref(),
    }
}

impl ApiResponse for OtlpResponse {
    const BAD_REQUEST_HANDLER: bool = true;

    fn meta() -> MetaResponses {
        let failure =
            |status: u16, description: &'static str, headers: Vec<MetaHeader>| MetaResponse {
                description,
                status: Some(status),
                status_range: None,
                content: both_encodings(
                    RpcStatusDoc::schema_ref(),
                    "A protobuf-encoded google.rpc.Status.",
                ),
                headers,
            };
        MetaResponses {
            responses: vec![
                MetaResponse {
                    description: "Exported: the records are queued for storage. When some were \
                        rejected (they failed validation), `partialSuccess` counts them and says \
                        why; the others are queued.",
                    status: Some(200),
                    status_range: None,
                    content: both_encodings(
                        ExportLogsServiceResponseDoc::schema_ref(),
                        "A protobuf-encoded opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse.",
                    ),
                    headers: vec![],
                },
                failure(
                    400,
                    "The body cannot be decoded (not the declared encoding, or not gzip). Nothing was queued.",
                    vec![],
                ),
                failure(
                    401,
                    "No API key was sent, or not a valid one (gRPC code 16, UNAUTHENTICATED). \
                     Send `Authorization: Bearer <key>` or `X-API-Key: <key>` with a key of \
                     scope `ingest`.",
                    vec![www_authenticate_header()],
                ),
                failure(
                    403,
                    "The API key is valid but not of scope `ingest` (gRPC code 7, \
                     PERMISSION_DENIED).",
                    vec![],
                ),
                failure(
                    413,
                    "The body is over `INGEST_MAX_BODY_BYTES` before or after gzip \
                     decompression, or holds more than `INGEST_MAX_BATCH_EVENTS` records. Nothing \
                     was queued.",
                    vec![],
                ),
                failure(
                    415,
                    "Content-Type is neither application/x-protobuf nor application/json, or \
                     Content-Encoding is not gzip. The answer is JSON when the encoding is unknown.",
                    vec![],
                ),
                failure(
                    429,
                    "The queue is over its capacity; nothing was queued. Retry later.",
                    vec![retry_after_header()],
                ),
                failure(500, "Unexpected failure; nothing was queued.", vec![]),
                failure(
                    503,
                    "The queue cannot be reached (nothing was queued), or the request took \
                     longer than `HTTP_REQUEST_TIMEOUT_MS`. Retry later.",
                    vec![retry_after_header()],
                ),
            ],
        }
    }

    fn register(registry: &mut Registry) {
        ExportLogsServiceResponseDoc::register(registry);
        RpcStatusDoc::register(registry);
    }

    fn from_parse_request_error(error: poem::Error) -> Self {
        if let Some(denied) = error.downcast_ref::<AccessDenied>() {
            count_rejected_request(IngestSource::Otlp, denied.code());
            // Answered in the request's encoding, like every other OTLP answer.
            let encoding = OtlpEncoding::for_answer(denied.content_type.as_deref());
            let failure = match denied.denial {
                Denial::WrongScope { .. } => ExportFailure::PermissionDenied(denied.reason()),
                Denial::Missing | Denial::Unknown => ExportFailure::Unauthenticated {
                    code: denied.code(),
                    message: denied.reason(),
                    challenge: denied.challenge(),
                },
            };
            return Self::Failed { encoding, failure };
        }
        let failure = match error.status().as_u16() {
            413 => ExportFailure::TooLarge(error.to_string()),
            415 => ExportFailure::UnsupportedMediaType(error.to_string()),
            500.. => {
                warn!(error = %error, "otlp request could not be read");
                ExportFailure::Internal(
                    "internal error; the X-Trace-Id header identifies it in the service logs"
                        .into(),
                )
            }
            _ => ExportFailure::BadRequest(error.to_string()),
        };
        Self::Failed {
            encoding: OtlpEncoding::Json,
            failure,
        }
    }
}

/// The request body: protobuf or OTLP/JSON.
pub(super) fn request_meta() -> MetaRequest {
    MetaRequest {
        description: Some(
            "An OTLP `ExportLogsServiceRequest`: protobuf, or OTLP/JSON (lowerCamelCase keys, \
                 hex trace and span ids, 64-bit integers as strings, enums as numbers). Either may \
                 be sent with `Content-Encoding: gzip`; the body limit applies before and after \
                 decompression, and a request holds at most `INGEST_MAX_BATCH_EVENTS` records.",
        ),
        content: vec![
            MetaMediaType {
                content_type: PROTOBUF,
                schema: protobuf_schema(
                    "A protobuf-encoded opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest.",
                ),
            },
            MetaMediaType {
                content_type: JSON,
                schema: request_json_schema(),
            },
        ],
        required: true,
    }
}

/// OTLP/JSON `ExportLogsServiceRequest`, described by its example (the full schema is the OTLP
/// specification's).
fn request_json_schema() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        description: Some(
            "OTLP/JSON ExportLogsServiceRequest: resourceLogs[].resource.attributes, \
             resourceLogs[].scopeLogs[].scope, resourceLogs[].scopeLogs[].logRecords[] with \
             timeUnixNano, observedTimeUnixNano, severityNumber, severityText, body, attributes, \
             traceId, spanId, eventName.",
        ),
        example: Some(serde_json::json!({
            "resourceLogs": [{
                "resource": {"attributes": [
                    {"key": "service.name", "value": {"stringValue": "checkout"}}
                ]},
                "scopeLogs": [{
                    "scope": {"name": "checkout.payments"},
                    "logRecords": [{
                        "timeUnixNano": "1777975200000000000",
                        "severityNumber": 17,
                        "severityText": "ERROR",
                        "body": {"stringValue": "card declined"},
                        "attributes": [{"key": "user_id", "value": {"intValue": "42"}}],
                        "traceId": "5b8efff798038103d269b633813fc60c",
                        "spanId": "eee19b7ec3c1b174"
                    }]
                }]
            }]
        })),
        ..MetaSchema::new("object")
    }))
}
