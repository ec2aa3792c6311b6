//! A deadline for every request (`HTTP_REQUEST_TIMEOUT_MS`): reading the request body and
//! producing the answer must finish within it, else the client gets `503` with
//! `{"code":"request_timeout"}` and `Retry-After`, and the work is dropped. It is a backstop:
//! Redis (`REDIS_RESPONSE_TIMEOUT_MS`) and ClickHouse (`CLICKHOUSE_QUERY_TIMEOUT_MS`, 504
//! `query_timeout`) have shorter limits of their own, so in practice it ends requests whose
//! client sends the body too slowly, or a handler stuck for a reason nobody foresaw.
//!
//! Streamed answers (the live tail, the NDJSON export) are exempt: they run for as long as the
//! client reads, bounded by their own settings.

use std::time::Duration;

use poem::http::StatusCode;
use poem::http::header::RETRY_AFTER;
use poem::web::Json;
use poem::{Endpoint, IntoResponse, Request, Response, Result};
use tracing::warn;

use crate::error::RETRY_AFTER_SECONDS;

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
        if self.limit.is_zero() || self.exempt.contains(&request.uri().path()) {
            return Ok(self.inner.get_response(request).await);
        }
        match tokio::time::timeout(self.limit, self.inner.get_response(request)).await {
            Ok(response) => Ok(response),
            Err(_elapsed) => {
                warn!(limit_ms = self.limit.as_millis(), "request timed out");
                Ok(timed_out(self.limit))
            }
        }
    }
}

fn timed_out(limit: Duration) -> Response {
    let body = serde_json::json!({
        "code": "request_timeout",
        "reason": format!(
            "the request did not complete within {} ms (HTTP_REQUEST_TIMEOUT_MS); retry later",
            limit.as_millis()
        ),
    });
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

    #[tokio::test(start_paused = true)]
    async fn an_ingest_body_sent_too_slowly_is_cut_off_with_503() {
        // Half an event, then nothing: a client that stalls mid-upload.
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
            .post("/ingest")
            .content_type("application/json")
            .body(Body::from_bytes_stream(stalled))
            .send();
        // Without the deadline the request would wait forever: fail after a minute instead.
        let response = tokio::time::timeout(Duration::from_secs(60), request)
            .await
            .expect("the request ends at its deadline");
        let (status, _, body) = answer(response).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["code"], "request_timeout");
    }
}
