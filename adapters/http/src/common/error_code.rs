//! The error table: every error code the services answer with, and per code its HTTP status, its
//! gRPC status code (OTLP answers carry a `google.rpc.Status`, over HTTP and over gRPC), whether
//! the answer asks the client to come back later (`Retry-After`) and its metric label.
//!
//! Protocols never spell a code or a status themselves: they pick an [`ErrorCode`] and ask it.
//! The table holds plain numbers, no poem or tonic type, so a gRPC server maps it as easily as
//! the HTTP APIs do.

use poem_openapi::Enum;

/// A gRPC status code (the numbers of `google.rpc.Code`), as far as the table uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcCode {
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    Internal = 13,
    Unavailable = 14,
    Unauthenticated = 16,
}

impl GrpcCode {
    /// The number, as `google.rpc.Status.code` and `tonic::Code::from(i32)` take it.
    pub fn as_i32(self) -> i32 {
        self as i32
    }
}

/// A stable, machine-readable error code: the `code` of every JSON error body. The wire text is
/// [`ErrorCode::as_str`] (`invalid_field`, ...); the OpenAPI documents list every value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A field of an event failed validation; `field` names it.
    InvalidField,
    /// A query parameter is invalid; `field` names it.
    InvalidParameter,
    /// The body (or one NDJSON line or array item) is not JSON of the expected shape.
    MalformedJson,
    /// An OTLP body is not a protobuf or OTLP/JSON export request (or not valid gzip).
    MalformedBody,
    /// A batch without any event.
    EmptyBatch,
    /// A request poem could not read (a query string it cannot parse, ...).
    BadRequest,
    /// No API key was sent to a service that has keys.
    MissingApiKey,
    /// The API key is not a configured one.
    InvalidApiKey,
    /// The API key is valid but of the other scope.
    InsufficientScope,
    /// The body is over the size limit, before or after decompression.
    PayloadTooLarge,
    /// A batch holds more events than allowed.
    TooManyEvents,
    /// A `Content-Type` or `Content-Encoding` the API does not read.
    UnsupportedMediaType,
    /// The queue is over its capacity; nothing was accepted.
    QueueFull,
    /// Unexpected failure; details only in the service's log.
    Internal,
    /// Redis cannot be reached; nothing was accepted.
    QueueUnavailable,
    /// ClickHouse cannot be reached.
    StoreUnavailable,
    /// The request took longer than `HTTP_REQUEST_TIMEOUT_MS`.
    RequestTimeout,
    /// More than `INGEST_MAX_IN_FLIGHT` ingest requests are being handled; the body was not decoded.
    TooManyRequestsInFlight,
    /// A read ran longer than its ClickHouse time limit.
    QueryTimeout,
}

/// One row of the table.
struct Row {
    text: &'static str,
    http_status: u16,
    grpc: GrpcCode,
    retry_after: bool,
}

const fn row(text: &'static str, http_status: u16, grpc: GrpcCode, retry_after: bool) -> Row {
    Row {
        text,
        http_status,
        grpc,
        retry_after,
    }
}

impl ErrorCode {
    /// Every code, in the order of the table.
    pub const ALL: [ErrorCode; 19] = [
        Self::InvalidField,
        Self::InvalidParameter,
        Self::MalformedJson,
        Self::MalformedBody,
        Self::EmptyBatch,
        Self::BadRequest,
        Self::MissingApiKey,
        Self::InvalidApiKey,
        Self::InsufficientScope,
        Self::PayloadTooLarge,
        Self::TooManyEvents,
        Self::UnsupportedMediaType,
        Self::QueueFull,
        Self::Internal,
        Self::QueueUnavailable,
        Self::StoreUnavailable,
        Self::RequestTimeout,
        Self::TooManyRequestsInFlight,
        Self::QueryTimeout,
    ];

