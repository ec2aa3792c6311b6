//! The worker's Prometheus metrics. The ports are wrapped in decorators that count what passes
//! through them (batches reserved, inserts and their errors, dead letters, retention rounds), so
//! the use cases stay unaware of metrics; a sampler reads the queue's sizes now and then.

use std::sync::Arc;
use std::time::{Duration, Instant};

use application::ports::{
    Backlog, LogRetention, LogWriter, QueueConsumer, QueueError, Receipt, Reservation, StoreError,
};
use async_trait::async_trait;
use domain::{LogEvent, Timestamp};
use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use redis_adapter::RedisLogQueue;
use tokio_util::sync::CancellationToken;
use tracing::warn;

const BATCH_EVENTS: &str = "logpipeline_worker_batch_events";
const INSERT_DURATION: &str = "logpipeline_worker_insert_duration_seconds";
const INSERT_ERRORS: &str = "logpipeline_worker_insert_errors_total";
const EVENTS_STORED: &str = "logpipeline_worker_events_stored_total";
const EVENTS_ALREADY_STORED: &str = "logpipeline_worker_events_already_stored_total";
const EVENTS_DEAD_LETTERED: &str = "logpipeline_worker_events_dead_lettered_total";
const QUEUE_DEPTH: &str = "logpipeline_queue_depth_events";
const QUEUE_PROCESSING: &str = "logpipeline_queue_processing_events";
const QUEUE_DEAD_LETTERS: &str = "logpipeline_queue_dead_letter_events";
const QUEUE_DEAD_LETTERS_DROPPED: &str = "logpipeline_queue_dead_letters_dropped_total";
const QUEUE_OLDEST_AGE: &str = "logpipeline_queue_oldest_event_age_seconds";
const DEPENDENCY_UP: &str = "logpipeline_worker_dependency_up";
const RETENTION_RUNS: &str = "logpipeline_retention_runs_total";
const RETENTION_ERRORS: &str = "logpipeline_retention_errors_total";
const RETENTION_DROPPED: &str = "logpipeline_retention_partitions_dropped_total";

/// Describes the worker's metrics (their `# HELP` lines); call once after installing the recorder.
pub(crate) fn describe() {
    describe_histogram!(BATCH_EVENTS, "Events per batch reserved from the queue");
    describe_histogram!(
        INSERT_DURATION,
        Unit::Seconds,
        "Time of one ClickHouse insert, successful or not"
    );
    describe_counter!(
        INSERT_ERRORS,
        "Failed ClickHouse inserts, by kind (retryable: unreachable or overloaded; permanent: the data was refused)"
    );
    describe_counter!(EVENTS_STORED, "Events inserted into ClickHouse");
    describe_counter!(
        EVENTS_ALREADY_STORED,
        "Events of a retried batch found already stored (an earlier attempt's outcome was unknown), not inserted again"
    );
    describe_counter!(
        EVENTS_DEAD_LETTERED,
        "Events ClickHouse refused for their content, moved to the dead-letter list"
    );
    describe_gauge!(
        QUEUE_DEPTH,
        "Events queued and not yet reserved (whole queue)"
    );
    describe_gauge!(
        QUEUE_PROCESSING,
        "Events this worker has reserved and not yet acknowledged"
    );
    describe_gauge!(
        QUEUE_DEAD_LETTERS,
        "Entries in the dead-letter list (whole queue)"
    );
    describe_counter!(
        QUEUE_DEAD_LETTERS_DROPPED,
        "Dead letters deleted because the list was over DEAD_LETTER_MAX_EVENTS (whole queue, kept in Redis)"
    );
    describe_gauge!(
        QUEUE_OLDEST_AGE,
        Unit::Seconds,
        "Age of the oldest queued event, 0 when the queue is empty"
    );
    describe_gauge!(
        DEPENDENCY_UP,
        "1 when the dependency (redis, clickhouse) answered the last health check, else 0"
    );
    describe_counter!(RETENTION_RUNS, "Retention rounds run");
    describe_counter!(RETENTION_ERRORS, "Retention rounds that failed");
    describe_counter!(RETENTION_DROPPED, "Daily partitions dropped by retention");
}

/// A [`QueueConsumer`] that counts the batches it hands out and the events it dead-letters.
pub(crate) struct MeteredQueue(pub(crate) Arc<dyn QueueConsumer>);

#[async_trait]
impl QueueConsumer for MeteredQueue {
    async fn reserve(&self, max: usize) -> Result<Reservation, QueueError> {
        let reservation = self.0.reserve(max).await?;
        if !reservation.events.is_empty() {
            histogram!(BATCH_EVENTS).record(reservation.events.len() as f64);
        }
        Ok(reservation)
    }

    async fn acknowledge(&self, receipt: Receipt) -> Result<(), QueueError> {
        self.0.acknowledge(receipt).await
    }

