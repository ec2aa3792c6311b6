//! The one aggregation behind a metric query ([`LogReader::metric_windows`]): the logs of the
//! windows, grouped by series and by the steps whose windows hold them.
//!
//! A log of time `ts` counts at every step `t` with `t - range < ts <= t`: from the first step
//! at or after `ts` to the first step at or after `ts + range` (excluded). Logs with the same
//! series and the same two steps form one row, so the answer has at most about three rows per
//! series and step whatever the number of logs, and ClickHouse reads each log once: no row is
//! copied per window, however much the windows overlap. The steps are `intDiv` arithmetic on
//! the nanosecond timestamp, which ClickHouse 18.16 and current releases compute alike.
//!
//! [`LogReader::metric_windows`]: application::ports::LogReader::metric_windows

use std::collections::BTreeMap;

use application::ports::{MetricRequest, SeriesSplit, WindowCount};
use domain::label_name;
use serde::Deserialize;

use crate::row::LOGS_TABLE;
use crate::sql::{Statement, field_value, filter_conditions};

/// One row of [`metric_windows`]: a series' label values and the logs of it that the same
/// steps' windows hold.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Deserialize)]
pub(crate) struct WindowRow {
    /// For streams, the metadata keys; else empty (the split names the labels).
    pub(crate) series_keys: Vec<String>,
    /// For streams, the service, the level and then the metadata values; else the value of
    /// each label of the split, in its order.
    pub(crate) series_values: Vec<String>,
    pub(crate) first_step: u64,
    pub(crate) end_step: u64,
    pub(crate) hits: u64,
    pub(crate) bytes: u64,
}

/// Counts the logs of `request` per series and (first step, end step): see the module's
/// documentation. Bytes are those of the message (`length` counts bytes of a `String`), read
/// only for the functions of bytes (else 0: the messages are the widest column). The rows are
/// sorted (a few per series and step, cheap to sort) so that the `LIMIT` keeps the
/// same rows on every server and version.
pub(crate) fn metric_windows(request: &MetricRequest) -> Statement {
    let spec = &request.spec;
    let grid = spec.grid();
    let step = grid.step_nanos();
    let first = grid.first().unix_nanos();
    // The filter's time range is (first step - range, last step]: its `from` is the earliest
    // log, so `timestamp - from` is never negative.
    let from = spec.filter().from().map_or(0, |from| from.unix_nanos());
    let mut statement = match &request.split {
        SeriesSplit::Streams => Statement::new(
            "SELECT metadata_keys AS series_keys, \
             arrayConcat([service, toString(level)], metadata_values) AS series_values",
        ),
        SeriesSplit::Labels(fields) if fields.is_empty() => Statement::new(
            "SELECT emptyArrayString() AS series_keys, emptyArrayString() AS series_values",
        ),
        SeriesSplit::Labels(fields) => {
            let labels: Vec<_> = fields.iter().map(field_value).collect();
            let expressions: Vec<&str> = labels.iter().map(|(sql, _)| *sql).collect();
            let mut statement = Statement::new(format!(
                "SELECT emptyArrayString() AS series_keys, [{}] AS series_values",
                expressions.join(", ")
            ));
            for value in labels.into_iter().flat_map(|(_, values)| values) {
                statement.value(value);
            }
            statement
        }
    };
    // Only bytes functions read the messages, the widest column.
    let bytes = if spec.function().reads_bytes() {
        "toUInt64(sum(length(message)))"
    } else {
        "toUInt64(0)"
    };
    statement
        .push(&format!(
            ", toUInt64(intDiv(greatest(timestamp, ?) - ? + ?, ?)) AS first_step, \
             toUInt64(least(intDiv(timestamp - ?, ?) + 1, ?)) AS end_step, \
             count() AS hits, {bytes} AS bytes"
        ))
        .number_value(first)
        .number_value(first)
        .number_value(step - 1)
        .number_value(step)
        .number_value(from)
        .number_value(step)
        .number_value(u64::from(grid.points()))
        .push(&format!(" FROM {LOGS_TABLE}"))
        .where_all(filter_conditions(spec.filter()))
        .push(
            " GROUP BY series_keys, series_values, first_step, end_step \
             ORDER BY series_keys, series_values, first_step, end_step LIMIT ?",
        )
        .number_value(request.max_rows);
    statement
}

/// A row as the port's [`WindowCount`]: the labels with empty values left out, as
/// [`domain::stream_labels`] and [`domain::labels_of`] give them.
pub(crate) fn window_count(row: WindowRow, split: &SeriesSplit) -> WindowCount {
    let mut values = row.series_values.into_iter();
    let labels: BTreeMap<String, String> = match split {
        SeriesSplit::Streams => {
            let service = values.next().unwrap_or_default();
            let level = values.next().unwrap_or_default();
            let mut labels: BTreeMap<String, String> = row
                .series_keys
                .into_iter()
                .zip(values)
                .filter(|(key, value)| !value.is_empty() && key != "service" && key != "level")
                .collect();
            labels.insert("service".into(), service);
            labels.insert("level".into(), level);
            labels
        }
        SeriesSplit::Labels(fields) => fields
            .iter()
            .map(|field| label_name(field).to_owned())
            .zip(values)
            .filter(|(_, value)| !value.is_empty())
            .collect(),
    };
    WindowCount {
        labels,
        first_step: u32::try_from(row.first_step).unwrap_or(u32::MAX),
        end_step: u32::try_from(row.end_step).unwrap_or(u32::MAX),
        count: row.hits,
        bytes: row.bytes,
    }
}