    /// The table. A store that ran out of time answers 504 (`query_timeout`: the client should
    /// narrow its query, not wait); a backend that cannot be reached 503 with `Retry-After`.
    const fn row(self) -> Row {
        use GrpcCode::*;
        match self {
            Self::InvalidField => row("invalid_field", 400, InvalidArgument, false),
            Self::InvalidParameter => row("invalid_parameter", 400, InvalidArgument, false),
            Self::MalformedJson => row("malformed_json", 400, InvalidArgument, false),
            Self::MalformedBody => row("malformed_body", 400, InvalidArgument, false),
            Self::EmptyBatch => row("empty_batch", 400, InvalidArgument, false),
            Self::BadRequest => row("bad_request", 400, InvalidArgument, false),
            Self::MissingApiKey => row("missing_api_key", 401, Unauthenticated, false),
            Self::InvalidApiKey => row("invalid_api_key", 401, Unauthenticated, false),
            Self::InsufficientScope => row("insufficient_scope", 403, PermissionDenied, false),
            Self::PayloadTooLarge => row("payload_too_large", 413, ResourceExhausted, false),
            Self::TooManyEvents => row("too_many_events", 413, ResourceExhausted, false),
            Self::UnsupportedMediaType => {
                row("unsupported_media_type", 415, InvalidArgument, false)
            }
            Self::QueueFull => row("queue_full", 429, ResourceExhausted, true),
            Self::Internal => row("internal", 500, Internal, false),
            Self::QueueUnavailable => row("queue_unavailable", 503, Unavailable, true),
            Self::StoreUnavailable => row("store_unavailable", 503, Unavailable, true),
            Self::RequestTimeout => row("request_timeout", 503, Unavailable, true),
            Self::TooManyRequestsInFlight => {
                row("too_many_requests_in_flight", 503, Unavailable, true)
            }
            Self::QueryTimeout => row("query_timeout", 504, DeadlineExceeded, false),
        }
    }

