//! [`ClickHouseLogStore`]: the [`LogWriter`] and [`LogReader`] ports on ClickHouse's HTTP
//! interface.

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, Instant};

use application::ports::{
    ArrivalWindow, BucketCount, EventCursor, GroupCount, HistogramRequest, LogReader, LogWriter,
    MetricRequest, SampledCounts, StoreError, WindowCount,
};
use async_trait::async_trait;
use clickhouse::Client;
use clickhouse::query::Query;
use domain::{Filter, GroupBy, LogEvent, SampleRows, SortOrder, Timestamp};
use tracing::debug;

use crate::config::ClickHouseConfig;
use crate::errors::{NoAnswerInTime, Operation, classify};
use crate::export::ExportCursor;
use crate::metric::{self, WindowRow};
use crate::row::{LOGS_TABLE, LogRow, LogRowRef, RowIds, level_from_code};
use crate::sql::{self, BucketRow, GroupBytesRow, GroupRow, PageKey, Statement, StoredId};

/// How often a retry looks whether an earlier insert still runs.
const EARLIER_INSERT_POLL: Duration = Duration::from_millis(100);

/// An answer about running inserts that took longer than this came from a server that was
/// stalled; it is asked again.
const SLOW_ANSWER: Duration = Duration::from_millis(500);

/// Longest query text of the look-up before a retry: 10,000 ids take about 400 KB.
const LOOKUP_MAX_QUERY_BYTES: u64 = 16 * 1024 * 1024;

/// How much of an export's sort the server may hold in memory before it spills to disk.
const EXPORT_SORT_MEMORY_BYTES: u64 = 256 * 1024 * 1024;

/// Stores events in the `logs` table of the configured database and reads them back.
///
/// Cheap to clone (the HTTP connection pool is shared). Building it does no I/O; a server that
/// is down shows up as `StoreError::Unavailable` on the first call.
#[derive(Debug, Clone)]
pub struct ClickHouseLogStore {
    client: Client,
    database: String,
    /// Whether `logs` is a Distributed table over a cluster.
    on_cluster: bool,
    query_timeout: Duration,
    health_timeout: Duration,
    insert_timeout: Duration,
    max_execution_time_secs: u64,
    export_timeout: Duration,
}

impl ClickHouseLogStore {
    /// A store for `config`'s server and database. The `logs` table must exist (see
    /// [`crate::apply_migrations`]); until it does, calls fail as unavailable.
    pub fn new(config: &ClickHouseConfig) -> Self {
        Self {
            client: config.database_client(),
            database: config.database.clone(),
            on_cluster: config.cluster().is_some(),
            query_timeout: config.query_timeout(),
            health_timeout: config.health_timeout(),
            insert_timeout: config.insert_timeout(),
            max_execution_time_secs: config.max_execution_time_secs(),
            export_timeout: config.export_timeout(),
        }
    }

    async fn write_rows(&self, events: &[LogEvent]) -> clickhouse::error::Result<()> {
        let mut insert = self
            .client
            .insert::<LogRowRef<'_>>(LOGS_TABLE)
            .await?
            .with_setting("query_id", self.insert_query_id(events));
        if self.on_cluster {
            // The insert returns once every shard holds its rows (not when the Distributed
            // table has queued them on this node), so an acknowledged batch is on the shards,
            // a node lost afterwards loses nothing, and a retry's look-up sees what is stored.
            insert = insert.with_setting("insert_distributed_sync", "1");
        }
        for event in events {
            let ids = RowIds::of(event);
            insert.write(&LogRowRef::new(event, &ids)).await?;
        }
        insert.end().await
    }

    /// Every insert's `query_id` starts with this (one per database), so that a retry can see
    /// whether an earlier attempt is still in the server's hands.
    fn insert_query_id_prefix(&self) -> String {
        format!("logpipeline-insert-{}-", self.database)
    }

