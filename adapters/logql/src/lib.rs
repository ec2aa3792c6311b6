//! The LogQL subset the query service answers, parsed into the domain's filter conditions and a
//! description of the metric to compute. Pure: no I/O. What is outside the subset is refused
//! with an error naming the construct (see the README's Loki section for the list).
//!
//! Labels: `service` and `level` are the event's own fields; any other label name is a
//! metadata key. Stream selectors and label filters take `=`, `!=`, `=~`, `!~` (regular
//! expressions in RE2 syntax, matching the whole value); label filters also take `==` and the
//! numeric comparisons `>`, `>=`, `<`, `<=`. Line filters `|=`, `!=`, `|~`, `!~` chain.
//! One parser stage, `| json` or `| logfmt` without parameters, makes the labels named after
//! it readable from the message (see `domain::ParsedLabel` for what it reads).

mod lexer;
mod parser;

use domain::{FieldCondition, FieldName, LineCondition, LineParser, ParsedLabel};

pub use lexer::duration_nanos;
pub use parser::{label_field, parse};

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// A log query: the logs that meet the conditions.
    Logs(Selection),
    /// A metric over logs.
    Metric(MetricQuery),
    /// A constant expression such as Grafana's health check `vector(1)+vector(1)`.
    Constant(f64),
}

/// The conditions of a log query: its stream selector and its pipeline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    pub fields: Vec<FieldCondition>,
    pub lines: Vec<LineCondition>,
    /// The parser stage (`| json`, `| logfmt`) of the pipeline, if any: labels named after it,
    /// other than `service` and `level`, are read from the message unless the event has a
    /// metadata entry of that name.
    pub parser: Option<LineParser>,
}

impl Selection {
    /// The label `name` as a field at the end of the pipeline: after a parser stage a label
    /// other than `service` and `level` may come from the message.
    pub fn label(&self, name: &str) -> Result<FieldName, LogqlError> {
        match (self.parser, label_field(name)) {
            (Some(parser), FieldName::Metadata(key)) => ParsedLabel::new(parser, &key)
                .map(FieldName::Parsed)
                .map_err(|error| LogqlError::invalid(format!("label {name:?}: {error}"))),
            (_, field) => Ok(field),
        }
    }
}

/// `fn(selection [range])`, optionally aggregated.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    pub function: RangeFunction,
    /// The range in nanoseconds.
    pub range_nanos: u64,
    pub selection: Selection,
    pub aggregation: Option<Aggregation>,
}

/// What a range aggregation computes per series and window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFunction {
    /// Logs in the window.
    CountOverTime,
    /// Logs per second in the window.
    Rate,
    /// Bytes of the messages in the window.
    BytesOverTime,
    /// Bytes of the messages per second in the window.
    BytesRate,
}

/// `sum by (labels)` or `count by (labels)` over a range aggregation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregation {
    pub operator: AggregationOperator,
    /// Label names to group by; empty: one series.
    pub by: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregationOperator {
    Sum,
    Count,
}

/// Why a query was refused: a syntax error, or a construct outside the subset (named).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LogqlError {
    pub message: String,
    /// Whether the query is valid LogQL that this service does not answer.
    pub unsupported: bool,
}

impl LogqlError {
    pub(crate) fn syntax(column: usize, what: impl std::fmt::Display) -> Self {
        Self {
            message: format!("parse error at line 1, col {column}: {what}"),
            unsupported: false,
        }
    }

    pub(crate) fn unsupported(construct: impl std::fmt::Display) -> Self {
        Self {
            message: format!("unsupported LogQL: {construct}"),
            unsupported: true,
        }
    }

    pub(crate) fn invalid(what: impl std::fmt::Display) -> Self {
        Self {
            message: what.to_string(),
            unsupported: false,
        }
    }
}
