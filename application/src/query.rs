//! Reading logs back: pages, counts per group, histograms, exports and the live tail, all with
//! the same filters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::limits::{HISTOGRAM_MAX_BUCKETS, MAX_PAGE_LIMIT};
use domain::{
    Cursor, EventId, FieldName, Filter, FilterDraft, GroupBy, HistogramInterval, HistogramSplit,
    Level, LogEvent, SampleRows, Timestamp, ValidationError, ValidationReason,
};
use tokio_util::sync::CancellationToken;

use crate::ports::{BucketCount, EventCursor, GroupCount, HistogramRequest, LogReader, StoreError};
use crate::tail::{TailHub, TailSettings, TailSubscription};

/// One page of logs, in the filter's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPage {
    pub logs: Vec<LogEvent>,
    /// Where the next page starts, when more logs match after this page.
    pub next_cursor: Option<Cursor>,
}

/// Counts per time bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    pub interval: HistogramInterval,
    /// Every bucket from the first to the last of the range, empty ones included, oldest first.
    pub buckets: Vec<HistogramBucket>,
}

/// The logs in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramBucket {
    /// Inclusive start; the bucket ends one interval later.
    pub start: Timestamp,
    pub count: u64,
    /// Counts per level (only levels with logs), when split by level; else empty.
    pub levels: Vec<(Level, u64)>,
}

/// The fields seen in a time range, each with how many matching logs have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSummary {
    /// Services, most logs first, exact counts.
    pub services: Vec<GroupCount>,
    /// Levels, most logs first, exact counts.
    pub levels: Vec<GroupCount>,
    /// Metadata keys, most logs first, counted over [`FieldSummary::sample`].
    pub metadata_keys: Vec<GroupCount>,
    /// How the metadata keys were counted.
    pub sample: SampleInfo,
}

/// The most frequent values of one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldValues {
    pub field: FieldName,
    /// Values, most logs first, equal counts by value.
    pub values: Vec<GroupCount>,
    /// For a metadata key, how its values were counted; `None` for `service` and `level`,
    /// whose counts are exact.
    pub sample: Option<SampleInfo>,
}

/// How many logs a sampled count read, and whether that was all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleInfo {
    /// Logs read.
    pub events_read: u64,
    /// Whether more logs matched than were read (the counts are then a sample's).
    pub partial: bool,
}

impl SampleInfo {
    fn of(events_read: u64, sample: SampleRows) -> Self {
        Self {
            events_read,
            partial: events_read >= sample.get(),
        }
    }
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A parameter is invalid; the error names it.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The store could not answer.
    #[error("logs could not be read")]
    Store(#[from] StoreError),
}

/// Limits and timings of the query use case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuerySettings {
    /// The widest time range one query may cover (see [`Filter::within_max_range`]); `None`
    /// for no limit.
    pub max_range: Option<Duration>,
    /// The largest page (and the most groups of a count) a client may ask for: 1 to
    /// [`domain::limits::MAX_PAGE_LIMIT_CEILING`]; a higher value counts as the ceiling.
    pub max_page_limit: u32,
    /// How the live tail polls.
    pub tail: TailSettings,
    /// How many logs one metadata field discovery reads at most.
    pub field_sample: SampleRows,
}

impl Default for QuerySettings {
    fn default() -> Self {
        Self {
            max_range: Some(Duration::from_secs(30 * 24 * 3600)),
            max_page_limit: MAX_PAGE_LIMIT,
            tail: TailSettings::default(),
            field_sample: SampleRows::DEFAULT,
        }
    }
}

/// Validates filters and reads logs: pages, counts, histograms, exports, the live tail.
#[derive(Clone)]
pub struct QueryUseCase {
    pub(crate) store: Arc<dyn LogReader>,
    pub(crate) settings: QuerySettings,
    tail: Arc<TailHub>,
}

