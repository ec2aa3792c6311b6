//! What Grafana's label browser, query builder and query editor ask besides queries:
//! `labels`, `label/{name}/values`, `series`, `index/stats`, `detected_fields`,
//! `detected_field/{name}/values` and `status/buildinfo`. All read through the query use case's
//! field discovery and counts, so their cost is bounded like `GET /logs/fields`.
//!
//! Labels are `service`, `level` and the metadata keys. `series` lists the (`service`,
//! `level`) pairs, the part of a label set that leads the store's sort key; metadata keys are
//! Loki's structured metadata in `detected_fields` (`parsers: null`).

use application::QueryUseCase;
use domain::{FieldName, FilterDraft, GroupBy, METADATA_FIELD_PREFIX, Timestamp};
use poem::Response;
use serde::Serialize;
use std::collections::BTreeMap;

use crate::loki_query::answer::{LokiError, Success, json};
use crate::loki_query::params::{Params, TimeRange};
use crate::loki_query::query::{log_selection, selection_draft};
use crate::loki_query::streams::is_own_field;

/// At most this many services are split by level in `series` (one count per service).
const SERIES_MAX_SERVICES: usize = 100;
/// At most this many metadata keys are described by `detected_fields` (one count each).
const DETECTED_FIELDS_MAX: u64 = 100;

/// The draft for the range and the optional selector in `query`.
fn draft(params: &Params, query: Option<&str>, limit: u32) -> Result<FilterDraft, LokiError> {
    let TimeRange { start, end } = params.range(Timestamp::now())?;
    let conditions = match query {
        Some(text) => selection_draft(log_selection(text)?)?,
        None => FilterDraft::default(),
    };
    Ok(FilterDraft {
        from: Some(start.to_rfc3339()),
        to: Some(end.to_rfc3339()),
        limit: Some(limit.to_string()),
        ..conditions
    })
}

/// `GET /loki/api/v1/labels`: `service` and `level` when any log matches, and the metadata
/// keys, sorted.
pub(crate) async fn labels(query: &QueryUseCase, params: &Params) -> Result<Response, LokiError> {
    let draft = draft(params, params.get("query"), query.max_page_limit())?;
    let summary = query.fields(draft).await.map_err(LokiError::query)?;
    let mut names: Vec<String> = summary
        .metadata_keys
        .into_iter()
        .map(|key| key.key)
        .filter(|key| !is_own_field(key))
        .collect();
    if !summary.services.is_empty() {
        names.extend(["service".to_owned(), "level".to_owned()]);
    }
    names.sort();
    names.dedup();
    Ok(json(&Success::new(names)))
}

/// The field a label name stands for.
fn field_of(label: &str) -> String {
    if is_own_field(label) {
        label.to_owned()
    } else {
        format!("{METADATA_FIELD_PREFIX}{label}")
    }
}

/// The values of one label, sorted (at most the largest page of them, most frequent first
/// before sorting).
async fn values_of(
    query: &QueryUseCase,
    params: &Params,
    label: &str,
    limit: u32,
) -> Result<Vec<String>, LokiError> {
    let draft = draft(params, params.get("query"), limit)?;
    let field = field_of(label);
    let values = query
        .field_values(draft, &field)
        .await
        .map_err(|error| match error {
            application::QueryError::Invalid(invalid) if invalid.field() == "field" => {
                LokiError::parameter("name", invalid.reason())
            }
            other => LokiError::query(other),
        })?;
    let mut names: Vec<String> = values.values.into_iter().map(|value| value.key).collect();
    names.sort();
    Ok(names)
}

/// `GET /loki/api/v1/label/{name}/values`.
pub(crate) async fn label_values(
    query: &QueryUseCase,
    params: &Params,
    label: &str,
) -> Result<Response, LokiError> {
    let values = values_of(query, params, label, query.max_page_limit()).await?;
    Ok(json(&Success::new(values)))
}

