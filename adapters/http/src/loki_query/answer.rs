//! What the Loki query API answers: the `{"status":"success","data":...}` envelope and its
//! result types, and errors in Loki's form, a plain-text sentence with the status (Loki writes
//! errors with Go's `http.Error`: `text/plain; charset=utf-8`, the message and a newline).
//!
//! Statuses: 400 for a query or parameter Loki would refuse (syntax, a construct outside our
//! subset, a bad time), 401/403 for keys, 504 for a query that ran out of time (as Loki and our
//! own `query_timeout` answer it: retrying the same query would not help), and 503 with
//! `Retry-After` whenever the store cannot answer otherwise (where Loki says 500, we keep to
//! our rule that a server-side failure is a 503 a client may retry).

use std::collections::BTreeMap;

use application::QueryError;
use application::ports::StoreError;
use poem::http::StatusCode;
use poem::http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use poem::{IntoResponse, Response};
use serde::Serialize;
use serde::ser::Serializer;
use tracing::{error, warn};

use crate::common::access::AccessDenied;
use crate::common::error::RETRY_AFTER_SECONDS;

/// A refused or failed request, answered as Loki answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LokiError {
    status: StatusCode,
    message: String,
    challenge: Option<String>,
}

impl LokiError {
    /// 400 with `message`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            challenge: None,
        }
    }

    /// 400 naming the parameter at fault.
    pub(crate) fn parameter(name: &str, reason: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("invalid parameter {name:?}: {reason}"))
    }

    /// 504: the query ran out of time.
    pub(crate) fn timed_out(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::GATEWAY_TIMEOUT,
            message: message.into(),
            challenge: None,
        }
    }

    /// 503 with `Retry-After`.
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
            challenge: None,
        }
    }

    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    #[cfg(test)]
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// A refused key: 401 with its challenge, or 403.
    pub(crate) fn denied(denied: &AccessDenied) -> Self {
        let status = denied.status();
        Self {
            status,
            message: denied.reason(),
            challenge: (status == StatusCode::UNAUTHORIZED).then(|| denied.challenge()),
        }
    }

    /// A LogQL parse error, or a construct outside the subset (named by the message).
    pub(crate) fn logql(error: logql::LogqlError) -> Self {
        Self::bad_request(error.message)
    }

    /// The use case's refusal or failure; parameter names are Loki's (`start`, `end`).
    pub(crate) fn query(error: QueryError) -> Self {
        match error {
            QueryError::Invalid(invalid) => {
                let name = match invalid.field() {
                    "from" => "start",
                    "to" => "end",
                    "field conditions" | "line filters" | "service" | "level" => "query",
                    other => other,
                };
                Self::parameter(name, invalid.reason())
            }
            QueryError::Store(store) => Self::store(&store),
        }
    }

    fn store(failure: &StoreError) -> Self {
        match failure {
            StoreError::TimedOut(cause) => {
                warn!(error = %failure, cause = %cause, "loki query timed out");
                Self::timed_out(
                    "Request timed out, decrease the duration of the request or add more label \
                     matchers (prefer exact match over regex match) to reduce the amount of data \
                     processed.",
                )
            }
            StoreError::Unavailable(cause)
            | StoreError::Rejected(cause)
            | StoreError::Failed(cause) => {
                error!(error = %failure, cause = %cause, "loki query failed in the store");
                Self::unavailable("the log store cannot answer now; retry later")
            }
        }
    }
}

impl IntoResponse for LokiError {
    fn into_response(self) -> Response {
        let mut response = Response::builder()
            .status(self.status)
            .header(CONTENT_TYPE, "text/plain; charset=utf-8")
            .header("X-Content-Type-Options", "nosniff");
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response = response.header(RETRY_AFTER, RETRY_AFTER_SECONDS);
        }
        if let Some(challenge) = self.challenge {
            response = response.header(WWW_AUTHENTICATE, challenge);
        }
        response.body(format!("{}\n", self.message))
    }
}

/// A request past the service's deadline (`HTTP_REQUEST_TIMEOUT_MS`): 503 with `Retry-After`,
/// as the service answers it elsewhere, in Loki's plain text.
pub(crate) fn request_timed_out(_content_type: Option<&str>, reason: String) -> Response {
    LokiError::unavailable(reason).into_response()
}

/// `{"status":"success","data":...}`.
#[derive(Debug, Serialize)]
pub(crate) struct Success<T> {
    status: &'static str,
    data: T,
}

impl<T: Serialize> Success<T> {
    pub(crate) fn new(data: T) -> Self {
        Self {
            status: "success",
            data,
        }
    }
}

