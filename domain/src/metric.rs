//! What a metric query asks for (LogQL's `count_over_time`, `rate`, `bytes_over_time`,
//! `bytes_rate`, optionally under `sum by` or `count by`): which logs, which function of each
//! window, the steps it is evaluated at, and which series it answers.
//!
//! At each step `t` a range function looks at the window `(t - range, t]` (Loki's: the end is
//! included, the start is not), so with a step shorter than the range one log counts at several
//! steps. The steps are `start, start + step, ...` up to `end`; an instant query has one step.

use std::collections::BTreeMap;
use std::fmt;

use crate::limits::{FILTER_MAX_METADATA_CONDITIONS, METRIC_MAX_POINTS};
use crate::{FieldName, Filter, LogEvent, Timestamp, ValidationError, ValidationReason};

const NANOS_PER_SECOND: f64 = 1_000_000_000.0;

/// What a range function computes from the logs of one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RangeFunction {
    /// How many logs the window holds.
    CountOverTime,
    /// Logs per second: the count divided by the range in seconds.
    Rate,
    /// The bytes of the windows' messages: the length of each message in bytes of UTF-8
    /// (the log line, as Loki counts it; not the metadata, nor the stored size).
    BytesOverTime,
    /// Bytes per second: the bytes divided by the range in seconds.
    BytesRate,
}

impl RangeFunction {
    /// Whether the value depends on the messages' bytes (else only on the count of logs).
    pub fn reads_bytes(self) -> bool {
        matches!(self, Self::BytesOverTime | Self::BytesRate)
    }

    /// The value of a window that holds `count` logs with `bytes` bytes of messages, over a
    /// range of `range_nanos`.
    pub fn value(self, count: u64, bytes: u64, range_nanos: u64) -> f64 {
        let seconds = range_nanos as f64 / NANOS_PER_SECOND;
        match self {
            Self::CountOverTime => count as f64,
            Self::Rate => count as f64 / seconds,
            Self::BytesOverTime => bytes as f64,
            Self::BytesRate => bytes as f64 / seconds,
        }
    }
}

impl fmt::Display for RangeFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CountOverTime => "count_over_time",
            Self::Rate => "rate",
            Self::BytesOverTime => "bytes_over_time",
            Self::BytesRate => "bytes_rate",
        })
    }
}

/// Which series a metric answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SeriesGrouping {
    /// One series per stream: per set of labels of a log (its service, its level and every
    /// metadata entry), as a range function without an aggregation answers.
    Streams,
    /// `sum by (labels)`: one series per combination of the labels' values, the sum of its
    /// streams' values. No label: one series of everything.
    Sum(Vec<FieldName>),
    /// `count by (labels)`: one series per combination of the labels' values, how many of its
    /// streams have a value at the step.
    Count(Vec<FieldName>),
}

impl SeriesGrouping {
    /// The labels of a `sum by` or `count by`; none for streams.
    pub fn labels(&self) -> &[FieldName] {
        match self {
            Self::Streams => &[],
            Self::Sum(labels) | Self::Count(labels) => labels,
        }
    }
}

/// The name of a field as a label: `service`, `level`, or the metadata key itself.
pub fn label_name(field: &FieldName) -> &str {
    match field {
        FieldName::Service => "service",
        FieldName::Level => "level",
        FieldName::Metadata(key) => key,
        FieldName::Parsed(label) => label.key(),
    }
}

/// The labels of `event` as a stream: `service`, `level` and every metadata entry with a
/// non-empty value (an entry named `service` or `level` is left out: the event's own fields
/// have those names).
pub fn stream_labels(event: &LogEvent) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = event
        .metadata()
        .iter()
        .filter(|(key, value)| !value.is_empty() && *key != "service" && *key != "level")
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
    labels.insert("service".into(), event.service().as_str().to_owned());
    labels.insert("level".into(), event.level().as_str().to_owned());
    labels
}

/// The labels `fields` of `event`, each under its [`label_name`]; a field without a value
/// (a metadata key the event lacks, or an empty value) is left out, as Loki leaves out empty
/// labels.
pub fn labels_of(event: &LogEvent, fields: &[FieldName]) -> BTreeMap<String, String> {
    fields
        .iter()
        .filter_map(|field| {
            let value = field.value_of(event)?;
            (!value.is_empty()).then(|| (label_name(field).to_owned(), value))
        })
        .collect()
}

