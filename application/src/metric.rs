//! Metric queries (LogQL's `count_over_time`, `rate`, `bytes_over_time`, `bytes_rate`,
//! optionally under `sum by` or `count by`): one store aggregation per query, which counts the
//! logs of each series by the steps whose windows hold them; this module turns those counts
//! into the value of every series at every step. The work in memory is bounded by the answer:
//! at most [`METRIC_MAX_SERIES`] series of [`domain::limits::METRIC_MAX_POINTS`] steps.

use std::collections::BTreeMap;

use domain::limits::METRIC_MAX_SERIES;
use domain::{
    FieldName, Filter, FilterDraft, MetricKind, MetricSpec, RangeFunction, SeriesGrouping,
    StepGrid, Timestamp, ValidationError, ValidationReason, label_name,
};

use crate::ports::{MetricRequest, SeriesSplit, WindowCount};
use crate::{QueryError, QueryUseCase};

/// When a metric is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricTimes {
    /// Once, at `at` (an instant query: a vector).
    Instant { at: Timestamp },
    /// At `start`, `start + step`, ... up to `end` (a range query: a matrix).
    Range {
        start: Timestamp,
        end: Timestamp,
        step_nanos: u64,
    },
}

/// A metric query as a client asked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricDraft {
    /// Which logs count. Its time range and page (`from`, `to`, `limit`, `offset`, `order`,
    /// `cursor`) are ignored: the steps and the range give the time range.
    pub conditions: FilterDraft,
    pub function: RangeFunction,
    /// The length of each window.
    pub range_nanos: u64,
    pub times: MetricTimes,
    pub grouping: SeriesGrouping,
}

/// The answer to a metric query: its series, ordered by labels.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricAnswer {
    pub kind: MetricKind,
    pub series: Vec<MetricSeries>,
}

/// One series: its labels and its value at each step whose window holds logs of it, oldest
/// first. A step whose window holds none has no value (not a zero), as in Loki.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSeries {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<MetricPoint>,
}

/// The value of a series at one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricPoint {
    pub at: Timestamp,
    pub value: f64,
}

impl QueryUseCase {
    /// Validates a metric query, counts its logs in one store aggregation and answers the value
    /// of every series at every step. Refused before the store (naming the parameter): a zero
    /// step or range, more than 11,000 steps after the first, a time span (from the first window's start to
    /// the last step) wider than the widest allowed range. Refused after it: more than
    /// [`METRIC_MAX_SERIES`] series (streams, for `count by`), naming `query`.
    pub async fn metric(&self, draft: MetricDraft) -> Result<MetricAnswer, QueryError> {
        let conditions = FilterDraft {
            from: None,
            to: None,
            limit: None,
            offset: None,
            order: None,
            cursor: None,
            ..draft.conditions
        };
        let filter = Filter::from_draft_with_max_limit(conditions, self.settings.max_page_limit)?;
        let (grid, kind) = match draft.times {
            MetricTimes::Instant { at } => (StepGrid::instant(at), MetricKind::Instant),
            MetricTimes::Range {
                start,
                end,
                step_nanos,
            } => (StepGrid::range(start, end, step_nanos)?, MetricKind::Range),
        };
        let spec = MetricSpec::new(
            filter,
            draft.function,
            draft.range_nanos,
            grid,
            draft.grouping,
            kind,
        )?;
        self.check_metric_span(&spec)?;
        let split = match spec.grouping() {
            SeriesGrouping::Sum(labels) => SeriesSplit::Labels(labels.clone()),
            SeriesGrouping::Streams | SeriesGrouping::Count(_) => SeriesSplit::Streams,
        };
        // A series has at most 3 rows per step (see `MetricSpec::steps_holding`: the first
        // step's rows end at up to every step, any other's at one of two), so an answer of at
        // most METRIC_MAX_SERIES series never reaches this many rows.
        let max_rows = (METRIC_MAX_SERIES as u64 + 1) * 3 * u64::from(spec.grid().points());
        let request = MetricRequest {
            spec,
            split,
            max_rows,
        };
        let rows = self.store.metric_windows(&request).await?;
        if rows.len() as u64 >= max_rows {
            return Err(too_many_series().into());
        }
        let series = evaluate(&request.spec, rows)?;
        Ok(MetricAnswer { kind, series })
    }

