//! Answers in Elasticsearch's shapes: the bulk answer with one item per action, the error
//! document `{"error":{"root_cause":[..],"type","reason"},"status"}`, and the root document
//! clients read the version from. Every answer carries `X-Elastic-Product: Elasticsearch`
//! ([`ProductHeader`]), which official clients check.

use poem::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use poem::http::{HeaderValue, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};
use serde_json::{Value, json};

use crate::common::error::RETRY_AFTER_SECONDS;

const PRODUCT_HEADER: &str = "x-elastic-product";
const PRODUCT: &str = "Elasticsearch";

/// The version this service reports: a current 8.x, which the 8.x clients (and shippers that
/// read the major version to pick their bulk format) accept.
pub(crate) const COMPATIBLE_VERSION: &str = "8.11.0";

/// Adds the product header to every answer of the inner endpoint, errors included.
pub(crate) struct ProductHeader<E> {
    pub(crate) inner: E,
}

impl<E: Endpoint> Endpoint for ProductHeader<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        let mut response = self.inner.get_response(request).await;
        response
            .headers_mut()
            .insert(PRODUCT_HEADER, HeaderValue::from_static(PRODUCT));
        Ok(response)
    }
}

/// A JSON answer.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body.to_string())
}

/// An error document for the whole request.
pub(crate) fn error_response(status: StatusCode, error_type: &str, reason: &str) -> Response {
    let body = json!({
        "error": {
            "root_cause": [{"type": error_type, "reason": reason}],
            "type": error_type,
            "reason": reason,
        },
        "status": status.as_u16(),
    });
    let mut response = json_response(status, &body);
    if matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    }
    response
}

/// A refused key: 401 with the schemes Elasticsearch clients use, or 403.
pub(crate) fn denied_response(status: StatusCode, reason: &str) -> Response {
    let mut response = error_response(status, "security_exception", reason);
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("ApiKey, Basic realm=\"ingest\", Bearer realm=\"ingest\""),
        );
    }
    response
}

/// The answer to a request that ran out of time while its body arrived.
pub(crate) fn timed_out(_content_type: Option<&str>, reason: String) -> Response {
    error_response(StatusCode::SERVICE_UNAVAILABLE, "request_timeout", &reason).into_response()
}

/// `GET /`: the cluster's identity and version.
pub(crate) fn root_document() -> Value {
    json!({
        "name": "logpipeline-ingestion",
        "cluster_name": "logpipeline",
        "cluster_uuid": "bG9ncGlwZWxpbmUtaW5n",
        "version": {
            "number": COMPATIBLE_VERSION,
            "build_flavor": "default",
            "build_type": "tar",
            "build_hash": "unknown",
            "build_date": "2023-11-04T10:04:57.184859352Z",
            "build_snapshot": false,
            "lucene_version": "9.8.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    })
}

/// One item of the bulk answer.
pub(crate) enum ItemAnswer {
    Created {
        id: String,
    },
    Failed {
        status: StatusCode,
        error_type: &'static str,
        reason: String,
    },
}

/// `{"<action>": {"_index", "_id", "status", ...}}`.
pub(crate) fn item(
    action: &str,
    index: Option<&str>,
    id: Option<&str>,
    answer: ItemAnswer,
    sequence: usize,
) -> Value {
    let body = match answer {
        ItemAnswer::Created { id } => json!({
            "_index": index,
            "_id": id,
            "_version": 1,
            "result": "created",
            "_shards": {"total": 1, "successful": 1, "failed": 0},
            "_seq_no": sequence,
            "_primary_term": 1,
            "status": 201,
        }),
        ItemAnswer::Failed {
            status,
            error_type,
            reason,
        } => json!({
            "_index": index,
            "_id": id,
            "status": status.as_u16(),
            "error": {"type": error_type, "reason": reason},
        }),
    };
    json!({ action: body })
}
