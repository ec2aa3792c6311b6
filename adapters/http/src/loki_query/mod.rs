//! Grafana Loki's query API on the query service, so that Grafana's Loki data source (Explore,
//! dashboards, the label browser, live tailing) works against us unchanged:
//!
//! - `GET|POST /loki/api/v1/query_range` and `/loki/api/v1/query`: LogQL of our subset (see
//!   `adapters/logql`), log queries answered as `streams`, constants (Grafana's health check
//!   `vector(1)+vector(1)`) as `vector`/`matrix`;
//! - `/loki/api/v1/labels`, `/label/{name}/values`, `/series`, `/index/stats`,
//!   `/detected_fields`, `/detected_field/{name}/values`, `/status/buildinfo`;
//! - `/loki/api/v1/tail`: the live tail over WebSocket.
//!
//! Every answer goes through [`QueryUseCase`] (its page and time range limits, its store time
//! limit): LogQL is parsed into the domain's filter conditions, there is no second query
//! engine. Parameters and answers are Loki's ([`params`], [`answer`]); errors are Loki's plain
//! text. `X-Scope-OrgID` is accepted and ignored (there are no tenants). The reads need a key of
//! scope `query` when the service has keys, sent the ways every read accepts (Grafana's data
//! source sends it as the Basic auth password).

mod answer;
mod live;
mod metadata;
mod metric;
mod params;
mod query;
mod streams;

#[cfg(test)]
mod tests;

use std::time::Duration;

use application::QueryUseCase;
use poem::web::{Data, Path};
use poem::{Body, Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler};

use crate::common::access::authorize;
use crate::common::openapi::{AllowOn405, AllowedMethods};
use crate::common::timeout::RequestTimeout;
use answer::LokiError;
use params::Params;

/// The path prefix of the API.
const PREFIX: &str = "/loki/api/v1";
/// Every route of the API is under this prefix; they answer the request deadline themselves.
pub(crate) const LOKI_QUERY_ROUTES: &str = "/loki/api/v1/";
/// The live tail's path: a streamed answer, exempt from the request deadline.
pub(crate) const LOKI_TAIL_PATH: &str = "/loki/api/v1/tail";

/// The `Allow` of a route read by GET or a posted form (poem answers HEAD wherever GET).
const GET_OR_POST: &str = "GET, POST, HEAD";
/// The `Allow` of a route read by GET only.
const GET_ONLY: &str = "GET, HEAD";

/// Adds the Loki query API to the query service's routes. Each route names its methods in the
/// `Allow` of its 405, and answers a request past `deadline` (`HTTP_REQUEST_TIMEOUT_MS`) in
/// Loki's plain text; the live tail has no deadline.
pub(crate) fn mount(routes: Route, query: QueryUseCase, deadline: Duration) -> Route {
    let at = |path: &str| format!("{PREFIX}{path}");
    let get_or_post = |endpoint| served(endpoint, GET_OR_POST, deadline);
    let get_only = |endpoint| served(endpoint, GET_ONLY, deadline);
    routes
        .at(
            at("/query_range"),
            get_or_post(get(query_range).post(query_range).data(query.clone())),
        )
        .at(
            at("/query"),
            get_or_post(get(instant_query).post(instant_query).data(query.clone())),
        )
        .at(
            at("/labels"),
            get_or_post(get(labels).post(labels).data(query.clone())),
        )
        .at(
            at("/label/:name/values"),
            get_or_post(get(label_values).post(label_values).data(query.clone())),
        )
        .at(
            at("/series"),
            get_or_post(get(series).post(series).data(query.clone())),
        )
        .at(
            at("/index/stats"),
            get_or_post(get(index_stats).post(index_stats).data(query.clone())),
        )
        .at(
            at("/detected_fields"),
            get_only(get(detected_fields).data(query.clone())),
        )
        .at(
            at("/detected_field/:name/values"),
            get_only(get(detected_field_values).data(query.clone())),
        )
        .at(
            at("/status/buildinfo"),
            served(get(build_info), GET_ONLY, deadline),
        )
        .at(LOKI_TAIL_PATH, get_only(get(tail).data(query)))
}

/// `endpoint` with `allow` on its 405 and its own deadline, answered in Loki's format.
fn served<E: Endpoint<Output = Response>>(
    endpoint: E,
    allow: &'static str,
    deadline: Duration,
) -> AllowOn405<RequestTimeout<E>> {
    AllowOn405::new(
        RequestTimeout::new(endpoint, deadline)
            .exempt(&[LOKI_TAIL_PATH])
            .answering(answer::request_timed_out),
        AllowedMethods::fixed(allow),
    )
}

/// Checks the key, reads the parameters, runs `answer` and turns a refusal into Loki's error
/// (a refused key too: plain text, with its status).
async fn respond<F>(request: &Request, body: Body, answer: F) -> Response
where
    F: AsyncFnOnce(Params) -> Result<Response, LokiError>,
{
    if let Err(denied) = authorize(request, None) {
        return LokiError::denied(&denied).into_response();
    }
    let params = match Params::read(request, body).await {
        Ok(params) => params,
        Err(error) => return error.into_response(),
    };
    match answer(params).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

#[handler]
async fn query_range(request: &Request, body: Body, query: Data<&QueryUseCase>) -> Response {
    respond(request, body, async |params| {
        query::answer(&query, &params, false).await
    })
    .await
}

#[handler]
async fn instant_query(request: &Request, body: Body, query: Data<&QueryUseCase>) -> Response {
    respond(request, body, async |params| {
        query::answer(&query, &params, true).await
    })
    .await
}

#[handler]
async fn labels(request: &Request, body: Body, query: Data<&QueryUseCase>) -> Response {
    respond(request, body, async |params| {
        metadata::labels(&query, &params).await
    })
    .await
}

#[handler]
async fn label_values(
    request: &Request,
    body: Body,
    Path(name): Path<String>,
    query: Data<&QueryUseCase>,
) -> Response {
    respond(request, body, async |params| {
        let label = metadata::path_label(&name)?;
        metadata::label_values(&query, &params, &label).await
    })
    .await
}

#[handler]
async fn series(request: &Request, body: Body, query: Data<&QueryUseCase>) -> Response {
    respond(request, body, async |params| {
        metadata::series(&query, &params).await
    })
    .await
}

#[handler]
async fn index_stats(request: &Request, body: Body, query: Data<&QueryUseCase>) -> Response {
    respond(request, body, async |params| {
        metadata::index_stats(&query, &params).await
    })
    .await
}

#[handler]
async fn detected_fields(request: &Request, body: Body, query: Data<&QueryUseCase>) -> Response {
    respond(request, body, async |params| {
        metadata::detected_fields(&query, &params).await
    })
    .await
}

#[handler]
async fn detected_field_values(
    request: &Request,
    body: Body,
    Path(name): Path<String>,
    query: Data<&QueryUseCase>,
) -> Response {
    respond(request, body, async |params| {
        let label = metadata::path_label(&name)?;
        metadata::detected_field_values(&query, &params, &label).await
    })
    .await
}

#[handler]
async fn build_info(request: &Request, body: Body) -> Response {
    respond(request, body, async |_| Ok(metadata::build_info())).await
}

#[handler]
async fn tail(request: &Request, body: Body, query: Data<&QueryUseCase>) -> Response {
    respond(request, body, async |params| {
        live::tail(&query, request, &params).await
    })
    .await
}