    fn check_metric_span(&self, spec: &MetricSpec) -> Result<(), ValidationError> {
        let (Some(max_range), Some(from), Some(to)) = (
            self.settings.max_range,
            spec.filter().from(),
            spec.filter().to(),
        ) else {
            return Ok(());
        };
        let span = to.unix_nanos() - from.unix_nanos();
        let max_nanos = u64::try_from(max_range.as_nanos()).unwrap_or(u64::MAX);
        if span > max_nanos {
            return Err(ValidationError::new(
                "start",
                ValidationReason::OutOfRange(format!(
                    "the query time range exceeds the limit (query length: {}, limit: {}); \
                     the length counts the range of the first window",
                    duration_text(span),
                    duration_text(max_nanos)
                )),
            ));
        }
        Ok(())
    }
}

fn too_many_series() -> ValidationError {
    ValidationError::new(
        "query",
        ValidationReason::OutOfRange(format!(
            "maximum of series ({METRIC_MAX_SERIES}) reached for a single query; aggregate \
             with sum by (...) over fewer labels, or narrow the selector"
        )),
    )
}

/// `3600 s` as `1h`, `90 s` as `90s`, as Go prints durations, in whole units.
fn duration_text(nanos: u64) -> String {
    const SECOND: u64 = 1_000_000_000;
    match nanos {
        n if n % (3600 * SECOND) == 0 => format!("{}h", n / (3600 * SECOND)),
        n if n % (60 * SECOND) == 0 => format!("{}m", n / (60 * SECOND)),
        n if n % SECOND == 0 => format!("{}s", n / SECOND),
        n => format!("{}ms", n / 1_000_000),
    }
}

/// Windows of one series: (step, logs, bytes) for each step whose window holds logs.
type Windows = Vec<(u32, u64, u64)>;

/// A series' label set.
type Labels = BTreeMap<String, String>;

/// From `step` on, a series has this many more logs and bytes (fewer when negative).
type Change = (u32, i128, i128);

/// The value of every series at every step, from the store's rows.
fn evaluate(spec: &MetricSpec, rows: Vec<WindowCount>) -> Result<Vec<MetricSeries>, QueryError> {
    let points = spec.grid().points();
    // Each row adds its logs from its first step on and takes them away at its end step.
    let mut changes: BTreeMap<Labels, Vec<Change>> = BTreeMap::new();
    for row in rows {
        if row.first_step >= row.end_step || row.end_step > points {
            continue;
        }
        let (count, bytes) = (i128::from(row.count), i128::from(row.bytes));
        let series = changes.entry(row.labels).or_default();
        series.push((row.first_step, count, bytes));
        series.push((row.end_step, -count, -bytes));
    }
    if changes.len() > METRIC_MAX_SERIES {
        return Err(too_many_series().into());
    }
    let windows = changes
        .into_iter()
        .map(|(labels, changes)| (labels, sweep(changes)));
    let grid = spec.grid();
    let series = match spec.grouping() {
        SeriesGrouping::Streams | SeriesGrouping::Sum(_) => windows
            .map(|(labels, windows)| MetricSeries {
                labels,
                points: windows
                    .into_iter()
                    .map(|(step, count, bytes)| MetricPoint {
                        at: grid.at(step),
                        value: spec.function().value(count, bytes, spec.range_nanos()),
                    })
                    .collect(),
            })
            .collect(),
        SeriesGrouping::Count(fields) => {
            let mut groups: BTreeMap<Labels, BTreeMap<u32, u64>> = BTreeMap::new();
            for (labels, windows) in windows {
                let group = groups.entry(projected(&labels, fields)).or_default();
                for (step, _, _) in windows {
                    *group.entry(step).or_default() += 1;
                }
            }
            groups
                .into_iter()
                .map(|(labels, streams)| MetricSeries {
                    labels,
                    points: streams
                        .into_iter()
                        .map(|(step, count)| MetricPoint {
                            at: grid.at(step),
                            value: count as f64,
                        })
                        .collect(),
                })
                .collect()
        }
    };
    Ok(series)
}

/// The logs and bytes at each step from the changes `(step, logs, bytes)` of one series, for
/// the steps that hold any.
fn sweep(mut changes: Vec<Change>) -> Windows {
    changes.sort_by_key(|(step, _, _)| *step);
    let mut windows = Vec::new();
    let (mut count, mut bytes) = (0_i128, 0_i128);
    let mut index = 0;
    while index < changes.len() {
        let step = changes[index].0;
        while let Some((_, more_logs, more_bytes)) =
            changes.get(index).filter(|change| change.0 == step)
        {
            count += more_logs;
            bytes += more_bytes;
            index += 1;
        }
        let next = changes.get(index).map_or(step, |change| change.0);
        if count > 0 {
            let (logs, bytes) = (
                u64::try_from(count).unwrap_or(u64::MAX),
                u64::try_from(bytes).unwrap_or(0),
            );
            windows.extend((step..next).map(|at| (at, logs, bytes)));
        }
    }
    windows
}