    /// Named after the batch's first event and size: a retry of the same batch while the
    /// earlier attempt still runs is refused by the server (code 216) instead of running twice.
    fn insert_query_id(&self, events: &[LogEvent]) -> String {
        let first = events.first().map(|event| event.id().to_string());
        format!(
            "{}{}-{}",
            self.insert_query_id_prefix(),
            first.unwrap_or_default(),
            events.len()
        )
    }

    /// Waits until the server runs no insert of this database: an attempt whose client gave
    /// up (a timeout while the server was stalled) may still be running, or about to finish,
    /// and a look-up before it has finished would miss its rows. An answer that was slow to
    /// come is not trusted: the server was stalled, and requests it received meanwhile (an
    /// earlier insert among them) start at the same moment as this one, so it looks again.
    /// Gives up as unavailable after the insert timeout; the batch is then retried later.
    async fn wait_for_earlier_inserts(&self) -> Result<(), StoreError> {
        let prefix = self.insert_query_id_prefix();
        let deadline = Instant::now() + self.insert_timeout;
        loop {
            let asked = Instant::now();
            let left = deadline.saturating_duration_since(asked);
            let running = within(
                left,
                Operation::Read,
                self.client
                    .query(
                        "SELECT count() FROM system.processes \
                         WHERE substring(query_id, 1, ?) = ?",
                    )
                    .bind(prefix.len() as u64)
                    .bind(prefix.as_str())
                    .fetch_one::<u64>(),
            )
            .await?;
            if running == 0 && asked.elapsed() < SLOW_ANSWER {
                return Ok(());
            }
            if Instant::now() + EARLIER_INSERT_POLL >= deadline {
                return Err(StoreError::Unavailable(Box::new(NoAnswerInTime(
                    self.insert_timeout,
                ))));
            }
            debug!(
                running,
                "waiting for earlier inserts to finish before a retry"
            );
            tokio::time::sleep(EARLIER_INSERT_POLL).await;
        }
    }

    /// The ids of `events` that are stored already.
    async fn stored_ids(&self, events: &[LogEvent]) -> Result<HashSet<String>, StoreError> {
        let rows = within(
            self.insert_timeout,
            Operation::Read,
            sql::stored_ids(events)
                .query(&self.client)
                // Ten thousand ids are longer than the default 256 KiB of query text.
                .with_setting("max_query_size", LOOKUP_MAX_QUERY_BYTES.to_string())
                .fetch_all::<StoredId>(),
        )
        .await?;
        Ok(rows.into_iter().map(|row| row.id).collect())
    }

    /// What `health` asks: on one server whether it answers; on a cluster whether a query of
    /// `logs` reaches a replica of every shard (a condition that is never true still makes the
    /// Distributed table connect to each shard), which is what every read needs.
    fn health_statement(&self) -> &'static str {
        if self.on_cluster {
            "SELECT count() FROM logs WHERE 0"
        } else {
            "SELECT toUInt64(1)"
        }
    }

    /// `statement` as a bounded read: the server stops it after the query timeout.
    pub(crate) fn read(&self, statement: &Statement) -> Query {
        statement
            .query(&self.client)
            .with_setting(
                "max_execution_time",
                self.max_execution_time_secs.to_string(),
            )
            // The server buffers the whole answer before sending it, so an error in the middle
            // of a result arrives as an error status, not as text after the rows.
            .with_setting("wait_end_of_query", "1")
    }

    /// The groups of a sampled count ([`sql::metadata_keys`], [`sql::metadata_values`]): the
    /// events read come as one group under [`sql::EVENTS_READ_KEY`], every other key with
    /// [`sql::SAMPLED_KEY_PREFIX`] before it.
    async fn sampled_counts(
        &self,
        statement: &Statement,
        limit: usize,
    ) -> Result<SampledCounts, StoreError> {
        let rows = within(
            self.query_timeout,
            Operation::Query,
            self.read(statement).fetch_all::<GroupRow>(),
        )
        .await
        .inspect_err(|error| debug!(error = ?error, "clickhouse field count failed"))?;
        let mut counts = SampledCounts::default();
        for row in rows {
            if row.group_key == sql::EVENTS_READ_KEY {
                counts.events_read = row.hits;
            } else if let Some(key) = row.group_key.strip_prefix(sql::SAMPLED_KEY_PREFIX) {
                counts.groups.push(GroupCount {
                    key: key.to_owned(),
                    count: row.hits,
                    bytes: 0,
                });
            }
        }
        counts.groups.truncate(limit);
        Ok(counts)
    }

    /// Both steps of a page read: the keys of the page, then its rows. The keys are looked for
    /// in the hour where the page starts first (see [`first_hour`]); only when that hour does
    /// not fill the page is the whole range read.
    async fn read_page(&self, filter: &Filter) -> clickhouse::error::Result<Vec<LogRow>> {
        let mut keys = Vec::new();
        if let Some(hour) = first_hour(filter, Timestamp::now()) {
            keys = self
                .read(&sql::page_keys(&hour))
                .fetch_all::<PageKey>()
                .await?;
        }
        if keys.len() < filter.limit().get() as usize {
            keys = self
                .read(&sql::page_keys(filter))
                .fetch_all::<PageKey>()
                .await?;
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // Copies of an event stored twice (at-least-once delivery) are all returned, next to
        // each other: a full answer must keep meaning "more may follow", so the query use case,
        // not the store, drops copies and tops the page up.
        self.read(&sql::rows_by_keys(&keys, filter.order()))
            .fetch_all::<LogRow>()
            .await
    }
}

