//! Moving events from the queue into the store, in batches, at least once.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::ports::{LogQueue, LogStore, QueueError, StoreError};

/// How the worker drains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainSettings {
    /// Most events per store insert.
    pub batch_size: NonZeroUsize,
    /// How long the worker sleeps when nobody signals it.
    pub poll_interval: Duration,
    /// First wait after a failed batch; doubled on each further failure.
    pub retry_initial: Duration,
    /// Longest wait between retries.
    pub retry_max: Duration,
}

impl Default for DrainSettings {
    fn default() -> Self {
        Self {
            batch_size: NonZeroUsize::new(1000).unwrap_or(NonZeroUsize::MIN),
            poll_interval: Duration::from_secs(5),
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
        }
    }
}

/// Why a drain stopped early. Events of a failed batch were released back to the queue unless
/// `released` says otherwise (then they are recovered at the worker's next start).
#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error("queue failed while draining")]
    Queue(#[from] QueueError),
    #[error(
        "store failed to insert a batch of {batch} events (released back to the queue: {released})"
    )]
    Store {
        batch: usize,
        released: bool,
        #[source]
        source: StoreError,
    },
}

/// Wakes a draining loop: cheap to clone, and wakes coalesce (many wakes while the loop is busy
/// cause one more pass, not many).
#[derive(Debug, Clone, Default)]
pub struct DrainTrigger(Arc<Notify>);

impl DrainTrigger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the loop for a pass now.
    pub fn wake(&self) {
        self.0.notify_one();
    }

    /// Waits for the next wake; a wake that came while nobody waited is delivered at once.
    pub async fn woken(&self) {
        self.0.notified().await;
    }
}

/// Drains the queue into the store.
#[derive(Clone)]
pub struct DrainUseCase {
    queue: Arc<dyn LogQueue>,
    store: Arc<dyn LogStore>,
    settings: DrainSettings,
}

impl std::fmt::Debug for DrainUseCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrainUseCase")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl DrainUseCase {
    pub fn new(
        queue: Arc<dyn LogQueue>,
        store: Arc<dyn LogStore>,
        settings: DrainSettings,
    ) -> Self {
        Self {
            queue,
            store,
            settings,
        }
    }

    /// Stores one batch of at most `batch_size` events: reserve, insert, acknowledge. Returns the
    /// number stored (0 when the queue is empty). On a store failure the batch is released.
    pub async fn drain_batch(&self) -> Result<usize, DrainError> {
        let reservation = self.queue.reserve(self.settings.batch_size.get()).await?;
        let batch = reservation.events.len();
        if batch == 0 {
            return Ok(0);
        }
        if let Err(source) = self.store.insert(&reservation.events).await {
            let released = match self.queue.release(reservation.receipt).await {
                Ok(()) => true,
                Err(error) => {
                    warn!(error = %error, batch, "failed batch not released; it is recovered at next start");
                    false
                }
            };
            return Err(DrainError::Store {
                batch,
                released,
                source,
            });
        }
        self.queue.acknowledge(reservation.receipt).await?;
        debug!(batch, "stored batch");
        Ok(batch)
    }

    /// Drains batch after batch until the queue runs dry or `shutdown` is cancelled; a batch that
    /// has started is always finished. Returns how many events were stored.
    pub async fn drain_until_empty(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<usize, DrainError> {
        let mut stored = 0;
        while !shutdown.is_cancelled() {
            let batch = self.drain_batch().await?;
            stored += batch;
            if batch < self.settings.batch_size.get() {
                break;
            }
        }
        Ok(stored)
    }

    /// The worker's loop: recovers what a previous run left reserved, then drains whenever
    /// `trigger` wakes it or `poll_interval` passes, whichever comes first. Failures are retried
    /// with exponential backoff. Returns when `shutdown` is cancelled, after finishing the batch
    /// in progress.
    pub async fn run(&self, trigger: DrainTrigger, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(self.settings.retry_initial, self.settings.retry_max);
        loop {
            match self.queue.recover_unacknowledged().await {
                Ok(recovered) => {
                    if recovered > 0 {
                        info!(recovered, "returned unacknowledged events to the queue");
                    }
                    break;
                }
                Err(error) => {
                    warn!(error = %error, cause = ?error, "could not recover unacknowledged events")
                }
            }
            if !pause(backoff.next_delay(), &shutdown).await {
                return;
            }
        }
        backoff.reset();
        loop {
            let wait = match self.drain_until_empty(&shutdown).await {
                Ok(stored) => {
                    if stored > 0 {
                        info!(stored, "drained queue");
                    }
                    backoff.reset();
                    None
                }
                Err(error) => {
                    warn!(error = %error, cause = ?error, "drain failed; retrying");
                    Some(backoff.next_delay())
                }
            };
            if shutdown.is_cancelled() {
                return;
            }
            match wait {
                Some(delay) => {
                    if !pause(delay, &shutdown).await {
                        return;
                    }
                }
                None => {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = trigger.woken() => {}
                        () = tokio::time::sleep(self.settings.poll_interval) => {}
                    }
                }
            }
        }
    }
}

