//! The answers of `POST /v1/logs`: an `ExportLogsServiceResponse`, or a `google.rpc.Status`
//! with the HTTP status of the failure, each in the request's encoding.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use poem::http::StatusCode;
use poem::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use poem::{IntoResponse, Response};
use prost::Message as _;

use super::json;
use crate::common::error::{ErrorCode, Failure, RETRY_AFTER_SECONDS, http_status};
use crate::common::raw_body::BodyError;

/// The protobuf media type of OTLP/HTTP.
pub(crate) const PROTOBUF: &str = "application/x-protobuf";
/// The JSON media type of OTLP/HTTP.
pub(crate) const JSON: &str = "application/json";

/// The encoding of a request, and so of its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OtlpEncoding {
    Protobuf,
    Json,
}

impl OtlpEncoding {
    /// `application/x-protobuf` or `application/json` (parameters such as `charset` aside).
    pub(super) fn from_content_type(content_type: &str) -> Option<Self> {
        let mime = content_type.parse::<mime::Mime>().ok()?;
        match (mime.type_().as_str(), mime.subtype().as_str()) {
            ("application", "x-protobuf") => Some(Self::Protobuf),
            ("application", "json") => Some(Self::Json),
            _ => None,
        }
    }

    /// The encoding to answer a request of this `Content-Type` in: its own when it is one of
    /// OTLP's, else JSON.
    pub(super) fn for_answer(content_type: Option<&str>) -> Self {
        content_type
            .and_then(Self::from_content_type)
            .unwrap_or(Self::Json)
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => PROTOBUF,
            Self::Json => JSON,
        }
    }
}

/// `google.rpc.Status`, the body of OTLP/HTTP failures. `details` is never set, so it is not
/// declared.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub(crate) code: i32,
    #[prost(string, tag = "2")]
    pub(crate) message: String,
}

/// Why a request failed as a whole; nothing of it was queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExportFailure {
    /// 400: the body cannot be decoded.
    BadRequest(String),
    /// 401 with this `WWW-Authenticate` challenge: no API key (`missing_api_key`), or not a
    /// valid one (`invalid_api_key`).
    Unauthenticated {
        code: ErrorCode,
        message: String,
        challenge: String,
    },
    /// 403: the API key is valid but not of scope `ingest`.
    PermissionDenied(String),
    /// 413: the body, compressed or inflated, is over the limit, or it holds too many records.
    TooLarge(String),
    /// 415: neither protobuf nor JSON, or an encoding other than gzip.
    UnsupportedMediaType(String),
    /// 429 with `Retry-After`: the queue is full.
    Throttled(String),
    /// 503 with `Retry-After`: the queue cannot be reached.
    Unavailable(String),
    /// 500: details only in the service's log.
    Internal(String),
}

impl ExportFailure {
    /// The row of the error table this failure answers with: its HTTP status, its
    /// `google.rpc.Status` code, `Retry-After` and its metric label.
    pub(super) fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::MalformedBody,
            Self::Unauthenticated { code, .. } => *code,
            Self::PermissionDenied(_) => ErrorCode::InsufficientScope,
            Self::TooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Self::Throttled(_) => ErrorCode::QueueFull,
            // Also the request timeout's answer: `request_timeout` has the same row.
            Self::Unavailable(_) => ErrorCode::QueueUnavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub(super) fn status(&self) -> StatusCode {
        http_status(self.code())
    }

    pub(super) fn rpc_status(self) -> RpcStatus {
        let code = self.code().grpc_code().as_i32();
        let message = match self {
            Self::BadRequest(message)
            | Self::UnsupportedMediaType(message)
            | Self::TooLarge(message)
            | Self::Throttled(message)
            | Self::Unauthenticated { message, .. }
            | Self::PermissionDenied(message)
            | Self::Unavailable(message)
            | Self::Internal(message) => message,
        };
        RpcStatus { code, message }
    }

    pub(super) fn too_large(max_body_bytes: usize) -> Self {
        Self::TooLarge(format!(
            "the request body must be at most {max_body_bytes} bytes, before and after gzip decompression"
        ))
    }
}

impl From<BodyError> for ExportFailure {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::TooLarge { max_bytes } => Self::too_large(max_bytes),
            unreadable => Self::BadRequest(unreadable.to_string()),
        }
    }
}

impl From<Failure> for ExportFailure {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::BadRequest(body) => Self::BadRequest(body.reason),
            Failure::TooManyRequests(body) => Self::Throttled(body.reason),
            Failure::Unavailable(body) => Self::Unavailable(body.reason),
            Failure::Internal(body) => Self::Internal(body.reason),
        }
    }
}

/// 503 with `Retry-After` and a `google.rpc.Status` (code 14, UNAVAILABLE) in the encoding of
/// a request with this `Content-Type`: the OTLP form of an answer the HTTP layer gives on its own
/// (the request timeout).
pub(crate) fn unavailable(content_type: Option<&str>, reason: String) -> Response {
    OtlpResponse::Failed {
        encoding: OtlpEncoding::for_answer(content_type),
        failure: ExportFailure::Unavailable(reason),
    }
    .into_response()
}

/// The answer to `POST /v1/logs`, in the request's encoding (JSON when that is unknown).
#[derive(Debug)]
pub(crate) enum OtlpResponse {
    /// 200: every record was queued, or `partial_success` says how many were not and why.
    Exported {
        encoding: OtlpEncoding,
        response: ExportLogsServiceResponse,
    },
    /// 4xx/5xx with a `google.rpc.Status`.
    Failed {
        encoding: OtlpEncoding,
        failure: ExportFailure,
    },
}

impl IntoResponse for OtlpResponse {
    fn into_response(self) -> Response {
        let (status, encoding, body, retry_after, challenge) = match self {
            Self::Exported { encoding, response } => {
                let body = match encoding {
                    OtlpEncoding::Protobuf => response.encode_to_vec(),
                    OtlpEncoding::Json => json::encode_response(&response),
                };
                (StatusCode::OK, encoding, body, false, None)
            }
            Self::Failed { encoding, failure } => {
                let status = failure.status();
                let retry_after = failure.code().retry_after();
                let challenge = match &failure {
                    ExportFailure::Unauthenticated { challenge, .. } => Some(challenge.clone()),
                    _ => None,
                };
                let rpc = failure.rpc_status();
                let body = match encoding {
                    OtlpEncoding::Protobuf => rpc.encode_to_vec(),
                    OtlpEncoding::Json => json::encode_status(rpc.code, &rpc.message),
                };
                (status, encoding, body, retry_after, challenge)
            }
        };
        let mut response = Response::builder()
            .status(status)
            .content_type(encoding.content_type());
        if retry_after {
            response = response.header(RETRY_AFTER, RETRY_AFTER_SECONDS);
        }
        if let Some(challenge) = challenge {
            response = response.header(WWW_AUTHENTICATE, challenge);
        }
        response.body(body)
    }
}
