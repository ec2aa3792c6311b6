//! `/health` (the process is up) and `/ready` (its backend answers), shared by both APIs.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

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

pub(crate) fn health() -> HealthResponse {
    HealthResponse::Ok(Json(StatusBody {
        status: "ok".into(),
        down: Vec::new(),
        reason: None,
    }))
}

pub(crate) fn readiness(backend: &str, check: Result<(), String>) -> ReadyResponse {
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
