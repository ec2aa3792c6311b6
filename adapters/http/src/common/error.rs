//! The JSON error body every API answers with, and the one place where error kinds become error
//! codes; the codes' statuses are in the table of [`crate::common::error_code`].

use application::IngestError;
use application::ports::{QueueError, StoreError};
use domain::ValidationError;
use poem::IntoResponse;
use poem::http::StatusCode;
use poem::http::header::RETRY_AFTER;
use poem_openapi::Object;
use tracing::{error, warn};

pub use crate::common::error_code::{ErrorCode, GrpcCode};

/// Seconds a client is asked to wait before retrying when a backend is unavailable.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// What went wrong: a stable machine-readable `code`, the `field` or parameter at fault (when one
/// is), and a human `reason`.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct ErrorBody {
    /// What went wrong, for programs; the README's error tables say when each code is sent.
    pub code: ErrorCode,
    /// The body field or query parameter at fault, e.g. `service` or `metadata.user_id`.
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<String>,
    /// A sentence for humans.
    pub reason: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, field: Option<&str>, reason: impl Into<String>) -> Self {
        Self {
            code,
            field: field.map(Into::into),
            reason: reason.into(),
        }
    }

    /// This body as a JSON answer with its code's status (and `Retry-After` when the table asks
    /// for it), for middleware that answers outside an OpenAPI operation.
    pub(crate) fn into_response(self) -> poem::Response {
        let status = http_status(self.code);
        let retry_after = self.code.retry_after();
        let response = poem_openapi::payload::Json(self)
            .with_status(status)
            .into_response();
        if retry_after {
            response
                .with_header(RETRY_AFTER, RETRY_AFTER_SECONDS)
                .into_response()
        } else {
            response
        }
    }

    pub(crate) fn invalid(code: ErrorCode, error: &ValidationError) -> Self {
        Self::new(code, Some(error.field()), error.to_string())
    }
}

/// The HTTP status of `code`, as poem takes it.
pub(crate) fn http_status(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The HTTP meaning of a failure, before it is put into an API's response type (OTLP/gRPC turns
/// it into a gRPC status with the same table). Every variant
/// holds a body whose code has the variant's status in the error table.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// 400
    BadRequest(ErrorBody),
    /// 503 with Retry-After
    Unavailable(ErrorBody),
    /// 429 with Retry-After
    TooManyRequests(ErrorBody),
    /// 500 (details only in the log)
    Internal(ErrorBody),
}

impl Failure {
    /// The body, whatever the status.
    pub fn body(&self) -> &ErrorBody {
        match self {
            Self::BadRequest(body)
            | Self::Unavailable(body)
            | Self::TooManyRequests(body)
            | Self::Internal(body) => body,
        }
    }

    /// The body, whatever the status.
    pub(crate) fn into_body(self) -> ErrorBody {
        match self {
            Self::BadRequest(body)
            | Self::Unavailable(body)
            | Self::TooManyRequests(body)
            | Self::Internal(body) => body,
        }
    }

    /// The error code.
    pub(crate) fn code(&self) -> ErrorCode {
        self.body().code
    }
}

impl From<IngestError> for Failure {
    fn from(failure: IngestError) -> Self {
        match failure {
            IngestError::Invalid(invalid) => {
                Failure::BadRequest(ErrorBody::invalid(ErrorCode::InvalidField, &invalid))
            }
            IngestError::Queue(queue) => queue_failure(&queue),
        }
    }
}

pub(crate) fn queue_failure(failure: &QueueError) -> Failure {
    match failure {
        QueueError::Unavailable(cause) => {
            error!(error = %failure, cause = %cause, "queue unavailable");
            Failure::Unavailable(ErrorBody::new(
                ErrorCode::QueueUnavailable,
                None,
                "the queue cannot be reached; nothing was accepted, retry later",
            ))
        }
        QueueError::Full { depth, capacity } => {
            warn!(depth, capacity, "queue full; refusing events");
            Failure::TooManyRequests(ErrorBody::new(
                ErrorCode::QueueFull,
                None,
                format!(
                    "the queue holds {depth} events, over its capacity of {capacity}; nothing was accepted, retry later"
                ),
            ))
        }
        QueueError::Failed(cause) => {
            error!(error = %failure, cause = %cause, "queue failed");
            Failure::Internal(internal())
        }
    }
}

/// A read that failed in the store: `Ok` for a store that cannot be reached or failed (503 or
/// 500), `Err` with the 504 body for one that ran out of time, which [`Failure`] has no variant
/// for because only reads meet it.
pub(crate) fn store_failure(failure: &StoreError) -> Result<Failure, ErrorBody> {
    match failure {
        StoreError::Unavailable(cause) => {
            error!(error = %failure, cause = %cause, "store unavailable");
            Ok(Failure::Unavailable(ErrorBody::new(
                ErrorCode::StoreUnavailable,
                None,
                "the log store cannot be reached; retry later",
            )))
        }
        StoreError::Rejected(cause) | StoreError::Failed(cause) => {
            error!(error = %failure, cause = %cause, "store failed");
            Ok(Failure::Internal(internal()))
        }
        StoreError::TimedOut(cause) => {
            warn!(error = %failure, cause = %cause, "store query timed out");
            Err(query_timeout())
        }
    }
}