/// A stream's labels reduced to those of a `count by`.
fn projected(labels: &Labels, fields: &[FieldName]) -> Labels {
    fields
        .iter()
        .filter_map(|field| {
            let name = label_name(field);
            labels
                .get(name)
                .map(|value| (name.to_owned(), value.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use domain::{Level, LogEvent};
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::QuerySettings;
    use crate::ports::{LogWriter, MockLogReader, StoreError};
    use crate::testing::InMemoryLogStore;
    use crate::testing::store_contract::custom_event;

    const SECOND: u64 = 1_000_000_000;
    const T0: u64 = 1_777_975_200 * SECOND;
    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    fn at(seconds: u64) -> Timestamp {
        Timestamp::from_unix_nanos(T0 + seconds * SECOND)
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn row(pairs: &[(&str, &str)], first_step: u32, end_step: u32, count: u64) -> WindowCount {
        WindowCount {
            labels: labels(pairs),
            first_step,
            end_step,
            count,
            bytes: count * 10,
        }
    }

    fn range_draft(function: RangeFunction, grouping: SeriesGrouping) -> MetricDraft {
        MetricDraft {
            conditions: FilterDraft {
                services: vec!["auth".into()],
                ..FilterDraft::default()
            },
            function,
            range_nanos: 60 * SECOND,
            times: MetricTimes::Range {
                start: at(60),
                end: at(240),
                step_nanos: 60 * SECOND,
            },
            grouping,
        }
    }

    fn points(series: &MetricSeries) -> Vec<(u64, f64)> {
        series
            .points
            .iter()
            .map(|point| ((point.at.unix_nanos() - T0) / SECOND, point.value))
            .collect()
    }

    #[tokio::test]
    async fn a_sum_by_asks_the_store_once_for_its_labels_and_adds_rows_over_their_steps() {
        let mut store = MockLogReader::new();
        store
            .expect_metric_windows()
            .withf(|request| {
                let filter = request.spec.filter();
                request.split == SeriesSplit::Labels(vec![FieldName::Level])
                    && filter.services()[0].as_str() == "auth"
                    && filter.from() == Some(Timestamp::from_unix_nanos(at(0).unix_nanos() + 1))
                    && filter.to() == Some(at(240).saturating_add_nanos(1))
                    && request.spec.grid().points() == 4
                    && request.max_rows == 501 * 3 * 4
            })
            .times(1)
            .returning(|_| {
                Ok(vec![
                    row(&[("level", "ERROR")], 0, 2, 3),
                    row(&[("level", "ERROR")], 1, 4, 1),
                    row(&[("level", "INFO")], 3, 4, 5),
                ])
            });
        let use_case = QueryUseCase::new(Arc::new(store));

        let answer = use_case
            .metric(range_draft(
                RangeFunction::CountOverTime,
                SeriesGrouping::Sum(vec![FieldName::Level]),
            ))
            .await
            .unwrap();

        assert_eq!(answer.kind, MetricKind::Range);
        assert_eq!(answer.series.len(), 2);
        assert_eq!(answer.series[0].labels, labels(&[("level", "ERROR")]));
        assert_eq!(
            points(&answer.series[0]),
            [(60, 3.0), (120, 4.0), (180, 1.0), (240, 1.0)]
        );
        assert_eq!(answer.series[1].labels, labels(&[("level", "INFO")]));
        assert_eq!(points(&answer.series[1]), [(240, 5.0)]);
    }

    #[tokio::test]
    async fn rates_divide_by_the_range_and_bytes_use_the_message_bytes() {
        for (function, expected) in [
            (RangeFunction::Rate, 0.05),
            (RangeFunction::BytesOverTime, 30.0),
            (RangeFunction::BytesRate, 0.5),
        ] {
            let mut store = MockLogReader::new();
            store
                .expect_metric_windows()
                .times(1)
                .returning(|_| Ok(vec![row(&[], 0, 1, 3)]));
            let use_case = QueryUseCase::new(Arc::new(store));
            let answer = use_case
                .metric(range_draft(function, SeriesGrouping::Sum(Vec::new())))
                .await
                .unwrap();
            assert_eq!(points(&answer.series[0]), [(60, expected)], "{function}");
            assert!(answer.series[0].labels.is_empty());
        }
    }

    #[tokio::test]
    async fn a_count_by_asks_for_streams_and_counts_those_with_logs_at_each_step() {
        let mut store = MockLogReader::new();
        store
            .expect_metric_windows()
            .withf(|request| request.split == SeriesSplit::Streams)
            .times(1)
            .returning(|_| {
                let stream = |service: &str, host: &str| {
                    vec![("service", service.to_owned()), ("host", host.to_owned())]
                };
                let row = |pairs: Vec<(&str, String)>, first_step, end_step| WindowCount {
                    labels: pairs
                        .into_iter()
                        .map(|(name, value)| (name.to_owned(), value))
                        .collect(),
                    first_step,
                    end_step,
                    count: 2,
                    bytes: 20,
                };
                Ok(vec![
                    row(stream("auth", "a"), 0, 2),
                    row(stream("auth", "b"), 1, 2),
                    row(stream("billing", "a"), 1, 3),
                ])
            });
        let use_case = QueryUseCase::new(Arc::new(store));

        let answer = use_case
            .metric(range_draft(
                RangeFunction::CountOverTime,
                SeriesGrouping::Count(vec![FieldName::Service]),
            ))
            .await
            .unwrap();

        assert_eq!(answer.series.len(), 2);
        assert_eq!(answer.series[0].labels, labels(&[("service", "auth")]));
        assert_eq!(points(&answer.series[0]), [(60, 1.0), (120, 2.0)]);
        assert_eq!(answer.series[1].labels, labels(&[("service", "billing")]));
        assert_eq!(points(&answer.series[1]), [(120, 1.0), (180, 1.0)]);
    }

    #[tokio::test]
    async fn an_instant_query_has_one_window_ending_at_its_time() {
        let mut store = MockLogReader::new();
        store
            .expect_metric_windows()
            .withf(|request| {
                request.spec.kind() == MetricKind::Instant
                    && request.spec.grid().points() == 1
                    && request.spec.filter().to() == Some(at(600).saturating_add_nanos(1))
                    && request.spec.filter().from()
                        == Some(Timestamp::from_unix_nanos(at(300).unix_nanos() + 1))
            })
            .times(1)
            .returning(|_| Ok(vec![row(&[("service", "auth")], 0, 1, 7)]));
        let use_case = QueryUseCase::new(Arc::new(store));

        let answer = use_case
            .metric(MetricDraft {
                range_nanos: 300 * SECOND,
                times: MetricTimes::Instant { at: at(600) },
                ..range_draft(RangeFunction::CountOverTime, SeriesGrouping::Streams)
            })
            .await
            .unwrap();

        assert_eq!(answer.kind, MetricKind::Instant);
        assert_eq!(points(&answer.series[0]), [(600, 7.0)]);
    }

    #[tokio::test]
    async fn bad_steps_and_spans_wider_than_allowed_are_refused_before_the_store() {
        let mut store = MockLogReader::new();
        store.expect_metric_windows().times(0);
        let use_case = QueryUseCase::with_settings(
            Arc::new(store),
            QuerySettings {
                max_range: Some(Duration::from_secs(3600)),
                ..QuerySettings::default()
            },
            CancellationToken::new(),
        );
        let with_times = |range_nanos, times| MetricDraft {
            range_nanos,
            times,
            ..range_draft(RangeFunction::Rate, SeriesGrouping::Streams)
        };
        let refused = [
            (
                with_times(
                    SECOND,
                    MetricTimes::Range {
                        start: at(60),
                        end: at(120),
                        step_nanos: 0,
                    },
                ),
                "step",
            ),
            (
                with_times(
                    SECOND,
                    MetricTimes::Range {
                        start: at(60),
                        end: at(60 + 11_001),
                        step_nanos: SECOND,
                    },
                ),
                "step",
            ),
            (with_times(0, MetricTimes::Instant { at: at(60) }), "range"),
            // 59 minutes of steps and a window of 2 minutes: 61 minutes of logs.
            (
                with_times(
                    120 * SECOND,
                    MetricTimes::Range {
                        start: at(120),
                        end: at(120 + 59 * 60),
                        step_nanos: 60 * SECOND,
                    },
                ),
                "start",
            ),
        ];
        for (draft, field) in refused {
            match use_case.metric(draft.clone()).await {
                Err(QueryError::Invalid(error)) => assert_eq!(error.field(), field, "{draft:?}"),
                other => panic!("{draft:?} answered {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn more_series_than_allowed_are_refused_naming_the_query() {
        let mut store = MockLogReader::new();
        store.expect_metric_windows().times(1).returning(|_| {
            Ok((0..=METRIC_MAX_SERIES)
                .map(|index| {
                    let host = index.to_string();
                    row(&[("host", host.as_str())], 0, 1, 1)
                })
                .collect())
        });
        let use_case = QueryUseCase::new(Arc::new(store));

        let error = use_case
            .metric(range_draft(
                RangeFunction::CountOverTime,
                SeriesGrouping::Streams,
            ))
            .await
            .unwrap_err();

        match error {
            QueryError::Invalid(error) => {
                assert_eq!(error.field(), "query");
                assert!(error.to_string().contains("maximum of series (500)"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_store_timeout_is_reported_as_a_store_failure() {
        let mut store = MockLogReader::new();
        store
            .expect_metric_windows()
            .times(1)
            .returning(|_| Err(StoreError::TimedOut("max_execution_time".into())));
        let use_case = QueryUseCase::new(Arc::new(store));

        let error = use_case
            .metric(range_draft(
                RangeFunction::CountOverTime,
                SeriesGrouping::Streams,
            ))
            .await
            .unwrap_err();

        assert!(matches!(error, QueryError::Store(StoreError::TimedOut(_))));
    }

    /// The value of every series at every step, counted log by log from the definition: the
    /// logs whose time is in `(t - range, t]`.
    fn by_definition(
        events: &[LogEvent],
        draft: &MetricDraft,
    ) -> BTreeMap<BTreeMap<String, String>, Vec<(u64, f64)>> {
        let MetricTimes::Range {
            start,
            end,
            step_nanos,
        } = draft.times
        else {
            unreachable!("range queries only")
        };
        let mut answer: BTreeMap<BTreeMap<String, String>, Vec<(u64, f64)>> = BTreeMap::new();
        let mut step = start.unix_nanos();
        while step <= end.unix_nanos() {
            let window = |event: &&LogEvent| {
                let ts = event.timestamp().unix_nanos();
                ts + draft.range_nanos > step && ts <= step
            };
            let mut per_series: BTreeMap<BTreeMap<String, String>, (u64, u64)> = BTreeMap::new();
            for event in events.iter().filter(window) {
                let key = match &draft.grouping {
                    SeriesGrouping::Sum(fields) => domain::labels_of(event, fields),
                    _ => domain::stream_labels(event),
                };
                let entry = per_series.entry(key).or_default();
                entry.0 += 1;
                entry.1 += event.message().as_str().len() as u64;
            }
            for (key, (count, bytes)) in per_series {
                answer.entry(key).or_default().push((
                    (step - T0) / SECOND,
                    draft.function.value(count, bytes, draft.range_nanos),
                ));
            }
            step += step_nanos;
        }
        answer
    }

    #[tokio::test]
    async fn sliding_windows_of_any_step_and_range_hold_what_the_definition_says() {
        let mut random = fastrand::Rng::with_seed(13);
        let levels = [Level::Info, Level::Warn, Level::Error];
        let events: Vec<LogEvent> = (0..400)
            .map(|_| {
                let message = "x".repeat(random.usize(1..40));
                let host = format!("h{}", random.u8(0..3));
                custom_event(
                    if random.bool() { "auth" } else { "billing" },
                    levels[random.usize(0..3)],
                    &message,
                    at(random.u64(0..1200)),
                    &[("host", host.as_str())],
                    TRACE,
                )
            })
            .collect();
        let store = InMemoryLogStore::default();
        store.insert(&events).await.unwrap();
        let use_case = QueryUseCase::new(Arc::new(store));
        // Steps shorter, equal to and longer than the range, which divide it or not.
        for (range, step, start) in [(60, 60, 60), (300, 45, 30), (50, 70, 55), (7, 1, 100)] {
            for (function, grouping) in [
                (RangeFunction::CountOverTime, SeriesGrouping::Streams),
                (
                    RangeFunction::BytesRate,
                    SeriesGrouping::Sum(vec![FieldName::Level, FieldName::Service]),
                ),
                (
                    RangeFunction::Rate,
                    SeriesGrouping::Sum(vec![FieldName::Metadata("host".into())]),
                ),
            ] {
                let draft = MetricDraft {
                    conditions: FilterDraft::default(),
                    function,
                    range_nanos: range * SECOND,
                    times: MetricTimes::Range {
                        start: at(start),
                        end: at(1250),
                        step_nanos: step * SECOND,
                    },
                    grouping,
                };
                let answer = use_case.metric(draft.clone()).await.unwrap();
                let got: BTreeMap<_, _> = answer
                    .series
                    .iter()
                    .map(|series| (series.labels.clone(), points(series)))
                    .collect();
                assert_eq!(got, by_definition(&events, &draft), "{draft:?}");
            }
        }
    }
}
