//! [`InMemoryLogStore`]: the `LogWriter` and `LogReader` ports in memory, with the semantics the contract suite
//! ([`super::store_contract`]) demands of every store.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use domain::{
    EventId, Filter, GroupBy, Level, LogEvent, SampleRows, SortOrder, Timestamp, labels_of,
    stream_labels,
};

use crate::ports::{
    ArrivalWindow, BucketCount, EventCursor, GroupCount, HistogramRequest, LogReader, LogWriter,
    MetricRequest, SampledCounts, SeriesSplit, StoreError, WindowCount,
};

/// A store in memory ([`LogWriter`] and [`LogReader`]) that filters, orders, pages and counts like the real one.
#[derive(Debug, Default)]
pub struct InMemoryLogStore {
    events: Mutex<Vec<LogEvent>>,
}

impl InMemoryLogStore {
    /// Every stored event the filter matches, ordered by `(timestamp, id)` in its order.
    fn matching(&self, filter: &Filter) -> Vec<LogEvent> {
        let mut matching: Vec<LogEvent> = self
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|event| filter.matches(event))
            .cloned()
            .collect();
        matching.sort_by_key(|event| (event.timestamp(), event.id()));
        if filter.order() == SortOrder::Descending {
            matching.reverse();
        }
        matching
    }

    /// The first `sample` matching events in insertion order (the order this store reads
    /// them), each counted under the keys `keys_of` gives it.
    fn sampled_counts(
        &self,
        filter: &Filter,
        sample: SampleRows,
        keys_of: impl Fn(&LogEvent) -> Option<Vec<String>>,
    ) -> SampledCounts {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut events_read = 0;
        let sampled = events
            .iter()
            .filter(|event| filter.matches(event))
            .filter_map(keys_of)
            .take(usize::try_from(sample.get()).unwrap_or(usize::MAX));
        for keys in sampled {
            events_read += 1;
            for key in keys {
                *counts.entry(key).or_default() += 1;
            }
        }
        SampledCounts {
            groups: largest_first(counts, filter.limit().get() as usize),
            events_read,
        }
    }
}

/// Groups ordered by count, largest first, equal counts by key; at most `limit`.
fn largest_first(counts: HashMap<String, u64>, limit: usize) -> Vec<GroupCount> {
    let mut groups: Vec<GroupCount> = counts
        .into_iter()
        .map(|(key, count)| GroupCount {
            key,
            count,
            bytes: 0,
        })
        .collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    groups.truncate(limit);
    groups
}