/// How far the first look for a page reaches from where the page starts.
const FIRST_LOOK: u64 = 3600 * 1_000_000_000;

/// The filter narrowed to the hour where its page starts: before the cursor, `to` or now (and
/// after, including logs stamped in the future) when newest first; from the cursor or `from`
/// on when oldest first. Conditions on text or metadata cannot use the primary key, so a page
/// of them read from the whole range reads those columns everywhere; when the hour holds a full
/// page, that page is the answer, since every log of the hour comes before every log outside
/// it. `None` when the filter's own range is no wider, or, oldest first, has no start.
fn first_hour(filter: &Filter, now: Timestamp) -> Option<Filter> {
    let cursor = filter.cursor().map(|cursor| cursor.timestamp());
    let (from, to) = match filter.order() {
        SortOrder::Descending => {
            let end = cursor.or(filter.to()).unwrap_or(now);
            let from = Timestamp::from_unix_nanos(end.unix_nanos().saturating_sub(FIRST_LOOK));
            if filter.from().is_some_and(|own| own >= from) {
                return None;
            }
            (Some(from), None)
        }
        SortOrder::Ascending => {
            let start = cursor.or(filter.from())?;
            let to = start.saturating_add_nanos(FIRST_LOOK);
            if filter.to().is_some_and(|own| own <= to) {
                return None;
            }
            (None, Some(to))
        }
    };
    Some(filter.narrowed_to(from, to))
}

/// Runs `call` within `limit`; an expired limit is an unavailable store, or for a query of
/// logs, one that timed out.
async fn within<T>(
    limit: Duration,
    operation: Operation,
    call: impl Future<Output = clickhouse::error::Result<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result.map_err(|error| classify(error, operation)),
        Err(_) if operation == Operation::Query => {
            Err(StoreError::TimedOut(Box::new(NoAnswerInTime(limit))))
        }
        Err(_) => Err(StoreError::Unavailable(Box::new(NoAnswerInTime(limit)))),
    }
}

fn into_events(rows: Vec<LogRow>) -> Result<Vec<LogEvent>, StoreError> {
    rows.into_iter()
        .map(|row| {
            row.into_event()
                .map_err(|invalid| StoreError::Failed(Box::new(invalid)))
        })
        .collect()
}

