//! Field discovery on the query service: `GET /logs/fields` (the services, levels and metadata
//! keys seen in a time range, with counts) and `GET /logs/fields/{name}/values` (the most
//! frequent values of one of them). What a log explorer's field list and a label browser show.

mod model;
#[cfg(test)]
mod tests;

use application::QueryUseCase;
use domain::FilterDraft;
use poem_openapi::OpenApi;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;

use crate::common::access::Authorized;
use crate::query::model::QueryFailure;
use model::{FieldValuesBody, FieldValuesResponse, FieldsBody, FieldsResponse};

/// Field discovery, composed into the query API.
pub(crate) struct FieldsApi {
    pub(crate) query: QueryUseCase,
}

/// The conditions both endpoints take: the range, and optionally services and levels.
fn draft(
    service: Option<String>,
    level: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
) -> FilterDraft {
    let list = |text: Option<String>| -> Vec<String> {
        text.map(|text| {
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
    };
    FilterDraft {
        services: list(service),
        levels: list(level),
        from,
        to,
        limit,
        ..FilterDraft::default()
    }
}

#[OpenApi]
impl FieldsApi {
    /// List fields with counts
    ///
    /// The services, levels and metadata keys of the logs in the range, each with how many
    /// logs have it, most first (at most `limit` of each). Services and levels are counted
    /// exactly. Metadata keys are counted over at most the first 1,000,000 matching logs
    /// ClickHouse reads (in storage order, not a random sample): `sample.partial` says
    /// whether more logs matched. The range is bounded like every query (without `from`, the
    /// service's maximum range before `to` or now).
    #[oai(path = "/logs/fields", method = "get")]
    async fn fields(
        &self,
        _authorized: Authorized,
        /// Only logs of these services (comma-separated).
        service: Query<Option<String>>,
        /// Only logs of these levels (comma-separated).
        level: Query<Option<String>>,
        /// Earliest event time, inclusive, RFC 3339.
        #[oai(example = "example_from")]
        from: Query<Option<String>>,
        /// Latest event time, exclusive, RFC 3339.
        #[oai(example = "example_to")]
        to: Query<Option<String>>,
        /// Most services, levels and metadata keys listed (each), 1 to the largest page.
        #[oai(example = "example_limit")]
        limit: Query<Option<String>>,
    ) -> FieldsResponse {
        let draft = draft(service.0, level.0, from.0, to.0, limit.0);
        match self.query.fields(draft).await {
            Ok(summary) => FieldsResponse::Ok(Json(FieldsBody::from(summary))),
            Err(error) => QueryFailure::from(error).into(),
        }
    }

    /// List the top values of a field
    ///
    /// The most frequent values of `name` among the logs in the range, most first (at most
    /// `limit`): `service`, `level`, or `metadata.<key>` (URL-encoded, e.g.
    /// `metadata.user_id`). Services and levels are counted exactly; a metadata key's values
    /// over at most the first 1,000,000 matching logs that have the key (`sample`).
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/logs/fields/:name/values", method = "get")]
    async fn values(
        &self,
        _authorized: Authorized,
        /// `service`, `level` or `metadata.<key>`.
        #[oai(example = "example_field")]
        name: Path<String>,
        /// Only logs of these services (comma-separated).
        service: Query<Option<String>>,
        /// Only logs of these levels (comma-separated).
        level: Query<Option<String>>,
        /// Earliest event time, inclusive, RFC 3339.
        #[oai(example = "example_from")]
        from: Query<Option<String>>,
        /// Latest event time, exclusive, RFC 3339.
        #[oai(example = "example_to")]
        to: Query<Option<String>>,
        /// Most values listed, 1 to the largest page.
        #[oai(example = "example_limit")]
        limit: Query<Option<String>>,
    ) -> FieldValuesResponse {
        let draft = draft(service.0, level.0, from.0, to.0, limit.0);
        match self.query.field_values(draft, &name.0).await {
            Ok(values) => FieldValuesResponse::Ok(Json(FieldValuesBody::from(values))),
            Err(error) => QueryFailure::from(error).into(),
        }
    }
}

fn example_field() -> String {
    "metadata.user_id".into()
}

fn example_from() -> Option<String> {
    Some("2026-05-05T00:00:00Z".into())
}

fn example_to() -> Option<String> {
    Some("2026-05-06T00:00:00Z".into())
}

fn example_limit() -> Option<String> {
    Some("20".into())
}