/// Whether an answer is a vector (an instant query, one step) or a matrix (a range query).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    Instant,
    Range,
}

/// The instants a metric is evaluated at: `first`, `first + step`, ..., `points` of them, at
/// most [`METRIC_MAX_POINTS`] steps after the first (as Loki counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StepGrid {
    first: Timestamp,
    step_nanos: u64,
    points: u32,
}

impl StepGrid {
    /// The steps from `start` to `end` (both included when `end` falls on a step) every
    /// `step_nanos`. Errors name `step` (zero, or more than [`METRIC_MAX_POINTS`] steps after
    /// `start`) or
    /// `end` (before `start`).
    pub fn range(
        start: Timestamp,
        end: Timestamp,
        step_nanos: u64,
    ) -> Result<Self, ValidationError> {
        if step_nanos == 0 {
            return Err(ValidationError::new(
                "step",
                ValidationReason::OutOfRange(
                    "zero or negative query resolution step widths are not accepted. Try a \
                     positive integer"
                        .into(),
                ),
            ));
        }
        if end < start {
            return Err(ValidationError::new(
                "end",
                ValidationReason::OutOfRange("end timestamp must not be before start time".into()),
            ));
        }
        let intervals = (end.unix_nanos() - start.unix_nanos()) / step_nanos;
        // Loki's check: (end - start) / step at most 11,000, so 11,001 steps at most.
        if intervals > u64::from(METRIC_MAX_POINTS) {
            return Err(ValidationError::new(
                "step",
                ValidationReason::OutOfRange(format!(
                    "exceeded maximum resolution of {} points per timeseries. Try increasing \
                     the value of the step parameter",
                    thousands(METRIC_MAX_POINTS)
                )),
            ));
        }
        Ok(Self {
            first: start,
            step_nanos,
            points: u32::try_from(intervals + 1).unwrap_or(METRIC_MAX_POINTS),
        })
    }

    /// The one step of an instant query.
    pub fn instant(at: Timestamp) -> Self {
        Self {
            first: at,
            step_nanos: 1,
            points: 1,
        }
    }

    /// The first step.
    pub fn first(&self) -> Timestamp {
        self.first
    }

    /// The distance between steps.
    pub fn step_nanos(&self) -> u64 {
        self.step_nanos
    }

    /// How many steps there are (at least one).
    pub fn points(&self) -> u32 {
        self.points
    }

    /// Step `index` (0 is the first).
    pub fn at(&self, index: u32) -> Timestamp {
        self.first
            .saturating_add_nanos(u64::from(index).saturating_mul(self.step_nanos))
    }

    /// The last step.
    pub fn last(&self) -> Timestamp {
        self.at(self.points - 1)
    }
}

/// A validated metric query: a filter whose time range is what the windows of its steps
/// cover, a range function, the window's length, the steps and the series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricSpec {
    filter: Filter,
    function: RangeFunction,
    range_nanos: u64,
    grid: StepGrid,
    grouping: SeriesGrouping,
    kind: MetricKind,
}

impl MetricSpec {
    /// Validates a metric over the logs `filter` selects. The filter's own time range (if any)
    /// is narrowed to what the windows cover, `(first step - range, last step]`. Errors name
    /// `range` (zero), `start` (a window reaching before 1970) or `by` (more than
    /// [`FILTER_MAX_METADATA_CONDITIONS`] labels).
    pub fn new(
        filter: Filter,
        function: RangeFunction,
        range_nanos: u64,
        grid: StepGrid,
        grouping: SeriesGrouping,
        kind: MetricKind,
    ) -> Result<Self, ValidationError> {
        if range_nanos == 0 {
            return Err(ValidationError::new(
                "range",
                ValidationReason::OutOfRange("must be longer than 0".into()),
            ));
        }
        if grid.first().unix_nanos() < range_nanos {
            return Err(ValidationError::new(
                "start",
                ValidationReason::OutOfRange(
                    "must be at least the range after 1970-01-01T00:00:00Z".into(),
                ),
            ));
        }
        if grouping.labels().len() > FILTER_MAX_METADATA_CONDITIONS {
            return Err(ValidationError::new(
                "by",
                ValidationReason::TooMany {
                    max: FILTER_MAX_METADATA_CONDITIONS,
                },
            ));
        }
        let grouping = match grouping {
            SeriesGrouping::Streams => SeriesGrouping::Streams,
            SeriesGrouping::Sum(labels) => SeriesGrouping::Sum(distinct(labels)),
            SeriesGrouping::Count(labels) => SeriesGrouping::Count(distinct(labels)),
        };
        let from = Timestamp::from_unix_nanos(grid.first().unix_nanos() - range_nanos + 1);
        let to = grid.last().saturating_add_nanos(1);
        Ok(Self {
            filter: filter.narrowed_to(Some(from), Some(to)),
            function,
            range_nanos,
            grid,
            grouping,
            kind,
        })
    }