#[async_trait]
impl LogWriter for ClickHouseLogStore {
    async fn insert(&self, events: &[LogEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        within(
            self.insert_timeout,
            Operation::Insert,
            self.write_rows(events),
        )
        .await
        .inspect_err(
            |error| debug!(rows = events.len(), error = ?error, "clickhouse insert failed"),
        )?;
        debug!(
            rows = events.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "inserted rows"
        );
        Ok(())
    }

    async fn insert_unless_stored(&self, events: &[LogEvent]) -> Result<usize, StoreError> {
        if events.is_empty() {
            return Ok(0);
        }
        self.wait_for_earlier_inserts().await?;
        let stored = self.stored_ids(events).await?;
        let missing: Vec<LogEvent> = events
            .iter()
            .filter(|event| !stored.contains(&event.id().to_string()))
            .cloned()
            .collect();
        debug!(
            rows = events.len(),
            already_stored = events.len() - missing.len(),
            "retried batch looked up"
        );
        self.insert(&missing).await?;
        Ok(missing.len())
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.ping().await
    }
}

#[async_trait]
impl LogReader for ClickHouseLogStore {
    async fn query(&self, filter: &Filter) -> Result<Vec<LogEvent>, StoreError> {
        let rows = within(self.query_timeout, Operation::Query, self.read_page(filter))
            .await
            .inspect_err(|error| debug!(error = ?error, "clickhouse query failed"))?;
        into_events(rows)
    }

    async fn count_by(
        &self,
        filter: &Filter,
        group_by: GroupBy,
    ) -> Result<Vec<GroupCount>, StoreError> {
        let rows = within(
            self.query_timeout,
            Operation::Query,
            self.read(&sql::count_by(filter, group_by))
                .fetch_all::<GroupBytesRow>(),
        )
        .await
        .inspect_err(|error| debug!(error = ?error, "clickhouse count failed"))?;
        Ok(rows
            .into_iter()
            .map(|row| GroupCount {
                key: row.group_key,
                count: row.hits,
                bytes: row.bytes,
            })
            .collect())
    }

    async fn histogram(&self, request: &HistogramRequest) -> Result<Vec<BucketCount>, StoreError> {
        let by_level = request.by_level;
        let rows = within(
            self.query_timeout,
            Operation::Query,
            self.read(&sql::histogram(request)).fetch_all::<BucketRow>(),
        )
        .await
        .inspect_err(|error| debug!(error = ?error, "clickhouse histogram failed"))?;
        rows.into_iter()
            .map(|row| {
                let level = if by_level {
                    Some(level_from_code(row.level_code).ok_or_else(|| {
                        StoreError::Failed(
                            format!("unknown level number {}", row.level_code).into(),
                        )
                    })?)
                } else {
                    None
                };
                Ok(BucketCount {
                    start: Timestamp::from_unix_nanos(row.bucket_start),
                    level,
                    count: row.hits,
                })
            })
            .collect()
    }

    async fn metric_windows(
        &self,
        request: &MetricRequest,
    ) -> Result<Vec<WindowCount>, StoreError> {
        let rows = within(
            self.query_timeout,
            Operation::Query,
            self.read(&metric::metric_windows(request))
                .fetch_all::<WindowRow>(),
        )
        .await
        .inspect_err(|error| debug!(error = ?error, "clickhouse metric failed"))?;
        Ok(rows
            .into_iter()
            .map(|row| metric::window_count(row, &request.split))
            .collect())
    }

    async fn metadata_keys(
        &self,
        filter: &Filter,
        sample: SampleRows,
    ) -> Result<SampledCounts, StoreError> {
        self.sampled_counts(
            &sql::metadata_keys(filter, sample),
            filter.limit().get() as usize,
        )
        .await
    }

    async fn metadata_values(
        &self,
        filter: &Filter,
        key: &str,
        sample: SampleRows,
    ) -> Result<SampledCounts, StoreError> {
        self.sampled_counts(
            &sql::metadata_values(filter, key, sample),
            filter.limit().get() as usize,
        )
        .await
    }

    async fn export(&self, filter: &Filter) -> Result<Box<dyn EventCursor>, StoreError> {
        let rows = sql::export(filter)
            .query(&self.client)
            .with_setting(
                "max_execution_time",
                self.export_timeout.as_secs().max(1).to_string(),
            )
            // The answer is streamed as it is produced (no `wait_end_of_query`); the sort spills
            // to disk rather than holding every row in the server's memory.
            .with_setting(
                "max_bytes_before_external_sort",
                EXPORT_SORT_MEMORY_BYTES.to_string(),
            )
            .fetch::<LogRow>()
            .map_err(|error| classify(error, Operation::Query))?;
        Ok(Box::new(ExportCursor::new(rows, self.export_timeout)))
    }

