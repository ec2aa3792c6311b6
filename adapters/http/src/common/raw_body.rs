//! A request body taken as it came, with the headers that say how to read it, for protocols
//! that read and limit the body themselves so as to answer every problem in their own format
//! (OTLP/HTTP, Loki push). Nothing is checked here.

use poem::http::HeaderValue;
use poem::http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use poem::{Body, Request, RequestBody};

/// The body of a request and its `Content-Type`, `Content-Encoding` and `Content-Length`.
#[derive(Debug)]
pub(crate) struct RawBody {
    pub(crate) content_type: Option<String>,
    pub(crate) content_encoding: Option<String>,
    /// `Content-Length`, when the client sent one that reads as a number.
    pub(crate) declared_length: Option<u64>,
    pub(crate) body: Body,
}

impl RawBody {
    /// Takes the body of `request`; a header that is not text reads as `(not text)`.
    pub(crate) fn take(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let header = |name| {
            request
                .headers()
                .get(name)
                .map(|value: &HeaderValue| value.to_str().unwrap_or("(not text)").to_owned())
        };
        Ok(Self {
            content_type: request.content_type().map(str::to_owned),
            content_encoding: header(CONTENT_ENCODING),
            declared_length: header(CONTENT_LENGTH).and_then(|length| length.parse().ok()),
            body: body.take()?,
        })
    }
}
