//! `/health` (the process is up) and `/ready` (its backend answers), the same on every service:
//! [`HealthApi`], composed into each service with what its readiness depends on.

use std::sync::Arc;

use application::{IngestUseCase, QueryUseCase};
use async_trait::async_trait;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

/// What `/ready` asks: whether the backend a service needs answers.
#[async_trait]
pub(crate) trait Readiness: Send + Sync {
    /// The backend's name in answers (`redis`, `clickhouse`).
    fn backend(&self) -> &'static str;

    /// Whether it answers; the error says why not.
    async fn check(&self) -> Result<(), String>;
}

#[async_trait]
impl Readiness for IngestUseCase {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn check(&self) -> Result<(), String> {
        self.check_ready().await.map_err(|error| error.to_string())
    }
}

#[async_trait]
impl Readiness for QueryUseCase {
    fn backend(&self) -> &'static str {
        "clickhouse"
    }

    async fn check(&self) -> Result<(), String> {
        self.check_ready().await.map_err(|error| error.to_string())
    }
}

/// `/health` and `/ready` of a service whose readiness is `.0`'s.
pub(crate) struct HealthApi(pub(crate) Arc<dyn Readiness>);

#[OpenApi]
impl HealthApi {
    /// Liveness: the process is up
    #[oai(path = "/health", method = "get")]
    async fn health(&self) -> HealthResponse {
        health()
    }

    /// Readiness: the backend answers (Redis for ingestion, ClickHouse for queries)
    #[oai(path = "/ready", method = "get")]
    async fn ready(&self) -> ReadyResponse {
        readiness(self.0.backend(), self.0.check().await)
    }
}

/// State of a service.
#[derive(Debug, Object)]
pub(crate) struct StatusBody {
    /// `ok`, `ready` or `unavailable`.
    status: String,
    /// The backends that are down, by name (`redis`, `clickhouse`); empty when all answer.
    down: Vec<String>,
    /// Why, when something is down.
    #[oai(skip_serializing_if_is_none)]
    reason: Option<String>,
}

#[derive(Debug, ApiResponse)]
pub(crate) enum HealthResponse {
    /// The process is up.
    #[oai(status = 200)]
    Ok(Json<StatusBody>),
}

#[derive(Debug, ApiResponse)]
pub(crate) enum ReadyResponse {
    /// Every backend answers.
    #[oai(status = 200)]
    Ready(Json<StatusBody>),
    /// A backend is down; `down` names it.
    #[oai(status = 503)]
    Unavailable(Json<StatusBody>),
}

fn health() -> HealthResponse {
    HealthResponse::Ok(Json(StatusBody {
        status: "ok".into(),
        down: Vec::new(),
        reason: None,
    }))
}

fn readiness(backend: &str, check: Result<(), String>) -> ReadyResponse {
    match check {
        Ok(()) => ReadyResponse::Ready(Json(StatusBody {
            status: "ready".into(),
            down: Vec::new(),
            reason: None,
        })),
        Err(reason) => ReadyResponse::Unavailable(Json(StatusBody {
            status: "unavailable".into(),
            down: vec![backend.into()],
            reason: Some(format!("{backend}: {reason}")),
        })),
    }
}