/// Sleeps for `delay`; false when `shutdown` came first.
async fn pause(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(delay) => true,
    }
}

/// Exponential backoff: initial, 2x, 4x, ... capped at max.
#[derive(Debug)]
struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            next: initial,
        }
    }

    fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use domain::{LogEvent, LogEventDraft, Timestamp, TraceId};
    use mockall::Sequence;

    use super::*;
    use crate::ports::{MockLogQueue, MockLogStore, Receipt, Reservation};

    fn events(count: usize) -> Vec<LogEvent> {
        (0..count)
            .map(|i| {
                let draft = LogEventDraft {
                    service: "svc".into(),
                    level: "INFO".into(),
                    message: format!("event {i}"),
                    ..LogEventDraft::default()
                };
                LogEvent::from_draft(draft, Timestamp::now(), TraceId::generate()).unwrap()
            })
            .collect()
    }

    fn settings(batch_size: usize) -> DrainSettings {
        DrainSettings {
            batch_size: NonZeroUsize::new(batch_size).unwrap(),
            poll_interval: Duration::from_secs(5),
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn a_batch_is_reserved_inserted_and_acknowledged_in_that_order() {
        let batch = events(3);
        let expected_ids: Vec<_> = batch.iter().map(LogEvent::id).collect();
        let mut sequence = Sequence::new();
        let mut queue = MockLogQueue::new();
        let mut store = MockLogStore::new();
        queue
            .expect_reserve()
            .withf(|max| *max == 20)
            .times(1)
            .in_sequence(&mut sequence)
            .return_once(move |_| {
                Ok(Reservation {
                    events: batch,
                    receipt: Receipt::new(3),
                })
            });
        store
            .expect_insert()
            .withf(move |stored| {
                stored
                    .iter()
                    .map(LogEvent::id)
                    .eq(expected_ids.iter().copied())
            })
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_| Ok(()));
        queue
            .expect_acknowledge()
            .withf(|receipt| receipt.token() == 3)
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_| Ok(()));
        queue.expect_release().times(0);
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(20));

        assert_eq!(use_case.drain_batch().await.unwrap(), 3);
    }

    #[tokio::test]
    async fn an_empty_queue_touches_neither_store_nor_acknowledgement() {
        let mut queue = MockLogQueue::new();
        queue
            .expect_reserve()
            .times(1)
            .returning(|_| Ok(Reservation::default()));
        queue.expect_acknowledge().times(0);
        let mut store = MockLogStore::new();
        store.expect_insert().times(0);
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(20));

        assert_eq!(use_case.drain_batch().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_store_failure_releases_the_batch_instead_of_acknowledging_it() {
        let mut queue = MockLogQueue::new();
        queue.expect_reserve().times(1).returning(|_| {
            Ok(Reservation {
                events: events(2),
                receipt: Receipt::new(2),
            })
        });
        queue.expect_acknowledge().times(0);
        queue
            .expect_release()
            .withf(|receipt| receipt.token() == 2)
            .times(1)
            .returning(|_| Ok(()));
        let mut store = MockLogStore::new();
        store
            .expect_insert()
            .times(1)
            .returning(|_| Err(StoreError::Unavailable("connection refused".into())));
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(20));

        let error = use_case.drain_batch().await.unwrap_err();

        assert!(
            matches!(
                error,
                DrainError::Store {
                    batch: 2,
                    released: true,
                    source: StoreError::Unavailable(_)
                }
            ),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_failed_release_is_reported_and_the_batch_is_not_acknowledged() {
        let mut queue = MockLogQueue::new();
        queue.expect_reserve().times(1).returning(|_| {
            Ok(Reservation {
                events: events(1),
                receipt: Receipt::new(1),
            })
        });
        queue.expect_acknowledge().times(0);
        queue
            .expect_release()
            .times(1)
            .returning(|_| Err(QueueError::Unavailable("gone".into())));
        let mut store = MockLogStore::new();
        store
            .expect_insert()
            .times(1)
            .returning(|_| Err(StoreError::Rejected("bad row".into())));
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(20));

        let error = use_case.drain_batch().await.unwrap_err();

        assert!(
            matches!(
                error,
                DrainError::Store {
                    released: false,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_queue_failure_while_reserving_is_reported_and_nothing_is_inserted() {
        let mut queue = MockLogQueue::new();
        queue
            .expect_reserve()
            .times(1)
            .returning(|_| Err(QueueError::Unavailable("down".into())));
        let mut store = MockLogStore::new();
        store.expect_insert().times(0);
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(20));

        assert!(matches!(
            use_case.drain_batch().await,
            Err(DrainError::Queue(QueueError::Unavailable(_)))
        ));
    }

    #[tokio::test]
    async fn draining_until_empty_stops_after_a_short_batch() {
        let mut queue = MockLogQueue::new();
        let sizes = Arc::new(AtomicUsize::new(0));
        let calls = Arc::clone(&sizes);
        queue.expect_reserve().times(3).returning(move |max| {
            let count = match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => max,
                _ => 1,
            };
            Ok(Reservation {
                events: events(count),
                receipt: Receipt::new(count as u64),
            })
        });
        queue.expect_acknowledge().times(3).returning(|_| Ok(()));
        let mut store = MockLogStore::new();
        store.expect_insert().times(3).returning(|_| Ok(()));
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(2));

        assert_eq!(
            use_case
                .drain_until_empty(&CancellationToken::new())
                .await
                .unwrap(),
            5
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_recovers_first_then_drains_on_a_signal_and_stops_on_shutdown() {
        let mut queue = MockLogQueue::new();
        let mut sequence = Sequence::new();
        queue
            .expect_recover_unacknowledged()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|| Ok(4));
        // First pass at start finds nothing; the signalled pass finds one event.
        queue
            .expect_reserve()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_| Ok(Reservation::default()));
        queue
            .expect_reserve()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_| {
                Ok(Reservation {
                    events: events(1),
                    receipt: Receipt::new(1),
                })
            });
        queue.expect_acknowledge().times(1).returning(|_| Ok(()));
        let mut store = MockLogStore::new();
        store.expect_insert().times(1).returning(|_| Ok(()));
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(20));
        let trigger = DrainTrigger::new();
        let shutdown = CancellationToken::new();

        let running = tokio::spawn({
            let (trigger, shutdown) = (trigger.clone(), shutdown.clone());
            async move { use_case.run(trigger, shutdown).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        trigger.wake();
        tokio::time::sleep(Duration::from_millis(10)).await;
        shutdown.cancel();

        // Dropping the mocks inside the finished task verifies their call counts.
        tokio::time::timeout(Duration::from_secs(1), running)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_signal_the_loop_drains_again_after_the_poll_interval() {
        let mut queue = MockLogQueue::new();
        queue
            .expect_recover_unacknowledged()
            .times(1)
            .returning(|| Ok(0));
        queue
            .expect_reserve()
            .times(2)
            .returning(|_| Ok(Reservation::default()));
        let use_case =
            DrainUseCase::new(Arc::new(queue), Arc::new(MockLogStore::new()), settings(20));
        let shutdown = CancellationToken::new();

        let running = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { use_case.run(DrainTrigger::new(), shutdown).await }
        });
        tokio::time::sleep(Duration::from_millis(5_100)).await;
        shutdown.cancel();

        tokio::time::timeout(Duration::from_secs(1), running)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_failed_batch_the_loop_retries_after_a_backoff_not_the_poll_interval() {
        let mut queue = MockLogQueue::new();
        let mut sequence = Sequence::new();
        queue
            .expect_recover_unacknowledged()
            .times(1)
            .returning(|| Ok(0));
        queue
            .expect_reserve()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_| {
                Ok(Reservation {
                    events: events(1),
                    receipt: Receipt::new(1),
                })
            });
        queue
            .expect_reserve()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_| {
                Ok(Reservation {
                    events: events(1),
                    receipt: Receipt::new(1),
                })
            });
        queue.expect_release().times(1).returning(|_| Ok(()));
        queue.expect_acknowledge().times(1).returning(|_| Ok(()));
        let mut store = MockLogStore::new();
        let mut store_sequence = Sequence::new();
        store
            .expect_insert()
            .times(1)
            .in_sequence(&mut store_sequence)
            .returning(|_| Err(StoreError::Unavailable("down".into())));
        store
            .expect_insert()
            .times(1)
            .in_sequence(&mut store_sequence)
            .returning(|_| Ok(()));
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(20));
        let shutdown = CancellationToken::new();

        let running = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { use_case.run(DrainTrigger::new(), shutdown).await }
        });
        // Well before the 5 s poll interval: only the 100 ms backoff can explain the second pass.
        tokio::time::sleep(Duration::from_millis(150)).await;
        shutdown.cancel();

        tokio::time::timeout(Duration::from_secs(1), running)
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let delays: Vec<_> = (0..4).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 350, 350]);
        backoff.reset();
        assert_eq!(backoff.next_delay().as_millis(), 100);
    }
}
