//! Ports: what the use cases need from the outside world, named for their role.
//!
//! Every method documents the errors an implementation must return, so that use cases can react
//! to them without knowing the technology behind the port.

use std::collections::BTreeMap;
use std::error::Error as StdError;

use async_trait::async_trait;
use domain::{
    EventId, FieldName, Filter, GroupBy, HistogramInterval, Level, LogEvent, MetricSpec,
    SampleRows, Timestamp,
};

/// The cause of an adapter error, kept for logs.
pub type Cause = Box<dyn StdError + Send + Sync + 'static>;

/// Failures of a [`QueueProducer`] or a [`QueueConsumer`].
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue could not be reached or did not answer in time; retrying later may succeed.
    #[error("queue unavailable")]
    Unavailable(#[source] Cause),
    /// The queue holds more events than its configured capacity; nothing was added. Retrying
    /// after the worker has drained some will succeed.
    #[error("queue is full ({depth} events queued, capacity {capacity})")]
    Full { depth: u64, capacity: u64 },
    /// The queue answered with an error that retrying will not fix.
    #[error("queue operation failed")]
    Failed(#[source] Cause),
}

/// Failures of a [`LogWriter`], a [`LogReader`] or a [`LogRetention`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached, timed out or is overloaded; retrying later may succeed.
    #[error("store unavailable")]
    Unavailable(#[source] Cause),
    /// The store refused the data itself (e.g. a value it cannot hold); retrying will not help.
    #[error("store rejected the data")]
    Rejected(#[source] Cause),
    /// The query was refused or failed for a reason that retrying will not fix.
    #[error("store operation failed")]
    Failed(#[source] Cause),
    /// A read did not finish within its time limit (the store stopped it, or the adapter gave
    /// up waiting). Only reads report it; a narrower query may succeed.
    #[error("store query timed out")]
    TimedOut(#[source] Cause),
}

impl StoreError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// Failure to hand a drain signal to its transport.
#[derive(Debug, thiserror::Error)]
#[error("drain signal not sent")]
pub struct SignalError(#[source] pub Cause);

/// What the queue gives a worker to store: events plus the receipt that acknowledges or
/// releases exactly them.
#[derive(Debug, Default)]
pub struct Reservation {
    pub events: Vec<LogEvent>,
    pub receipt: Receipt,
    /// How many of `events` were delivered before (released, recovered or reclaimed, by this
    /// consumer or another): an insert of them may have happened, so the batch is stored through
    /// the store's look-up. The queue keeps the count, so any consumer that reserves them knows.
    pub redelivered: usize,
}

/// An adapter's handle on a reserved batch; only the adapter that issued it interprets it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Receipt(u64);

impl Receipt {
    /// Wraps an adapter-specific token (e.g. how many queue items the batch holds).
    pub fn new(token: u64) -> Self {
        Self(token)
    }

    /// The adapter-specific token.
    pub fn token(self) -> u64 {
        self.0
    }
}

/// How much is waiting in a queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Events queued and not yet reserved.
    pub depth: u64,
    /// When the oldest of them was received, if any is queued.
    pub oldest_received_at: Option<Timestamp>,
}

/// The producing side of the durable FIFO of events between ingestion and storage: what
/// ingestion needs. See [`QueueConsumer`] for the delivery guarantees.
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
#[async_trait]
pub trait QueueProducer: Send + Sync {
    /// Appends events, all or none. Errors: `Full` when the queue is over its capacity,
    /// `Unavailable` when it cannot be reached or answered "not now" (nothing was added in
    /// either case; the same push may succeed later), `Failed` when it refused the push for a
    /// reason that retrying will not fix.
    async fn push(&self, events: &[LogEvent]) -> Result<(), QueueError>;

    /// Whether the queue answers. Errors: `Unavailable`.
    async fn health(&self) -> Result<(), QueueError>;
}

/// The consuming side of the durable FIFO of events between ingestion and storage, with
/// at-least-once delivery: reserved events stay in the queue's keeping until acknowledged.
/// Several consumers may share a queue; each holds a lease that it renews with `heartbeat`, and
/// the batches of a consumer whose lease ran out are returned to the queue by
/// `reclaim_abandoned` (from any other consumer).
///
/// Every method may fail with `Unavailable` (the queue cannot be reached or answered "not now";
/// nothing changed, retrying later may succeed) or `Failed` (the queue refused the operation;
/// retrying will not help). None answers `Full`.
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
#[async_trait]
pub trait QueueConsumer: Send + Sync {
    /// Takes up to `max` of the oldest events into this consumer's keeping. An empty reservation
    /// means the queue is empty. Items that cannot be decoded are set aside by the adapter
    /// (dead-lettered), never returned and never dropped. Errors: `Unavailable`, `Failed`;
    /// nothing was reserved then.
    async fn reserve(&self, max: usize) -> Result<Reservation, QueueError>;

    /// Forgets a reservation whose events are stored. Errors: `Unavailable`, `Failed`; the
    /// events then stay reserved and may be delivered again.
    async fn acknowledge(&self, receipt: Receipt) -> Result<(), QueueError>;

    /// Returns a reservation's events to the head of the queue, to be delivered again first and
    /// counted in the [`Reservation::redelivered`] of whoever reserves them. Errors: `Unavailable`, `Failed`; the events then stay reserved until recovered or
    /// reclaimed.
    async fn release(&self, receipt: Receipt) -> Result<(), QueueError>;

    /// Returns everything this consumer had reserved but not acknowledged (e.g. before a crash)
    /// to the head of the queue, counted as redelivered; answers how many events that was. Errors: `Unavailable`,
    /// `Failed`.
    async fn recover_unacknowledged(&self) -> Result<u64, QueueError>;

    /// How many events wait and since when. Errors: `Unavailable`, `Failed`.
    async fn backlog(&self) -> Result<Backlog, QueueError>;

    /// Renews this consumer's lease. A consumer that stops renewing (it crashed or hangs) has its
    /// reserved batches reclaimed by others once the lease runs out. Errors: `Unavailable`,
    /// `Failed`; the lease then runs on to its end.
    async fn heartbeat(&self) -> Result<(), QueueError>;

    /// Returns the reserved batches of every consumer whose lease ran out to the head of the
    /// queue, counted as redelivered; answers how many events that was. Errors: `Unavailable`, `Failed`.
    async fn reclaim_abandoned(&self) -> Result<u64, QueueError>;

    /// Moves reserved events that the store refused for their content to the dead-letter list,
    /// with `reason` and the time, so they stop blocking the queue. They stay part of their
    /// reservation, which must still be acknowledged. Errors: `Unavailable`, `Failed`; nothing
    /// was moved then.
    async fn dead_letter(&self, events: &[LogEvent], reason: &str) -> Result<(), QueueError>;

    /// Whether the queue answers. Errors: `Unavailable`.
    async fn health(&self) -> Result<(), QueueError>;
}

/// Where the worker stores events.
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
#[async_trait]
pub trait LogWriter: Send + Sync {
    /// Stores a batch, all or none. Errors: `Unavailable` (retry later), `Rejected` (the data
    /// itself was refused; retrying the same batch will fail again).
    async fn insert(&self, events: &[LogEvent]) -> Result<(), StoreError>;

    /// Stores a batch that an earlier attempt may already have stored, in whole or in part: its
    /// outcome was unknown (a timeout, a dropped connection, a worker that crashed between
    /// insert and acknowledgement). Events the store already holds (by id) are left out, so the
    /// retry adds no second copy; answers how many events were inserted. Costs a lookup that
    /// `insert` does not pay, so it is only for retries. Errors as for `insert`.
    async fn insert_unless_stored(&self, events: &[LogEvent]) -> Result<usize, StoreError>;

    /// Whether the store answers. Errors: `Unavailable`.
    async fn health(&self) -> Result<(), StoreError>;
}

/// Where the query service reads stored events.
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
#[async_trait]
pub trait LogReader: Send + Sync {
    /// Reads the page of events the filter describes: the events [`Filter::matches`] accepts,
    /// ordered by `(timestamp, id)` in the filter's order, after its cursor position, skipping
    /// its offset, at most its limit. Copies of an event that at-least-once delivery stored
    /// twice may both be returned (next to each other, even beyond the limit); the caller
    /// drops them. Errors: `Unavailable`, `TimedOut`, `Failed`.
    async fn query(&self, filter: &Filter) -> Result<Vec<LogEvent>, StoreError>;

    /// Counts the events the filter matches per group: the largest count first, equal counts
    /// by key, at most the filter's limit groups. The filter's offset and cursor are ignored.
    /// Errors: `Unavailable`, `TimedOut`, `Failed`.
    async fn count_by(
        &self,
        filter: &Filter,
        group_by: GroupBy,
    ) -> Result<Vec<GroupCount>, StoreError>;

    /// Counts the events the request's filter matches per bucket of event time, and per level
    /// when asked: only buckets holding events, ordered by start and then level, at most the
    /// request's `max_rows` rows. The filter's page is ignored. Errors: `Unavailable`,
    /// `TimedOut`, `Failed`.
    async fn histogram(&self, request: &HistogramRequest) -> Result<Vec<BucketCount>, StoreError>;

    /// Counts the logs of a metric in one aggregation: the logs the spec's filter matches, per
    /// series of the request's split and per steps whose windows hold them
    /// ([`MetricSpec::steps_holding`]): one row per series and (first step, end step) pair, in
    /// no particular order, at most the request's `max_rows` rows. Errors: `Unavailable`,
    /// `TimedOut`, `Failed`.
    async fn metric_windows(&self, request: &MetricRequest)
    -> Result<Vec<WindowCount>, StoreError>;

    /// Counts, among the first `sample` events the filter matches (in whatever order the store
    /// reads them; every match when fewer match), how many have each metadata key: the largest
    /// count first, equal counts by key, at most the filter's limit keys. The filter's page is
    /// ignored. Errors: `Unavailable`, `TimedOut`, `Failed`.
    async fn metadata_keys(
        &self,
        filter: &Filter,
        sample: SampleRows,
    ) -> Result<SampledCounts, StoreError>;

    /// Counts, among the first `sample` events the filter matches that have the metadata
    /// `key`, how many have each value of it: ordered and limited like
    /// [`LogReader::metadata_keys`]. Errors: `Unavailable`, `TimedOut`, `Failed`.
    async fn metadata_values(
        &self,
        filter: &Filter,
        key: &str,
        sample: SampleRows,
    ) -> Result<SampledCounts, StoreError>;

    /// Opens a cursor over every event the filter matches, in its order, however many: the
    /// filter's limit, offset and cursor are ignored. Implementations hold only a bounded part
    /// of the answer in memory at a time. Copies of an event stored twice come one after the
    /// other. Errors, on opening or from the cursor: `Unavailable`, `TimedOut`, `Failed`.
    async fn export(&self, filter: &Filter) -> Result<Box<dyn EventCursor>, StoreError>;

    /// Events received in `window`, ordered by `(observed_timestamp, id)`. Errors:
    /// `Unavailable`, `TimedOut`, `Failed`.
    async fn arrivals(&self, window: &ArrivalWindow) -> Result<Vec<LogEvent>, StoreError>;

    /// Whether the store answers. Errors: `Unavailable`.
    async fn health(&self) -> Result<(), StoreError>;
}

/// What [`LogReader::histogram`] counts: the events `filter` matches, per `interval` bucket of
/// event time, split by level when `by_level`, at most `max_rows` rows.
#[derive(Debug, Clone)]
pub struct HistogramRequest {
    pub filter: Filter,
    pub interval: HistogramInterval,
    pub by_level: bool,
    pub max_rows: u32,
}

/// What [`LogReader::metric_windows`] counts: the logs of `spec`, per series of `split`, at
/// most `max_rows` rows.
#[derive(Debug, Clone)]
pub struct MetricRequest {
    pub spec: MetricSpec,
    pub split: SeriesSplit,
    pub max_rows: u64,
}

/// The series the store tells apart in [`LogReader::metric_windows`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeriesSplit {
    /// One series per stream: the labels [`domain::stream_labels`] gives a log.
    Streams,
    /// One series per combination of these fields' values: the labels [`domain::labels_of`]
    /// gives a log.
    Labels(Vec<FieldName>),
}

/// The logs of one series whose time puts them in the windows of the same steps: steps
/// `first_step` to `end_step` (excluded).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WindowCount {
    /// The series' labels (empty values left out).
    pub labels: BTreeMap<String, String>,
    pub first_step: u32,
    pub end_step: u32,
    /// How many logs.
    pub count: u64,
    /// The bytes of their messages when the spec's function reads bytes
    /// ([`domain::RangeFunction::reads_bytes`]), else 0: counting them reads every message.
    pub bytes: u64,
}

/// The number of events in one group of [`LogReader::count_by`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCount {
    /// The level's name or the service.
    pub key: String,
    pub count: u64,
    /// The summed byte length of the group's messages, counted in the same pass by
    /// [`LogReader::count_by`]; 0 in sampled counts ([`SampledCounts`]).
    pub bytes: u64,
}

/// Counts per group over a bounded sample of the matching events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampledCounts {
    /// The groups, largest count first, equal counts by key.
    pub groups: Vec<GroupCount>,
    /// How many events were read: the sample's size when it was full, else every match.
    pub events_read: u64,
}

