//! Metric queries of the Loki query API: `count_over_time`, `rate`, `bytes_over_time` and
//! `bytes_rate` of a selection, optionally under `sum by (...)` or `count by (...)`, answered
//! through [`QueryUseCase::metric`] (one ClickHouse aggregation per query; its step, series and
//! time range limits apply) as Loki's `matrix` (`query_range`) or `vector` (`query`).
//!
//! Labels are those of [`domain::stream_labels`]: `service`, `level` and the metadata keys;
//! `by (...)` names any of them (a label a log lacks is left out of its series, as Loki leaves
//! out empty labels). Each window is `(t - range, t]`; a step whose window holds no log has no
//! value. "Bytes" are the bytes of the log line (the message, in UTF-8), as Loki counts them.

use application::{MetricAnswer, MetricDraft, MetricTimes, QueryUseCase};
use domain::{MetricKind, RangeFunction, SeriesGrouping};
use logql::{AggregationOperator, MetricQuery};

use crate::loki_query::answer::{LokiError, Point, QueryResult, Sample, Series};
use crate::loki_query::params::QueryTimes;
use crate::loki_query::query::selection_draft;

/// The answer of a metric query at `times`: a matrix for a range query, a vector for an
/// instant query. Refusals name Loki's parameters (`step`, `start`, `end`, `query`).
pub(crate) async fn answer_metric(
    query: &QueryUseCase,
    metric: MetricQuery,
    times: &QueryTimes,
) -> Result<(QueryResult, u64), LokiError> {
    let grouping = match metric.aggregation {
        None => SeriesGrouping::Streams,
        Some(aggregation) => {
            let labels = aggregation
                .by
                .iter()
                .map(|name| metric.selection.label(name))
                .collect::<Result<_, _>>()
                .map_err(LokiError::logql)?;
            match aggregation.operator {
                AggregationOperator::Sum => SeriesGrouping::Sum(labels),
                AggregationOperator::Count => SeriesGrouping::Count(labels),
            }
        }
    };
    let draft = MetricDraft {
        conditions: selection_draft(metric.selection)?,
        function: match metric.function {
            logql::RangeFunction::CountOverTime => RangeFunction::CountOverTime,
            logql::RangeFunction::Rate => RangeFunction::Rate,
            logql::RangeFunction::BytesOverTime => RangeFunction::BytesOverTime,
            logql::RangeFunction::BytesRate => RangeFunction::BytesRate,
        },
        range_nanos: metric.range_nanos,
        times: if times.instant {
            MetricTimes::Instant { at: times.end }
        } else {
            MetricTimes::Range {
                start: times.start,
                end: times.end,
                step_nanos: times.step_nanos,
            }
        },
        grouping,
    };
    let answer = query.metric(draft).await.map_err(LokiError::query)?;
    Ok(loki_result(answer))
}

/// The use case's answer as Loki's result, with how many values it holds.
fn loki_result(answer: MetricAnswer) -> (QueryResult, u64) {
    let values = answer
        .series
        .iter()
        .map(|series| series.points.len() as u64)
        .sum();
    let point = |point: &application::MetricPoint| Point {
        nanos: point.at.unix_nanos(),
        value: point.value,
    };
    let result = match answer.kind {
        MetricKind::Instant => QueryResult::Vector(
            answer
                .series
                .into_iter()
                .filter_map(|series| {
                    let value = series.points.first().map(point)?;
                    Some(Sample {
                        metric: series.labels,
                        value,
                    })
                })
                .collect(),
        ),
        MetricKind::Range => QueryResult::Matrix(
            answer
                .series
                .into_iter()
                .map(|series| Series {
                    values: series.points.iter().map(point).collect(),
                    metric: series.labels,
                })
                .collect(),
        ),
    };
    (result, values)
}