impl std::fmt::Debug for QueryUseCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryUseCase")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl QueryUseCase {
    /// A use case with the default settings, whose tail subscriptions end only when dropped.
    pub fn new(store: Arc<dyn LogReader>) -> Self {
        Self::with_settings(store, QuerySettings::default(), CancellationToken::new())
    }

    /// A use case with `settings`; `shutdown` ends every tail subscription and the poller.
    pub fn with_settings(
        store: Arc<dyn LogReader>,
        settings: QuerySettings,
        shutdown: CancellationToken,
    ) -> Self {
        let tail = TailHub::new(Arc::clone(&store), settings.tail, shutdown);
        Self {
            store,
            settings,
            tail,
        }
    }

    /// Validates the client's parameters and returns the page they describe, with a cursor
    /// for the next page when more logs match.
    ///
    /// Each event appears once even when at-least-once delivery stored it twice: both copies
    /// share (timestamp, id), so they are neighbours in the page's order, and the page is
    /// topped up from just after its last event when dropping copies left it short.
    pub async fn query(&self, draft: FilterDraft) -> Result<LogPage, QueryError> {
        let filter = self.validated(draft)?;
        let page_size = filter.limit().get() as usize;
        let mut request = filter.with_extra_row();
        let mut logs: Vec<LogEvent> = Vec::with_capacity(page_size + 1);
        loop {
            let batch = self.store.query(&request).await?;
            let store_had_more = batch.len() >= request.limit().get() as usize;
            for event in batch {
                if logs.last().is_none_or(|last| last.id() != event.id()) {
                    logs.push(event);
                }
            }
            if logs.len() > page_size || !store_had_more {
                break;
            }
            let Some(last) = logs.last() else { break };
            request = filter
                .clone()
                .paged(filter.order(), Some(Cursor::after(last, filter.order())));
        }
        let next_cursor = if logs.len() > page_size {
            logs.truncate(page_size);
            logs.last().map(|last| Cursor::after(last, filter.order()))
        } else {
            None
        };
        Ok(LogPage { logs, next_cursor })
    }

    /// Counts matching logs per level or service (`group_by`), largest first, at most the
    /// filter's limit groups.
    pub async fn stats(
        &self,
        draft: FilterDraft,
        group_by: GroupBy,
    ) -> Result<Vec<GroupCount>, QueryError> {
        let filter = self.validated(draft)?;
        Ok(self.store.count_by(&filter, group_by).await?)
    }

    /// Counts matching logs per `interval`, split by level when `split` says so. Every bucket
    /// of the range is listed, empty ones too; a range of more than [`HISTOGRAM_MAX_BUCKETS`]
    /// buckets is refused naming `interval`.
    pub async fn histogram(
        &self,
        draft: FilterDraft,
        interval: HistogramInterval,
        split: HistogramSplit,
    ) -> Result<Histogram, QueryError> {
        let by_level = split.by_level();
        let filter = self.validated(draft)?;
        let now = Timestamp::now();
        let first = filter.from().map(|from| interval.bucket_start(from));
        let last = interval.bucket_start(last_instant(&filter, now));
        if let Some(first) = first {
            check_bucket_count(first, last, interval)?;
        }
        let levels_per_bucket = if by_level { Level::ALL.len() as u64 } else { 1 };
        let max_rows = (HISTOGRAM_MAX_BUCKETS + 1) * levels_per_bucket;
        let request = HistogramRequest {
            filter,
            interval,
            by_level,
            max_rows: u32::try_from(max_rows).unwrap_or(u32::MAX),
        };
        let counts = self.store.histogram(&request).await?;
        let buckets = fill_buckets(interval, first, last, &counts)?;
        Ok(Histogram { interval, buckets })
    }

    /// The services, levels and metadata keys of the matching logs, each with its count, at
    /// most the filter's limit of each. Services and levels are counted exactly (they lead the
    /// store's sort key); metadata keys over at most [`QuerySettings::field_sample`] logs.
    pub async fn fields(&self, draft: FilterDraft) -> Result<FieldSummary, QueryError> {
        let filter = self.validated(draft)?;
        let sample = self.settings.field_sample;
        let services = self.store.count_by(&filter, GroupBy::Service).await?;
        let levels = self.store.count_by(&filter, GroupBy::Level).await?;
        let keys = self.store.metadata_keys(&filter, sample).await?;
        Ok(FieldSummary {
            services,
            levels,
            metadata_keys: keys.groups,
            sample: SampleInfo::of(keys.events_read, sample),
        })
    }

    /// The most frequent values of `field` (`service`, `level` or `metadata.<key>`) among
    /// the matching logs, at most the filter's limit; a metadata key's values are counted over
    /// at most [`QuerySettings::field_sample`] logs that have it.
    pub async fn field_values(
        &self,
        draft: FilterDraft,
        field: &str,
    ) -> Result<FieldValues, QueryError> {
        let field = FieldName::parse(field)?;
        let filter = self.validated(draft)?;
        let (values, sample) = match &field {
            FieldName::Service => (self.store.count_by(&filter, GroupBy::Service).await?, None),
            FieldName::Level => (self.store.count_by(&filter, GroupBy::Level).await?, None),
            FieldName::Metadata(key) => {
                let sample = self.settings.field_sample;
                let counts = self.store.metadata_values(&filter, key, sample).await?;
                (
                    counts.groups,
                    Some(SampleInfo::of(counts.events_read, sample)),
                )
            }
            // `FieldName::parse` reads the names of stored fields only.
            FieldName::Parsed(_) => {
                return Err(ValidationError::new(
                    "field",
                    ValidationReason::InvalidFormat("service, level or metadata.<key>"),
                )
                .into());
            }
        };
        Ok(FieldValues {
            field,
            values,
            sample,
        })
    }

    /// Opens a cursor over every matching log, in the filter's order (limit and offset do not
    /// apply), each event once though delivery may have stored it twice.
    pub async fn export(&self, draft: FilterDraft) -> Result<Box<dyn EventCursor>, QueryError> {
        let filter = self.validated(draft)?;
        let events = self.store.export(&filter).await?;
        Ok(Box::new(DistinctEvents { events, last: None }))
    }

    /// Follows new matching logs. With `from`, the stored logs from then on come first (oldest
    /// first); `from` must lie within the widest allowed range before now. Page parameters
    /// (`to`, `limit`, `offset`, `order`, `cursor`) are ignored.
    pub async fn tail(&self, draft: FilterDraft) -> Result<TailSubscription, QueryError> {
        let conditions = FilterDraft {
            to: None,
            limit: None,
            offset: None,
            order: None,
            cursor: None,
            ..draft
        };
        let mut filter = Filter::from_draft(conditions)?;
        if let (Some(max_range), Some(_)) = (self.settings.max_range, filter.from()) {
            filter = filter.within_max_range(max_range, Timestamp::now())?;
        }
        Ok(self.tail.subscribe(filter).await?)
    }

    /// The largest page (and the most groups or values of a count) a client may ask for.
    pub fn max_page_limit(&self) -> u32 {
        self.settings
            .max_page_limit
            .clamp(1, domain::limits::MAX_PAGE_LIMIT_CEILING)
    }

    /// Whether logs can be read now (the store answers).
    pub async fn check_ready(&self) -> Result<(), StoreError> {
        self.store.health().await
    }

    fn validated(&self, draft: FilterDraft) -> Result<Filter, ValidationError> {
        let filter = Filter::from_draft_with_max_limit(draft, self.settings.max_page_limit)?;
        match self.settings.max_range {
            Some(max_range) => filter.within_max_range(max_range, Timestamp::now()),
            None => Ok(filter),
        }
    }
}