/// The number of events in one bucket of [`LogReader::histogram`], of one level when split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketCount {
    /// Start of the bucket (inclusive); it ends one interval later (exclusive).
    pub start: Timestamp,
    /// The level counted, when split by level.
    pub level: Option<Level>,
    pub count: u64,
}

/// Which newly received events one poll of the live tail reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrivalWindow {
    /// Events received (their `observed_timestamp`) at or after this instant ...
    pub received_from: Timestamp,
    /// ... and, when set, after this `(observed_timestamp, id)` position: the last event of the
    /// previous, full, answer.
    pub after: Option<(Timestamp, EventId)>,
    /// Only events whose event time is at or after this, so the store can skip older data.
    pub event_time_from: Timestamp,
    /// At most this many events.
    pub max: u32,
}

/// Reads the answer of [`LogReader::export`] piece by piece.
#[async_trait]
pub trait EventCursor: Send {
    /// The next events in order; empty once every event was read. Errors: `Unavailable`,
    /// `TimedOut`, `Failed`; after an error the cursor is finished.
    async fn next_batch(&mut self) -> Result<Vec<LogEvent>, StoreError>;
}

/// A hint to the worker that events are waiting. Implementations must return at once (send in
/// the background); losing a signal only delays storage until the worker's next poll.
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
pub trait DrainSignal: Send + Sync {
    /// Asks for a drain soon. Errors: `SignalError` when the signal could not even be handed to
    /// its transport; callers log it and carry on.
    fn request_drain(&self) -> Result<(), SignalError>;
}

/// Deletes old logs, a whole day at a time.
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
#[async_trait]
pub trait LogRetention: Send + Sync {
    /// Deletes every day of logs that ended before `cutoff` (days are UTC); answers which days
    /// went, by name (`2026-05-05`). Errors: `Unavailable`, `Failed`.
    async fn drop_days_before(&self, cutoff: Timestamp) -> Result<Vec<String>, StoreError>;
}
