//! The query API's documents (what every endpoint answers) and its responses, one
//! `ApiResponse` enum per endpoint so that every status shows up in the OpenAPI document.

use std::collections::{BTreeMap, HashMap};

use application::ports::{GroupCount, StoreError};
use application::{Histogram, QueryError, TailItem};
use domain::LogEvent;
use futures_util::stream::BoxStream;
use poem::Body;
use poem_openapi::payload::{Binary, EventStream, Json};
use poem_openapi::{ApiResponse, Object, Union};

use crate::common::access::{DeniedAnswer, denied_answer};
use crate::common::error::{
    ErrorBody, ErrorCode, Failure, RETRY_AFTER_SECONDS, request_error, store_failure,
};

/// A stored log event.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub(crate) struct LogRecord {
    /// Unique, time-ordered event id (UUIDv7).
    id: String,
    /// When it happened, RFC 3339 in UTC with nanoseconds.
    timestamp: String,
    /// When the ingestion service received it.
    observed_timestamp: String,
    service: String,
    /// TRACE, DEBUG, INFO, WARN, ERROR or FATAL.
    level: String,
    message: String,
    metadata: HashMap<String, String>,
    /// 32 lowercase hex characters.
    trace_id: String,
    /// 16 lowercase hex characters, when the event had one.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    span_id: Option<String>,
}

impl From<LogEvent> for LogRecord {
    fn from(event: LogEvent) -> Self {
        let parts = event.into_parts();
        Self {
            id: parts.id.to_string(),
            timestamp: parts.timestamp.to_rfc3339(),
            observed_timestamp: parts.observed_timestamp.to_rfc3339(),
            service: parts.service.to_string(),
            level: parts.level.to_string(),
            message: parts.message.as_str().to_owned(),
            metadata: parts
                .metadata
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            trace_id: parts.trace_id.to_string(),
            span_id: parts.span_id.map(|span| span.to_string()),
        }
    }
}

/// One page of logs.
#[derive(Debug, Object)]
pub(crate) struct LogsPage {
    /// Number of logs in this answer.
    pub(crate) count: u64,
    pub(crate) logs: Vec<LogRecord>,
    /// Present when more logs match: pass it as `cursor` (with the same filters) for the next
    /// page.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) next_cursor: Option<String>,
}

/// Matching logs counted per group.
#[derive(Debug, Object)]
pub(crate) struct StatsBody {
    /// `level` or `service`.
    pub(crate) group_by: String,
    /// Largest count first, equal counts by key; at most `limit` groups.
    pub(crate) groups: Vec<GroupBody>,
}

/// The number of matching logs in one group.
#[derive(Debug, Object)]
pub(crate) struct GroupBody {
    /// The level (e.g. `ERROR`) or the service.
    key: String,
    count: u64,
}

impl From<GroupCount> for GroupBody {
    fn from(group: GroupCount) -> Self {
        Self {
            key: group.key,
            count: group.count,
        }
    }
}

/// Matching logs counted per time bucket.
#[derive(Debug, Object)]
pub(crate) struct HistogramBody {
    /// The bucket width: `1m`, `5m`, `15m`, `1h` or `1d`.
    interval: String,
    /// Every bucket of the range, oldest first, empty ones included.
    buckets: Vec<BucketBody>,
}

/// The logs of one time bucket.
#[derive(Debug, Object)]
pub(crate) struct BucketBody {
    /// Inclusive start, RFC 3339 in UTC; the bucket ends one interval later.
    start: String,
    count: u64,
    /// Counts per level (levels without logs left out); only with `by=level`.
    #[oai(skip_serializing_if_is_none)]
    levels: Option<BTreeMap<String, u64>>,
}

impl HistogramBody {
    pub(crate) fn new(histogram: Histogram, by_level: bool) -> Self {
        Self {
            interval: histogram.interval.to_string(),
            buckets: histogram
                .buckets
                .into_iter()
                .map(|bucket| BucketBody {
                    start: bucket.start.to_rfc3339(),
                    count: bucket.count,
                    levels: by_level.then(|| {
                        bucket
                            .levels
                            .into_iter()
                            .map(|(level, count)| (level.as_str().to_owned(), count))
                            .collect()
                    }),
                })
                .collect(),
        }
    }
}

/// `event: heartbeat`: the tail is alive and nothing new matched.
#[derive(Debug, Object)]
pub(crate) struct Heartbeat {
    /// The server's time, RFC 3339 in UTC.
    time: String,
}

/// `event: skipped`: this client fell behind and missed some new logs.
#[derive(Debug, Object)]
pub(crate) struct Skipped {
    /// How many new logs (matching or not) were skipped.
    skipped: u64,
}