/// `GET /loki/api/v1/series`: the (`service`, `level`) pairs of the logs each `match[]`
/// selects (all logs without one).
pub(crate) async fn series(query: &QueryUseCase, params: &Params) -> Result<Response, LokiError> {
    let selectors = params.all("match[]");
    let mut label_sets: Vec<BTreeMap<String, String>> = Vec::new();
    let selectors: Vec<Option<&str>> = if selectors.is_empty() {
        vec![None]
    } else {
        selectors.into_iter().map(Some).collect()
    };
    for selector in selectors {
        for (service, level) in service_levels(query, params, selector).await? {
            let set =
                BTreeMap::from([("service".to_owned(), service), ("level".to_owned(), level)]);
            if !label_sets.contains(&set) {
                label_sets.push(set);
            }
        }
    }
    Ok(json(&Success::new(label_sets)))
}

/// The (service, level) pairs among the logs the selector matches.
async fn service_levels(
    query: &QueryUseCase,
    params: &Params,
    selector: Option<&str>,
) -> Result<Vec<(String, String)>, LokiError> {
    let limit = query.max_page_limit();
    let draft = draft(params, selector, limit)?;
    let services = query
        .stats(draft.clone(), GroupBy::Service)
        .await
        .map_err(LokiError::query)?;
    let mut pairs = Vec::new();
    for service in services.into_iter().take(SERIES_MAX_SERVICES) {
        let one_service = FilterDraft {
            services: vec![service.key.clone()],
            ..draft.clone()
        };
        let levels = query
            .stats(one_service, GroupBy::Level)
            .await
            .map_err(LokiError::query)?;
        pairs.extend(
            levels
                .into_iter()
                .map(|level| (service.key.clone(), level.key)),
        );
    }
    Ok(pairs)
}

/// Loki's `index/stats` answer (no envelope).
#[derive(Debug, Serialize)]
struct IndexStats {
    /// The services whose logs match.
    streams: u64,
    /// We keep no chunks: always 0.
    chunks: u64,
    /// The summed byte length of the matching logs' messages.
    bytes: u64,
    /// The matching logs, counted exactly.
    entries: u64,
}

/// `GET /loki/api/v1/index/stats`: how many logs the selector in `query` matches.
pub(crate) async fn index_stats(
    query: &QueryUseCase,
    params: &Params,
) -> Result<Response, LokiError> {
    let draft = draft(params, Some(params.query()?), query.max_page_limit())?;
    let levels = query
        .stats(draft.clone(), GroupBy::Level)
        .await
        .map_err(LokiError::query)?;
    let services = query
        .stats(draft, GroupBy::Service)
        .await
        .map_err(LokiError::query)?;
    Ok(json(&IndexStats {
        streams: services.len() as u64,
        chunks: 0,
        bytes: levels.iter().map(|level| level.bytes).sum(),
        entries: levels.iter().map(|level| level.count).sum(),
    }))
}

/// One field of `detected_fields`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DetectedField {
    label: String,
    /// `int`, `float`, `boolean`, `duration` or `string`: what every sampled value reads as.
    #[serde(rename = "type")]
    kind: &'static str,
    /// Distinct values seen (at most the largest page).
    cardinality: u64,
    /// `null`: structured metadata, not parsed from the line.
    parsers: Option<Vec<String>>,
    json_path: Vec<String>,
}

#[derive(Debug, Serialize)]
struct DetectedFields {
    fields: Vec<DetectedField>,
    limit: u64,
}

/// `GET /loki/api/v1/detected_fields`: the metadata keys of the logs `query` selects, with the
/// number of distinct values and their type.
pub(crate) async fn detected_fields(
    query: &QueryUseCase,
    params: &Params,
) -> Result<Response, LokiError> {
    let limit = match params.get("limit").or(params.get("field_limit")) {
        Some(_) => params.limit()?,
        None => 1000,
    };
    let page = query.max_page_limit();
    let keys_wanted = u32::try_from(limit.min(DETECTED_FIELDS_MAX)).unwrap_or(1);
    let selector = params.query()?;
    let summary = query
        .fields(draft(params, Some(selector), keys_wanted)?)
        .await
        .map_err(LokiError::query)?;
    let mut fields = Vec::new();
    for key in summary.metadata_keys {
        if is_own_field(&key.key) {
            continue;
        }
        let values = values_of(query, params, &key.key, page).await?;
        fields.push(DetectedField {
            kind: kind_of(&values),
            cardinality: values.len() as u64,
            label: key.key,
            parsers: None,
            json_path: Vec::new(),
        });
    }
    Ok(json(&DetectedFields { fields, limit }))
}

