//! Elasticsearch's bulk API on the ingestion service, so that shippers configured for
//! Elasticsearch (Beats, Fluent Bit, Vector, rsyslog's omelasticsearch, the official clients'
//! bulk helpers) send here by changing only the URL.
//!
//! - `POST /_bulk`, `POST /{index}/_bulk` (also `PUT`): NDJSON action/source pairs; `index` and
//!   `create` documents become events (see [`mapping`]), `update` and `delete` are answered per
//!   item with an error. Gzip bodies. The answer is Elasticsearch's: `took`, `errors` and one
//!   item per action with its status.
//! - `GET /` and `HEAD /`: the version document clients read; `GET`/`HEAD /_cat/health`, which
//!   rsyslog asks before sending. These need no key (they reveal nothing).
//! - Every answer carries `X-Elastic-Product: Elasticsearch`.
//!
//! Documents go through the same `IngestUseCase::ingest_batch` as `POST /ingest`: one push per
//! request, same validation, limits and queue. Keys: the common ways, and Elasticsearch's own
//! `Authorization: ApiKey <base64(id:key)>` (the key part is the API key).

mod bulk;
mod mapping;
mod response;

use std::time::{Duration, Instant};

use application::IngestUseCase;
use base64::Engine as _;
use poem::http::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH};
use poem::http::{Method, StatusCode};
use poem::{Endpoint, Request, Response, Route, get, handler};
use serde_json::json;
use tracing::info;

use crate::common::access::authorize;
use crate::common::config::IngestHttpConfig;
use crate::common::error::Failure;
use crate::common::error_code::ErrorCode;
use crate::common::gzip::{GunzipError, gunzip_limited};
use crate::common::metrics::{
    IngestSource, count_accepted, count_rejected, count_rejected_request, failure_code,
};
use crate::common::timeout::RequestTimeout;
use crate::common::trace::RequestTraceId;
use crate::ingest::body::BodyEncoding;
use bulk::{Action, BulkItem, parse_bulk};
use response::{
    ItemAnswer, ProductHeader, denied_response, error_response, item, json_response, root_document,
};

/// The ingestion service's routes with the Elasticsearch ones added. The root (`/`) is answered
/// in front of the routes: the OpenAPI operations are nested at `/`, which takes the root path
/// from any route added beside them.
pub(crate) fn mount(
    routes: Route,
    ingest: IngestUseCase,
    limits: IngestHttpConfig,
    deadline: Duration,
) -> impl Endpoint<Output = Response> {
    let bulk = || {
        let endpoint = Bulk {
            ingest: ingest.clone(),
            limits,
        };
        let endpoint = RequestTimeout::body_only(endpoint, deadline).answering(response::timed_out);
        ProductHeader { inner: endpoint }
    };
    let routes = routes.at("/_bulk", bulk()).at("/:index/_bulk", bulk()).at(
        "/_cat/health",
        ProductHeader {
            inner: get(cat_health).head(cat_health),
        },
    );
    WithRoot {
        root: ProductHeader {
            inner: get(root).head(root),
        },
        routes,
    }
}

/// `/` to `root`, every other path to `routes`.
struct WithRoot<R, E> {
    root: R,
    routes: E,
}

impl<R: Endpoint, E: Endpoint> Endpoint for WithRoot<R, E> {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        if request.uri().path() == "/" {
            return Ok(self.root.get_response(request).await);
        }
        Ok(self.routes.get_response(request).await)
    }
}

#[handler]
fn root() -> Response {
    json_response(StatusCode::OK, &root_document())
}

#[handler]
fn cat_health() -> Response {
    Response::builder()
        .content_type("text/plain; charset=UTF-8")
        .body("0 00:00:00 logpipeline green 1 1 0 0 0 0 0 0 - 100.0%\n")
}

/// `POST /_bulk` and `POST /{index}/_bulk`.
struct Bulk {
    ingest: IngestUseCase,
    limits: IngestHttpConfig,
}

impl Endpoint for Bulk {
    type Output = Response;