/// One server-sent event of `GET /logs/tail`; its SSE `event` field names the kind: `log`,
/// `heartbeat`, `skipped` or `error` (reading the stored logs requested with `from` failed; the
/// live part goes on).
#[derive(Debug, Union)]
pub(crate) enum TailMessage {
    Log(LogRecord),
    Heartbeat(Heartbeat),
    Skipped(Skipped),
    Error(ErrorBody),
}

impl TailMessage {
    /// The SSE `event` name.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Log(_) => "log",
            Self::Heartbeat(_) => "heartbeat",
            Self::Skipped(_) => "skipped",
            Self::Error(_) => "error",
        }
    }
}

impl From<Result<TailItem, StoreError>> for TailMessage {
    fn from(item: Result<TailItem, StoreError>) -> Self {
        match item {
            Ok(TailItem::Log(event)) => Self::Log(event.into()),
            Ok(TailItem::Heartbeat(now)) => Self::Heartbeat(Heartbeat {
                time: now.to_rfc3339(),
            }),
            Ok(TailItem::Skipped(skipped)) => Self::Skipped(Skipped { skipped }),
            Err(error) => Self::Error(QueryFailure::from(QueryError::Store(error)).into_body()),
        }
    }
}

/// How a query failed, in HTTP terms: the common failures plus the query timeout (504).
#[derive(Debug)]
pub(crate) enum QueryFailure {
    Other(Failure),
    TimedOut(ErrorBody),
}

impl QueryFailure {
    /// The body, whatever the status.
    pub(crate) fn into_body(self) -> ErrorBody {
        match self {
            Self::TimedOut(body) => body,
            Self::Other(failure) => failure.into_body(),
        }
    }
}

impl From<QueryError> for QueryFailure {
    fn from(error: QueryError) -> Self {
        match error {
            QueryError::Invalid(invalid) => Self::Other(Failure::BadRequest(ErrorBody::invalid(
                ErrorCode::InvalidParameter,
                &invalid,
            ))),
            QueryError::Store(store) => match store_failure(&store) {
                Ok(failure) => Self::Other(failure),
                Err(timed_out) => Self::TimedOut(timed_out),
            },
        }
    }
}

/// Implements the conversions every query response needs: from a [`QueryFailure`], and from
/// poem's own request errors (the `bad_request_handler`).
macro_rules! query_failures {
    ($response:ident, $handler:ident) => {
        impl From<QueryFailure> for $response {
            fn from(failure: QueryFailure) -> Self {
                match failure {
                    QueryFailure::Other(Failure::BadRequest(body)) => Self::BadRequest(Json(body)),
                    // Reads never meet a full queue; were one to say so, it is an overload.
                    QueryFailure::Other(
                        Failure::Unavailable(body) | Failure::TooManyRequests(body),
                    ) => Self::Unavailable(Json(body), RETRY_AFTER_SECONDS),
                    QueryFailure::Other(Failure::Internal(body)) => Self::Internal(Json(body)),
                    QueryFailure::TimedOut(body) => Self::TimedOut(Json(body)),
                }
            }
        }

        impl From<ErrorBody> for $response {
            fn from(body: ErrorBody) -> Self {
                Self::BadRequest(Json(body))
            }
        }

        fn $handler(error: poem::Error) -> $response {
            match denied_answer(&error) {
                Some(DeniedAnswer::Unauthorized(body, challenge)) => {
                    $response::Unauthorized(Json(body), challenge)
                }
                Some(DeniedAnswer::Forbidden(body)) => $response::Forbidden(Json(body)),
                None => $response::BadRequest(Json(request_error(&error).1)),
            }
        }
    };
}

#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "logs_request_error")]
pub(crate) enum LogsResponse {
    /// The page of matching logs, with `next_cursor` when more match.
    #[oai(status = 200)]
    Ok(Json<LogsPage>),
    /// A parameter is invalid (`code` `invalid_parameter`); `field` names it.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No API key was sent (`missing_api_key`), or not a valid one (`invalid_api_key`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>, #[oai(header = "WWW-Authenticate")] String),
    /// The API key is valid but not of scope `query` (`insufficient_scope`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// Unexpected failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// ClickHouse cannot be reached (`store_unavailable`), or the request took longer than
    /// `HTTP_REQUEST_TIMEOUT_MS` (`request_timeout`). Retry after the given seconds.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u32),
    /// The query ran longer than allowed (`query_timeout`): narrow the range or add filters.
    #[oai(status = 504)]
    TimedOut(Json<ErrorBody>),
}
pub(crate) use query_failures;

query_failures!(LogsResponse, logs_request_error);