#[derive(Debug, Serialize)]
struct DetectedValues {
    values: Vec<String>,
    limit: u64,
}

/// `GET /loki/api/v1/detected_field/{name}/values`.
pub(crate) async fn detected_field_values(
    query: &QueryUseCase,
    params: &Params,
    label: &str,
) -> Result<Response, LokiError> {
    let limit = match params.get("limit") {
        Some(_) => params.limit()?,
        None => 1000,
    };
    let wanted = u32::try_from(limit)
        .unwrap_or(u32::MAX)
        .min(query.max_page_limit());
    let values = values_of(query, params, label, wanted).await?;
    Ok(json(&DetectedValues { values, limit }))
}

/// The type every value reads as, in Loki's order of preference.
fn kind_of(values: &[String]) -> &'static str {
    let all = |test: fn(&str) -> bool| !values.is_empty() && values.iter().all(|v| test(v));
    if all(|value| value.parse::<i64>().is_ok()) {
        "int"
    } else if all(|value| value.parse::<f64>().is_ok_and(f64::is_finite)) {
        "float"
    } else if all(|value| {
        matches!(
            value,
            "true" | "false" | "TRUE" | "FALSE" | "True" | "False"
        )
    }) {
        "boolean"
    } else if all(is_duration) {
        "duration"
    } else {
        "string"
    }
}

/// `12ms`, `1.5s`, `1h30m`: a Go duration.
fn is_duration(text: &str) -> bool {
    const UNITS: [&str; 7] = ["ns", "us", "µs", "ms", "s", "m", "h"];
    let mut rest = text.strip_prefix(['-', '+']).unwrap_or(text);
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let number = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number == 0 || rest[..number].parse::<f64>().is_err() {
            return false;
        }
        rest = &rest[number..];
        let Some(unit) = UNITS
            .iter()
            .filter(|unit| rest.starts_with(**unit))
            .max_by_key(|unit| unit.len())
        else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

/// `GET /loki/api/v1/status/buildinfo`: the Loki API version this service answers like, and
/// ours as the revision.
pub(crate) fn build_info() -> Response {
    json(&BTreeMap::from([
        ("version", LOKI_API_VERSION.to_owned()),
        (
            "revision",
            format!("log-pipeline-{}", env!("CARGO_PKG_VERSION")),
        ),
        ("branch", String::new()),
        ("buildUser", String::new()),
        ("buildDate", String::new()),
        ("goVersion", String::new()),
    ]))
}

/// The Loki release whose query API this one follows (its endpoints, shapes and errors).
pub(crate) const LOKI_API_VERSION: &str = "2.9.0";

/// The label name in a path, checked like a field name.
pub(crate) fn path_label(name: &str) -> Result<String, LokiError> {
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        return Err(LokiError::parameter(
            "name",
            format!("invalid label name {name:?}"),
        ));
    }
    FieldName::parse(&field_of(name))
        .map(|_| name.to_owned())
        .map_err(|invalid| LokiError::parameter("name", invalid.reason()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|value| (*value).to_owned()).collect()
    }

    #[test]
    fn a_field_has_the_type_all_its_values_read_as() {
        assert_eq!(kind_of(&strings(&["1", "-42"])), "int");
        assert_eq!(kind_of(&strings(&["1", "2.5"])), "float");
        assert_eq!(kind_of(&strings(&["true", "false"])), "boolean");
        assert_eq!(kind_of(&strings(&["12ms", "1h30m", "1.5s"])), "duration");
        assert_eq!(kind_of(&strings(&["12ms", "soon"])), "string");
        assert_eq!(kind_of(&[]), "string");
        assert!(!is_duration("ms"));
        assert!(!is_duration("12"));
    }
}
