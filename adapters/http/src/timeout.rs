//! A deadline for every request (`HTTP_REQUEST_TIMEOUT_MS`): reading the request body and
//! producing the answer must finish within it, else the client gets `503` with
//! `{"code":"request_timeout"}` and `Retry-After`, and the work is dropped. It is a backstop:
//! Redis (`REDIS_RESPONSE_TIMEOUT_MS`) and ClickHouse (`CLICKHOUSE_QUERY_TIMEOUT_MS`, 504
//! `query_timeout`) have shorter limits of their own, so in practice it ends requests whose
//! client sends the body too slowly, or a handler stuck for a reason nobody foresaw.
//!
//! Streamed answers (the live tail, the NDJSON export) are exempt: they run for as long as the
//! client reads, bounded by their own settings. On the OTLP path the answer is OTLP's: a
//! `google.rpc.Status` (code 14, UNAVAILABLE) in the request's encoding.

use std::time::Duration;

use poem::http::StatusCode;
use poem::http::header::RETRY_AFTER;
use poem::web::Json;
use poem::{Endpoint, IntoResponse, Request, Response, Result};
use tracing::warn;

use crate::error::RETRY_AFTER_SECONDS;
use crate::otlp::OTLP_LOGS_PATH;

/// An endpoint whose requests, except those to `exempt` paths, get at most `limit`.
pub(crate) struct RequestTimeout<E> {
    inner: E,
    limit: Duration,
    exempt: &'static [&'static str],
}

impl<E: Endpoint> RequestTimeout<E> {
    /// `limit` for every request to `inner`; a zero `limit` means none.
    pub(crate) fn new(inner: E, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            exempt: &[],
        }
    }

    /// Requests to these paths (exactly) run without the deadline: streamed answers.
    pub(crate) fn exempt(mut self, paths: &'static [&'static str]) -> Self {
        self.exempt = paths;
        self
    }
}

impl<E: Endpoint> Endpoint for RequestTimeout<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> Result<Response> {
        let path = request.uri().path();
        if self.limit.is_zero() || self.exempt.contains(&path) {
            return Ok(self.inner.get_response(request).await);
        }
        // The request is gone once handed on: keep what the answer's format depends on.
        let otlp_content_type =
            (path == OTLP_LOGS_PATH).then(|| request.content_type().map(str::to_owned));
        match tokio::time::timeout(self.limit, self.inner.get_response(request)).await {
            Ok(response) => Ok(response),
            Err(_elapsed) => {
                warn!(limit_ms = self.limit.as_millis(), "request timed out");
                let reason = format!(
                    "the request did not complete within {} ms (HTTP_REQUEST_TIMEOUT_MS); retry later",
                    self.limit.as_millis()
                );
                Ok(match otlp_content_type {
                    Some(content_type) => crate::otlp::unavailable(content_type.as_deref(), reason),
                    None => timed_out(reason),
                })
            }
        }
    }
}

fn timed_out(reason: String) -> Response {
    let body = serde_json::json!({ "code": "request_timeout", "reason": reason });
    Json(body)
        .with_status(StatusCode::SERVICE_UNAVAILABLE)
        .with_header(RETRY_AFTER, RETRY_AFTER_SECONDS)
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use application::IngestUseCase;
    use application::ports::{MockDrainSignal, MockLogQueue};
    use futures_util::{StreamExt, stream};
    use poem::test::TestClient;
    use poem::{Body, EndpointExt, handler};
    use serde_json::Value;

    use super::*;
    use crate::IngestHttpConfig;

    /// Never answers.
    #[handler]
    async fn stuck() -> &'static str {
        std::future::pending::<()>().await;
        "never"
    }

    /// Answers after an hour.
    #[handler]
    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        "done"
    }

    async fn answer(response: poem::test::TestResponse) -> (StatusCode, Option<String>, Value) {
        let status = response.0.status();
        let retry_after = response
            .0
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = response
            .0
            .into_body()
            .into_json::<Value>()
            .await
            .unwrap_or(Value::Null);
        (status, retry_after, body)
    }

    // Tokio's clock is paused in these tests: time advances only when every task waits, so
    // the deadlines are exact and the tests take no real time.

    #[tokio::test(start_paused = true)]
    async fn a_request_past_the_deadline_gets_503_request_timeout() {
        let app = RequestTimeout::new(
            poem::Route::new().at("/stuck", stuck),
            Duration::from_millis(500),
        );
        let (status, retry_after, body) =
            answer(TestClient::new(app).get("/stuck").send().await).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry_after.as_deref(), Some("1"));
        assert_eq!(body["code"], "request_timeout");
        assert!(body["reason"].as_str().unwrap().contains("500 ms"));
    }

    #[tokio::test(start_paused = true)]
    async fn exempt_paths_and_a_zero_limit_have_no_deadline() {
        let routes = || poem::Route::new().at("/slow", slow).at("/stuck", stuck);
        let exempt = RequestTimeout::new(routes(), Duration::from_millis(500)).exempt(&["/slow"]);
        let response = TestClient::new(exempt).get("/slow").send().await;
        response.assert_status_is_ok();
        response.assert_text("done").await;

        let unlimited = RequestTimeout::new(routes(), Duration::ZERO);
        let response = TestClient::new(unlimited).get("/slow").send().await;
        response.assert_status_is_ok();
    }

    /// Posts half a body, then nothing (a client that stalls mid-upload), to an ingestion app
    /// with a 2 s deadline.
    async fn post_stalled(path: &str, content_type: &str) -> poem::test::TestResponse {
        let stalled = stream::iter([Ok::<_, std::io::Error>(
            br#"{"service":"api","level":"INFO","#.to_vec(),
        )])
        .chain(stream::pending());
        let mut queue = MockLogQueue::new();
        queue.expect_push().never();
        let app = crate::app::ingestion_app(
            IngestUseCase::new(Arc::new(queue), Arc::new(MockDrainSignal::new())),
            IngestHttpConfig {
                request_timeout_ms: 2_000,
                ..IngestHttpConfig::default()
            },
            crate::auth::ApiKeys::none(),
        );
        let client = TestClient::new(app.map_to_response());
        let request = client
            .post(path)
            .content_type(content_type)
            .body(Body::from_bytes_stream(stalled))
            .send();
        // Without the deadline the request would wait forever: fail after a minute instead.
        tokio::time::timeout(Duration::from_secs(60), request)
            .await
            .expect("the request ends at its deadline")
    }

    #[tokio::test(start_paused = true)]
    async fn an_otlp_body_sent_too_slowly_gets_503_with_an_otlp_status() {
        let (status, retry_after, body) =
            answer(post_stalled("/v1/logs", "application/json").await).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry_after.as_deref(), Some("1"));
        assert_eq!(body["code"], 14, "google.rpc.Status UNAVAILABLE: {body}");
        assert!(body["message"].as_str().unwrap().contains("2000 ms"));
    }

    #[tokio::test(start_paused = true)]
    async fn an_ingest_body_sent_too_slowly_is_cut_off_with_503() {
        let response = post_stalled("/ingest", "application/json").await;
        let (status, _, body) = answer(response).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["code"], "request_timeout");
    }
}
