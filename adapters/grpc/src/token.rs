//! The shared token between ingestion and the worker (`WORKER_GRPC_TOKEN`): the client sends it
//! as `authorization: Bearer <token>` metadata on every Drain call, the server checks it in an
//! interceptor before the call reaches the Worker service. The health service stays open.

use std::fmt;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};
use tracing::debug;

/// The shortest token accepted: shorter ones are guessable.
pub const MIN_TOKEN_CHARS: usize = 16;

const AUTHORIZATION: &str = "authorization";

/// A shared secret for the worker's gRPC port. Its `Debug` form hides it, so it can sit in
/// settings that get printed.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct SharedToken {
    /// SHA-256 of the token: what the server compares, in constant time.
    digest: [u8; 32],
    /// `Bearer <token>`, as the client sends it.
    header: AsciiMetadataValue,
}

/// A token that cannot be used. The message never contains it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a worker token must have at least {MIN_TOKEN_CHARS} characters, all visible ASCII, without spaces"
)]
pub struct InvalidToken;

impl SharedToken {
    /// Checks the token: at least [`MIN_TOKEN_CHARS`] visible ASCII characters.
    pub fn new(token: &str) -> Result<Self, InvalidToken> {
        if token.chars().count() < MIN_TOKEN_CHARS
            || !token.chars().all(|character| character.is_ascii_graphic())
        {
            return Err(InvalidToken);
        }
        let header =
            MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| InvalidToken)?;
        Ok(Self {
            digest: Sha256::digest(token.as_bytes()).into(),
            header,
        })
    }

    /// The token of a setting such as `WORKER_GRPC_TOKEN`: none when it is empty (or blank),
    /// else checked as by [`SharedToken::new`].
    pub fn from_setting(setting: &str) -> Result<Option<Self>, InvalidToken> {
        match setting.trim() {
            "" => Ok(None),
            token => Self::new(token).map(Some),
        }
    }

    /// Whether `presented` is this token, compared as SHA-256 digests in constant time.
    fn matches(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.digest.ct_eq(&presented).into()
    }
}

impl TryFrom<String> for SharedToken {
    type Error = InvalidToken;

    fn try_from(token: String) -> Result<Self, Self::Error> {
        Self::new(&token)
    }
}

impl PartialEq for SharedToken {
    fn eq(&self, other: &Self) -> bool {
        self.digest.ct_eq(&other.digest).into()
    }
}

impl Eq for SharedToken {}

impl fmt::Debug for SharedToken {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("SharedToken(..)")
    }
}

/// The server side: lets a call through when no token is required or when it carries the
/// token; otherwise `UNAUTHENTICATED`.
#[derive(Debug, Clone)]
pub(crate) struct RequireToken(pub(crate) Option<SharedToken>);

impl Interceptor for RequireToken {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.0 else {
            return Ok(request);
        };
        let presented = request
            .metadata()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, token) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            });
        match presented {
            Some(token) if expected.matches(token) => Ok(request),
            _ => {
                debug!("grpc call without the worker token refused");
                Err(Status::unauthenticated(
                    "missing or wrong worker token: send `authorization: Bearer <WORKER_GRPC_TOKEN>`",
                ))
            }
        }
    }
}

/// The client side: adds `authorization: Bearer <token>` to every call when a token is set.
#[derive(Debug, Clone)]
pub(crate) struct AttachToken(pub(crate) Option<SharedToken>);

impl Interceptor for AttachToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.0 {
            request
                .metadata_mut()
                .insert(AUTHORIZATION, token.header.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "worker-token-0123456789";

    fn call_with(authorization: Option<&str>) -> Request<()> {
        let mut request = Request::new(());
        if let Some(value) = authorization {
            request
                .metadata_mut()
                .insert(AUTHORIZATION, value.parse().unwrap());
        }
        request
    }

    #[test]
    fn an_empty_setting_means_no_token_and_a_set_one_is_checked() {
        assert!(SharedToken::from_setting("").unwrap().is_none());
        assert!(SharedToken::from_setting("  ").unwrap().is_none());
        assert_eq!(
            SharedToken::from_setting("short").unwrap_err(),
            InvalidToken
        );
        let token = SharedToken::from_setting(TOKEN).unwrap().unwrap();
        assert!(token.matches(TOKEN));
    }

    #[test]
    fn short_or_spaced_tokens_are_refused() {
        assert_eq!(SharedToken::new("short").unwrap_err(), InvalidToken);
        assert_eq!(
            SharedToken::new("has a space in it, long").unwrap_err(),
            InvalidToken
        );
        assert!(SharedToken::new(TOKEN).is_ok());
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let token = SharedToken::new(TOKEN).unwrap();
        assert_eq!(format!("{token:?}"), "SharedToken(..)");
    }

    #[test]
    fn the_server_lets_through_only_the_bearer_token_when_one_is_required() {
        let mut check = RequireToken(Some(SharedToken::new(TOKEN).unwrap()));
        assert!(
            check
                .call(call_with(Some(&format!("Bearer {TOKEN}"))))
                .is_ok()
        );
        assert!(
            check
                .call(call_with(Some(&format!("bearer {TOKEN}"))))
                .is_ok()
        );
        for refused in [
            None,
            Some("Bearer wrong-token-0123456789"),
            Some(TOKEN),
            Some("Bearer"),
        ] {
            let status = check.call(call_with(refused)).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{refused:?}");
            assert!(!status.message().contains(TOKEN));
        }
        let mut open = RequireToken(None);
        assert!(open.call(call_with(None)).is_ok());
    }

    #[test]
    fn the_client_attaches_what_the_server_expects() {
        let token = SharedToken::new(TOKEN).unwrap();
        let request = AttachToken(Some(token.clone()))
            .call(Request::new(()))
            .unwrap();
        assert!(RequireToken(Some(token)).call(request).is_ok());
        let bare = AttachToken(None).call(Request::new(())).unwrap();
        assert!(bare.metadata().get(AUTHORIZATION).is_none());
    }
}