    /// The logs any window holds: the conditions, within `(first step - range, last step]`.
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// What each window's value is.
    pub fn function(&self) -> RangeFunction {
        self.function
    }

    /// The length of every window.
    pub fn range_nanos(&self) -> u64 {
        self.range_nanos
    }

    /// The steps.
    pub fn grid(&self) -> &StepGrid {
        &self.grid
    }

    /// The series answered.
    pub fn grouping(&self) -> &SeriesGrouping {
        &self.grouping
    }

    /// Vector or matrix.
    pub fn kind(&self) -> MetricKind {
        self.kind
    }

    /// The steps whose window holds a log of time `moment`: from the first step at or after
    /// it to the first step at or after `moment + range` (excluded), clipped to the grid.
    /// `None` when no window holds it.
    pub fn steps_holding(&self, moment: Timestamp) -> Option<(u32, u32)> {
        let from = self.filter.from().map_or(0, Timestamp::unix_nanos);
        let ts = moment.unix_nanos();
        if ts < from || ts > self.grid.last().unix_nanos() {
            return None;
        }
        let first = self.grid.first().unix_nanos();
        let step = self.grid.step_nanos();
        let first_step = (ts.max(first) - first).div_ceil(step);
        // ts + range - first >= 1 since ts >= first - range + 1.
        let end_step = ((ts - from) / step + 1).min(u64::from(self.grid.points()));
        Some((
            u32::try_from(first_step).unwrap_or(u32::MAX),
            u32::try_from(end_step).unwrap_or(u32::MAX),
        ))
    }
}

fn distinct(labels: Vec<FieldName>) -> Vec<FieldName> {
    let mut kept: Vec<FieldName> = Vec::with_capacity(labels.len());
    for label in labels {
        if !kept.contains(&label) {
            kept.push(label);
        }
    }
    kept
}

