//! The answers of `POST /loki/api/v1/push`, shaped like Loki's: `204 No Content` on success, and
//! a plain-text sentence with the status Loki uses for each failure (`400` for a bad body or bad
//! entries, `413`, `415`, `429`, `503`), `Retry-After` where retrying helps.

use poem_openapi::ApiResponse;
use poem_openapi::payload::PlainText;

use crate::common::access::{DeniedAnswer, denied_answer};
use crate::common::error::{ErrorCode, Failure, RETRY_AFTER_SECONDS, request_error};
use crate::common::metrics::{IngestSource, count_rejected_request};
use crate::common::raw_body::BodyError;

/// Why a push was refused, as a whole or in part ([`PushFailure::EntriesRejected`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PushFailure {
    /// 400: the body cannot be decoded; nothing was queued.
    BadRequest(String),
    /// 400: entries failed validation; the sentence says how many others were queued.
    EntriesRejected(String),
    /// 413: the body, compressed or inflated, is over the limit, or holds too many entries.
    TooLarge(String),
    /// 415: neither JSON nor protobuf, or an encoding other than gzip or snappy.
    UnsupportedMediaType(String),
    /// 429 with `Retry-After`: the queue is full.
    Throttled(String),
    /// 503 with `Retry-After`: the queue cannot be reached.
    Unavailable(String),
    /// 500: details only in the service's log.
    Internal(String),
}

impl PushFailure {
    pub(super) fn too_large(max_body_bytes: usize) -> Self {
        Self::TooLarge(format!(
            "the request body must be at most {max_body_bytes} bytes, before and after \
             decompression (gzip, snappy)"
        ))
    }

    /// The metrics reason of a failure that refused the request before its entries were read.
    pub(super) fn request_reason(&self) -> Option<ErrorCode> {
        match self {
            Self::BadRequest(_) => Some(ErrorCode::MalformedBody),
            Self::TooLarge(_) => Some(ErrorCode::PayloadTooLarge),
            Self::UnsupportedMediaType(_) => Some(ErrorCode::UnsupportedMediaType),
            _ => None,
        }
    }
}

impl From<BodyError> for PushFailure {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::TooLarge { max_bytes } => Self::too_large(max_bytes),
            unreadable => Self::BadRequest(unreadable.to_string()),
        }
    }
}

impl From<Failure> for PushFailure {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::BadRequest(body) => Self::BadRequest(body.reason),
            Failure::TooManyRequests(body) => Self::Throttled(body.reason),
            Failure::Unavailable(body) => Self::Unavailable(body.reason),
            Failure::Internal(body) => Self::Internal(body.reason),
        }
    }
}

#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "push_request_error")]
pub(crate) enum PushResponse {
    /// Every entry was queued for storage (an empty push too).
    #[oai(status = 204)]
    Pushed,
    /// The body cannot be decoded (not JSON, not snappy, not a protobuf `PushRequest`, broken
    /// stream labels), or entries failed validation: the sentence lists them by position
    /// (`streams[i].values[j]`) with the field and reason, and says how many other entries were
    /// queued (as Loki does, the valid entries of such a push are stored).
    #[oai(status = 400)]
    BadRequest(PlainText<String>),
    /// No API key was sent, or not a valid one. Send `Authorization: Basic` (any user, the key
    /// as password), `Authorization: Bearer <key>` or `X-API-Key: <key>`.
    #[oai(status = 401)]
    Unauthorized(
        PlainText<String>,
        #[oai(header = "WWW-Authenticate")] String,
    ),
    /// The API key is valid but not of scope `ingest`.
    #[oai(status = 403)]
    Forbidden(PlainText<String>),
    /// The body is over `INGEST_MAX_BODY_BYTES` before or after decompression, or holds more
    /// than `INGEST_MAX_BATCH_EVENTS` entries. Nothing was queued.
    #[oai(status = 413)]
    PayloadTooLarge(PlainText<String>),
    /// The body is not `application/json` or `application/x-protobuf`, or its
    /// `Content-Encoding` is not gzip or snappy.
    #[oai(status = 415)]
    UnsupportedMediaType(PlainText<String>),
    /// The queue is over its capacity (`QUEUE_MAX_EVENTS`); nothing was queued. Retry after the
    /// given seconds.
    #[oai(status = 429)]
    TooManyRequests(PlainText<String>, #[oai(header = "Retry-After")] u32),
    /// Unexpected failure; nothing was queued.
    #[oai(status = 500)]
    Internal(PlainText<String>),
    /// The queue cannot be reached; nothing was queued. Retry after the given seconds.
    #[oai(status = 503)]
    Unavailable(PlainText<String>, #[oai(header = "Retry-After")] u32),
}

impl From<PushFailure> for PushResponse {
    fn from(failure: PushFailure) -> Self {
        match failure {
            PushFailure::BadRequest(reason) | PushFailure::EntriesRejected(reason) => {
                Self::BadRequest(PlainText(reason))
            }
            PushFailure::TooLarge(reason) => Self::PayloadTooLarge(PlainText(reason)),
            PushFailure::UnsupportedMediaType(reason) => {
                Self::UnsupportedMediaType(PlainText(reason))
            }
            PushFailure::Throttled(reason) => {
                Self::TooManyRequests(PlainText(reason), RETRY_AFTER_SECONDS)
            }
            PushFailure::Unavailable(reason) => {
                Self::Unavailable(PlainText(reason), RETRY_AFTER_SECONDS)
            }
            PushFailure::Internal(reason) => Self::Internal(PlainText(reason)),
        }
    }
}

/// 503 with `Retry-After` and a plain-text reason: Loki's form of an answer the HTTP layer gives
/// on its own (the request timeout). The content type of the request does not matter.
pub(crate) fn unavailable(_content_type: Option<&str>, reason: String) -> poem::Response {
    use poem::IntoResponse as _;
    PushResponse::from(PushFailure::Unavailable(reason)).into_response()
}

/// Refused keys, and the request errors poem-openapi finds before the handler runs.
fn push_request_error(error: poem::Error) -> PushResponse {
    match denied_answer(&error) {
        Some(DeniedAnswer::Unauthorized(body, challenge)) => {
            count_rejected_request(IngestSource::Loki, body.code);
            PushResponse::Unauthorized(PlainText(body.reason), challenge)
        }
        Some(DeniedAnswer::Forbidden(body)) => {
            count_rejected_request(IngestSource::Loki, body.code);
            PushResponse::Forbidden(PlainText(body.reason))
        }
        None => {
            let (status, body) = request_error(&error);
            count_rejected_request(IngestSource::Loki, body.code);
            match status {
                413 => PushResponse::PayloadTooLarge(PlainText(body.reason)),
                415 => PushResponse::UnsupportedMediaType(PlainText(body.reason)),
                _ => PushResponse::BadRequest(PlainText(body.reason)),
            }
        }
    }
}