/// The body of a read that ran out of time (504).
pub(crate) fn query_timeout() -> ErrorBody {
    ErrorBody::new(
        ErrorCode::QueryTimeout,
        None,
        "the query did not finish within the configured time limit; narrow the time range or \
         add filters",
    )
}

fn internal() -> ErrorBody {
    ErrorBody::new(
        ErrorCode::Internal,
        None,
        "internal error; the X-Trace-Id header identifies it in the service logs",
    )
}

/// Maps poem's own request-parsing errors (a missing or unreadable parameter, bad query strings,
/// content types) to our body, with the status of its code.
pub(crate) fn request_error(error: &poem::Error) -> (u16, ErrorBody) {
    if let Some(parameter) = error.downcast_ref::<poem_openapi::error::ParseParamError>() {
        let code = ErrorCode::InvalidParameter;
        let reason = format!("{}: {}", parameter.name, parameter.reason);
        return (
            code.http_status(),
            ErrorBody::new(code, Some(parameter.name), reason),
        );
    }
    let code = match error.status() {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        _ => ErrorCode::BadRequest,
    };
    (
        code.http_status(),
        ErrorBody::new(code, None, error.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(failure: &Failure) -> (u16, ErrorCode) {
        let status = match failure {
            Failure::BadRequest(_) => 400,
            Failure::Unavailable(_) => 503,
            Failure::TooManyRequests(_) => 429,
            Failure::Internal(_) => 500,
        };
        (status, failure.code())
    }

    #[test]
    fn every_failure_variant_holds_a_code_of_its_status() {
        let invalid = ValidationError::new("level", domain::ValidationReason::Empty);
        let failures = [
            Failure::from(IngestError::Invalid(invalid)),
            queue_failure(&QueueError::Unavailable("down".into())),
            queue_failure(&QueueError::Full {
                depth: 2,
                capacity: 1,
            }),
            queue_failure(&QueueError::Failed("odd".into())),
            store_failure(&StoreError::Unavailable("down".into())).unwrap(),
            store_failure(&StoreError::Failed("odd".into())).unwrap(),
            store_failure(&StoreError::Rejected("odd".into())).unwrap(),
        ];
        let answers: Vec<(u16, ErrorCode)> = failures.iter().map(body_of).collect();
        assert_eq!(
            answers,
            [
                (400, ErrorCode::InvalidField),
                (503, ErrorCode::QueueUnavailable),
                (429, ErrorCode::QueueFull),
                (500, ErrorCode::Internal),
                (503, ErrorCode::StoreUnavailable),
                (500, ErrorCode::Internal),
                (500, ErrorCode::Internal),
            ]
        );
        for (status, code) in answers {
            assert_eq!(code.http_status(), status, "{code}");
        }
    }

    #[test]
    fn a_store_that_ran_out_of_time_is_504_query_timeout() {
        let body = store_failure(&StoreError::TimedOut("slow".into())).unwrap_err();
        assert_eq!(body.code, ErrorCode::QueryTimeout);
        assert_eq!(body.code.http_status(), 504);
    }

    #[tokio::test]
    async fn a_body_answers_with_its_codes_status_and_retry_after() {
        for code in ErrorCode::ALL {
            let response = ErrorBody::new(code, None, "why").into_response();
            assert_eq!(response.status().as_u16(), code.http_status(), "{code}");
            assert_eq!(
                response.headers().get(RETRY_AFTER).is_some(),
                code.retry_after(),
                "{code}"
            );
            let body: serde_json::Value = response.into_body().into_json().await.unwrap();
            assert_eq!(
                body,
                serde_json::json!({"code": code.as_str(), "reason": "why"})
            );
        }
    }

    #[test]
    fn the_wire_form_of_a_body_is_unchanged() {
        use poem_openapi::types::ToJSON;
        let body = ErrorBody::new(ErrorCode::InvalidField, Some("level"), "level is odd");
        assert_eq!(
            body.to_json_string(),
            r#"{"code":"invalid_field","field":"level","reason":"level is odd"}"#
        );
    }

    #[test]
    fn a_parameter_poem_cannot_read_is_invalid_parameter_naming_it() {
        let error = poem::Error::from(poem_openapi::error::ParseParamError {
            name: "interval",
            reason: "Type \"string\" expects an input value.".into(),
        });
        let (status, body) = request_error(&error);
        assert_eq!(
            (status, body.code, body.field.as_deref()),
            (400, ErrorCode::InvalidParameter, Some("interval"))
        );
        assert!(body.reason.starts_with("interval: "), "{}", body.reason);
    }

    #[test]
    fn poems_own_request_errors_get_the_code_of_their_status() {
        let cases = [
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
            ),
            (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge),
            (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
        ];
        for (status, code) in cases {
            let (answered, body) = request_error(&poem::Error::from_string("no", status));
            assert_eq!((answered, body.code), (code.http_status(), code));
        }
    }
}
