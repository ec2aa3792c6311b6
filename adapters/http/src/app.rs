//! Assembles each API with its OpenAPI document, Swagger UI and middleware, and serves it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use application::{IngestUseCase, QueryUseCase};
use poem::listener::TcpAcceptor;
use poem::{Endpoint, EndpointExt, IntoEndpoint, Route, Server};
use poem_openapi::OpenApiService;

use crate::common::access::AccessPolicy;
use crate::common::body_limit::BodyLimit;
use crate::common::config::{IngestHttpConfig, QueryHttpConfig};
use crate::common::health::HealthApi;
use crate::common::in_flight::{InFlightLimit, InFlightPermits};
use crate::common::keys::{ApiKeys, Scope};
use crate::common::metrics::IngestSource;
use crate::common::openapi::{AllowOn405, ServedDocument};
use crate::common::timeout::RequestTimeout;
use crate::common::trace::Traced;
use crate::elasticsearch;
use crate::explorer;
use crate::ingest::IngestApi;
use crate::loki_push::{self, LOKI_PUSH_PATH, LokiPushApi};
use crate::loki_query::{self, LOKI_QUERY_ROUTES};
use crate::otlp::{self, OTLP_LOGS_PATH, OtlpApi};
use crate::query::QueryApi;
use crate::query::fields::FieldsApi;

/// The ingestion service: `POST /ingest`, `POST /v1/logs` (OTLP/HTTP), `POST /loki/api/v1/push`
/// (Loki), `POST /_bulk` (Elasticsearch), `/health`, `/ready`, `/docs`, `/openapi.json`. The
/// ingest operations need a key of scope `ingest` when `keys` has any.
pub fn ingestion_app(
    ingest: IngestUseCase,
    config: IngestHttpConfig,
    keys: ApiKeys,
) -> impl Endpoint + 'static {
    let api = OpenApiService::new(
        (
            HealthApi(Arc::new(ingest.clone())),
            IngestApi {
                ingest: ingest.clone(),
                limits: config,
            },
            OtlpApi {
                ingest: ingest.clone(),
                limits: config,
            },
            LokiPushApi::new(ingest.clone(), config),
        ),
        "Log ingestion API",
        env!("CARGO_PKG_VERSION"),
    )
    .description("Accepts log events and queues them for storage.");
    let document = ServedDocument::new(&api, keys.is_open(Scope::Ingest));
    let api = Arc::new(api.into_endpoint());
    // Only receiving the body: a handler cut off after pushing to Redis would answer 503 for
    // events that are queued.
    let deadline = Duration::from_millis(config.request_timeout_ms);
    // One cap for every ingest protocol; a request past it costs no decoding (its body is read
    // and dropped, so that the client gets the answer rather than a reset).
    let in_flight = InFlightPermits::new(config.max_in_flight, config.max_body_bytes);
    let routes = Route::new()
        // OTLP and Loki enforce the body limit themselves and answer a timeout in their own
        // format.
        .at(
            OTLP_LOGS_PATH,
            InFlightLimit::new(
                RequestTimeout::body_only(Arc::clone(&api), deadline).answering(otlp::unavailable),
                in_flight.clone(),
                IngestSource::Otlp,
            )
            .answering(otlp::unavailable),
        )
        .at(
            LOKI_PUSH_PATH,
            InFlightLimit::new(
                RequestTimeout::body_only(Arc::clone(&api), deadline)
                    .answering(loki_push::unavailable),
                in_flight.clone(),
                IngestSource::Loki,
            )
            .answering(loki_push::unavailable),
        )
        .nest(
            "/",
            InFlightLimit::new(
                RequestTimeout::body_only(BodyLimit::new(api, config.max_body_bytes), deadline),
                in_flight,
                IngestSource::Ingest,
            ),
        )
        .nest("/docs", document.swagger_ui())
        .at("/openapi.json", document.spec_endpoint());
    let routes = elasticsearch::mount(routes, ingest, config, deadline)
        .data(AccessPolicy::new(Arc::new(keys), Scope::Ingest));
    let routes = AllowOn405::new(routes, document.allowed_methods());
    Traced::new(routes).map_to_response()
}

/// The query service: `GET /logs` and the other reads, field discovery (`/logs/fields`),
/// Loki's query API (`/loki/api/v1/...`), `/health`, `/ready`, `/docs`, `/openapi.json`, and the log
/// explorer page at `/` (which needs no key). The reads need a key of scope `query` when `keys`
/// has any. HTTP settings are the defaults.
pub fn query_app(query: QueryUseCase, keys: ApiKeys) -> impl Endpoint + 'static {
    query_app_with(query, keys, QueryHttpConfig::default())
}

/// [`query_app`] with the given HTTP settings (the request timeout).
pub fn query_app_with(
    query: QueryUseCase,
    keys: ApiKeys,
    config: QueryHttpConfig,
) -> impl Endpoint + 'static {
    let api = OpenApiService::new(
        (
            HealthApi(Arc::new(query.clone())),
            QueryApi {
                query: query.clone(),
            },
            FieldsApi {
                query: query.clone(),
            },
        ),
        "Log query API",
        env!("CARGO_PKG_VERSION"),
    )
    .description("Reads stored log events with filters and pagination.");
    let document = ServedDocument::new(&api, keys.is_open(Scope::Query));
    let routes = Route::new()
        .nest("/", api)
        .nest("/docs", document.swagger_ui())
        .at("/openapi.json", document.spec_endpoint());
    let deadline = Duration::from_millis(config.request_timeout_ms);
    // Loki's routes answer the deadline in Loki's format themselves.
    let routes = loki_query::mount(routes, query, deadline)
        .data(AccessPolicy::new(Arc::new(keys), Scope::Query));
    let routes = explorer::mount(routes);
    let routes = AllowOn405::new(routes, document.allowed_methods());
    // Streamed answers run as long as the client reads.
    let routes = RequestTimeout::new(routes, deadline)
        .exempt(&["/logs/tail", "/logs/export"])
        .exempt_under(&[LOKI_QUERY_ROUTES]);
    Traced::new(routes).map_to_response()
}

/// Serves `app` on an already bound listener until `shutdown` completes, then lets in-flight
/// requests finish for up to `grace`.
pub async fn serve<E>(
    listener: std::net::TcpListener,
    app: E,
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) -> std::io::Result<()>
where
    E: Endpoint + 'static,
{
    listener.set_nonblocking(true)?;
    let acceptor = TcpAcceptor::from_std(listener)?;
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app, shutdown, Some(grace))
        .await
}