#[async_trait]
impl LogWriter for InMemoryLogStore {
    async fn insert(&self, events: &[LogEvent]) -> Result<(), StoreError> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(events.iter().cloned());
        Ok(())
    }

    async fn insert_unless_stored(&self, events: &[LogEvent]) -> Result<usize, StoreError> {
        let mut stored = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        let known: HashSet<EventId> = stored.iter().map(LogEvent::id).collect();
        let missing: Vec<LogEvent> = events
            .iter()
            .filter(|event| !known.contains(&event.id()))
            .cloned()
            .collect();
        let inserted = missing.len();
        stored.extend(missing);
        Ok(inserted)
    }

    async fn health(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl LogReader for InMemoryLogStore {
    async fn query(&self, filter: &Filter) -> Result<Vec<LogEvent>, StoreError> {
        let offset = usize::try_from(filter.offset()).unwrap_or(usize::MAX);
        Ok(self
            .matching(filter)
            .into_iter()
            .filter(|event| {
                filter
                    .cursor()
                    .is_none_or(|cursor| cursor.is_before(event.timestamp(), event.id()))
            })
            .skip(offset)
            .take(filter.limit().get() as usize)
            .collect())
    }

    async fn count_by(
        &self,
        filter: &Filter,
        group_by: GroupBy,
    ) -> Result<Vec<GroupCount>, StoreError> {
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut bytes: HashMap<String, u64> = HashMap::new();
        for event in self.matching(filter) {
            let key = group_by.key_of(&event);
            *bytes.entry(key.clone()).or_default() += event.message().as_str().len() as u64;
            *counts.entry(key).or_default() += 1;
        }
        let mut groups = largest_first(counts, filter.limit().get() as usize);
        for group in &mut groups {
            group.bytes = bytes.get(&group.key).copied().unwrap_or_default();
        }
        Ok(groups)
    }

    async fn histogram(&self, request: &HistogramRequest) -> Result<Vec<BucketCount>, StoreError> {
        let mut counts: BTreeMap<(Timestamp, Option<Level>), u64> = BTreeMap::new();
        for event in self.matching(&request.filter) {
            let level = request.by_level.then_some(event.level());
            *counts
                .entry((request.interval.bucket_start(event.timestamp()), level))
                .or_default() += 1;
        }
        Ok(counts
            .into_iter()
            .take(request.max_rows as usize)
            .map(|((start, level), count)| BucketCount {
                start,
                level,
                count,
            })
            .collect())
    }

    async fn metric_windows(
        &self,
        request: &MetricRequest,
    ) -> Result<Vec<WindowCount>, StoreError> {
        type Cell = (BTreeMap<String, String>, u32, u32);
        let mut cells: BTreeMap<Cell, (u64, u64)> = BTreeMap::new();
        for event in self.matching(request.spec.filter()) {
            let Some((first_step, end_step)) = request.spec.steps_holding(event.timestamp()) else {
                continue;
            };
            let labels = match &request.split {
                SeriesSplit::Streams => stream_labels(&event),
                SeriesSplit::Labels(fields) => labels_of(&event, fields),
            };
            let cell = cells.entry((labels, first_step, end_step)).or_default();
            cell.0 += 1;
            if request.spec.function().reads_bytes() {
                cell.1 += event.message().as_str().len() as u64;
            }
        }
        Ok(cells
            .into_iter()
            .take(usize::try_from(request.max_rows).unwrap_or(usize::MAX))
            .map(
                |((labels, first_step, end_step), (count, bytes))| WindowCount {
                    labels,
                    first_step,
                    end_step,
                    count,
                    bytes,
                },
            )
            .collect())
    }

    async fn metadata_keys(
        &self,
        filter: &Filter,
        sample: SampleRows,
    ) -> Result<SampledCounts, StoreError> {
        Ok(self.sampled_counts(filter, sample, |event| {
            Some(
                event
                    .metadata()
                    .iter()
                    .map(|(key, _)| key.to_owned())
                    .collect(),
            )
        }))
    }

    async fn metadata_values(
        &self,
        filter: &Filter,
        key: &str,
        sample: SampleRows,
    ) -> Result<SampledCounts, StoreError> {
        Ok(self.sampled_counts(filter, sample, |event| {
            event
                .metadata()
                .get(key)
                .map(|value| vec![value.to_owned()])
        }))
    }

    async fn export(&self, filter: &Filter) -> Result<Box<dyn EventCursor>, StoreError> {
        Ok(Box::new(InMemoryCursor::new(self.matching(filter), 100)))
    }

    async fn arrivals(&self, window: &ArrivalWindow) -> Result<Vec<LogEvent>, StoreError> {
        let mut arrived: Vec<LogEvent> = self
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|event| event.observed_timestamp() >= window.received_from)
            .filter(|event| event.timestamp() >= window.event_time_from)
            .filter(|event| {
                window
                    .after
                    .is_none_or(|after| (event.observed_timestamp(), event.id()) > after)
            })
            .cloned()
            .collect();
        arrived.sort_by_key(|event| (event.observed_timestamp(), event.id()));
        arrived.truncate(window.max as usize);
        Ok(arrived)
    }

    async fn health(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// An [`EventCursor`] over events already in memory, handing them out `batch` at a time.
#[derive(Debug)]
pub struct InMemoryCursor {
    events: VecDeque<LogEvent>,
    batch: usize,
}

impl InMemoryCursor {
    /// A cursor over `events`, in their order, `batch` (at least one) per call.
    pub fn new(events: Vec<LogEvent>, batch: usize) -> Self {
        Self {
            events: events.into(),
            batch: batch.max(1),
        }
    }
}

#[async_trait]
impl EventCursor for InMemoryCursor {
    async fn next_batch(&mut self) -> Result<Vec<LogEvent>, StoreError> {
        let take = self.batch.min(self.events.len());
        Ok(self.events.drain(..take).collect())
    }
}
