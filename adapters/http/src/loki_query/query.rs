//! `/loki/api/v1/query_range` and `/loki/api/v1/query`: a LogQL query parsed into the domain's
//! conditions and answered through the query use case (its page limit, time range limit and
//! store time limit apply), as Loki's `streams`, `vector` or `matrix` result.

use std::time::Instant;

use application::QueryUseCase;
use domain::{FieldCondition, FieldName, FieldOp, FilterDraft, Level, SortOrder, Timestamp};
use logql::{Query, Selection};
use poem::Response;

use crate::loki_query::answer::{
    LokiError, Point, QueryData, QueryResult, Sample, Series, Stats, Success, json,
};
use crate::loki_query::metric::answer_metric;
use crate::loki_query::params::{DEFAULT_SINCE_NANOS, Params, QueryTimes};
use crate::loki_query::streams::group_into_streams;

/// Answers a range query (`instant` false) or an instant query.
pub(crate) async fn answer(
    query: &QueryUseCase,
    params: &Params,
    instant: bool,
) -> Result<Response, LokiError> {
    let started = Instant::now();
    let now = Timestamp::now();
    let text = params.query()?;
    let parsed = logql::parse(text).map_err(LokiError::logql)?;
    let times = if instant {
        params.instant_times(now)?
    } else {
        params.range_times(now)?
    };
    match parsed {
        Query::Logs(selection) => log_query(query, params, selection, times, started).await,
        Query::Constant(value) => Ok(constant(value, times, started)),
        Query::Metric(metric) => {
            let (result, values) = answer_metric(query, metric, &times).await?;
            Ok(json(&Success::new(QueryData {
                result,
                stats: Stats::new(started, values),
            })))
        }
    }
}

/// The selection as a filter draft: its conditions, with `level` values of any case (`error`)
/// read as our level names, as `GET /logs?level=error` reads them.
pub(crate) fn selection_draft(selection: Selection) -> Result<FilterDraft, LokiError> {
    let fields = selection
        .fields
        .into_iter()
        .map(canonical_level)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(FilterDraft {
        field_conditions: fields,
        line_conditions: selection.lines,
        ..FilterDraft::default()
    })
}

fn canonical_level(condition: FieldCondition) -> Result<FieldCondition, LokiError> {
    let equality = matches!(condition.op(), FieldOp::Equal | FieldOp::NotEqual);
    if *condition.field() != FieldName::Level || !equality {
        return Ok(condition);
    }
    match Level::parse(condition.value()) {
        Ok(level) => FieldCondition::new(FieldName::Level, condition.op(), level.as_str())
            .map_err(|invalid| LokiError::parameter("query", invalid)),
        // Not a level name: it matches no event (or every one with `!=`), as written.
        Err(_) => Ok(condition),
    }
}

/// A selection parsed from a `query` parameter that must be a log query (labels, series,
/// index stats, detected fields, tail).
pub(crate) fn log_selection(text: &str) -> Result<Selection, LokiError> {
    match logql::parse(text).map_err(LokiError::logql)? {
        Query::Logs(selection) => Ok(selection),
        Query::Metric(_) | Query::Constant(_) => Err(LokiError::bad_request(format!(
            "only log queries (a stream selector with its pipeline) are accepted here, not {text:?}"
        ))),
    }
}

/// At most `limit` entries in the direction, grouped into streams. An instant log query covers
/// the hour up to and including `time`.
async fn log_query(
    query: &QueryUseCase,
    params: &Params,
    selection: Selection,
    times: QueryTimes,
    started: Instant,
) -> Result<Response, LokiError> {
    let limit = params.limit()?;
    let order = params.direction()?;
    let parser = selection.parser;
    let (from, to) = if times.instant {
        let end = times.end.saturating_add_nanos(1);
        let start =
            Timestamp::from_unix_nanos(end.unix_nanos().saturating_sub(DEFAULT_SINCE_NANOS));
        (start, end)
    } else {
        (times.start, times.end)
    };
    let draft = FilterDraft {
        from: Some(from.to_rfc3339()),
        to: Some(to.to_rfc3339()),
        limit: Some(limit.to_string()),
        order: Some(
            match order {
                SortOrder::Descending => "desc",
                SortOrder::Ascending => "asc",
            }
            .to_owned(),
        ),
        ..selection_draft(selection)?
    };
    let page = query.query(draft).await.map_err(LokiError::query)?;
    let entries = page.logs.len() as u64;
    let data = QueryData {
        result: QueryResult::Streams(group_into_streams(&page.logs, parser)),
        stats: Stats::new(started, entries),
    };
    Ok(json(&Success::new(data)))
}

/// A constant such as Grafana's health check `vector(1)+vector(1)`: one sample at the instant,
/// or one point per step of the range.
fn constant(value: f64, times: QueryTimes, started: Instant) -> Response {
    let result = if times.instant {
        QueryResult::Vector(vec![Sample {
            metric: Default::default(),
            value: Point {
                nanos: times.end.unix_nanos(),
                value,
            },
        }])
    } else {
        let mut values = Vec::new();
        let mut at = times.start.unix_nanos();
        while at <= times.end.unix_nanos() {
            values.push(Point { nanos: at, value });
            match at.checked_add(times.step_nanos) {
                Some(next) => at = next,
                None => break,
            }
        }
        QueryResult::Matrix(vec![Series {
            metric: Default::default(),
            values,
        }])
    };
    json(&Success::new(QueryData {
        result,
        stats: Stats::new(started, 0),
    }))
}