/// A JSON answer with status 200.
pub(crate) fn json<T: Serialize>(body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => Response::builder()
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .body(bytes),
        Err(failure) => {
            error!(error = %failure, "loki answer could not be serialized");
            LokiError::unavailable("the answer could not be written; retry later").into_response()
        }
    }
}

/// The `data` of a query answer.
#[derive(Debug, Serialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub(crate) enum QueryResult {
    Streams(Vec<Stream>),
    Vector(Vec<Sample>),
    Matrix(Vec<Series>),
}

/// A query answer's `data`: the result and its statistics.
#[derive(Debug, Serialize)]
pub(crate) struct QueryData {
    #[serde(flatten)]
    pub(crate) result: QueryResult,
    pub(crate) stats: Stats,
}

/// The log lines of one label set, in the query's direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Stream {
    pub(crate) stream: BTreeMap<String, String>,
    /// `["<nanoseconds>", "<line>"]`.
    pub(crate) values: Vec<[String; 2]>,
}

/// One value of an instant query.
#[derive(Debug, Serialize)]
pub(crate) struct Sample {
    pub(crate) metric: BTreeMap<String, String>,
    pub(crate) value: Point,
}

/// The values of one series of a range query.
#[derive(Debug, Serialize)]
pub(crate) struct Series {
    pub(crate) metric: BTreeMap<String, String>,
    pub(crate) values: Vec<Point>,
}

/// `[<unix seconds>, "<value>"]`, the seconds a JSON number (whole seconds without a fraction,
/// as Loki writes them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    pub(crate) nanos: u64,
    pub(crate) value: f64,
}

impl Serialize for Point {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let millis = self.nanos / 1_000_000;
        let seconds = if millis.is_multiple_of(1000) {
            serde_json::Number::from(millis / 1000)
        } else {
            serde_json::Number::from_f64(millis as f64 / 1000.0)
                .unwrap_or_else(|| serde_json::Number::from(millis / 1000))
        };
        (seconds, format_value(self.value)).serialize(serializer)
    }
}

/// A sample value as Prometheus and Loki write it: `2`, `0.5`, `NaN`, `+Inf`.
pub(crate) fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{value}")
    }
}

/// The part of Loki's query statistics this service knows: how long the query ran and how
/// many entries it returned.
#[derive(Debug, Serialize)]
pub(crate) struct Stats {
    pub(crate) summary: Summary,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Summary {
    /// Seconds.
    pub(crate) exec_time: f64,
    pub(crate) queue_time: f64,
    pub(crate) total_entries_returned: u64,
}

impl Stats {
    pub(crate) fn new(started: std::time::Instant, entries: u64) -> Self {
        Self {
            summary: Summary {
                exec_time: started.elapsed().as_secs_f64(),
                queue_time: 0.0,
                total_entries_returned: entries,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_seconds_and_a_value_text() {
        let whole = serde_json::to_string(&Point {
            nanos: 4_000_000_000,
            value: 2.0,
        })
        .unwrap();
        assert_eq!(whole, r#"[4,"2"]"#);
        let fraction = serde_json::to_string(&Point {
            nanos: 1_500_000_000,
            value: 0.25,
        })
        .unwrap();
        assert_eq!(fraction, r#"[1.5,"0.25"]"#);
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
    }

    #[test]
    fn results_carry_their_result_type() {
        let data = QueryData {
            result: QueryResult::Streams(vec![Stream {
                stream: BTreeMap::from([("service".to_owned(), "api".to_owned())]),
                values: vec![["5".to_owned(), "line".to_owned()]],
            }]),
            stats: Stats {
                summary: Summary {
                    exec_time: 0.5,
                    queue_time: 0.0,
                    total_entries_returned: 1,
                },
            },
        };
        let value = serde_json::to_value(Success::new(data)).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"status": "success", "data": {
                "resultType": "streams",
                "result": [{"stream": {"service": "api"}, "values": [["5", "line"]]}],
                "stats": {"summary": {"execTime": 0.5, "queueTime": 0.0, "totalEntriesReturned": 1}}
            }})
        );
    }

    #[tokio::test]
    async fn errors_are_plain_text_with_retry_after_on_503() {
        let response = LokiError::unavailable("down").into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert_eq!(response.into_body().into_string().await.unwrap(), "down\n");
        let bad = LokiError::parameter("limit", "limit must be a positive value").into_response();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        assert!(bad.headers().get(RETRY_AFTER).is_none());
    }
}
