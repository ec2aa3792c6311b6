//! `GET /logs`: filtered, paginated reads.

use std::collections::HashMap;

use application::QueryUseCase;
use domain::{FilterDraft, LogEvent};
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::error::{ErrorBody, Failure, RETRY_AFTER_SECONDS, request_error};
use crate::health::{HealthResponse, ReadyResponse, health, readiness};

/// A stored log event.
#[derive(Debug, Object)]
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
    count: u64,
    logs: Vec<LogRecord>,
}

#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "logs_request_error")]
pub(crate) enum LogsResponse {
    /// The page of matching logs.
    #[oai(status = 200)]
    Ok(Json<LogsPage>),
    /// A parameter is invalid; `field` names it.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Unexpected failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// ClickHouse cannot be reached. Retry after the given seconds.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u32),
}

fn logs_request_error(error: poem::Error) -> LogsResponse {
    LogsResponse::BadRequest(Json(request_error(&error).1))
}

impl From<Failure> for LogsResponse {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::BadRequest(body) => Self::BadRequest(Json(body)),
            Failure::Unavailable(body) | Failure::TooManyRequests(body) => {
                Self::Unavailable(Json(body), RETRY_AFTER_SECONDS)
            }
            Failure::Internal(body) => Self::Internal(Json(body)),
        }
    }
}

/// Splits `a,b` lists and drops empty items; a missing parameter means no condition.
fn list(parameter: Option<String>) -> Vec<String> {
    parameter
        .map(|text| {
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The query API.
pub(crate) struct QueryApi {
    pub(crate) query: QueryUseCase,
}

#[OpenApi]
impl QueryApi {
    /// Read logs
    ///
    /// All conditions combine with AND. Newest first unless `order=asc`.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/logs", method = "get")]
    async fn logs(
        &self,
        /// Service name; several as a comma-separated list (any of them).
        #[oai(example = "example_service")]
        service: Query<Option<String>>,
        /// Level (TRACE, DEBUG, INFO, WARN, ERROR, FATAL, any case); several comma-separated.
        #[oai(example = "example_level")]
        level: Query<Option<String>>,
        /// Earliest event time, inclusive, RFC 3339 (e.g. 2026-05-05T00:00:00Z).
        from: Query<Option<String>>,
        /// Latest event time, exclusive, RFC 3339; must be after `from`.
        to: Query<Option<String>>,
        /// Page size, 1 to 1000; default 100.
        limit: Query<Option<String>>,
        /// Number of matching logs to skip; default 0.
        offset: Query<Option<String>>,
        /// `desc` (newest first, default) or `asc`.
        order: Query<Option<String>>,
    ) -> LogsResponse {
        let draft = FilterDraft {
            services: list(service.0),
            levels: list(level.0),
            from: from.0,
            to: to.0,
            limit: limit.0,
            offset: offset.0,
            order: order.0,
        };
        match self.query.query(draft).await {
            Ok(page) => {
                let logs: Vec<LogRecord> = page.logs.into_iter().map(LogRecord::from).collect();
                LogsResponse::Ok(Json(LogsPage {
                    count: logs.len() as u64,
                    logs,
                }))
            }
            Err(error) => Failure::from(error).into(),
        }
    }

    /// Liveness: the process is up
    #[oai(path = "/health", method = "get")]
    async fn health(&self) -> HealthResponse {
        health()
    }

    /// Readiness: ClickHouse answers
    #[oai(path = "/ready", method = "get")]
    async fn ready(&self) -> ReadyResponse {
        readiness(
            "clickhouse",
            self.query
                .check_ready()
                .await
                .map_err(|error| error.to_string()),
        )
    }
}

fn example_service() -> Option<String> {
    Some("auth-service".into())
}

fn example_level() -> Option<String> {
    Some("ERROR".into())
}
