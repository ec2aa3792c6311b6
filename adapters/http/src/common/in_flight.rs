//! A cap on the ingest requests handled at once (`INGEST_MAX_IN_FLIGHT`), shared by every ingest
//! protocol: past it a request is answered `503` with `Retry-After` without decoding its body
//! (our JSON error `{"code":"too_many_requests_in_flight"}`, or the protocol's own format given
//! with [`InFlightLimit::answering`]), and counted in `logpipeline_ingest_requests_rejected_total`.
//! While Redis is slow, requests wait for it; the cap bounds how many bodies and decoded events
//! wait with them, so memory stays bounded whatever the number of clients.
//!
//! The refused request's body is read and thrown away (up to the body limit, for at most
//! [`DISCARD_DEADLINE`]) before the answer goes out: a server that closes a connection with
//! unread bytes in it makes the kernel send a reset, and the client then sees a broken
//! connection instead of the 503 and its `Retry-After`. Reading costs a buffer of one chunk, not
//! the body.

use std::sync::Arc;
use std::time::Duration;

use poem::http::Method;
use poem::http::header::CONTENT_LENGTH;
use poem::{Endpoint, Request, Response, Result};
use tokio::sync::Semaphore;
use tracing::warn;

use crate::common::error::ErrorBody;
use crate::common::error_code::ErrorCode;
use crate::common::metrics::{IngestSource, count_rejected_request};
use crate::common::timeout::TimeoutAnswer;

/// The error code of the answer past the cap, and its metric label.
const CODE: ErrorCode = ErrorCode::TooManyRequestsInFlight;

/// How long a refused request's body may take to be read and thrown away; a slower one is cut
/// off (the client may then see a reset).
pub(crate) const DISCARD_DEADLINE: Duration = Duration::from_secs(2);

/// The permits every ingest route draws from: at most `max` requests at once (0: no limit).
#[derive(Debug, Clone)]
pub(crate) struct InFlightPermits {
    max: usize,
    semaphore: Arc<Semaphore>,
    /// The largest body read and thrown away before a refusal (the ingest body limit).
    discard_up_to: usize,
}

impl InFlightPermits {
    /// At most `max` requests at once; a refused body up to `discard_up_to` bytes is read
    /// before the refusal goes out.
    pub(crate) fn new(max: usize, discard_up_to: usize) -> Self {
        Self {
            max,
            semaphore: Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS))),
            discard_up_to,
        }
    }

    /// Reads and drops the body of a refused request, so that the connection can carry the
    /// answer; gives up past the size limit or the deadline.
    async fn discard_body(&self, request: &mut Request) {
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        let limit = self.discard_up_to as u64;
        if declared.is_some_and(|length| length > limit) {
            return;
        }
        let body = request.take_body().into_async_read();
        let mut bounded = tokio::io::AsyncReadExt::take(body, limit);
        let _ = tokio::time::timeout(
            DISCARD_DEADLINE,
            tokio::io::copy(&mut bounded, &mut tokio::io::sink()),
        )
        .await;
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

    async fn call(&self, mut request: Request) -> Result<Response> {
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
            self.permits.discard_body(&mut request).await;
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

    /// A `POST` handler that answers once `release` is notified.
    fn held_until(held: Arc<Notify>) -> impl Endpoint {
        post(poem::endpoint::make(move |_: Request| {
            let held = Arc::clone(&held);
            async move {
                held.notified().await;
                "done"
            }
        }))
    }

    /// Two ingest requests held open by a handler that waits for `release`, a third one while
    /// they run, and one to another path.
    #[tokio::test]
    async fn past_the_cap_ingest_requests_get_503_with_retry_after_and_others_pass() {
        let release = Arc::new(Notify::new());
        let slow = held_until(Arc::clone(&release));
        #[handler]
        fn health() -> &'static str {
            "ok"
        }
        let app = InFlightLimit::new(
            Route::new()
                .at("/ingest", slow)
                .at("/health", poem::get(health)),
            InFlightPermits::new(2, 1024 * 1024),
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

    /// Over a real socket: the refused request's body (8 MiB, more than the loopback socket
    /// buffers hold) is still being sent when the refusal is ready. Without reading it first,
    /// closing the connection resets it: the client's write fails, and a client that sends its
    /// whole body before reading (as HTTP clients do) never sees the 503.
    #[tokio::test]
    async fn a_refused_request_with_a_large_body_gets_its_503_not_a_reset() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let release = Arc::new(Notify::new());
        let slow = held_until(Arc::clone(&release));
        let app = InFlightLimit::new(
            Route::new().at("/ingest", slow),
            InFlightPermits::new(1, 16 * 1024 * 1024),
            IngestSource::Ingest,
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let acceptor = poem::listener::TcpAcceptor::from_std(listener).unwrap();
        let server = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));

        let request = |body: usize| {
            format!(
                "POST /ingest HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
                 Content-Length: {body}\r\n\r\n"
            )
        };
        // The one permit is taken by a request that waits.
        let mut holder = tokio::net::TcpStream::connect(addr).await.unwrap();
        holder.write_all(request(2).as_bytes()).await.unwrap();
        holder.write_all(b"{}").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;

        let body_size = 8 * 1024 * 1024;
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut reading, mut writing) = stream.into_split();
        let sending = tokio::spawn(async move {
            writing.write_all(request(body_size).as_bytes()).await?;
            writing.write_all(&vec![b' '; body_size]).await?;
            Ok::<_, std::io::Error>(writing)
        });
        let mut answer = Vec::new();
        let mut chunk = [0_u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let n = reading.read(&mut chunk).await?;
                answer.extend_from_slice(&chunk[..n]);
                if n == 0 || answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    return Ok::<_, std::io::Error>(());
                }
            }
        })
        .await
        .unwrap();
        let answer = String::from_utf8_lossy(&answer).to_string();
        assert!(
            read.is_ok(),
            "the connection broke: {read:?}, read so far: {answer:?}"
        );
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("retry-after: "),
            "{answer}"
        );
        assert!(sending.await.unwrap().is_ok(), "the whole body was taken");

        release.notify_waiters();
        server.abort();
    }
}
