//! What happens to an OTLP/gRPC call around the Export handler: the API key is checked from the
//! call's metadata before its message is read; tonic's own refusals (a message over the size
//! limit, one that cannot be decoded) get the codes OTLP clients act on correctly and a clear
//! message; refused calls are counted like refused `POST /v1/logs` requests; and every call's
//! duration goes into the request histogram the HTTP services share.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http_adapter::{ApiKeys, ErrorCode, Scope};
use http_adapter::{count_rejected_request, presented_key, record_request_duration};
use tonic::body::Body;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;
use tonic::{Code, Status};
use tracing::info;

use crate::service::{EXPORT_PATH, HandlerReached, SOURCE, denial_status, http_status_of};

/// The logs service `S` behind the API key check and the translation of tonic's refusals.
#[derive(Debug, Clone)]
pub(crate) struct Guarded<S> {
    inner: S,
    keys: Arc<ApiKeys>,
    max_message_bytes: usize,
}

impl<S> Guarded<S> {
    pub(crate) fn new(inner: S, keys: Arc<ApiKeys>, max_message_bytes: usize) -> Self {
        Self {
            inner,
            keys,
            max_message_bytes,
        }
    }
}

impl<S: NamedService> NamedService for Guarded<S> {
    const NAME: &'static str = S::NAME;
}

type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

impl<S> Service<http::Request<Body>> for Guarded<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let started = Instant::now();
        let route = if request.uri().path() == EXPORT_PATH {
            EXPORT_PATH
        } else {
            "unmatched"
        };
        let method = request.method().clone();
        if let Err(denial) = self
            .keys
            .authorize(Scope::Ingest, presented_key(request.headers()).as_deref())
        {
            // Never the key itself: only why it was refused.
            info!(denial = ?denial, "otlp/grpc call refused");
            count_rejected_request(SOURCE, denial.code());
            let status = denial_status(denial);
            record_request_duration(
                route,
                &method,
                http_status_of(status.code()),
                started.elapsed(),
            );
            return Box::pin(std::future::ready(Ok(status.into_http())));
        }
        let reached = HandlerReached::default();
        request.extensions_mut().insert(reached.clone());
        // The clone that is ready serves this call (tower's rule for `poll_ready`).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let max_message_bytes = self.max_message_bytes;
        Box::pin(async move {
            let response = inner.call(request).await?;
            let response = if reached.get() || route != EXPORT_PATH {
                response
            } else {
                refused_before_handler(response, max_message_bytes)
            };
            // A call answered in the head failed there; otherwise its status is in the
            // trailers, which come after this point: OK for all we know here.
            let code = Status::from_header_map(response.headers())
                .map_or(Code::Ok, |status| status.code());
            record_request_duration(route, &method, http_status_of(code), started.elapsed());
            Ok(response)
        })
    }
}

/// tonic answered an Export call without calling the handler: its message was refused while it
/// was read. Such answers are counted, and two of tonic's codes are replaced by the ones OTLP
/// prescribes: OUT_OF_RANGE (retryable for OTLP clients) for a message over the size limit
/// becomes RESOURCE_EXHAUSTED without RetryInfo (not retryable: the same message would be
/// refused again), and INTERNAL for a message that cannot be decoded becomes INVALID_ARGUMENT.
fn refused_before_handler(
    response: http::Response<Body>,
    max_message_bytes: usize,
) -> http::Response<Body> {
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    let (reason, replacement) = match status.code() {
        Code::Ok => return response,
        Code::OutOfRange | Code::ResourceExhausted => (
            ErrorCode::PayloadTooLarge,
            Status::resource_exhausted(format!(
                "the message must be at most {max_message_bytes} bytes, before and after gzip \
                 decompression ({})",
                status.message()
            )),
        ),
        Code::Internal => (
            ErrorCode::MalformedBody,
            Status::invalid_argument(format!(
                "the message is not a protobuf ExportLogsServiceRequest: {}",
                status.message()
            )),
        ),
        // A `grpc-encoding` other than gzip or identity.
        Code::Unimplemented => (ErrorCode::UnsupportedMediaType, status),
        _ => (ErrorCode::MalformedBody, status),
    };
    info!(reason = reason.as_str(), code = ?replacement.code(), message = replacement.message(), "otlp/grpc message refused");
    count_rejected_request(SOURCE, reason);
    replacement.into_http()
}
