//! A deadline for every request (`HTTP_REQUEST_TIMEOUT_MS`), else the client gets `503` with
//! `{"code":"request_timeout"}` and `Retry-After`. It is a backstop: Redis
//! (`REDIS_RESPONSE_TIMEOUT_MS`) and ClickHouse (`CLICKHOUSE_QUERY_TIMEOUT_MS`, 504
//! `query_timeout`) have shorter limits of their own, so in practice it ends requests whose
//! client sends the body too slowly, or a read stuck for a reason nobody foresaw.
//!
//! Two kinds of deadline:
//! - [`RequestTimeout::new`]: the whole request, body and answer. For read-only APIs (query),
//!   where dropping the work midway changes nothing.
//! - [`RequestTimeout::body_only`]: receiving the body. For ingestion: once the body is in, the
//!   handler is never cut off, because an event pushed to Redis by a handler cut off halfway would
//!   be stored while its client was told 503 (and would send it again). What follows the body is
//!   bounded by `REDIS_RESPONSE_TIMEOUT_MS`.
//!
//! Streamed answers (the live tail, the NDJSON export) are exempt: they run for as long as the
//! client reads, bounded by their own settings. A protocol with an error format of its own wraps
//! its routes in a deadline of its own that answers in that format ([`RequestTimeout::answering`]);
//! the service-wide deadline then leaves that route tree to it ([`RequestTimeout::exempt_under`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::{Stream, StreamExt, stream};
use poem::{Body, Endpoint, Request, Response, Result};
use tokio::time::Instant;
use tracing::warn;

use crate::common::error::{ErrorBody, ErrorCode};

/// What the deadline covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Covers {
    WholeRequest,
    BodyOnly,
}

/// How a protocol answers a request that ran out of time: given the request's `Content-Type`
/// and the reason, a 503 with `Retry-After` in the protocol's own error format.
pub(crate) type TimeoutAnswer = fn(Option<&str>, String) -> Response;

/// An endpoint whose requests, except those to `exempt` paths, get at most `limit`.
pub(crate) struct RequestTimeout<E> {
    inner: E,
    limit: Duration,
    covers: Covers,
    exempt: &'static [&'static str],
    exempt_under: &'static [&'static str],
    answer: TimeoutAnswer,
}

impl<E: Endpoint> RequestTimeout<E> {
    /// `limit` for every request to `inner`, body and answer; a zero `limit` means none.
    pub(crate) fn new(inner: E, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            covers: Covers::WholeRequest,
            exempt: &[],
            exempt_under: &[],
            answer: timed_out,
        }
    }

    /// `limit` for receiving the body of every request to `inner`; the handler then runs to
    /// its end. A zero `limit` means none.
    pub(crate) fn body_only(inner: E, limit: Duration) -> Self {
        Self {
            covers: Covers::BodyOnly,
            ..Self::new(inner, limit)
        }
    }

    /// Requests to these paths (exactly) run without the deadline: streamed answers.
    pub(crate) fn exempt(mut self, paths: &'static [&'static str]) -> Self {
        self.exempt = paths;
        self
    }

    /// Requests to paths under these prefixes run without this deadline: route trees mounted
    /// with a deadline of their own that answers in their protocol's format.
    pub(crate) fn exempt_under(mut self, prefixes: &'static [&'static str]) -> Self {
        self.exempt_under = prefixes;
        self
    }

    /// Answers requests that ran out of time with `answer` instead of our JSON error body.
    pub(crate) fn answering(mut self, answer: TimeoutAnswer) -> Self {
        self.answer = answer;
        self
    }

    fn timed_out(&self, content_type: Option<&str>) -> Response {
        warn!(limit_ms = self.limit.as_millis(), "request timed out");
        let reason = format!(
            "the request did not complete within {} ms (HTTP_REQUEST_TIMEOUT_MS); retry later",
            self.limit.as_millis()
        );
        (self.answer)(content_type, reason)
    }
}

impl<E: Endpoint> Endpoint for RequestTimeout<E> {
    type Output = Response;

