//! The JSON error body every API answers with, and the one place where error kinds become HTTP
//! statuses.

use application::ports::{QueueError, StoreError};
use application::{IngestError, QueryError};
use domain::ValidationError;
use poem_openapi::Object;
use tracing::{error, warn};

/// Seconds a client is asked to wait before retrying when a backend is unavailable.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// What went wrong: a stable machine-readable `code`, the `field` or parameter at fault (when one
/// is), and a human `reason`.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct ErrorBody {
    /// `invalid_field`, `invalid_parameter`, `malformed_json`, `unsupported_media_type`,
    /// `payload_too_large`, `queue_full`, `queue_unavailable`, `store_unavailable`,
    /// `query_timeout`, `request_timeout` or `internal`.
    pub code: String,
    /// The body field or query parameter at fault, e.g. `service` or `metadata.user_id`.
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<String>,
    /// A sentence for humans.
    pub reason: String,
}

impl ErrorBody {
    pub fn new(code: &str, field: Option<&str>, reason: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            field: field.map(Into::into),
            reason: reason.into(),
        }
    }

    /// This body as a JSON answer with `status`, for middleware that answers outside an
    /// OpenAPI operation.
    pub(crate) fn into_response(self, status: poem::http::StatusCode) -> poem::Response {
        use poem::IntoResponse;
        poem_openapi::payload::Json(self)
            .with_status(status)
            .into_response()
    }

    pub(crate) fn invalid(code: &str, error: &ValidationError) -> Self {
        Self::new(code, Some(error.field()), error.to_string())
    }
}

/// The HTTP meaning of a failure, before it is put into an API's response type.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// 400
    BadRequest(ErrorBody),
    /// 503 with Retry-After
    Unavailable(ErrorBody),
    /// 429 with Retry-After
    TooManyRequests(ErrorBody),
    /// 500 (details only in the log)
    Internal(ErrorBody),
}

impl From<IngestError> for Failure {
    fn from(failure: IngestError) -> Self {
        match failure {
            IngestError::Invalid(invalid) => {
                Failure::BadRequest(ErrorBody::invalid("invalid_field", &invalid))
            }
            IngestError::Queue(queue) => queue_failure(&queue),
        }
    }
}

impl From<QueryError> for Failure {
    fn from(failure: QueryError) -> Self {
        match failure {
            QueryError::Invalid(invalid) => {
                Failure::BadRequest(ErrorBody::invalid("invalid_parameter", &invalid))
            }
            QueryError::Store(store) => store_failure(&store),
        }
    }
}

pub(crate) fn queue_failure(failure: &QueueError) -> Failure {
    match failure {
        QueueError::Unavailable(cause) => {
            error!(error = %failure, cause = %cause, "queue unavailable");
            Failure::Unavailable(ErrorBody::new(
                "queue_unavailable",
                None,
                "the queue cannot be reached; nothing was accepted, retry later",
            ))
        }
        QueueError::Full { depth, capacity } => {
            warn!(depth, capacity, "queue full; refusing events");
            Failure::TooManyRequests(ErrorBody::new(
                "queue_full",
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

pub(crate) fn store_failure(failure: &StoreError) -> Failure {
    match failure {
        StoreError::Unavailable(cause) => {
            error!(error = %failure, cause = %cause, "store unavailable");
            Failure::Unavailable(ErrorBody::new(
                "store_unavailable",
                None,
                "the log store cannot be reached; retry later",
            ))
        }
        StoreError::Rejected(cause) | StoreError::Failed(cause) => {
            error!(error = %failure, cause = %cause, "store failed");
            Failure::Internal(internal())
        }
        // The query API answers these with 504 itself (see `query_timeout`); elsewhere a read
        // that ran out of time is an unavailable store.
        StoreError::TimedOut(cause) => {
            warn!(error = %failure, cause = %cause, "store query timed out");
            Failure::Unavailable(query_timeout())
        }
    }
}

/// The body of a read that ran out of time.
pub(crate) fn query_timeout() -> ErrorBody {
    ErrorBody::new(
        "query_timeout",
        None,
        "the query did not finish within the configured time limit; narrow the time range or \
         add filters",
    )
}

fn internal() -> ErrorBody {
    ErrorBody::new(
        "internal",
        None,
        "internal error; the X-Trace-Id header identifies it in the service logs",
    )
}

/// Maps poem's own request-parsing errors (bad query strings, content types) to our body.
pub(crate) fn request_error(error: &poem::Error) -> (u16, ErrorBody) {
    let status = error.status().as_u16();
    let code = match status {
        415 => "unsupported_media_type",
        413 => "payload_too_large",
        _ => "bad_request",
    };
    (status, ErrorBody::new(code, None, error.to_string()))
}
