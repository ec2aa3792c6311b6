//! The use cases of the log pipeline and the ports they need.
//!
//! `IngestUseCase` validates events and queues them, `DrainUseCase` moves them from the queue into
//! the store, `QueryUseCase` reads them back. Each talks to the outside world only through the
//! traits in [`ports`], which the adapter crates implement for Redis, ClickHouse and gRPC.

mod backoff;
mod coalesce;
mod doubts;
mod drain;
mod ingest;
mod metric;
pub mod ports;
mod query;
mod retention;
mod tail;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use backoff::Backoff;
pub use drain::{DrainError, DrainOutcome, DrainSettings, DrainTrigger, DrainUseCase};
pub use ingest::{Accepted, BatchOutcome, IngestError, IngestUseCase, RejectedEvent};
pub use metric::{MetricAnswer, MetricDraft, MetricPoint, MetricSeries, MetricTimes};
pub use query::{
    FieldSummary, FieldValues, Histogram, HistogramBucket, LogPage, QueryError, QuerySettings,
    QueryUseCase, SampleInfo,
};
pub use retention::RetentionUseCase;
pub use tail::{TailItem, TailSettings, TailSubscription};
