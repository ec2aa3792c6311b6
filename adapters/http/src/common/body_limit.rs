//! Refuses request bodies over a size limit with 413, whether or not they declare their length.

use poem::{Body, Endpoint, Request, Response, Result};

use crate::common::error::{ErrorBody, ErrorCode};

/// An endpoint whose request bodies over `max_bytes` never reach the inner one.
pub(crate) struct BodyLimit<E> {
    inner: E,
    max_bytes: usize,
}

impl<E: Endpoint> BodyLimit<E> {
    pub(crate) fn new(inner: E, max_bytes: usize) -> Self {
        Self { inner, max_bytes }
    }
}

impl<E: Endpoint> Endpoint for BodyLimit<E> {
    type Output = Response;

    async fn call(&self, mut request: Request) -> Result<Response> {
        let declared = request
            .headers()
            .get(poem::http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.max_bytes as u64) {
            return Ok(too_large(self.max_bytes));
        }
        // Bodies without a declared length are read up to the limit and no further.
        let bytes = match request.take_body().into_bytes_limit(self.max_bytes).await {
            Ok(bytes) => bytes,
            Err(poem::error::ReadBodyError::PayloadTooLarge) => {
                return Ok(too_large(self.max_bytes));
            }
            Err(other) => return Err(other.into()),
        };
        request.set_body(Body::from(bytes));
        Ok(self.inner.get_response(request).await)
    }
}

fn too_large(max_bytes: usize) -> Response {
    ErrorBody::new(
        ErrorCode::PayloadTooLarge,
        None,
        format!("the request body must be at most {max_bytes} bytes"),
    )
    .into_response()
}
