//! API keys in poem: the [`Authorized`] guard that protected operations take as a parameter, and
//! the answers to refused requests (401 with `WWW-Authenticate`, 403). The decisions themselves
//! are in [`crate::common::keys`].
//!
//! A key is sent as `Authorization: Bearer <key>`, as the password of `Authorization: Basic`
//! (any user name), or as `X-API-Key: <key>`; when `Authorization` and `X-API-Key` are both
//! there, `Authorization` counts. The OpenAPI documents declare the three ways as security
//! schemes on every protected operation, so Swagger UI's "Authorize" button can send a key.

use std::sync::Arc;

use poem::http::header::AUTHORIZATION;
use poem::http::{HeaderMap, HeaderValue, StatusCode};
use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaSecurityScheme, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use tracing::{info, warn};

use crate::common::error::{ErrorBody, ErrorCode, http_status};
use crate::common::keys::{ApiKeys, Denial, Scope};

/// The header that carries a key when `Authorization` does not.
pub(crate) const API_KEY_HEADER: &str = "X-API-Key";
/// The names of the security schemes in the OpenAPI documents.
const BEARER_SCHEME: &str = "bearer";
const API_KEY_SCHEME: &str = "api_key";
const BASIC_SCHEME: &str = "basic";

/// The keys a service knows and the scope it requires; the app installs it as request data for
/// [`Authorized`] to read.
#[derive(Debug, Clone)]
pub(crate) struct AccessPolicy {
    keys: Arc<ApiKeys>,
    scope: Scope,
}

impl AccessPolicy {
    pub(crate) fn new(keys: Arc<ApiKeys>, scope: Scope) -> Self {
        Self { keys, scope }
    }
}

/// Proof that a request may use the service: it sent a key of the service's scope, or the
/// service has no keys of its scope and runs open. An operation that takes it as a parameter
/// is protected and documents the two security schemes; when the key is missing or refused,
/// extraction fails with [`AccessDenied`], which the operation's `bad_request_handler` turns
/// into its 401 or 403 answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Authorized;

impl<'a> ApiExtractor<'a> for Authorized {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            BEARER_SCHEME,
            MetaSecurityScheme {
                ty: "http",
                description: Some("An API key as `Authorization: Bearer <key>`."),
                name: None,
                key_in: None,
                scheme: Some("bearer"),
                bearer_format: Some("API key"),
                flows: None,
                openid_connect_url: None,
            },
        );
        registry.create_security_scheme(
            BASIC_SCHEME,
            MetaSecurityScheme {
                ty: "http",
                description: Some(
                    "An API key as the password of HTTP Basic auth (any user name), as log \
                     shippers send credentials.",
                ),
                name: None,
                key_in: None,
                scheme: Some("basic"),
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
        registry.create_security_scheme(
            API_KEY_SCHEME,
            MetaSecurityScheme {
                ty: "apiKey",
                description: Some("An API key as `X-API-Key: <key>`."),
                name: Some(API_KEY_HEADER),
                key_in: Some("header"),
                scheme: None,
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![BEARER_SCHEME, BASIC_SCHEME, API_KEY_SCHEME]
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        authorize(request, None)?;
        Ok(Self)
    }
}

/// Decides whether `request` may use the service. `protocol_key` is a key a protocol found
/// where its own clients send one (an Elasticsearch `ApiKey` header, ...); it counts before the
/// ways every protocol accepts. Protocols answering outside an OpenAPI operation call this
/// directly and answer a refusal in their own format.
pub(crate) fn authorize(request: &Request, protocol_key: Option<&str>) -> Result<(), AccessDenied> {
    // Only a refusal needs the content type (OTLP answers in the request's encoding).
    let content_type = || request.content_type().map(str::to_owned);
    let Some(policy) = request.data::<AccessPolicy>() else {
        // The apps always install a policy; without one, refuse rather than run open.
        warn!("no access policy installed; refusing the request");
        return Err(AccessDenied::new(
            Denial::Missing,
            Scope::Ingest,
            content_type(),
        ));
    };
    let presented = presented_key(request.headers());
    let key = protocol_key.or(presented.as_deref());
    policy.keys.authorize(policy.scope, key).map_err(|denial| {
        // Never the key itself: only why it was refused.
        info!(scope = %policy.scope, denial = ?denial, "request refused");
        AccessDenied::new(denial, policy.scope, content_type())
    })
}

/// The key a request presents: from `Authorization`, the bearer token or the password of Basic
/// credentials (any user name: shippers such as Promtail, Fluent Bit and the Loki libraries
/// only know Basic auth), else `X-API-Key`. A header that is not text, or Basic credentials that
/// are not base64 of `user:password`, present a key that matches nothing. The same headers carry
/// the key in gRPC metadata (OTLP/gRPC).
pub fn presented_key(headers: &HeaderMap) -> Option<String> {
    fn text(value: &HeaderValue) -> &str {
        value.to_str().unwrap_or_default().trim()
    }
    let from_authorization = headers.get(AUTHORIZATION).and_then(|value| {
        let (scheme, credentials) = text(value).split_once(' ')?;
        let credentials = credentials.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            Some(credentials.to_owned())
        } else if scheme.eq_ignore_ascii_case("basic") {
            Some(basic_password(credentials).unwrap_or_default())
        } else {
            None
        }
    });
    from_authorization.or_else(|| {
        headers
            .get(API_KEY_HEADER)
            .map(|value| text(value).to_owned())
    })
}

/// The password of Basic credentials (RFC 7617: base64 of `user-id:password`, the user id
/// without a colon).
fn basic_password(credentials: &str) -> Option<String> {
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (_user, password) = decoded.split_once(':')?;
    Some(password.to_owned())
}

/// A refused request, carried inside a `poem::Error` from [`Authorized`] to the operation's
/// answer. `content_type` is the request's, for answers in the request's encoding (OTLP).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.reason())]
pub(crate) struct AccessDenied {
    pub(crate) denial: Denial,
    scope: Scope,
    pub(crate) content_type: Option<String>,
}

/// How an API answers a refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeniedAnswer {
    /// 401 with this error body and the `WWW-Authenticate` challenge.
    Unauthorized(ErrorBody, String),
    /// 403 with this error body.
    Forbidden(ErrorBody),
}

