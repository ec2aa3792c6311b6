//! Prometheus metrics of the HTTP services: `GET /metrics`, the duration of every request by route,
//! method and status class, and what became of ingested events.
//!
//! Values are recorded through the `metrics` facade; the binary installs the recorder and hands
//! its render function to [`with_metrics`] (or [`metrics_app`]). Without an installed recorder
//! (tests that build several apps) recording does nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::{Unit, counter, describe_counter, describe_histogram, histogram};
use poem::http::{Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, PathPattern, Request, Response};

use crate::common::error::{ErrorCode, Failure};

/// Renders the process's metrics in the Prometheus text format.
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// Where the metrics are served; open like `/health` (no API key).
pub const METRICS_PATH: &str = "/metrics";

/// The Prometheus text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

const REQUEST_DURATION: &str = "logpipeline_http_request_duration_seconds";
const EVENTS_ACCEPTED: &str = "logpipeline_ingest_events_accepted_total";
const EVENTS_REJECTED: &str = "logpipeline_ingest_events_rejected_total";
const REQUESTS_REJECTED: &str = "logpipeline_ingest_requests_rejected_total";

/// Describes the metrics of this module (their `# HELP` lines); call once after installing the
/// recorder.
pub fn describe_http_metrics() {
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request (to the response head for streams), by route, method and status class"
    );
    describe_counter!(
        EVENTS_ACCEPTED,
        "Events queued for storage, by source (ingest: POST /ingest, otlp: POST /v1/logs, otlp_grpc: OTLP/gRPC LogsService/Export, elasticsearch: POST /_bulk, syslog_tcp, syslog_udp)"
    );
    describe_counter!(
        EVENTS_REJECTED,
        "Events not queued, by source and reason (the error code: invalid_field, malformed_json, queue_full, queue_unavailable, internal; syslog: malformed_frame, malformed_syslog, shutdown)"
    );
    describe_counter!(
        REQUESTS_REJECTED,
        "Ingest requests refused as a whole before any event was read, by source and reason (payload_too_large, too_many_events, unsupported_media_type, malformed_json, malformed_body, empty_batch)"
    );
}

/// Adds `GET /metrics` and request-duration measuring to an API.
pub fn with_metrics<E: Endpoint>(
    app: E,
    render: RenderMetrics,
) -> impl Endpoint<Output = Response> {
    Metered { inner: app, render }
}

/// A service of its own that only serves `GET /metrics` (the worker's metrics port).
pub fn metrics_app(render: RenderMetrics) -> impl Endpoint<Output = Response> {
    with_metrics(NotFound, render)
}

struct NotFound;

impl Endpoint for NotFound {
    type Output = Response;

    async fn call(&self, _request: Request) -> poem::Result<Response> {
        Ok(StatusCode::NOT_FOUND.into_response())
    }
}

struct Metered<E> {
    inner: E,
    render: RenderMetrics,
}

impl<E: Endpoint> Endpoint for Metered<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        if request.uri().path() == METRICS_PATH {
            return Ok(self.metrics(request.method()));
        }
        let method = method_label(request.method());
        let started = Instant::now();
        let response = self.inner.get_response(request).await;
        let route = response
            .data::<PathPattern>()
            .map(|pattern| route_label(&pattern.0).to_owned())
            .filter(|pattern| !pattern.is_empty() && pattern != "/")
            .unwrap_or_else(|| "unmatched".to_owned());
        histogram!(
            REQUEST_DURATION,
            "route" => route,
            "method" => method,
            "status" => status_class(response.status()),
        )
        .record(started.elapsed());
        Ok(response)
    }
}

impl<E> Metered<E> {
    fn metrics(&self, method: &Method) -> Response {
        if method != Method::GET && method != Method::HEAD {
            return Response::builder()
                .status(StatusCode::METHOD_NOT_ALLOWED)
                .header(header::ALLOW, "GET, HEAD")
                .finish();
        }
        Response::builder()
            .content_type(PROMETHEUS_TEXT)
            .body((self.render)())
    }
}

/// The route pattern poem matched, as a label. An API mounted with `Route::at` at the path of
/// its own operation (`/v1/logs`) is reported by poem as that path twice (`/v1/logs/v1/logs`);
/// it is the route once.
fn route_label(pattern: &str) -> &str {
    let half = pattern.len() / 2;
    match pattern.split_at_checked(half) {
        Some((first, second)) if !first.is_empty() && first == second => first,
        _ => pattern,
    }
}

