//! A service's OpenAPI document as it is served (`/openapi.json`, and Swagger UI at `/docs`), and
//! what the document knows of the routes: the methods each path allows, which every `405 Method
//! Not Allowed` names in its `Allow` header (RFC 9110, section 15.5.6).
//!
//! The operations that take [`crate::common::access::Authorized`] declare the API-key security
//! schemes. A service without keys of its scope runs open; its document then declares none, so
//! that it promises no refusal the service never makes.

use std::sync::Arc;

use poem::http::header::ALLOW;
use poem::http::{HeaderValue, Method, StatusCode};
use poem::web::Html;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Result, Route};
use poem_openapi::{OpenApi, OpenApiService, Webhook};
use serde_json::Value;

/// The document of one service, and its Swagger UI page, ready to be served.
#[derive(Debug, Clone)]
pub(crate) struct ServedDocument {
    json: String,
    swagger_html: String,
}

impl ServedDocument {
    /// `api`'s document; without security schemes and requirements when the service is `open`.
    pub(crate) fn new<T: OpenApi, W: Webhook>(api: &OpenApiService<T, W>, open: bool) -> Self {
        let generated = api.spec();
        let json = if open {
            without_security(&generated)
        } else {
            generated.clone()
        };
        // The page embeds the document as it was generated; it shows the served one instead.
        let swagger_html = api.swagger_ui_html().replacen(&generated, &json, 1);
        Self { json, swagger_html }
    }

    /// `GET /openapi.json`.
    pub(crate) fn spec_endpoint(&self) -> impl Endpoint<Output = Response> + 'static {
        let json = self.json.clone();
        poem::endpoint::make_sync(move |_| {
            Response::builder()
                .content_type("application/json")
                .body(json.clone())
        })
    }

    /// Swagger UI, to be nested at `/docs`.
    pub(crate) fn swagger_ui(&self) -> impl Endpoint<Output = Response> + 'static {
        let html = self.swagger_html.clone();
        Route::new()
            .at(
                "/",
                poem::endpoint::make_sync(move |_| Html(html.clone()).into_response()),
            )
            .map_to_response()
    }

    /// The methods of every path of the document.
    pub(crate) fn allowed_methods(&self) -> AllowedMethods {
        AllowedMethods::from_document(&self.json)
    }
}

/// The document without `components.securitySchemes` and without the `security` requirement of
/// any operation.
fn without_security(json: &str) -> String {
    let Ok(mut document) = serde_json::from_str::<Value>(json) else {
        return json.to_owned();
    };
    if let Some(components) = document
        .get_mut("components")
        .and_then(Value::as_object_mut)
    {
        components.remove("securitySchemes");
    }
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        for operations in paths.values_mut().filter_map(Value::as_object_mut) {
            for operation in operations.values_mut().filter_map(Value::as_object_mut) {
                operation.remove("security");
            }
        }
    }
    serde_json::to_string_pretty(&document).unwrap_or_else(|_| json.to_owned())
}

/// One path template of the document (`/logs`, `/label/{name}/values`) and the value of its
/// `Allow` header.
#[derive(Debug, Clone)]
struct PathMethods {
    segments: Vec<Segment>,
    allow: HeaderValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `{name}`: any one segment.
    Parameter,
}

/// The methods each path of a document allows.
#[derive(Debug, Clone, Default)]
pub(crate) struct AllowedMethods {
    paths: Vec<PathMethods>,
    /// For a route outside the document: the methods it serves, whatever the path.
    fixed: Option<HeaderValue>,
}

/// The operation keys of an OpenAPI path item that are methods.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

impl AllowedMethods {
    fn from_document(json: &str) -> Self {
        let document: Value = serde_json::from_str(json).unwrap_or_default();
        let Some(paths) = document.get("paths").and_then(Value::as_object) else {
            return Self::default();
        };
        let paths = paths
            .iter()
            .filter_map(|(template, operations)| {
                let mut methods: Vec<Method> = METHODS
                    .iter()
                    .filter(|method| operations.get(**method).is_some())
                    .filter_map(|method| Method::from_bytes(method.to_uppercase().as_bytes()).ok())
                    .collect();
                // poem answers HEAD wherever it answers GET.
                if methods.contains(&Method::GET) && !methods.contains(&Method::HEAD) {
                    methods.push(Method::HEAD);
                }
                let allow = methods
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                Some(PathMethods {
                    segments: segments(template),
                    allow: HeaderValue::from_str(&allow).ok()?,
                })
            })
            .collect();
        Self { paths, fixed: None }
    }