    async fn call(&self, mut request: Request) -> poem::Result<Response> {
        if request.method() != Method::POST && request.method() != Method::PUT {
            return Ok(error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "the bulk API takes POST or PUT",
            ));
        }
        let key = api_key(&request);
        if let Err(denied) = authorize(&request, key.as_deref()) {
            count_rejected_request(IngestSource::Elasticsearch, denied.code());
            return Ok(denied_response(denied.status(), &denied.reason()));
        }
        let started = Instant::now();
        let path_index = request.raw_path_param("index").map(str::to_owned);
        let trace = request
            .extensions()
            .get::<RequestTraceId>()
            .map(|trace| trace.0);
        let body = match self.read_body(&mut request).await {
            Ok(body) => body,
            Err((status, error_type, reason)) => {
                let code = match error_type {
                    "payload_too_large" => ErrorCode::PayloadTooLarge,
                    "unsupported_media_type" => ErrorCode::UnsupportedMediaType,
                    _ => ErrorCode::MalformedBody,
                };
                count_rejected_request(IngestSource::Elasticsearch, code);
                return Ok(error_response(status, error_type, &reason));
            }
        };
        let items = match parse_bulk(&body, path_index.as_deref()) {
            Ok(items) => items,
            Err(error) => {
                count_rejected_request(IngestSource::Elasticsearch, ErrorCode::MalformedBody);
                return Ok(error_response(
                    StatusCode::BAD_REQUEST,
                    error.error_type(),
                    &error.to_string(),
                ));
            }
        };
        let documents = items
            .iter()
            .filter(|item| matches!(item.action, Action::Index | Action::Create))
            .count();
        if documents > self.limits.max_batch_events {
            count_rejected_request(IngestSource::Elasticsearch, ErrorCode::TooManyEvents);
            return Ok(error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_events",
                &format!(
                    "a bulk request may hold at most {} documents, this one holds {documents}; nothing was accepted",
                    self.limits.max_batch_events
                ),
            ));
        }
        Ok(self.ingest_items(items, trace, started).await)
    }
}