    async fn release(&self, receipt: Receipt) -> Result<(), QueueError> {
        self.0.release(receipt).await
    }

    async fn recover_unacknowledged(&self) -> Result<u64, QueueError> {
        self.0.recover_unacknowledged().await
    }

    async fn backlog(&self) -> Result<Backlog, QueueError> {
        self.0.backlog().await
    }

    async fn heartbeat(&self) -> Result<(), QueueError> {
        self.0.heartbeat().await
    }

    async fn reclaim_abandoned(&self) -> Result<u64, QueueError> {
        self.0.reclaim_abandoned().await
    }

    async fn dead_letter(&self, events: &[LogEvent], reason: &str) -> Result<(), QueueError> {
        self.0.dead_letter(events, reason).await?;
        counter!(EVENTS_DEAD_LETTERED).increment(events.len() as u64);
        Ok(())
    }

    async fn health(&self) -> Result<(), QueueError> {
        self.0.health().await
    }
}

fn count_insert_error(error: &StoreError) {
    let kind = if error.is_retryable() {
        "retryable"
    } else {
        "permanent"
    };
    counter!(INSERT_ERRORS, "kind" => kind).increment(1);
}

/// A [`LogWriter`] that times inserts and counts the events stored and the failures.
pub(crate) struct MeteredStore(pub(crate) Arc<dyn LogWriter>);

#[async_trait]
impl LogWriter for MeteredStore {
    async fn insert(&self, events: &[LogEvent]) -> Result<(), StoreError> {
        let started = Instant::now();
        let inserted = self.0.insert(events).await;
        histogram!(INSERT_DURATION).record(started.elapsed());
        match &inserted {
            Ok(()) => counter!(EVENTS_STORED).increment(events.len() as u64),
            Err(error) => count_insert_error(error),
        }
        inserted
    }

    async fn insert_unless_stored(&self, events: &[LogEvent]) -> Result<usize, StoreError> {
        let started = Instant::now();
        let inserted = self.0.insert_unless_stored(events).await;
        histogram!(INSERT_DURATION).record(started.elapsed());
        match &inserted {
            Ok(count) => {
                counter!(EVENTS_STORED).increment(*count as u64);
                counter!(EVENTS_ALREADY_STORED).increment((events.len() - count) as u64);
            }
            Err(error) => count_insert_error(error),
        }
        inserted
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.0.health().await
    }
}

/// A [`LogRetention`] that counts rounds, failed rounds and dropped partitions.
pub(crate) struct MeteredRetention(pub(crate) Arc<dyn LogRetention>);

#[async_trait]
impl LogRetention for MeteredRetention {
    async fn drop_days_before(&self, cutoff: Timestamp) -> Result<Vec<String>, StoreError> {
        counter!(RETENTION_RUNS).increment(1);
        let dropped = self.0.drop_days_before(cutoff).await;
        match &dropped {
            Ok(days) => counter!(RETENTION_DROPPED).increment(days.len() as u64),
            Err(_) => counter!(RETENTION_ERRORS).increment(1),
        }
        dropped
    }
}

/// Records whether a dependency answered its last health check.
pub(crate) fn record_dependency(dependency: &'static str, up: bool) {
    gauge!(DEPENDENCY_UP, "dependency" => dependency).set(if up { 1.0 } else { 0.0 });
}

/// Reads the queue's sizes every `every` until `shutdown`; a failed read leaves the gauges as
/// they were (the dependency gauge says Redis is down).
pub(crate) async fn sample_queue(
    queue: Arc<RedisLogQueue>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let (sizes, backlog) = tokio::join!(queue.sizes(), queue.backlog());
        match sizes {
            Ok(sizes) => {
                gauge!(QUEUE_DEPTH).set(sizes.queued as f64);
                gauge!(QUEUE_PROCESSING).set(sizes.processing as f64);
                gauge!(QUEUE_DEAD_LETTERS).set(sizes.dead_letters as f64);
                // Counted in Redis by whichever worker trimmed the list: every worker reports
                // the same total.
                counter!(QUEUE_DEAD_LETTERS_DROPPED).absolute(sizes.dead_letters_dropped);
            }
            Err(error) => warn!(error = %error, "queue sizes not read for the metrics"),
        }
        if let Ok(backlog) = backlog {
            let age = backlog.oldest_received_at.map_or(0.0, |received| {
                Duration::from_nanos(
                    Timestamp::now()
                        .unix_nanos()
                        .saturating_sub(received.unix_nanos()),
                )
                .as_secs_f64()
            });
            gauge!(QUEUE_OLDEST_AGE).set(age);
        }
    }
}

#[cfg(test)]
mod tests {
    use application::ports::{MockLogRetention, MockLogWriter, MockQueueConsumer};
    use application::testing::sample_event;
    use domain::Level;

    use super::*;

