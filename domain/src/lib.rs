//! The log pipeline's domain: validated values and nothing that does I/O.
//!
//! A value of any type in this crate is valid by construction: fields are private and every
//! constructor that takes outside input returns a [`ValidationError`] naming the field and the reason.
//! The limits a client can hit are collected in [`limits`].

mod aggregate;
mod condition;
mod cursor;
mod error;
mod event;
mod field;
mod filter;
mod ids;
mod level;
pub mod limits;
mod line_parser;
mod metric;
mod search;
mod text;
mod timestamp;

pub use aggregate::{GroupBy, HistogramInterval, HistogramSplit};
pub use condition::{Anchoring, FieldCondition, FieldOp, LineCondition, Pattern, parse_number};
pub use cursor::Cursor;
pub use error::{ValidationError, ValidationReason};
pub use event::{LogEvent, LogEventDraft, LogEventParts, Metadata};
pub use field::{FieldName, METADATA_FIELD_PREFIX, SampleRows};
pub use filter::{Filter, FilterDraft, Limit, SortOrder};
pub use ids::{EventId, IdText, SpanId, TraceId};
pub use level::Level;
pub use line_parser::{LineParser, ParsedLabel, UNQUOTE_PATTERN, unquote};
pub use metric::{
    MetricKind, MetricSpec, RangeFunction, SeriesGrouping, StepGrid, label_name, labels_of,
    stream_labels,
};
pub use search::{TextSearch, fold_case};
pub use text::{Message, ServiceName};
pub use timestamp::{Timestamp, TimestampInput};
