//! Trace propagation: every request gets a trace id (the caller's W3C `traceparent` or
//! `X-Trace-Id` when valid, else a new one), every log line about it carries it, and every
//! response returns it in `X-Trace-Id`.

use std::time::Instant;

use domain::TraceId;
use poem::http::HeaderValue;
use poem::{Endpoint, Request, Response};
use tracing::{Instrument, info, info_span};

/// The trace id of the current request, put into the request's extensions by the middleware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTraceId(pub TraceId);

const TRACE_HEADER: &str = "x-trace-id";

/// The trace id a request carries, if any is valid: `traceparent` first, then `X-Trace-Id`.
fn incoming_trace(request: &Request) -> Option<TraceId> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    header("traceparent")
        .and_then(|value| {
            TraceId::from_traceparent(value)
                .ok()
                .map(|(trace, _span)| trace)
        })
        .or_else(|| header(TRACE_HEADER).and_then(|value| TraceId::parse(value).ok()))
}

/// An endpoint with trace propagation and one access-log line per request.
pub(crate) struct Traced<E> {
    inner: E,
}

impl<E: Endpoint> Traced<E> {
    pub(crate) fn new(inner: E) -> Self {
        Self { inner }
    }
}

impl<E: Endpoint> Endpoint for Traced<E> {
    type Output = Response;

    async fn call(&self, mut request: Request) -> poem::Result<Response> {
        let trace = incoming_trace(&request).unwrap_or_else(TraceId::generate);
        request.extensions_mut().insert(RequestTraceId(trace));
        let span = info_span!(
            "request",
            trace_id = %trace,
            method = %request.method(),
            path = %request.uri().path(),
        );
        async move {
            let started = Instant::now();
            let mut response = self.inner.get_response(request).await;
            if let Ok(value) = HeaderValue::from_str(&trace.to_string()) {
                response.headers_mut().insert(TRACE_HEADER, value);
            }
            info!(
                status = response.status().as_u16(),
                latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                "request completed"
            );
            Ok(response)
        }
        .instrument(span)
        .await
    }
}
