//! A cap on the ingest requests handled at once (`INGEST_MAX_IN_FLIGHT`), shared by every ingest
//! protocol: past it a request is answered `503` with `Retry-After` before its body is read (our
//! JSON error `{"code":"too_many_requests_in_flight"}`, or the protocol's own format given with
//! [`InFlightLimit::answering`]), and counted in `logpipeline_ingest_requests_rejected_total`. While Redis is slow, requests wait for it; the
//! cap bounds how many bodies and decoded events wait with them, so memory stays bounded
//! whatever the number of clients.

use std::sync::Arc;

use poem::http::Method;
use poem::{Endpoint, Request, Response, Result};
use tokio::sync::Semaphore;
use tracing::warn;

use crate::common::error::ErrorBody;
use crate::common::error_code::ErrorCode;
use crate::common::metrics::{IngestSource, count_rejected_request};
use crate::common::timeout::TimeoutAnswer;

/// The error code of the answer past the cap, and its metric label.
const CODE: ErrorCode = ErrorCode::TooManyRequestsInFlight;

/// The permits every ingest route draws from: at most `max` requests at once (0: no limit).
#[derive(Debug, Clone)]
pub(crate) struct InFlightPermits {
    max: usize,
    semaphore: Arc<Semaphore>,
}

impl InFlightPermits {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            semaphore: Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS))),
        }
    }
}

/// An endpoint whose `POST` requests each hold one of the shared permits while they run; other
/// methods (documentation, health) pass freely.
pub(crate) struct InFlightLimit<E> {
    inner: E,
    permits: InFlightPermits,
    source: IngestSource,
    answer: TimeoutAnswer,
}

impl<E: Endpoint> InFlightLimit<E> {
    /// `POST` requests to `inner`, counted as `source` when refused.
    pub(crate) fn new(inner: E, permits: InFlightPermits, source: IngestSource) -> Self {
        Self {
            inner,
            permits,
            source,
            answer: too_many_in_flight,
        }
    }

    /// Answers refused requests with `answer` (a protocol's own 503) instead of our JSON body.
    pub(crate) fn answering(mut self, answer: TimeoutAnswer) -> Self {
        self.answer = answer;
        self
    }
}

impl<E: Endpoint> Endpoint for InFlightLimit<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> Result<Response> {
        if self.permits.max == 0 || request.method() != Method::POST {
            return Ok(self.inner.get_response(request).await);
        }
        let Ok(_permit) = self.permits.semaphore.try_acquire() else {
            count_rejected_request(self.source, CODE);
            warn!(
                max = self.permits.max,
                "too many ingest requests in flight; answered 503"
            );
            let reason = format!(
                "more than {} ingest requests in flight (INGEST_MAX_IN_FLIGHT); retry later",
                self.permits.max
            );
            return Ok((self.answer)(request.content_type(), reason));
        };
        Ok(self.inner.get_response(request).await)
    }
}

/// Our JSON error body, 503 with `Retry-After` (the error table's row).
fn too_many_in_flight(_content_type: Option<&str>, reason: String) -> Response {
    ErrorBody::new(CODE, None, reason).into_response()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use poem::http::StatusCode;
    use poem::http::header::RETRY_AFTER;
    use poem::test::TestClient;

    use crate::common::error::RETRY_AFTER_SECONDS;
    use poem::{Route, handler, post};
    use tokio::sync::Notify;

    use super::*;

    /// Two ingest requests held open by a handler that waits for `release`, a third one while
    /// they run, and one to another path.
    #[tokio::test]
    async fn past_the_cap_ingest_requests_get_503_with_retry_after_and_others_pass() {
        let release = Arc::new(Notify::new());
        let held = Arc::clone(&release);
        let slow = post(poem::endpoint::make(move |_: Request| {
            let held = Arc::clone(&held);
            async move {
                held.notified().await;
                "done"
            }
        }));
        #[handler]
        fn health() -> &'static str {
            "ok"
        }
        let app = InFlightLimit::new(
            Route::new()
                .at("/ingest", slow)
                .at("/health", poem::get(health)),
            InFlightPermits::new(2),
            IngestSource::Ingest,
        );
        let client = Arc::new(TestClient::new(app));
        let running: Vec<_> = (0..2)
            .map(|_| {
                let client = Arc::clone(&client);
                tokio::spawn(async move { client.post("/ingest").send().await.0.status() })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;

        let refused = client.post("/ingest").send().await;
        refused.assert_status(StatusCode::SERVICE_UNAVAILABLE);
        refused.assert_header(RETRY_AFTER, RETRY_AFTER_SECONDS.to_string());
        let body = refused.json().await;
        body.value()
            .object()
            .get("code")
            .assert_string(CODE.as_str());
        client.get("/health").send().await.assert_status_is_ok();

        release.notify_waiters();
        for request in running {
            assert_eq!(request.await.unwrap(), StatusCode::OK);
        }
        // Their permits are back: the next request runs (its handler finds a wake stored).
        release.notify_one();
        client.post("/ingest").send().await.assert_status_is_ok();
    }
}