    /// The code as it is written in error bodies, e.g. `invalid_field`.
    pub const fn as_str(self) -> &'static str {
        self.row().text
    }

    /// The HTTP status of an answer with this code.
    pub const fn http_status(self) -> u16 {
        self.row().http_status
    }

    /// The gRPC status code of an answer with this code (OTLP's `google.rpc.Status`).
    pub const fn grpc_code(self) -> GrpcCode {
        self.row().grpc
    }

    /// Whether the answer carries `Retry-After`: the failure passes, the request may be sent
    /// again unchanged.
    pub const fn retry_after(self) -> bool {
        self.row().retry_after
    }

    /// The `reason` label of the rejection metrics: the code itself, so dashboards and error
    /// bodies speak the same words.
    pub const fn metric_label(self) -> &'static str {
        self.as_str()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ToJSON;

    use super::*;

    /// The whole table, written out once more: a change to a row must be made twice, on purpose.
    const EXPECTED: [(ErrorCode, &str, u16, i32, bool); 19] = [
        (ErrorCode::InvalidField, "invalid_field", 400, 3, false),
        (
            ErrorCode::InvalidParameter,
            "invalid_parameter",
            400,
            3,
            false,
        ),
        (ErrorCode::MalformedJson, "malformed_json", 400, 3, false),
        (ErrorCode::MalformedBody, "malformed_body", 400, 3, false),
        (ErrorCode::EmptyBatch, "empty_batch", 400, 3, false),
        (ErrorCode::BadRequest, "bad_request", 400, 3, false),
        (ErrorCode::MissingApiKey, "missing_api_key", 401, 16, false),
        (ErrorCode::InvalidApiKey, "invalid_api_key", 401, 16, false),
        (
            ErrorCode::InsufficientScope,
            "insufficient_scope",
            403,
            7,
            false,
        ),
        (
            ErrorCode::PayloadTooLarge,
            "payload_too_large",
            413,
            8,
            false,
        ),
        (ErrorCode::TooManyEvents, "too_many_events", 413, 8, false),
        (
            ErrorCode::UnsupportedMediaType,
            "unsupported_media_type",
            415,
            3,
            false,
        ),
        (ErrorCode::QueueFull, "queue_full", 429, 8, true),
        (ErrorCode::Internal, "internal", 500, 13, false),
        (
            ErrorCode::QueueUnavailable,
            "queue_unavailable",
            503,
            14,
            true,
        ),
        (
            ErrorCode::StoreUnavailable,
            "store_unavailable",
            503,
            14,
            true,
        ),
        (ErrorCode::RequestTimeout, "request_timeout", 503, 14, true),
        (
            ErrorCode::TooManyRequestsInFlight,
            "too_many_requests_in_flight",
            503,
            14,
            true,
        ),
        (ErrorCode::QueryTimeout, "query_timeout", 504, 4, false),
    ];

    #[test]
    fn every_code_has_its_text_statuses_retry_after_and_metric_label() {
        assert_eq!(
            ErrorCode::ALL.to_vec(),
            EXPECTED.iter().map(|row| row.0).collect::<Vec<_>>()
        );
        for (code, text, http, grpc, retry_after) in EXPECTED {
            assert_eq!(code.as_str(), text);
            assert_eq!(code.to_string(), text);
            assert_eq!(code.http_status(), http, "{code}");
            assert_eq!(code.grpc_code().as_i32(), grpc, "{code}");
            assert_eq!(code.retry_after(), retry_after, "{code}");
            assert_eq!(code.metric_label(), text, "{code}");
        }
    }

    #[test]
    fn the_json_of_every_code_is_its_text_and_reads_back() {
        use poem_openapi::types::ParseFromJSON;
        for code in ErrorCode::ALL {
            assert_eq!(
                code.to_json(),
                Some(serde_json::Value::String(code.as_str().into()))
            );
            assert_eq!(
                ErrorCode::parse_from_json(Some(serde_json::json!(code.as_str()))).ok(),
                Some(code)
            );
        }
    }

    #[test]
    fn the_list_of_all_codes_is_every_variant_and_the_document_lists_each() {
        use poem_openapi::registry::Registry;
        use poem_openapi::types::Type;
        let mut registry = Registry::new();
        ErrorCode::register(&mut registry);
        let documented: Vec<serde_json::Value> =
            registry.schemas[&*ErrorCode::name()].enum_items.clone();
        let all: Vec<serde_json::Value> = ErrorCode::ALL
            .iter()
            .map(|code| serde_json::json!(code.as_str()))
            .collect();
        assert_eq!(documented, all);
    }

    #[test]
    fn the_readme_error_table_says_what_the_table_does() {
        let readme = include_str!("../../../../README.md");
        for code in ErrorCode::ALL {
            let retry_after = if code.retry_after() { "yes" } else { "" };
            let row = format!(
                "| `{}` | {} | {} ",
                code.as_str(),
                code.http_status(),
                code.grpc_code().as_i32()
            );
            let line = readme
                .lines()
                .find(|line| line.starts_with(&row))
                .unwrap_or_else(|| panic!("README has no row starting {row:?}"));
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            assert_eq!(cells[4], retry_after, "{line}");
        }
    }

    #[test]
    fn codes_and_texts_are_unique() {
        let texts: std::collections::HashSet<&str> =
            ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
        assert_eq!(texts.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn retry_after_goes_with_the_statuses_that_mean_not_now() {
        for code in ErrorCode::ALL {
            let not_now = matches!(code.http_status(), 429 | 503);
            assert_eq!(code.retry_after(), not_now, "{code}");
        }
    }

    #[test]
    fn grpc_codes_follow_the_http_status_classes() {
        for code in ErrorCode::ALL {
            let expected: &[GrpcCode] = match code.http_status() {
                400 | 415 => &[GrpcCode::InvalidArgument],
                401 => &[GrpcCode::Unauthenticated],
                403 => &[GrpcCode::PermissionDenied],
                413 | 429 => &[GrpcCode::ResourceExhausted],
                500 => &[GrpcCode::Internal],
                503 => &[GrpcCode::Unavailable],
                504 => &[GrpcCode::DeadlineExceeded],
                other => panic!("{code}: status {other} has no gRPC mapping"),
            };
            assert!(expected.contains(&code.grpc_code()), "{code}");
        }
    }
}