    /// One `Allow` for every path: for a route outside the OpenAPI document, which names the
    /// methods it serves itself, as the header writes them (`GET, POST, HEAD`).
    pub(crate) fn fixed(allow: &'static str) -> Self {
        Self {
            paths: Vec::new(),
            fixed: Some(HeaderValue::from_static(allow)),
        }
    }

    /// The `Allow` value of `path`, when the document has it.
    pub(crate) fn allow(&self, path: &str) -> Option<&HeaderValue> {
        if let Some(fixed) = &self.fixed {
            return Some(fixed);
        }
        let requested: Vec<&str> = split(path).collect();
        self.paths
            .iter()
            .find(|candidate| {
                candidate.segments.len() == requested.len()
                    && candidate.segments.iter().zip(&requested).all(
                        |(segment, part)| match segment {
                            Segment::Literal(literal) => literal == part,
                            Segment::Parameter => !part.is_empty(),
                        },
                    )
            })
            .map(|found| &found.allow)
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.trim_start_matches('/').split('/')
}

fn segments(template: &str) -> Vec<Segment> {
    split(template)
        .map(|part| {
            if part.starts_with('{') && part.ends_with('}') {
                Segment::Parameter
            } else {
                Segment::Literal(part.to_owned())
            }
        })
        .collect()
}

/// Adds `Allow` to every 405 of `inner` that lacks one (poem's own 405 has none).
pub(crate) struct AllowOn405<E> {
    inner: E,
    allowed: Arc<AllowedMethods>,
}

impl<E: Endpoint> AllowOn405<E> {
    pub(crate) fn new(inner: E, allowed: AllowedMethods) -> Self {
        Self {
            inner,
            allowed: Arc::new(allowed),
        }
    }
}

impl<E: Endpoint> Endpoint for AllowOn405<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> Result<Response> {
        let path = request.uri().path().to_owned();
        let mut response = self.inner.get_response(request).await;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED
            && !response.headers().contains_key(ALLOW)
            && let Some(allow) = self.allowed.allow(&path)
        {
            response.headers_mut().insert(ALLOW, allow.clone());
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn document() -> String {
        json!({
            "openapi": "3.0.0",
            "paths": {
                "/logs": {"get": {"security": [{"bearer": []}]}},
                "/ingest": {"post": {"security": [{"bearer": []}, {"api_key": []}]}},
                "/health": {"get": {}},
                "/label/{name}/values": {"get": {}, "post": {}},
            },
            "components": {
                "schemas": {"ErrorBody": {"type": "object"}},
                "securitySchemes": {"bearer": {"type": "http"}},
            },
        })
        .to_string()
    }

    #[test]
    fn an_open_service_declares_no_security_and_keeps_the_rest() {
        let open: Value = serde_json::from_str(&without_security(&document())).unwrap();

        assert!(open["components"].get("securitySchemes").is_none());
        assert!(open["components"]["schemas"]["ErrorBody"].is_object());
        for (path, operations) in open["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                assert!(operation.get("security").is_none(), "{method} {path}");
            }
        }
        assert!(open["paths"]["/ingest"]["post"].is_object());
    }

    #[test]
    fn allow_names_the_methods_of_the_matching_path_with_head_beside_get() {
        let allowed = AllowedMethods::from_document(&document());

        let allow = |path| allowed.allow(path).map(|value| value.to_str().unwrap());
        assert_eq!(allow("/logs"), Some("GET, HEAD"));
        assert_eq!(allow("/ingest"), Some("POST"));
        assert_eq!(allow("/label/level/values"), Some("GET, POST, HEAD"));
        assert_eq!(allow("/label//values"), None);
        assert_eq!(allow("/logs/else"), None);
        assert_eq!(allow("/nothing"), None);

        let fixed = AllowedMethods::fixed("GET, POST, HEAD");
        assert_eq!(
            fixed
                .allow("/anything/at/all")
                .map(|value| value.to_str().unwrap()),
            Some("GET, POST, HEAD")
        );
    }
}