/// `11000` as Loki writes it: `11,000`.
fn thousands(value: u32) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;
    const T0: u64 = 1_777_975_200 * SECOND;

    fn at(seconds: u64) -> Timestamp {
        Timestamp::from_unix_nanos(T0 + seconds * SECOND)
    }

    fn spec(range_seconds: u64, grid: StepGrid) -> MetricSpec {
        MetricSpec::new(
            Filter::default(),
            RangeFunction::CountOverTime,
            range_seconds * SECOND,
            grid,
            SeriesGrouping::Streams,
            MetricKind::Range,
        )
        .unwrap()
    }

    #[test]
    fn a_range_grid_lists_every_step_up_to_end() {
        let grid = StepGrid::range(at(0), at(100), 30 * SECOND).unwrap();
        assert_eq!(grid.points(), 4);
        assert_eq!(grid.last(), at(90));
        let exact = StepGrid::range(at(0), at(90), 30 * SECOND).unwrap();
        assert_eq!(exact.points(), 4);
        assert_eq!(StepGrid::range(at(5), at(5), SECOND).unwrap().points(), 1);
    }

    #[test]
    fn steps_must_be_positive_and_few_enough_and_end_not_before_start() {
        assert_eq!(
            StepGrid::range(at(0), at(1), 0).unwrap_err().field(),
            "step"
        );
        assert_eq!(
            StepGrid::range(at(10), at(0), SECOND).unwrap_err().field(),
            "end"
        );
        let max = u64::from(METRIC_MAX_POINTS);
        assert_eq!(
            StepGrid::range(at(0), at(max), SECOND).unwrap().points(),
            METRIC_MAX_POINTS + 1,
            "Loki's check: (end - start) / step at most 11,000"
        );
        let too_many = StepGrid::range(at(0), at(max + 1), SECOND).unwrap_err();
        assert_eq!(too_many.field(), "step");
        assert!(
            too_many
                .to_string()
                .contains("exceeded maximum resolution of 11,000 points per timeseries"),
            "{too_many}"
        );
    }

    #[test]
    fn the_filter_covers_exactly_the_windows_of_the_steps() {
        let spec = spec(60, StepGrid::range(at(100), at(200), 50 * SECOND).unwrap());
        assert_eq!(
            spec.filter().from(),
            Some(Timestamp::from_unix_nanos(T0 + 40 * SECOND + 1))
        );
        assert_eq!(spec.filter().to(), Some(at(200).saturating_add_nanos(1)));
    }

    #[test]
    fn a_window_holds_its_end_and_not_its_start() {
        // Steps at 100, 150, 200; range 60 s: windows (40, 100], (90, 150], (140, 200].
        let spec = spec(60, StepGrid::range(at(100), at(200), 50 * SECOND).unwrap());
        let holding = |seconds| spec.steps_holding(at(seconds));
        assert_eq!(holding(40), None, "the start of the first window is out");
        assert_eq!(holding(41), Some((0, 1)));
        assert_eq!(holding(90), Some((0, 1)));
        assert_eq!(holding(91), Some((0, 2)));
        assert_eq!(holding(100), Some((0, 2)), "a window holds its end");
        assert_eq!(holding(101), Some((1, 2)));
        assert_eq!(holding(141), Some((1, 3)));
        assert_eq!(holding(200), Some((2, 3)));
        assert_eq!(holding(201), None);
        let just_after = Timestamp::from_unix_nanos(T0 + 40 * SECOND + 1);
        assert_eq!(spec.steps_holding(just_after), Some((0, 1)));
    }

    #[test]
    fn an_instant_query_has_one_window_ending_at_its_time() {
        let spec = spec(300, StepGrid::instant(at(1000)));
        assert_eq!(spec.steps_holding(at(700)), None);
        assert_eq!(spec.steps_holding(at(701)), Some((0, 1)));
        assert_eq!(spec.steps_holding(at(1000)), Some((0, 1)));
        assert_eq!(spec.steps_holding(at(1001)), None);
    }

    #[test]
    fn a_zero_range_a_window_before_1970_and_too_many_labels_are_refused() {
        let grid = StepGrid::instant(at(0));
        let make = |range, grid, grouping| {
            MetricSpec::new(
                Filter::default(),
                RangeFunction::Rate,
                range,
                grid,
                grouping,
                MetricKind::Instant,
            )
        };
        assert_eq!(
            make(0, grid, SeriesGrouping::Streams).unwrap_err().field(),
            "range"
        );
        let early = StepGrid::instant(Timestamp::from_unix_nanos(SECOND));
        assert_eq!(
            make(2 * SECOND, early, SeriesGrouping::Streams)
                .unwrap_err()
                .field(),
            "start"
        );
        let labels = (0..=FILTER_MAX_METADATA_CONDITIONS)
            .map(|index| FieldName::Metadata(format!("k{index}")))
            .collect();
        assert_eq!(
            make(SECOND, grid, SeriesGrouping::Sum(labels))
                .unwrap_err()
                .field(),
            "by"
        );
        let twice = make(
            SECOND,
            grid,
            SeriesGrouping::Count(vec![FieldName::Level, FieldName::Level]),
        )
        .unwrap();
        assert_eq!(twice.grouping().labels(), [FieldName::Level]);
    }

    #[test]
    fn rates_divide_by_the_range_in_seconds_and_bytes_count_message_bytes() {
        let minute = 60 * SECOND;
        assert_eq!(RangeFunction::CountOverTime.value(6, 100, minute), 6.0);
        assert_eq!(RangeFunction::Rate.value(6, 100, minute), 0.1);
        assert_eq!(RangeFunction::BytesOverTime.value(6, 100, minute), 100.0);
        assert_eq!(RangeFunction::BytesRate.value(6, 90, minute), 1.5);
        assert_eq!(RangeFunction::BytesRate.to_string(), "bytes_rate");
    }

    #[test]
    fn label_names_are_the_field_or_the_metadata_key() {
        assert_eq!(label_name(&FieldName::Service), "service");
        assert_eq!(label_name(&FieldName::Level), "level");
        assert_eq!(
            label_name(&FieldName::Metadata("user_id".into())),
            "user_id"
        );
        assert_eq!(thousands(11_000), "11,000");
        assert_eq!(thousands(500), "500");
    }
}