    async fn arrivals(&self, window: &ArrivalWindow) -> Result<Vec<LogEvent>, StoreError> {
        let rows = within(
            self.query_timeout,
            Operation::Query,
            self.read(&sql::arrivals(window)).fetch_all::<LogRow>(),
        )
        .await
        .inspect_err(|error| debug!(error = ?error, "clickhouse arrivals failed"))?;
        into_events(rows)
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.ping().await
    }
}

impl ClickHouseLogStore {
    /// Whether the server (on a cluster: every shard) answers within the health timeout; any failure is
    /// `Unavailable`.
    async fn ping(&self) -> Result<(), StoreError> {
        let answer = within(
            self.health_timeout,
            Operation::Read,
            self.client
                .query(self.health_statement())
                .fetch_one::<u64>(),
        )
        .await;
        // Whatever went wrong, the store does not answer as it should: the port knows one kind.
        answer.map(drop).map_err(|error| match error {
            StoreError::Unavailable(cause)
            | StoreError::Rejected(cause)
            | StoreError::Failed(cause)
            | StoreError::TimedOut(cause) => StoreError::Unavailable(cause),
        })
    }
}

#[cfg(test)]
mod tests {
    use domain::FilterDraft;

    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text, "t").unwrap()
    }

    fn page(draft: FilterDraft) -> Filter {
        Filter::from_draft(draft).unwrap()
    }

    #[test]
    fn the_first_look_is_the_hour_where_the_page_starts() {
        let now = at("2026-05-05T12:00:00Z");
        let newest = first_hour(&Filter::default(), now).unwrap();
        assert_eq!(newest.from(), Some(at("2026-05-05T11:00:00Z")));
        assert_eq!(newest.to(), None, "logs stamped in the future come first");
        let before_to = first_hour(
            &page(FilterDraft {
                to: Some("2026-05-01T00:00:00Z".into()),
                q: Some("x".into()),
                ..FilterDraft::default()
            }),
            now,
        )
        .unwrap();
        assert_eq!(
            (before_to.from(), before_to.to()),
            (
                Some(at("2026-04-30T23:00:00Z")),
                Some(at("2026-05-01T00:00:00Z"))
            )
        );
        assert!(before_to.text().is_some());
        let oldest = first_hour(
            &page(FilterDraft {
                from: Some("2026-05-01T00:00:00Z".into()),
                order: Some("asc".into()),
                ..FilterDraft::default()
            }),
            now,
        )
        .unwrap();
        assert_eq!(
            (oldest.from(), oldest.to()),
            (
                Some(at("2026-05-01T00:00:00Z")),
                Some(at("2026-05-01T01:00:00Z"))
            )
        );
    }

    #[test]
    fn a_cursor_moves_the_first_look_and_a_narrow_range_needs_none() {
        let now = at("2026-05-05T12:00:00Z");
        let last = application::testing::sample_event(
            "svc",
            domain::Level::Info,
            "m",
            at("2026-05-03T08:30:00Z"),
        );
        let after_cursor = first_hour(
            &page(FilterDraft {
                cursor: Some(domain::Cursor::after(&last, SortOrder::Descending).encode()),
                ..FilterDraft::default()
            }),
            now,
        )
        .unwrap();
        assert_eq!(after_cursor.from(), Some(at("2026-05-03T07:30:00Z")));
        let narrow = page(FilterDraft {
            from: Some("2026-05-05T11:30:00Z".into()),
            ..FilterDraft::default()
        });
        assert!(first_hour(&narrow, now).is_none());
        let unbounded_oldest_first = page(FilterDraft {
            order: Some("asc".into()),
            ..FilterDraft::default()
        });
        assert!(first_hour(&unbounded_oldest_first, now).is_none());
    }
}
