//! A request body taken as it came, with the headers that say how to read it, for protocols
//! that read and limit the body themselves so as to answer every problem in their own format
//! (OTLP/HTTP, Loki push). [`RawBody::read_limited`] reads it within the body limit, before and
//! after gzip; each protocol words the [`BodyError`] in its own format.

use bytes::Bytes;
use poem::http::HeaderValue;
use poem::http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use poem::{Body, Request, RequestBody};

use crate::common::gzip::{GunzipError, gunzip_limited};

/// Why a body could not be read within its limit.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// Larger than the limit: as declared by `Content-Length`, as sent, or once inflated.
    #[error("the body is larger than {max_bytes} bytes")]
    TooLarge { max_bytes: usize },
    /// The body could not be read (the connection failed or it was cut short).
    #[error("the body could not be read: {0}")]
    Unreadable(String),
    /// The body is not valid gzip.
    #[error("{0}")]
    Corrupt(GunzipError),
}

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

impl RawBody {
    /// Reads the whole body, inflating it when `gzip`: refused before reading when
    /// `Content-Length` is over `max_bytes`, and cut off as soon as it, or what it inflates to,
    /// passes `max_bytes`.
    pub(crate) async fn read_limited(
        self,
        max_bytes: usize,
        gzip: bool,
    ) -> Result<Bytes, BodyError> {
        if self
            .declared_length
            .is_some_and(|length| length > max_bytes as u64)
        {
            return Err(BodyError::TooLarge { max_bytes });
        }
        let bytes = self
            .body
            .into_bytes_limit(max_bytes)
            .await
            .map_err(|error| match error {
                poem::error::ReadBodyError::PayloadTooLarge => BodyError::TooLarge { max_bytes },
                other => BodyError::Unreadable(other.to_string()),
            })?;
        if !gzip {
            return Ok(bytes);
        }
        match gunzip_limited(&bytes, max_bytes) {
            Ok(inflated) => Ok(Bytes::from(inflated)),
            Err(GunzipError::TooLarge { max_bytes }) => Err(BodyError::TooLarge { max_bytes }),
            Err(corrupt) => Err(BodyError::Corrupt(corrupt)),
        }
    }
}