#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "stats_request_error")]
pub(crate) enum StatsResponse {
    /// Matching logs counted per group.
    #[oai(status = 200)]
    Ok(Json<StatsBody>),
    /// A parameter is invalid (`code` `invalid_parameter`); `field` names it.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No API key was sent (`missing_api_key`), or not a valid one (`invalid_api_key`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>, #[oai(header = "WWW-Authenticate")] String),
    /// The API key is valid but not of scope `query` (`insufficient_scope`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// Unexpected failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// ClickHouse cannot be reached (`store_unavailable`), or the request took longer than
    /// `HTTP_REQUEST_TIMEOUT_MS` (`request_timeout`). Retry after the given seconds.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u32),
    /// The query ran longer than allowed (`query_timeout`): narrow the range or add filters.
    #[oai(status = 504)]
    TimedOut(Json<ErrorBody>),
}
query_failures!(StatsResponse, stats_request_error);

#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "histogram_request_error")]
pub(crate) enum HistogramResponse {
    /// Matching logs counted per time bucket.
    #[oai(status = 200)]
    Ok(Json<HistogramBody>),
    /// A parameter is invalid (`code` `invalid_parameter`); `field` names it, e.g. `interval`
    /// when the range holds more than 10000 buckets.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No API key was sent (`missing_api_key`), or not a valid one (`invalid_api_key`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>, #[oai(header = "WWW-Authenticate")] String),
    /// The API key is valid but not of scope `query` (`insufficient_scope`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// Unexpected failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// ClickHouse cannot be reached (`store_unavailable`), or the request took longer than
    /// `HTTP_REQUEST_TIMEOUT_MS` (`request_timeout`). Retry after the given seconds.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u32),
    /// The query ran longer than allowed (`query_timeout`): narrow the range or add filters.
    #[oai(status = 504)]
    TimedOut(Json<ErrorBody>),
}
query_failures!(HistogramResponse, histogram_request_error);

/// The server-sent events of a tail.
pub(crate) type TailEvents = EventStream<BoxStream<'static, TailMessage>>;

#[derive(ApiResponse)]
#[oai(bad_request_handler = "tail_request_error")]
pub(crate) enum TailResponse {
    /// Server-sent events (`text/event-stream`), one JSON document each: `event: log` for each
    /// matching log, `event: heartbeat` when the heartbeat interval passes, `event: skipped`
    /// when this client fell behind, `event: error` when reading the stored logs requested with
    /// `from` failed. The stream ends only when the client disconnects or the service stops.
    #[oai(status = 200)]
    Events(TailEvents),
    /// A parameter is invalid (`code` `invalid_parameter`); `field` names it.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No API key was sent (`missing_api_key`), or not a valid one (`invalid_api_key`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>, #[oai(header = "WWW-Authenticate")] String),
    /// The API key is valid but not of scope `query` (`insufficient_scope`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// Unexpected failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// ClickHouse cannot be reached (`store_unavailable`). Retry after the given seconds.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u32),
    /// Reading the stored logs requested with `from` ran longer than allowed
    /// (`query_timeout`).
    #[oai(status = 504)]
    TimedOut(Json<ErrorBody>),
}
query_failures!(TailResponse, tail_request_error);

impl std::fmt::Debug for TailResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Events(_) => f.write_str("Events(..)"),
            Self::BadRequest(body)
            | Self::Forbidden(body)
            | Self::Internal(body)
            | Self::TimedOut(body) => f.debug_tuple("Error").field(&body.0).finish(),
            Self::Unavailable(body, _) => f.debug_tuple("Unavailable").field(&body.0).finish(),
            Self::Unauthorized(body, _) => f.debug_tuple("Unauthorized").field(&body.0).finish(),
        }
    }
}

#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "export_request_error")]
pub(crate) enum ExportResponse {
    /// Every matching log as NDJSON (`application/x-ndjson`): one JSON document per line, the
    /// same document as in `GET /logs`, streamed as ClickHouse produces them. A failure after
    /// the first line ends the stream early without its final chunk, so clients notice a
    /// truncated export.
    #[oai(status = 200, content_type = "application/x-ndjson")]
    Ok(Binary<Body>),
    /// A parameter is invalid (`code` `invalid_parameter`); `field` names it.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No API key was sent (`missing_api_key`), or not a valid one (`invalid_api_key`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>, #[oai(header = "WWW-Authenticate")] String),
    /// The API key is valid but not of scope `query` (`insufficient_scope`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// Unexpected failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// ClickHouse cannot be reached (`store_unavailable`). Retry after the given seconds.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u32),
    /// The export's first rows did not come within the export time limit (`query_timeout`).
    #[oai(status = 504)]
    TimedOut(Json<ErrorBody>),
}
query_failures!(ExportResponse, export_request_error);