#[cfg(test)]
mod tests {
    use clickhouse::Client;
    use domain::{
        FieldName, Filter, FilterDraft, MetricKind, MetricSpec, RangeFunction, SeriesGrouping,
        StepGrid, Timestamp,
    };

    use super::*;

    const SECOND: u64 = 1_000_000_000;
    const T0: u64 = 1_777_975_200 * SECOND;

    fn request(split: SeriesSplit) -> MetricRequest {
        let filter = Filter::from_draft(FilterDraft {
            services: vec!["auth".into()],
            ..FilterDraft::default()
        })
        .unwrap();
        let grid = StepGrid::range(
            Timestamp::from_unix_nanos(T0),
            Timestamp::from_unix_nanos(T0 + 120 * SECOND),
            60 * SECOND,
        )
        .unwrap();
        MetricRequest {
            spec: MetricSpec::new(
                filter,
                RangeFunction::CountOverTime,
                300 * SECOND,
                grid,
                SeriesGrouping::Streams,
                MetricKind::Range,
            )
            .unwrap(),
            split,
            max_rows: 4509,
        }
    }

    fn bound(statement: &Statement) -> String {
        let client = Client::default().with_validation(false);
        statement.query(&client).sql_display().to_string()
    }

    #[test]
    fn one_aggregation_groups_by_series_and_the_steps_holding_each_log() {
        let split = SeriesSplit::Labels(vec![
            FieldName::Level,
            FieldName::Metadata("user'id".into()),
        ]);
        assert_eq!(
            bound(&metric_windows(&request(split))),
            "SELECT emptyArrayString() AS series_keys, [toString(level), \
             metadata_values[indexOf(metadata_keys, 'user\\'id')]] AS series_values, \
             toUInt64(intDiv(greatest(timestamp, 1777975200000000000) - 1777975200000000000 \
             + 59999999999, 60000000000)) AS first_step, \
             toUInt64(least(intDiv(timestamp - 1777974900000000001, 60000000000) + 1, 3)) \
             AS end_step, count() AS hits, toUInt64(0) AS bytes FROM logs \
             WHERE service IN ('auth') AND timestamp >= 1777974900000000001 \
             AND timestamp < 1777975320000000001 \
             GROUP BY series_keys, series_values, first_step, end_step \
             ORDER BY series_keys, series_values, first_step, end_step LIMIT 4509"
        );
        let mut bytes = request(SeriesSplit::Streams);
        bytes.spec = MetricSpec::new(
            Filter::default(),
            RangeFunction::BytesRate,
            300 * SECOND,
            *bytes.spec.grid(),
            SeriesGrouping::Streams,
            MetricKind::Range,
        )
        .unwrap();
        let sql = bound(&metric_windows(&bytes));
        assert!(
            sql.contains("count() AS hits, toUInt64(sum(length(message))) AS bytes FROM logs"),
            "{sql}"
        );
        let streams = bound(&metric_windows(&request(SeriesSplit::Streams)));
        assert!(
            streams.starts_with(
                "SELECT metadata_keys AS series_keys, arrayConcat([service, toString(level)], \
                 metadata_values) AS series_values, "
            ),
            "{streams}"
        );
        let everything = bound(&metric_windows(&request(SeriesSplit::Labels(Vec::new()))));
        assert!(
            everything.starts_with(
                "SELECT emptyArrayString() AS series_keys, emptyArrayString() AS series_values"
            ),
            "{everything}"
        );
    }

    #[test]
    fn rows_become_label_sets_without_empty_values_and_without_shadowed_fields() {
        let row = |keys: &[&str], values: &[&str]| WindowRow {
            series_keys: keys.iter().map(|key| (*key).to_owned()).collect(),
            series_values: values.iter().map(|value| (*value).to_owned()).collect(),
            first_step: 1,
            end_step: 3,
            hits: 4,
            bytes: 40,
        };
        let stream = window_count(
            row(
                &["host", "level", "region"],
                &["auth", "ERROR", "db-1", "verbose", ""],
            ),
            &SeriesSplit::Streams,
        );
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect()
        };
        assert_eq!(
            stream,
            WindowCount {
                labels: labels(&[("host", "db-1"), ("level", "ERROR"), ("service", "auth")]),
                first_step: 1,
                end_step: 3,
                count: 4,
                bytes: 40,
            }
        );
        let split = SeriesSplit::Labels(vec![
            FieldName::Service,
            FieldName::Metadata("absent".into()),
        ]);
        assert_eq!(
            window_count(row(&[], &["auth", ""]), &split).labels,
            labels(&[("service", "auth")])
        );
    }
}