impl Bulk {
    /// The body, read within the limit and inflated when gzip.
    async fn read_body(
        &self,
        request: &mut Request,
    ) -> Result<Vec<u8>, (StatusCode, &'static str, String)> {
        let max_bytes = self.limits.max_body_bytes;
        let too_large = || {
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the request body must be at most {max_bytes} bytes"),
            )
        };
        let header = |name| {
            request
                .headers()
                .get(name)
                .map(|value: &poem::http::HeaderValue| value.to_str().unwrap_or("(not text)"))
        };
        let encoding = header(CONTENT_ENCODING);
        let compression = BodyEncoding::from_header(encoding).ok_or_else(|| {
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "Content-Encoding {:?} is not supported: send gzip or no encoding",
                    encoding.unwrap_or_default()
                ),
            )
        })?;
        if header(CONTENT_LENGTH)
            .and_then(|length| length.parse::<u64>().ok())
            .is_some_and(|length| length > max_bytes as u64)
        {
            return Err(too_large());
        }
        let bytes = request
            .take_body()
            .into_bytes_limit(max_bytes)
            .await
            .map_err(|error| match error {
                poem::error::ReadBodyError::PayloadTooLarge => too_large(),
                other => (
                    StatusCode::BAD_REQUEST,
                    "malformed_body",
                    format!("the body could not be read: {other}"),
                ),
            })?;
        match compression {
            BodyEncoding::Identity => Ok(bytes.to_vec()),
            BodyEncoding::Gzip => gunzip_limited(&bytes, max_bytes).map_err(|error| match error {
                GunzipError::TooLarge { .. } => too_large(),
                GunzipError::Corrupt(_) => {
                    (StatusCode::BAD_REQUEST, "malformed_body", error.to_string())
                }
            }),
        }
    }

    /// Maps the documents, queues the valid ones with one push, and answers item by item.
    async fn ingest_items(
        &self,
        items: Vec<BulkItem>,
        trace: Option<domain::TraceId>,
        started: Instant,
    ) -> Response {
        let mut answers: Vec<Option<ItemAnswer>> = Vec::with_capacity(items.len());
        let mut drafts = Vec::new();
        let mut malformed = 0;
        let mut unsupported = 0;
        for item in &items {
            let answer = match (&item.action, &item.source, &item.index) {
                (Action::Unsupported(name), _, _) => {
                    unsupported += 1;
                    Some(ItemAnswer::Failed {
                        status: StatusCode::BAD_REQUEST,
                        error_type: "illegal_argument_exception",
                        reason: format!(
                            "the `{name}` action is not supported: logs are only appended (index, create)"
                        ),
                    })
                }
                (_, Err(reason), _) => {
                    malformed += 1;
                    Some(ItemAnswer::Failed {
                        status: StatusCode::BAD_REQUEST,
                        error_type: "document_parsing_exception",
                        reason: reason.clone(),
                    })
                }
                (_, Ok(_), None) => {
                    malformed += 1;
                    Some(ItemAnswer::Failed {
                        status: StatusCode::BAD_REQUEST,
                        error_type: "action_request_validation_exception",
                        reason: "index is missing: name it in the action (`_index`) or the path (`/{index}/_bulk`)".into(),
                    })
                }
                (_, Ok(document), Some(index)) => {
                    drafts.push(mapping::to_draft(
                        document.clone(),
                        Some(index),
                        item.id.as_deref(),
                    ));
                    None
                }
            };
            answers.push(answer);
        }
        count_rejected(
            IngestSource::Elasticsearch,
            ErrorCode::MalformedJson,
            malformed,
        );
        count_rejected(
            IngestSource::Elasticsearch,
            ErrorCode::BadRequest,
            unsupported,
        );
        let submitted = drafts.len();
        let outcome = match self.ingest.ingest_batch(drafts, trace).await {
            Ok(outcome) => outcome,
            Err(error) => {
                let failure = Failure::from(error);
                count_rejected(
                    IngestSource::Elasticsearch,
                    failure_code(&failure),
                    submitted,
                );
                return failure_response(&failure);
            }
        };
        count_accepted(IngestSource::Elasticsearch, outcome.accepted.len());
        count_rejected(
            IngestSource::Elasticsearch,
            ErrorCode::InvalidField,
            outcome.rejected.len(),
        );
        let mut rejected = outcome.rejected.iter().peekable();
        let mut accepted = outcome.accepted.iter();
        let mut draft_index = 0;
        let mut errors = malformed + unsupported > 0;
        let mut rendered = Vec::with_capacity(items.len());
        for (sequence, (item, answer)) in items.iter().zip(answers).enumerate() {
            let answer = match answer {
                Some(answer) => answer,
                None => {
                    let position = draft_index;
                    draft_index += 1;
                    match rejected.next_if(|rejection| rejection.index == position) {
                        Some(rejection) => {
                            errors = true;
                            ItemAnswer::Failed {
                                status: StatusCode::BAD_REQUEST,
                                error_type: "document_parsing_exception",
                                reason: rejection.error.to_string(),
                            }
                        }
                        None => {
                            // The client's `_id` when it named the document, else the event's.
                            let event = accepted.next();
                            ItemAnswer::Created {
                                id: item
                                    .id
                                    .clone()
                                    .or_else(|| event.map(|event| event.event_id.to_string()))
                                    .unwrap_or_default(),
                            }
                        }
                    }
                }
            };
            rendered.push(item_json(item, answer, sequence));
        }
        info!(
            accepted = outcome.accepted.len(),
            rejected = items.len() - outcome.accepted.len(),
            "elasticsearch bulk ingested"
        );
        let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        json_response(
            StatusCode::OK,
            &json!({"took": took, "errors": errors, "items": rendered}),
        )
    }
}

fn item_json(bulk_item: &BulkItem, answer: ItemAnswer, sequence: usize) -> serde_json::Value {
    item(
        bulk_item.action.name(),
        bulk_item.index.as_deref(),
        bulk_item.id.as_deref(),
        answer,
        sequence,
    )
}

/// A failure of the whole push in Elasticsearch's shape: 429 and 503 with `Retry-After`.
fn failure_response(failure: &Failure) -> Response {
    match failure {
        Failure::TooManyRequests(body) => error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "es_rejected_execution_exception",
            &body.reason,
        ),
        Failure::Unavailable(body) => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable_shards_exception",
            &body.reason,
        ),
        Failure::BadRequest(body) => error_response(
            StatusCode::BAD_REQUEST,
            "illegal_argument_exception",
            &body.reason,
        ),
        Failure::Internal(body) => {
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", &body.reason)
        }
    }
}

/// The key of `Authorization: ApiKey <credentials>`: Elasticsearch clients send
/// `base64(id:key)`; the part after the first colon is the key. Credentials that are not such
/// base64 are taken as the key itself.
fn api_key(request: &Request) -> Option<String> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, credentials) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("apikey") {
        return None;
    }
    let credentials = credentials.trim();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    Some(
        match decoded.as_deref().and_then(|text| text.split_once(':')) {
            Some((_id, key)) => key.to_owned(),
            None => credentials.to_owned(),
        },
    )
}

#[cfg(test)]
mod tests;