/// An export's events with the copies of an event stored twice dropped: copies share
/// `(timestamp, id)`, so they come one after the other, possibly across batches.
struct DistinctEvents {
    events: Box<dyn EventCursor>,
    last: Option<EventId>,
}

#[async_trait]
impl EventCursor for DistinctEvents {
    async fn next_batch(&mut self) -> Result<Vec<LogEvent>, StoreError> {
        loop {
            let batch = self.events.next_batch().await?;
            if batch.is_empty() {
                return Ok(batch);
            }
            let mut distinct = Vec::with_capacity(batch.len());
            for event in batch {
                if self.last != Some(event.id()) {
                    self.last = Some(event.id());
                    distinct.push(event);
                }
            }
            // A batch of nothing but copies is not the end.
            if !distinct.is_empty() {
                return Ok(distinct);
            }
        }
    }
}

/// The last instant the filter's range holds: just before `to`, or `now` without one.
fn last_instant(filter: &Filter, now: Timestamp) -> Timestamp {
    filter
        .to()
        .map(|to| Timestamp::from_unix_nanos(to.unix_nanos().saturating_sub(1)))
        .unwrap_or(now)
}

fn check_bucket_count(
    first: Timestamp,
    last: Timestamp,
    interval: HistogramInterval,
) -> Result<(), ValidationError> {
    let count = last.unix_nanos().saturating_sub(first.unix_nanos()) / interval.nanos() + 1;
    if count > HISTOGRAM_MAX_BUCKETS {
        return Err(ValidationError::new(
            "interval",
            ValidationReason::OutOfRange(format!(
                "gives {count} buckets over this range, more than {HISTOGRAM_MAX_BUCKETS}: \
                 choose a longer interval or a shorter range"
            )),
        ));
    }
    Ok(())
}

