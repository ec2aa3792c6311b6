//! `GET /metrics` on a port of its own, for a service that has no HTTP API (the worker).
//! Services with an HTTP API serve the same text on their API port instead.

use std::future::Future;
use std::time::Duration;

use poem::http::{Method, StatusCode, header};
use poem::listener::TcpAcceptor;
use poem::{Endpoint, IntoResponse, Request, Response, Server};

use crate::MetricsHandle;

/// Where the metrics are served.
const METRICS_PATH: &str = "/metrics";

/// The Prometheus text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves `GET /metrics` (and `HEAD`) on an already bound `listener` until `shutdown` completes.
pub async fn serve_metrics(
    listener: std::net::TcpListener,
    metrics: MetricsHandle,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let acceptor = TcpAcceptor::from_std(listener)?;
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(
            MetricsEndpoint(metrics),
            shutdown,
            Some(Duration::from_secs(1)),
        )
        .await
}

struct MetricsEndpoint(MetricsHandle);

impl Endpoint for MetricsEndpoint {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        if request.uri().path() != METRICS_PATH {
            return Ok(StatusCode::NOT_FOUND.into_response());
        }
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return Ok(Response::builder()
                .status(StatusCode::METHOD_NOT_ALLOWED)
                .header(header::ALLOW, "GET, HEAD")
                .finish());
        }
        Ok(Response::builder()
            .content_type(PROMETHEUS_TEXT)
            .body(self.0.render()))
    }
}

#[cfg(test)]
mod tests {
    use poem::test::TestClient;

    use super::*;
    use crate::prometheus_recorder;

    #[tokio::test]
    async fn the_metrics_path_answers_the_text_format_and_other_methods_and_paths_do_not() {
        let (_recorder, handle) = prometheus_recorder().expect("recorder");
        let client = TestClient::new(MetricsEndpoint(handle));

        let metrics = client.get("/metrics").send().await;
        metrics.assert_status_is_ok();
        metrics.assert_content_type(PROMETHEUS_TEXT);
        let refused = client.post("/metrics").send().await;
        refused.assert_status(StatusCode::METHOD_NOT_ALLOWED);
        refused.assert_header(header::ALLOW, "GET, HEAD");
        client
            .get("/other")
            .send()
            .await
            .assert_status(StatusCode::NOT_FOUND);
    }
}