    async fn call(&self, mut request: Request) -> Result<Response> {
        let path = request.uri().path();
        if self.limit.is_zero()
            || self.exempt.contains(&path)
            || self
                .exempt_under
                .iter()
                .any(|prefix| path.starts_with(prefix))
        {
            return Ok(self.inner.get_response(request).await);
        }
        // The request is gone once handed on: keep what the answer's format depends on.
        let content_type = request.content_type().map(str::to_owned);
        match self.covers {
            Covers::WholeRequest => {
                match tokio::time::timeout(self.limit, self.inner.get_response(request)).await {
                    Ok(response) => Ok(response),
                    Err(_elapsed) => Ok(self.timed_out(content_type.as_deref())),
                }
            }
            Covers::BodyOnly => {
                let expired = Arc::new(AtomicBool::new(false));
                let body = request.take_body();
                request.set_body(Body::from_bytes_stream(with_deadline(
                    body.into_bytes_stream(),
                    Instant::now() + self.limit,
                    Arc::clone(&expired),
                )));
                let response = self.inner.get_response(request).await;
                // Whatever the handler made of the broken body (it queued nothing), the client
                // is told why.
                if expired.load(Ordering::Acquire) {
                    Ok(self.timed_out(content_type.as_deref()))
                } else {
                    Ok(response)
                }
            }
        }
    }
}

/// The chunks of `body` until `deadline`; then an error (`TimedOut`), and `expired` is set.
fn with_deadline<T: Send + 'static>(
    body: impl Stream<Item = std::io::Result<T>> + Send + 'static,
    deadline: Instant,
    expired: Arc<AtomicBool>,
) -> impl Stream<Item = std::io::Result<T>> + Send + 'static {
    stream::unfold(Some(Box::pin(body)), move |chunks| {
        let expired = Arc::clone(&expired);
        async move {
            let mut chunks = chunks?;
            match tokio::time::timeout_at(deadline, chunks.next()).await {
                Ok(Some(chunk)) => Some((chunk, Some(chunks))),
                Ok(None) => None,
                Err(_elapsed) => {
                    expired.store(true, Ordering::Release);
                    let error = std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the request body did not arrive in time",
                    );
                    Some((Err(error), None))
                }
            }
        }
    })
}

/// Our own answer: `request_timeout` (503 with `Retry-After`).
fn timed_out(_content_type: Option<&str>, reason: String) -> Response {
    ErrorBody::new(ErrorCode::RequestTimeout, None, reason).into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use application::IngestUseCase;
    use application::ports::{MockDrainSignal, MockQueueProducer};
    use futures_util::{StreamExt, stream};
    use poem::http::StatusCode;
    use poem::http::header::RETRY_AFTER;
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
    async fn paths_under_an_exempt_prefix_are_left_to_their_own_deadline() {
        let routes = poem::Route::new()
            .at("/own/slow", slow)
            .at("/other/slow", slow);
        let app = RequestTimeout::new(routes, Duration::from_millis(500)).exempt_under(&["/own/"]);
        let client = TestClient::new(app);
        let response = client.get("/own/slow").send().await;
        response.assert_status_is_ok();
        response.assert_text("done").await;

        let (status, _, body) = answer(client.get("/other/slow").send().await).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["code"], "request_timeout");
    }

    /// Reads the body, then takes an hour to answer.
    #[handler]
    async fn slow_after_body(body: Vec<u8>) -> String {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        format!("{} bytes", body.len())
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_only_deadline_lets_the_handler_finish_once_the_body_is_in() {
        let routes = || poem::Route::new().at("/slow", poem::post(slow_after_body));
        let app = RequestTimeout::body_only(routes(), Duration::from_millis(500));
        let response = TestClient::new(app)
            .post("/slow")
            .body("12345")
            .send()
            .await;
        response.assert_status_is_ok();
        response.assert_text("5 bytes").await;

        // The same handler under a whole-request deadline is cut off.
        let app = RequestTimeout::new(routes(), Duration::from_millis(500));
        let (status, _, body) = answer(
            TestClient::new(app)
                .post("/slow")
                .body("12345")
                .send()
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["code"], "request_timeout");
    }

    /// Posts half a body, then nothing (a client that stalls mid-upload), to an ingestion app
    /// with a 2 s deadline.
    async fn post_stalled(path: &str, content_type: &str) -> poem::test::TestResponse {
        let stalled = stream::iter([Ok::<_, std::io::Error>(
            br#"{"service":"api","level":"INFO","#.to_vec(),
        )])
        .chain(stream::pending());
        let mut queue = MockQueueProducer::new();
        queue.expect_push().never();
        let app = crate::app::ingestion_app(
            IngestUseCase::new(Arc::new(queue), Arc::new(MockDrainSignal::new())),
            IngestHttpConfig {
                request_timeout_ms: 2_000,
                ..IngestHttpConfig::default()
            },
            crate::common::keys::ApiKeys::none(),
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