/// Every bucket from `first` (or the first with logs) to `last` (or the last with logs, if
/// later), with the store's counts and zeros between them.
fn fill_buckets(
    interval: HistogramInterval,
    first: Option<Timestamp>,
    last: Timestamp,
    counts: &[BucketCount],
) -> Result<Vec<HistogramBucket>, ValidationError> {
    let mut by_start: BTreeMap<Timestamp, HistogramBucket> = BTreeMap::new();
    for row in counts {
        let bucket = by_start.entry(row.start).or_insert(HistogramBucket {
            start: row.start,
            count: 0,
            levels: Vec::new(),
        });
        bucket.count += row.count;
        if let Some(level) = row.level {
            bucket.levels.push((level, row.count));
        }
    }
    let Some(first) = first.or_else(|| by_start.keys().next().copied()) else {
        return Ok(Vec::new());
    };
    let last = by_start
        .keys()
        .next_back()
        .copied()
        .map_or(last, |latest| latest.max(last));
    check_bucket_count(first, last, interval)?;
    let count = last.unix_nanos().saturating_sub(first.unix_nanos()) / interval.nanos() + 1;
    Ok((0..count)
        .map(|index| {
            let start = first.saturating_add_nanos(index * interval.nanos());
            by_start.remove(&start).unwrap_or(HistogramBucket {
                start,
                count: 0,
                levels: Vec::new(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use async_trait::async_trait;
    use domain::{GroupBy, LogEventDraft, SortOrder, TraceId};

    use super::*;
    use crate::TailItem;
    use crate::ports::{ArrivalWindow, LogWriter, MockLogReader};
    use crate::testing::{InMemoryCursor, InMemoryLogStore, sample_event};

    fn stored_event() -> LogEvent {
        let draft = LogEventDraft {
            service: "auth-service".into(),
            level: "ERROR".into(),
            message: "DB connection failed".into(),
            ..LogEventDraft::default()
        };
        LogEvent::from_draft(draft, Timestamp::now(), TraceId::generate()).unwrap()
    }

    fn events(count: usize) -> Vec<LogEvent> {
        (0..count).map(|_| stored_event()).collect()
    }

    fn seconds_ago(seconds: u64) -> Timestamp {
        Timestamp::from_unix_nanos(Timestamp::now().unix_nanos() - seconds * 1_000_000_000)
    }

    #[tokio::test]
    async fn a_valid_filter_is_passed_to_the_store_and_its_page_returned() {
        let event = stored_event();
        let returned = event.clone();
        let mut store = MockLogReader::new();
        store
            .expect_query()
            .withf(|filter| {
                filter.services().len() == 1
                    && filter.services()[0].as_str() == "auth-service"
                    && filter.levels() == [Level::Error]
                    && filter.limit().get() == 51
                    && filter.offset() == 10
            })
            .times(1)
            .return_once(move |_| Ok(vec![returned]));
        let use_case = QueryUseCase::new(Arc::new(store));
        let draft = FilterDraft {
            services: vec!["auth-service".into()],
            levels: vec!["error".into()],
            limit: Some("50".into()),
            offset: Some("10".into()),
            ..FilterDraft::default()
        };

        let page = use_case.query(draft).await.unwrap();

        assert_eq!(page.logs, vec![event]);
        assert_eq!(page.next_cursor, None);
    }

    #[tokio::test]
    async fn an_event_stored_twice_is_returned_once_and_the_page_is_topped_up_after_it() {
        let distinct = events(3);
        let (a, b, c) = (
            distinct[0].clone(),
            distinct[1].clone(),
            distinct[2].clone(),
        );
        let b_id = b.id();
        let mut store = MockLogReader::new();
        let mut sequence = mockall::Sequence::new();
        // Page size 2: the store is asked for 3 rows and answers a duplicate among them.
        let first = vec![a.clone(), a.clone(), b.clone()];
        store
            .expect_query()
            .withf(|filter| filter.limit().get() == 3 && filter.cursor().is_none())
            .times(1)
            .in_sequence(&mut sequence)
            .return_once(move |_| Ok(first));
        let rest = vec![c.clone()];
        store
            .expect_query()
            .withf(move |filter| {
                filter.cursor().is_some_and(|cursor| cursor.id() == b_id) && filter.offset() == 0
            })
            .times(1)
            .in_sequence(&mut sequence)
            .return_once(move |_| Ok(rest));
        let use_case = QueryUseCase::new(Arc::new(store));

        let page = use_case
            .query(FilterDraft {
                limit: Some("2".into()),
                ..FilterDraft::default()
            })
            .await
            .unwrap();

        assert_eq!(page.logs, vec![a, b.clone()]);
        assert_eq!(
            page.next_cursor.map(|cursor| cursor.id()),
            Some(b_id),
            "a next page follows"
        );
    }

    #[tokio::test]
    async fn a_store_answer_with_the_extra_row_yields_a_full_page_and_a_cursor_after_it() {
        let stored = events(4);
        let returned = stored.clone();
        let mut store = MockLogReader::new();
        store
            .expect_query()
            .withf(|filter| filter.limit().get() == 4 && filter.order() == SortOrder::Ascending)
            .times(1)
            .return_once(move |_| Ok(returned));
        let use_case = QueryUseCase::new(Arc::new(store));

        let page = use_case
            .query(FilterDraft {
                limit: Some("3".into()),
                order: Some("asc".into()),
                ..FilterDraft::default()
            })
            .await
            .unwrap();

        assert_eq!(page.logs, stored[..3]);
        assert_eq!(
            page.next_cursor,
            Some(Cursor::after(&stored[2], SortOrder::Ascending))
        );
    }

    #[tokio::test]
    async fn a_query_without_from_covers_the_widest_allowed_range_before_now() {
        let mut store = MockLogReader::new();
        let earliest = seconds_ago(3600 + 60);
        let latest = seconds_ago(3600 - 60);
        store
            .expect_query()
            .withf(move |filter| {
                filter
                    .from()
                    .is_some_and(|from| from > earliest && from < latest)
                    && filter.to().is_none()
            })
            .times(1)
            .returning(|_| Ok(Vec::new()));
        let use_case = QueryUseCase::with_settings(
            Arc::new(store),
            QuerySettings {
                max_range: Some(Duration::from_secs(3600)),
                ..QuerySettings::default()
            },
            CancellationToken::new(),
        );

        let page = use_case.query(FilterDraft::default()).await.unwrap();

        assert!(page.logs.is_empty());
    }

    #[tokio::test]
    async fn a_range_wider_than_allowed_is_rejected_without_asking_the_store() {
        let mut store = MockLogReader::new();
        store.expect_query().times(0);
        store.expect_count_by().times(0);
        let use_case = QueryUseCase::with_settings(
            Arc::new(store),
            QuerySettings {
                max_range: Some(Duration::from_secs(3600)),
                ..QuerySettings::default()
            },
            CancellationToken::new(),
        );
        let wide = FilterDraft {
            from: Some("2026-05-05T00:00:00Z".into()),
            to: Some("2026-05-05T01:00:01Z".into()),
            ..FilterDraft::default()
        };

        let page = use_case.query(wide.clone()).await.unwrap_err();
        let stats = use_case.stats(wide, GroupBy::Level).await.unwrap_err();

        for error in [page, stats] {
            match error {
                QueryError::Invalid(invalid) => assert_eq!(invalid.field(), "to"),
                other => panic!("expected an invalid range, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn an_invalid_filter_is_rejected_naming_the_parameter_without_asking_the_store() {
        let mut store = MockLogReader::new();
        store.expect_query().times(0);
        let use_case = QueryUseCase::new(Arc::new(store));

        let error = use_case
            .query(FilterDraft {
                limit: Some("5000".into()),
                ..FilterDraft::default()
            })
            .await;

        match error {
            Err(QueryError::Invalid(invalid)) => assert_eq!(invalid.field(), "limit"),
            other => panic!("expected invalid limit, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_configured_largest_page_bounds_the_limit_and_the_default_page() {
        let mut store = MockLogReader::new();
        // Without a limit the page is the largest allowed (5), plus the row that shows more.
        store
            .expect_query()
            .withf(|filter| filter.limit().get() == 6)
            .times(1)
            .returning(|_| Ok(Vec::new()));
        let use_case = QueryUseCase::with_settings(
            Arc::new(store),
            QuerySettings {
                max_page_limit: 5,
                ..QuerySettings::default()
            },
            CancellationToken::new(),
        );

        assert!(use_case.query(FilterDraft::default()).await.is_ok());
        let error = use_case
            .query(FilterDraft {
                limit: Some("6".into()),
                ..FilterDraft::default()
            })
            .await;
        match error {
            Err(QueryError::Invalid(invalid)) => {
                assert_eq!(invalid.to_string(), "limit must be between 1 and 5")
            }
            other => panic!("expected invalid limit, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_store_failure_is_reported_as_such() {
        let mut store = MockLogReader::new();
        store
            .expect_query()
            .times(1)
            .returning(|_| Err(StoreError::TimedOut("too slow".into())));
        let use_case = QueryUseCase::new(Arc::new(store));

        let error = use_case.query(FilterDraft::default()).await.unwrap_err();

        assert!(
            matches!(error, QueryError::Store(StoreError::TimedOut(_))),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn stats_count_by_the_named_group_with_the_validated_filter() {
        let mut store = MockLogReader::new();
        store
            .expect_count_by()
            .withf(|filter, group_by| {
                *group_by == GroupBy::Service && filter.min_level() == Some(Level::Warn)
            })
            .times(1)
            .returning(|_, _| {
                Ok(vec![GroupCount {
                    key: "auth".into(),
                    count: 3,
                    bytes: 0,
                }])
            });
        let use_case = QueryUseCase::new(Arc::new(store));

        let groups = use_case
            .stats(
                FilterDraft {
                    min_level: Some("warn".into()),
                    ..FilterDraft::default()
                },
                GroupBy::Service,
            )
            .await
            .unwrap();

        assert_eq!(groups.len(), 1);
        assert_eq!((groups[0].key.as_str(), groups[0].count), ("auth", 3));
    }

    fn group(key: &str, count: u64) -> GroupCount {
        GroupCount {
            key: key.to_owned(),
            count,
            bytes: 0,
        }
    }

    #[tokio::test]
    async fn fields_count_services_and_levels_exactly_and_metadata_keys_over_the_sample() {
        let mut store = MockLogReader::new();
        let bounded = |filter: &Filter| filter.from().is_some() && filter.limit().get() == 5;
        store
            .expect_count_by()
            .withf(move |filter, group_by| bounded(filter) && *group_by == GroupBy::Service)
            .times(1)
            .return_once(|_, _| Ok(vec![group("auth", 3)]));
        store
            .expect_count_by()
            .withf(move |filter, group_by| bounded(filter) && *group_by == GroupBy::Level)
            .times(1)
            .return_once(|_, _| Ok(vec![group("ERROR", 3)]));
        store
            .expect_metadata_keys()
            .withf(move |filter, sample| bounded(filter) && sample.get() == 2)
            .times(1)
            .return_once(|_, _| {
                Ok(crate::ports::SampledCounts {
                    groups: vec![group("user", 2)],
                    events_read: 2,
                })
            });
        let use_case = QueryUseCase::with_settings(
            Arc::new(store),
            QuerySettings {
                field_sample: SampleRows::new(2),
                ..QuerySettings::default()
            },
            CancellationToken::new(),
        );

        let fields = use_case
            .fields(FilterDraft {
                limit: Some("5".into()),
                ..FilterDraft::default()
            })
            .await
            .unwrap();

        assert_eq!(
            fields,
            FieldSummary {
                services: vec![group("auth", 3)],
                levels: vec![group("ERROR", 3)],
                metadata_keys: vec![group("user", 2)],
                sample: SampleInfo {
                    events_read: 2,
                    partial: true,
                },
            }
        );
    }

    #[tokio::test]
    async fn field_values_of_a_metadata_key_are_sampled_and_of_service_exact() {
        let mut store = MockLogReader::new();
        store
            .expect_metadata_values()
            .withf(|_, key, sample| key == "user id" && sample.get() == 1_000_000)
            .times(1)
            .return_once(|_, _, _| {
                Ok(crate::ports::SampledCounts {
                    groups: vec![group("42", 7)],
                    events_read: 9,
                })
            });
        store
            .expect_count_by()
            .withf(|_, group_by| *group_by == GroupBy::Service)
            .times(1)
            .return_once(|_, _| Ok(vec![group("auth", 3)]));
        let use_case = QueryUseCase::new(Arc::new(store));

        let user = use_case
            .field_values(FilterDraft::default(), "metadata.user id")
            .await
            .unwrap();
        assert_eq!(user.values, vec![group("42", 7)]);
        assert_eq!(
            user.sample,
            Some(SampleInfo {
                events_read: 9,
                partial: false,
            })
        );
        let services = use_case
            .field_values(FilterDraft::default(), "service")
            .await
            .unwrap();
        assert_eq!(services.values, vec![group("auth", 3)]);
        assert_eq!(services.sample, None);
    }

    #[tokio::test]
    async fn an_unknown_field_or_a_range_too_wide_is_refused_before_the_store() {
        let mut store = MockLogReader::new();
        store.expect_count_by().times(0);
        store.expect_metadata_values().times(0);
        store.expect_metadata_keys().times(0);
        let use_case = QueryUseCase::new(Arc::new(store));

        let QueryError::Invalid(error) = use_case
            .field_values(FilterDraft::default(), "user_id")
            .await
            .unwrap_err()
        else {
            panic!("expected a validation error");
        };
        assert_eq!(error.field(), "field");
        let too_wide = FilterDraft {
            from: Some("2020-01-01T00:00:00Z".into()),
            to: Some("2026-01-01T00:00:00Z".into()),
            ..FilterDraft::default()
        };
        let QueryError::Invalid(error) = use_case.fields(too_wide).await.unwrap_err() else {
            panic!("expected a validation error");
        };
        assert_eq!(error.field(), "to");
    }

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text, "t").unwrap()
    }

    #[tokio::test]
    async fn a_histogram_lists_every_bucket_of_the_range_with_zeros_and_levels() {
        let mut store = MockLogReader::new();
        store
            .expect_histogram()
            .withf(|request| {
                request.interval == HistogramInterval::FiveMinutes
                    && request.by_level
                    && request.max_rows == 60_006
            })
            .times(1)
            .returning(|_| {
                Ok(vec![
                    BucketCount {
                        start: at("2026-05-05T10:00:00Z"),
                        level: Some(Level::Info),
                        count: 2,
                    },
                    BucketCount {
                        start: at("2026-05-05T10:00:00Z"),
                        level: Some(Level::Error),
                        count: 1,
                    },
                    BucketCount {
                        start: at("2026-05-05T10:10:00Z"),
                        level: Some(Level::Warn),
                        count: 4,
                    },
                ])
            });
        let use_case = QueryUseCase::with_settings(
            Arc::new(store),
            QuerySettings {
                max_range: None,
                ..QuerySettings::default()
            },
            CancellationToken::new(),
        );

        let histogram = use_case
            .histogram(
                FilterDraft {
                    from: Some("2026-05-05T10:02:00Z".into()),
                    to: Some("2026-05-05T10:20:00Z".into()),
                    ..FilterDraft::default()
                },
                HistogramInterval::FiveMinutes,
                HistogramSplit::Level,
            )
            .await
            .unwrap();

        type Summary = (String, u64, Vec<(Level, u64)>);
        let summary: Vec<Summary> = histogram
            .buckets
            .iter()
            .map(|bucket| {
                (
                    bucket.start.to_rfc3339(),
                    bucket.count,
                    bucket.levels.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "2026-05-05T10:00:00.000000000Z".to_owned(),
                    3,
                    vec![(Level::Info, 2), (Level::Error, 1)]
                ),
                ("2026-05-05T10:05:00.000000000Z".to_owned(), 0, vec![]),
                (
                    "2026-05-05T10:10:00.000000000Z".to_owned(),
                    4,
                    vec![(Level::Warn, 4)]
                ),
                ("2026-05-05T10:15:00.000000000Z".to_owned(), 0, vec![]),
            ]
        );
    }

    #[tokio::test]
    async fn a_histogram_of_too_many_buckets_is_rejected_before_the_store() {
        let mut store = MockLogReader::new();
        store.expect_histogram().times(0);
        let use_case = QueryUseCase::new(Arc::new(store));
        let month = FilterDraft {
            from: Some("2026-05-01T00:00:00Z".into()),
            to: Some("2026-05-29T00:00:00Z".into()),
            ..FilterDraft::default()
        };

        let per_minute = use_case
            .histogram(month, HistogramInterval::OneMinute, HistogramSplit::None)
            .await
            .unwrap_err();

        assert!(
            matches!(&per_minute, QueryError::Invalid(invalid) if invalid.field() == "interval"),
            "{per_minute:?}"
        );
    }

    #[tokio::test]
    async fn an_export_opens_a_store_cursor_with_the_validated_filter() {
        let stored = events(3);
        let returned = stored.clone();
        let mut store = MockLogReader::new();
        store
            .expect_export()
            .withf(|filter| filter.services()[0].as_str() == "auth-service")
            .times(1)
            .return_once(move |_| Ok(Box::new(InMemoryCursor::new(returned, 2))));
        let use_case = QueryUseCase::new(Arc::new(store));

        let mut cursor = use_case
            .export(FilterDraft {
                services: vec!["auth-service".into()],
                ..FilterDraft::default()
            })
            .await
            .unwrap();

        assert_eq!(cursor.next_batch().await.unwrap(), stored[..2]);
        assert_eq!(cursor.next_batch().await.unwrap(), stored[2..]);
        assert!(cursor.next_batch().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_export_hands_out_an_event_stored_twice_once_even_across_batches() {
        let distinct = events(3);
        let mut stored = Vec::new();
        for event in &distinct {
            stored.push(event.clone());
            stored.push(event.clone());
        }
        let mut store = MockLogReader::new();
        store
            .expect_export()
            .times(1)
            .return_once(move |_| Ok(Box::new(InMemoryCursor::new(stored, 3))));
        let use_case = QueryUseCase::new(Arc::new(store));

        let mut cursor = use_case.export(FilterDraft::default()).await.unwrap();
        let mut read = Vec::new();
        loop {
            let batch = cursor.next_batch().await.unwrap();
            if batch.is_empty() {
                break;
            }
            read.extend(batch);
        }

        assert_eq!(read, distinct);
    }

    #[tokio::test]
    async fn readiness_reports_the_store_health() {
        let mut store = MockLogReader::new();
        store.expect_health().times(1).returning(|| Ok(()));
        let use_case = QueryUseCase::new(Arc::new(store));

        assert!(use_case.check_ready().await.is_ok());
    }

    /// The in-memory store, counting the tail's polls.
    #[derive(Debug, Default)]
    struct CountingStore {
        inner: InMemoryLogStore,
        polls: AtomicU64,
    }

    #[async_trait]
    impl LogReader for CountingStore {
        async fn query(&self, filter: &Filter) -> Result<Vec<LogEvent>, StoreError> {
            self.inner.query(filter).await
        }
        async fn count_by(
            &self,
            filter: &Filter,
            group_by: GroupBy,
        ) -> Result<Vec<GroupCount>, StoreError> {
            self.inner.count_by(filter, group_by).await
        }
        async fn histogram(
            &self,
            request: &HistogramRequest,
        ) -> Result<Vec<BucketCount>, StoreError> {
            self.inner.histogram(request).await
        }
        async fn metric_windows(
            &self,
            request: &crate::ports::MetricRequest,
        ) -> Result<Vec<crate::ports::WindowCount>, StoreError> {
            self.inner.metric_windows(request).await
        }
        async fn metadata_keys(
            &self,
            filter: &Filter,
            sample: SampleRows,
        ) -> Result<crate::ports::SampledCounts, StoreError> {
            self.inner.metadata_keys(filter, sample).await
        }
        async fn metadata_values(
            &self,
            filter: &Filter,
            key: &str,
            sample: SampleRows,
        ) -> Result<crate::ports::SampledCounts, StoreError> {
            self.inner.metadata_values(filter, key, sample).await
        }
        async fn export(&self, filter: &Filter) -> Result<Box<dyn EventCursor>, StoreError> {
            self.inner.export(filter).await
        }
        async fn arrivals(&self, window: &ArrivalWindow) -> Result<Vec<LogEvent>, StoreError> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            self.inner.arrivals(window).await
        }
        async fn health(&self) -> Result<(), StoreError> {
            Ok(())
        }
    }

    fn tail_use_case(store: Arc<CountingStore>, shutdown: CancellationToken) -> QueryUseCase {
        QueryUseCase::with_settings(
            store,
            QuerySettings {
                max_range: Some(Duration::from_secs(3600)),
                max_page_limit: MAX_PAGE_LIMIT,
                tail: TailSettings {
                    poll_interval: Duration::from_millis(20),
                    heartbeat_interval: Duration::from_secs(3600),
                    ..TailSettings::default()
                },
                field_sample: SampleRows::DEFAULT,
            },
            shutdown,
        )
    }

    async fn next_log(subscription: &mut TailSubscription) -> LogEvent {
        loop {
            match subscription.next().await {
                Some(Ok(TailItem::Log(event))) => return event,
                Some(Ok(_)) => {}
                other => panic!("expected a log, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn subscribers_receive_new_matching_events_from_one_shared_poller() {
        let store = Arc::new(CountingStore::default());
        let use_case = tail_use_case(Arc::clone(&store), CancellationToken::new());
        let mut subscribers = Vec::new();
        for _ in 0..10 {
            subscribers.push(
                use_case
                    .tail(FilterDraft {
                        q: Some("wanted".into()),
                        ..FilterDraft::default()
                    })
                    .await
                    .unwrap(),
            );
        }
        let mut errors_only = use_case
            .tail(FilterDraft {
                min_level: Some("error".into()),
                ..FilterDraft::default()
            })
            .await
            .unwrap();
        let old = sample_event("svc", Level::Error, "wanted but old", seconds_ago(1));
        let old = crate::testing::store_contract::received_at(old, seconds_ago(60));
        let unwanted = sample_event("svc", Level::Info, "other", Timestamp::now());
        let wanted = sample_event("svc", Level::Error, "the wanted one", Timestamp::now());
        store.inner.insert(&[old, unwanted]).await.unwrap();
        store
            .inner
            .insert(std::slice::from_ref(&wanted))
            .await
            .unwrap();

        for subscriber in &mut subscribers {
            assert_eq!(next_log(subscriber).await.id(), wanted.id());
        }
        assert_eq!(next_log(&mut errors_only).await.id(), wanted.id());
        let polls = store.polls.load(Ordering::SeqCst);
        let later = sample_event("svc", Level::Error, "wanted again", Timestamp::now());
        store
            .inner
            .insert(std::slice::from_ref(&later))
            .await
            .unwrap();
        for subscriber in &mut subscribers {
            assert_eq!(next_log(subscriber).await.id(), later.id());
        }
        // Eleven subscribers, one poller: the store saw one query per poll, not per client.
        let polls_for_one_event = store.polls.load(Ordering::SeqCst) - polls;
        assert!(
            polls_for_one_event < 11,
            "{polls_for_one_event} polls delivered one event to 11 subscribers"
        );
    }

    #[tokio::test]
    async fn a_tail_from_a_time_sends_the_stored_events_first_then_new_ones_once() {
        let store = Arc::new(CountingStore::default());
        // More than one page (1000) of stored events, oldest first.
        let earlier: Vec<LogEvent> = (0..1001)
            .map(|i| {
                sample_event(
                    "svc",
                    Level::Info,
                    &format!("stored {i}"),
                    seconds_ago(1100 - i),
                )
            })
            .collect();
        store.inner.insert(&earlier).await.unwrap();
        let use_case = QueryUseCase::with_settings(
            Arc::clone(&store) as Arc<dyn LogReader>,
            QuerySettings {
                max_range: Some(Duration::from_secs(3600)),
                max_page_limit: MAX_PAGE_LIMIT,
                tail: TailSettings {
                    poll_interval: Duration::from_millis(20),
                    heartbeat_interval: Duration::from_millis(300),
                    ..TailSettings::default()
                },
                field_sample: SampleRows::DEFAULT,
            },
            CancellationToken::new(),
        );

        let mut subscription = use_case
            .tail(FilterDraft {
                from: Some(seconds_ago(1200).to_rfc3339()),
                order: Some("desc".into()),
                limit: Some("1".into()),
                ..FilterDraft::default()
            })
            .await
            .unwrap();
        // Stored after the first page was read: the second page and the poller both see it.
        let fresh = sample_event("svc", Level::Info, "fresh", Timestamp::now());
        store
            .inner
            .insert(std::slice::from_ref(&fresh))
            .await
            .unwrap();

        let mut received = Vec::new();
        loop {
            match subscription.next().await {
                Some(Ok(TailItem::Log(event))) => received.push(event.id()),
                Some(Ok(TailItem::Heartbeat(_))) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        let mut expected: Vec<_> = earlier.iter().map(LogEvent::id).collect();
        expected.push(fresh.id());
        assert_eq!(received, expected);
    }

    #[tokio::test]
    async fn a_tail_from_beyond_the_widest_range_is_rejected_naming_from() {
        let use_case = tail_use_case(Arc::new(CountingStore::default()), CancellationToken::new());

        let error = use_case
            .tail(FilterDraft {
                from: Some(seconds_ago(7200).to_rfc3339()),
                ..FilterDraft::default()
            })
            .await
            .unwrap_err();

        assert!(matches!(error, QueryError::Invalid(invalid) if invalid.field() == "from"));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_tail_sends_heartbeats_and_ends_at_shutdown() {
        let shutdown = CancellationToken::new();
        let use_case = QueryUseCase::with_settings(
            Arc::new(InMemoryLogStore::default()),
            QuerySettings {
                tail: TailSettings {
                    heartbeat_interval: Duration::from_secs(15),
                    ..TailSettings::default()
                },
                ..QuerySettings::default()
            },
            shutdown.clone(),
        );
        let mut subscription = use_case.tail(FilterDraft::default()).await.unwrap();

        for _ in 0..2 {
            assert!(matches!(
                subscription.next().await,
                Some(Ok(TailItem::Heartbeat(_)))
            ));
        }
        shutdown.cancel();
        assert!(subscription.next().await.is_none());
    }
}