    fn events(count: usize) -> Vec<LogEvent> {
        (0..count)
            .map(|_| sample_event("svc", Level::Info, "m", Timestamp::now()))
            .collect()
    }

    /// The value of the sample line that starts with `series `.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|value| value.parse().unwrap())
    }

    #[tokio::test]
    async fn inserts_are_timed_and_counted_by_outcome() {
        let (recorder, handle) = service_runtime::prometheus_recorder().unwrap();
        let _local = metrics::set_default_local_recorder(&recorder);
        let mut inner = MockLogWriter::new();
        let mut calls = 0;
        inner.expect_insert().times(3).returning(move |_| {
            calls += 1;
            match calls {
                1 => Ok(()),
                2 => Err(StoreError::Unavailable("down".into())),
                _ => Err(StoreError::Rejected("bad value".into())),
            }
        });
        let store = MeteredStore(Arc::new(inner));

        store.insert(&events(3)).await.unwrap();
        assert!(store.insert(&events(2)).await.is_err());
        assert!(store.insert(&events(1)).await.is_err());

        let text = handle.render();
        assert_eq!(
            sample(&text, "logpipeline_worker_events_stored_total"),
            Some(3.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "logpipeline_worker_insert_duration_seconds_count"),
            Some(3.0),
            "{text}"
        );
        for kind in ["retryable", "permanent"] {
            assert_eq!(
                sample(
                    &text,
                    &format!("logpipeline_worker_insert_errors_total{{kind=\"{kind}\"}}")
                ),
                Some(1.0),
                "{kind}: {text}"
            );
        }
    }

    #[tokio::test]
    async fn a_retried_insert_counts_what_it_stored_and_what_was_stored_already() {
        let (recorder, handle) = service_runtime::prometheus_recorder().unwrap();
        let _local = metrics::set_default_local_recorder(&recorder);
        let mut inner = MockLogWriter::new();
        inner
            .expect_insert_unless_stored()
            .withf(|events| events.len() == 5)
            .times(1)
            .returning(|_| Ok(2));
        let store = MeteredStore(Arc::new(inner));

        assert_eq!(store.insert_unless_stored(&events(5)).await.unwrap(), 2);

        let text = handle.render();
        assert_eq!(
            sample(&text, "logpipeline_worker_events_stored_total"),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "logpipeline_worker_events_already_stored_total"),
            Some(3.0),
            "{text}"
        );
    }

    #[tokio::test]
    async fn reserved_batches_and_dead_letters_are_counted_and_empty_reservations_are_not() {
        let (recorder, handle) = service_runtime::prometheus_recorder().unwrap();
        let _local = metrics::set_default_local_recorder(&recorder);
        let mut inner = MockQueueConsumer::new();
        let mut calls = 0;
        inner.expect_reserve().times(2).returning(move |_| {
            calls += 1;
            Ok(Reservation {
                events: if calls == 1 { events(120) } else { Vec::new() },
                receipt: Receipt::new(calls),
                redelivered: 0,
            })
        });
        inner
            .expect_dead_letter()
            .withf(|events, reason| events.len() == 2 && reason == "refused")
            .times(1)
            .returning(|_, _| Ok(()));
        let queue = MeteredQueue(Arc::new(inner));

        assert_eq!(queue.reserve(500).await.unwrap().events.len(), 120);
        assert!(queue.reserve(500).await.unwrap().events.is_empty());
        queue.dead_letter(&events(2), "refused").await.unwrap();

        let text = handle.render();
        assert_eq!(
            sample(&text, "logpipeline_worker_batch_events_count"),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "logpipeline_worker_batch_events_bucket{le=\"100\"}"),
            Some(0.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "logpipeline_worker_batch_events_bucket{le=\"250\"}"),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "logpipeline_worker_events_dead_lettered_total"),
            Some(2.0),
            "{text}"
        );
    }

    #[tokio::test]
    async fn retention_rounds_count_dropped_partitions_and_failures() {
        let (recorder, handle) = service_runtime::prometheus_recorder().unwrap();
        let _local = metrics::set_default_local_recorder(&recorder);
        let mut inner = MockLogRetention::new();
        let mut calls = 0;
        inner
            .expect_drop_days_before()
            .times(2)
            .returning(move |_| {
                calls += 1;
                if calls == 1 {
                    Ok(vec!["2026-05-01".into(), "2026-05-02".into()])
                } else {
                    Err(StoreError::Unavailable("down".into()))
                }
            });
        let retention = MeteredRetention(Arc::new(inner));

        retention.drop_days_before(Timestamp::now()).await.unwrap();
        assert!(retention.drop_days_before(Timestamp::now()).await.is_err());

        let text = handle.render();
        assert_eq!(
            sample(&text, "logpipeline_retention_runs_total"),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "logpipeline_retention_partitions_dropped_total"),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "logpipeline_retention_errors_total"),
            Some(1.0),
            "{text}"
        );
    }
}