/// Standard methods by name, anything else as `other`, so that labels stay few.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Records the time to answer a request that does not pass through [`with_metrics`] (an
/// OTLP/gRPC call), in the same histogram as the HTTP requests: `route` is the gRPC method's
/// path, `status` the HTTP status equivalent to its answer.
pub fn record_request_duration(route: &str, method: &Method, status: u16, elapsed: Duration) {
    histogram!(
        REQUEST_DURATION,
        "route" => route.to_owned(),
        "method" => method_label(method),
        "status" => status_class_of(status),
    )
    .record(elapsed);
}

fn status_class(status: StatusCode) -> &'static str {
    status_class_of(status.as_u16())
}

fn status_class_of(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Where ingested events came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestSource {
    /// `POST /ingest`
    Ingest,
    /// `POST /v1/logs`
    Otlp,
    /// OTLP/gRPC `LogsService/Export` (its own port, `OTLP_GRPC_ADDR`)
    OtlpGrpc,
    /// `POST /_bulk` (Elasticsearch)
    Elasticsearch,
    /// `POST /loki/api/v1/push`
    Loki,
}

impl IngestSource {
    fn label(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Otlp => "otlp",
            Self::OtlpGrpc => "otlp_grpc",
            Self::Elasticsearch => "elasticsearch",
            Self::Loki => "loki",
        }
    }
}

/// Counts events that were queued.
pub fn count_accepted(source: IngestSource, events: usize) {
    if events > 0 {
        counter!(EVENTS_ACCEPTED, "source" => source.label()).increment(events as u64);
    }
}

/// Counts events that were not queued, labelled with the error code that says why.
pub fn count_rejected(source: IngestSource, reason: ErrorCode, events: usize) {
    if events > 0 {
        counter!(EVENTS_REJECTED, "source" => source.label(), "reason" => reason.metric_label())
            .increment(events as u64);
    }
}

/// Counts a request refused before any of its events was read.
pub fn count_rejected_request(source: IngestSource, reason: ErrorCode) {
    counter!(REQUESTS_REJECTED, "source" => source.label(), "reason" => reason.metric_label())
        .increment(1);
}

/// The error code a failure answers with.
pub fn failure_code(failure: &Failure) -> ErrorCode {
    failure.code()
}

#[cfg(test)]
mod tests {
    use poem::test::TestClient;
    use poem::{Route, get, handler};

    use super::*;

    #[handler]
    fn hello() -> &'static str {
        "hello"
    }

    fn render_fixed() -> RenderMetrics {
        Arc::new(|| "# TYPE up gauge\nup 1\n".to_owned())
    }

    #[tokio::test]
    async fn get_metrics_answers_the_rendered_text_in_the_prometheus_format() {
        let client = TestClient::new(with_metrics(
            Route::new().at("/hello", get(hello)),
            render_fixed(),
        ));

        let response = client.get("/metrics").send().await;

        response.assert_status_is_ok();
        response.assert_content_type(PROMETHEUS_TEXT);
        response.assert_text("# TYPE up gauge\nup 1\n").await;
    }

    #[tokio::test]
    async fn other_methods_on_metrics_are_405_and_other_paths_reach_the_app() {
        let client = TestClient::new(with_metrics(
            Route::new().at("/hello", get(hello)),
            render_fixed(),
        ));

        let response = client.post("/metrics").send().await;
        response.assert_status(StatusCode::METHOD_NOT_ALLOWED);
        response.assert_header(header::ALLOW, "GET, HEAD");
        client.get("/hello").send().await.assert_text("hello").await;
    }

    #[tokio::test]
    async fn the_metrics_app_serves_only_metrics() {
        let client = TestClient::new(metrics_app(render_fixed()));

        client.get("/metrics").send().await.assert_status_is_ok();
        client
            .get("/")
            .send()
            .await
            .assert_status(StatusCode::NOT_FOUND);
    }

    #[test]
    fn a_route_pattern_repeated_by_nesting_is_reported_once() {
        assert_eq!(route_label("/v1/logs/v1/logs"), "/v1/logs");
        assert_eq!(route_label("/logs"), "/logs");
        assert_eq!(route_label("/logs/stats"), "/logs/stats");
        assert_eq!(route_label("/docs/docs/x"), "/docs/docs/x");
    }

    #[test]
    fn status_classes_and_methods_have_few_labels() {
        assert_eq!(status_class(StatusCode::ACCEPTED), "2xx");
        assert_eq!(status_class(StatusCode::PAYLOAD_TOO_LARGE), "4xx");
        assert_eq!(status_class(StatusCode::GATEWAY_TIMEOUT), "5xx");
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(
            method_label(&Method::from_bytes(b"PURGE").unwrap()),
            "other"
        );
    }
}