impl AccessDenied {
    fn new(denial: Denial, scope: Scope, content_type: Option<String>) -> Self {
        Self {
            denial,
            scope,
            content_type,
        }
    }

    /// 401 for a missing or unknown key, 403 for a key of another scope: the status of
    /// [`Self::code`].
    pub(crate) fn status(&self) -> StatusCode {
        http_status(self.code())
    }

    /// A sentence for humans.
    pub(crate) fn reason(&self) -> String {
        let scope = self.scope;
        match self.denial {
            Denial::Missing => format!(
                "this endpoint needs an API key of scope `{scope}`: send `Authorization: Bearer \
                 <key>`, `{API_KEY_HEADER}: <key>` or the key as the password of Basic auth"
            ),
            Denial::Unknown => {
                format!("the API key is not valid; send a configured key of scope `{scope}`")
            }
            Denial::WrongScope { required } => format!(
                "the API key is valid but not of scope `{required}`, which this service requires"
            ),
        }
    }

    /// The `WWW-Authenticate` challenge of a 401 (RFC 6750): the realm is the scope, and an
    /// unknown key adds `error="invalid_token"`.
    pub(crate) fn challenge(&self) -> String {
        match self.denial {
            Denial::Unknown => format!("Bearer realm=\"{}\", error=\"invalid_token\"", self.scope),
            Denial::Missing | Denial::WrongScope { .. } => {
                format!("Bearer realm=\"{}\"", self.scope)
            }
        }
    }

    /// The error code: `missing_api_key`, `invalid_api_key` (401) or `insufficient_scope`
    /// (403).
    pub(crate) fn code(&self) -> ErrorCode {
        self.denial.code()
    }

    /// The answer in our error format, with [`Self::code`].
    pub(crate) fn answer(&self) -> DeniedAnswer {
        let body = ErrorBody::new(self.code(), None, self.reason());
        match self.status() {
            StatusCode::FORBIDDEN => DeniedAnswer::Forbidden(body),
            _ => DeniedAnswer::Unauthorized(body, self.challenge()),
        }
    }
}

impl From<AccessDenied> for poem::Error {
    fn from(denied: AccessDenied) -> Self {
        let status = denied.status();
        poem::Error::new(denied, status)
    }
}

/// The refusal inside a request error, if that is what it is.
pub(crate) fn denied_answer(error: &poem::Error) -> Option<DeniedAnswer> {
    error
        .downcast_ref::<AccessDenied>()
        .map(AccessDenied::answer)
}
