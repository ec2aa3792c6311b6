//! Moving events from the queue into the store, in batches, at least once.
//!
//! A pass reserves a batch, inserts it and acknowledges it; while a full batch is being inserted
//! the next one is already reserved, so reading Redis overlaps writing ClickHouse. A short batch
//! waits until its oldest event has waited `batch_timeout`, so a trickle of events still makes
//! few, larger inserts; under steady traffic (a short batch already holding `busy_batch_events`)
//! it waits up to `busy_batch_timeout`, since every insert costs ClickHouse a new part whatever
//! its size. A batch the store refuses for its content is split in halves until the
//! refused events are isolated; those go to the dead-letter list and the rest is stored. Beside
//! the drain loop, a maintenance loop renews this worker's lease and reclaims the batches of
//! workers whose lease ran out. After a failed pass, the next one first puts back whatever this
//! worker still holds (a batch it could not release, or one a timed-out `reserve` took anyway).
//!
//! Delivery is at least once, but a retry adds no copy: a batch whose insert outcome was unknown,
//! and events put back after a crash, are stored through the store's look-up by id
//! ([`LogWriter::insert_unless_stored`], see [`crate::doubts`]); every first attempt is a plain
//! insert.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use domain::{LogEvent, Timestamp};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::backoff::Backoff;
use crate::doubts::Doubts;
use crate::ports::{LogWriter, QueueConsumer, QueueError, Reservation, StoreError};

/// How the worker drains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainSettings {
    /// Most events per store insert.
    pub batch_size: NonZeroUsize,
    /// How long the oldest waiting event may wait for a batch to fill before a short batch is
    /// stored anyway. Zero stores whatever is there at once.
    pub batch_timeout: Duration,
    /// A short batch holding at least this many events comes from steady traffic: it waits up
    /// to `busy_batch_timeout` instead of `batch_timeout`.
    pub busy_batch_events: u64,
    /// How long the oldest event of a busy short batch may wait (at least `batch_timeout`).
    pub busy_batch_timeout: Duration,
    /// How long the worker sleeps when nobody signals it.
    pub poll_interval: Duration,
    /// First wait after a failed batch; doubled on each further failure, with jitter.
    pub retry_initial: Duration,
    /// Longest wait between retries.
    pub retry_max: Duration,
    /// How often the worker renews its lease on the queue (well under the lease's length).
    pub heartbeat_interval: Duration,
    /// How often the worker looks for batches of workers whose lease ran out.
    pub reclaim_interval: Duration,
}

impl Default for DrainSettings {
    fn default() -> Self {
        Self {
            batch_size: NonZeroUsize::new(20_000).unwrap_or(NonZeroUsize::MIN),
            batch_timeout: Duration::from_millis(50),
            busy_batch_events: 100,
            busy_batch_timeout: Duration::from_millis(200),
            poll_interval: Duration::from_secs(5),
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(5),
            reclaim_interval: Duration::from_secs(10),
        }
    }
}

/// Why a drain stopped early. Events of a failed batch were released back to the queue unless
/// `released` says otherwise (then the worker's loop puts them back before its next pass; a
/// worker that died first gets them back at its next start, or another worker once the lease
/// runs out).
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

/// What one stored batch came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainOutcome {
    /// Events now in the store.
    pub stored: usize,
    /// Events the store refused for their content, now in the dead-letter list.
    pub dead_lettered: usize,
}

impl DrainOutcome {
    fn total(self) -> usize {
        self.stored + self.dead_lettered
    }
}

impl std::ops::AddAssign for DrainOutcome {
    fn add_assign(&mut self, other: Self) {
        self.stored += other.stored;
        self.dead_lettered += other.dead_lettered;
    }
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
    queue: Arc<dyn QueueConsumer>,
    store: Arc<dyn LogWriter>,
    settings: DrainSettings,
    doubts: Arc<Doubts>,
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
        queue: Arc<dyn QueueConsumer>,
        store: Arc<dyn LogWriter>,
        settings: DrainSettings,
    ) -> Self {
        Self {
            queue,
            store,
            settings,
            doubts: Arc::default(),
        }
    }

    fn batch_size(&self) -> usize {
        self.settings.batch_size.get()
    }

    /// Stores one batch of at most `batch_size` events: reserve, insert, acknowledge. Returns what
    /// became of it (nothing when the queue is empty). On a store failure the batch is released.
    pub async fn drain_batch(&self) -> Result<DrainOutcome, DrainError> {
        let reservation = self.queue.reserve(self.batch_size()).await?;
        self.store_reserved(reservation).await
    }

    /// Inserts a reserved batch and acknowledges it; isolates and dead-letters events the store
    /// refuses for their content; releases the batch when the store cannot be reached.
    async fn store_reserved(&self, reservation: Reservation) -> Result<DrainOutcome, DrainError> {
        let batch = reservation.events.len();
        if batch == 0 {
            return Ok(DrainOutcome::default());
        }
        // Delivered before (by the queue's count, whoever delivered them) or of a batch whose
        // insert by this worker had an unknown outcome: the insert may have happened.
        let retry = reservation.redelivered > 0 || self.doubts.is_retry(&reservation.events);
        let outcome = match self.insert(&reservation.events, retry).await {
            Ok(()) => Ok(DrainOutcome {
                stored: batch,
                dead_lettered: 0,
            }),
            Err(StoreError::Rejected(cause)) => {
                warn!(batch, cause = %cause, "store refused a batch; isolating the refused events");
                self.isolate_refused(&reservation.events, retry).await
            }
            Err(other) => Err(other),
        };
        match outcome {
            Ok(outcome) => {
                if let Err(error) = self.queue.acknowledge(reservation.receipt).await {
                    // Stored, but still reserved: it comes back after a restart or a reclaim.
                    self.doubts.outcome_unknown(&reservation.events);
                    return Err(error.into());
                }
                self.doubts.settled(&reservation.events);
                debug!(
                    stored = outcome.stored,
                    dead_lettered = outcome.dead_lettered,
                    "stored batch"
                );
                Ok(outcome)
            }
            Err(source) => {
                // A timeout or a dropped connection leaves the insert's outcome unknown; so does
                // an outage after some parts of a refused batch were stored.
                self.doubts.outcome_unknown(&reservation.events);
                let released = match self.queue.release(reservation.receipt).await {
                    Ok(()) => true,
                    Err(error) => {
                        warn!(error = %error, batch, "failed batch not released; it is recovered later");
                        false
                    }
                };
                Err(DrainError::Store {
                    batch,
                    released,
                    source,
                })
            }
        }
    }

    /// Splits a refused batch in halves until every refused event stands alone; stores the rest
    /// and dead-letters those. Any other store failure aborts (the caller releases the batch; what
    /// was stored meanwhile may be stored again: delivery is at least once).
    async fn isolate_refused(
        &self,
        events: &[LogEvent],
        retry: bool,
    ) -> Result<DrainOutcome, StoreError> {
        let mut outcome = DrainOutcome::default();
        let mut parts: Vec<&[LogEvent]> = Vec::new();
        push_halves(&mut parts, events);
        while let Some(part) = parts.pop() {
            match self.insert(part, retry).await {
                Ok(()) => outcome.stored += part.len(),
                Err(StoreError::Rejected(cause)) if part.len() == 1 => {
                    let reason = describe(&*cause);
                    warn!(event_id = %part[0].id(), reason = %reason, "event refused by the store; dead-lettered");
                    self.queue
                        .dead_letter(part, &reason)
                        .await
                        .map_err(|error| StoreError::Unavailable(Box::new(error)))?;
                    outcome.dead_lettered += 1;
                }
                Err(StoreError::Rejected(_)) => push_halves(&mut parts, part),
                Err(other) => return Err(other),
            }
        }
        Ok(outcome)
    }

    /// A first attempt is a plain insert; a retry leaves out what is stored already.
    async fn insert(&self, events: &[LogEvent], retry: bool) -> Result<(), StoreError> {
        if !retry {
            return self.store.insert(events).await;
        }
        let inserted = self.store.insert_unless_stored(events).await?;
        if inserted < events.len() {
            info!(
                batch = events.len(),
                already_stored = events.len() - inserted,
                "retried batch was partly stored already; inserted only the rest"
            );
        }
        Ok(())
    }

    /// Waits until the waiting events make a batch worth storing: a full one, or one whose
    /// oldest event has waited `batch_timeout` (`busy_batch_timeout` once it holds
    /// `busy_batch_events`). False when nothing waits.
    async fn wait_for_batch(&self, shutdown: &CancellationToken) -> Result<bool, DrainError> {
        loop {
            let backlog = self.queue.backlog().await?;
            if backlog.depth == 0 {
                return Ok(false);
            }
            if backlog.depth >= self.batch_size() as u64 || self.settings.batch_timeout.is_zero() {
                return Ok(true);
            }
            let timeout = if backlog.depth >= self.settings.busy_batch_events {
                self.settings
                    .busy_batch_timeout
                    .max(self.settings.batch_timeout)
            } else {
                self.settings.batch_timeout
            };
            let waited = backlog
                .oldest_received_at
                .map(|received| {
                    Timestamp::now()
                        .unix_nanos()
                        .saturating_sub(received.unix_nanos())
                })
                .map_or(timeout, Duration::from_nanos);
            let Some(remaining) = timeout.checked_sub(waited).filter(|left| !left.is_zero()) else {
                return Ok(true);
            };
            // Looked at again at least every `batch_timeout`: a busy batch that fills up goes
            // without waiting out the rest of its timeout.
            tokio::select! {
                () = shutdown.cancelled() => return Ok(true),
                () = tokio::time::sleep(remaining.min(self.settings.batch_timeout)) => {}
            }
        }
    }

    /// Drains batch after batch until the queue runs dry or `shutdown` is cancelled; a batch that
    /// has started is always finished. While a full batch is inserted, the next is reserved.
    pub async fn drain_until_empty(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<DrainOutcome, DrainError> {
        let mut total = DrainOutcome::default();
        let mut prefetched: Option<Reservation> = None;
        loop {
            let current = match prefetched.take() {
                Some(reservation) => reservation,
                None => {
                    if shutdown.is_cancelled() || !self.wait_for_batch(shutdown).await? {
                        return Ok(total);
                    }
                    self.queue.reserve(self.batch_size()).await?
                }
            };
            if current.events.is_empty() {
                return Ok(total);
            }
            let full = current.events.len() == self.batch_size();
            let prefetch = async {
                if full && !shutdown.is_cancelled() {
                    Some(self.queue.reserve(self.batch_size()).await)
                } else {
                    None
                }
            };
            let (stored, next) = tokio::join!(self.store_reserved(current), prefetch);
            let next = next.transpose();
            match (stored, next) {
                (Ok(outcome), Ok(next)) => {
                    total += outcome;
                    prefetched = next;
                }
                (Err(error), Ok(Some(next))) => {
                    // The next batch goes back too, so that the queue keeps its order.
                    if let Err(release_error) = self.queue.release(next.receipt).await {
                        warn!(error = %release_error, "prefetched batch not released; it is recovered later");
                    }
                    return Err(error);
                }
                (Err(error), _) => return Err(error),
                (Ok(outcome), Err(error)) => {
                    total += outcome;
                    return Err(error.into());
                }
            }
        }
    }

    /// The worker's loop: takes its lease, recovers what a previous run left reserved, then drains
    /// whenever `trigger` wakes it or `poll_interval` passes, whichever comes first. Failures are
    /// retried with exponential backoff and jitter, each retry after putting back what this
    /// worker still holds. Meanwhile it renews its lease and reclaims the
    /// batches of workers whose lease ran out. Returns when `shutdown` is cancelled, after
    /// finishing the batch in progress.
    pub async fn run(&self, trigger: DrainTrigger, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(self.settings.retry_initial, self.settings.retry_max);
        loop {
            let started = async {
                self.queue.heartbeat().await?;
                self.queue.recover_unacknowledged().await
            };
            match started.await {
                Ok(recovered) => {
                    if recovered > 0 {
                        info!(recovered, "returned unacknowledged events to the queue");
                    }
                    break;
                }
                Err(error) => warn!(error = %error, cause = ?error, "queue not ready; retrying"),
            }
            if !pause(backoff.next_delay(), &shutdown).await {
                return;
            }
        }
        tokio::join!(
            self.drain_loop(&trigger, &shutdown),
            self.maintenance_loop(&trigger, &shutdown)
        );
    }

    async fn drain_loop(&self, trigger: &DrainTrigger, shutdown: &CancellationToken) {
        let mut backoff = Backoff::new(self.settings.retry_initial, self.settings.retry_max);
        let mut failed_before = false;
        loop {
            let pass = async {
                if failed_before {
                    self.recover_own_reservations().await?;
                }
                self.drain_until_empty(shutdown).await
            };
            let result = pass.await;
            failed_before = result.is_err();
            let wait = match result {
                Ok(outcome) => {
                    if outcome.total() > 0 {
                        info!(
                            stored = outcome.stored,
                            dead_lettered = outcome.dead_lettered,
                            "drained queue"
                        );
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
                    if !pause(delay, shutdown).await {
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

    /// After a failed pass nothing this worker reserved is in its hands any more, yet some may
    /// still be in its keeping: a batch whose release or acknowledgement failed, or one that a
    /// `reserve` which timed out took after the worker gave up waiting (a stalled queue runs
    /// the command when it resumes). Puts all of it back at the head of the queue now, instead
    /// of at the next start; the queue counts those events as redelivered, so whoever reserves
    /// them stores them through the look-up.
    async fn recover_own_reservations(&self) -> Result<(), DrainError> {
        let recovered = self.queue.recover_unacknowledged().await?;
        if recovered > 0 {
            info!(
                recovered,
                "returned events this worker still held after a failed pass to the queue"
            );
        }
        Ok(())
    }

    async fn maintenance_loop(&self, trigger: &DrainTrigger, shutdown: &CancellationToken) {
        let mut heartbeat = tokio::time::interval(self.settings.heartbeat_interval);
        let mut reclaim = tokio::time::interval(self.settings.reclaim_interval);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        reclaim.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = heartbeat.tick() => {
                    if let Err(error) = self.queue.heartbeat().await {
                        warn!(error = %error, cause = ?error, "lease not renewed");
                    }
                }
                _ = reclaim.tick() => match self.queue.reclaim_abandoned().await {
                    Ok(0) => {}
                    Ok(reclaimed) => {
                        info!(reclaimed, "reclaimed events of workers whose lease ran out");
                        trigger.wake();
                    }
                    Err(error) => warn!(error = %error, cause = ?error, "could not reclaim abandoned batches"),
                },
            }
        }
    }
}

fn push_halves<'a>(parts: &mut Vec<&'a [LogEvent]>, events: &'a [LogEvent]) {
    let (first, second) = events.split_at(events.len() / 2);
    // Popped last-in first-out: the first half is tried first, keeping the batch's order.
    parts.push(second);
    parts.push(first);
}

/// An error and its causes, for the dead-letter entry.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Sleeps for `delay`; false when `shutdown` came first.
async fn pause(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(delay) => true,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use domain::{EventId, LogEventDraft, TraceId};
    use mockall::Sequence;

    use super::*;
    use crate::ports::{Backlog, MockLogWriter, MockQueueConsumer, Receipt};

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

    fn reservation(count: usize, receipt: u64) -> Reservation {
        Reservation {
            events: events(count),
            receipt: Receipt::new(receipt),
            redelivered: 0,
        }
    }

    fn settings(batch_size: usize) -> DrainSettings {
        DrainSettings {
            batch_size: NonZeroUsize::new(batch_size).unwrap(),
            batch_timeout: Duration::ZERO,
            busy_batch_events: 100,
            busy_batch_timeout: Duration::ZERO,
            poll_interval: Duration::from_secs(5),
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(5),
            reclaim_interval: Duration::from_secs(10),
        }
    }

    fn backlog(depth: u64) -> Backlog {
        Backlog {
            depth,
            oldest_received_at: Some(Timestamp::now()),
        }
    }

    fn rejected() -> StoreError {
        StoreError::Rejected("Code: 395, value passed to throwIf is non zero".into())
    }

    #[tokio::test]
    async fn a_batch_is_reserved_inserted_and_acknowledged_in_that_order() {
        let batch = events(3);
        let expected_ids: Vec<_> = batch.iter().map(LogEvent::id).collect();
        let mut sequence = Sequence::new();
        let mut queue = MockQueueConsumer::new();
        let mut store = MockLogWriter::new();
        queue
            .expect_reserve()
            .withf(|max| *max == 20)
            .times(1)
            .in_sequence(&mut sequence)
            .return_once(move |_| {
                Ok(Reservation {
                    events: batch,
                    receipt: Receipt::new(7),
                    redelivered: 0,
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
            .withf(|receipt| receipt.token() == 7)
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_| Ok(()));
        queue.expect_release().times(0);
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(20));

        assert_eq!(
            use_case.drain_batch().await.unwrap(),
            DrainOutcome {
                stored: 3,
                dead_lettered: 0
            }
        );
    }

    #[tokio::test]
    async fn an_empty_queue_touches_neither_store_nor_acknowledgement() {
        let mut queue = MockQueueConsumer::new();
        queue
            .expect_reserve()
            .times(1)
            .returning(|_| Ok(Reservation::default()));
        queue.expect_acknowledge().times(0);
        let mut store = MockLogWriter::new();
        store.expect_insert().times(0);
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(20));

        assert_eq!(
            use_case.drain_batch().await.unwrap(),
            DrainOutcome::default()
        );
    }

    #[tokio::test]
    async fn an_unreachable_store_releases_the_batch_instead_of_acknowledging_it() {
        let mut queue = MockQueueConsumer::new();
        queue
            .expect_reserve()
            .times(1)
            .returning(|_| Ok(reservation(2, 2)));
        queue.expect_acknowledge().times(0);
        queue
            .expect_release()
            .withf(|receipt| receipt.token() == 2)
            .times(1)
            .returning(|_| Ok(()));
        let mut store = MockLogWriter::new();
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
    async fn a_batch_the_queue_counts_as_delivered_before_is_stored_through_the_look_up() {
        // E.g. released by another worker after an insert of unknown outcome: this worker has
        // never seen these events, only the queue knows.
        let mut queue = MockQueueConsumer::new();
        queue.expect_reserve().times(1).returning(|_| {
            Ok(Reservation {
                redelivered: 1,
                ..reservation(4, 5)
            })
        });
        queue
            .expect_acknowledge()
            .withf(|receipt| receipt.token() == 5)
            .times(1)
            .returning(|_| Ok(()));
        let mut store = MockLogWriter::new();
        store.expect_insert().times(0);
        store
            .expect_insert_unless_stored()
            .withf(|events| events.len() == 4)
            .times(1)
            .returning(|_| Ok(3));
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(20));

        assert_eq!(use_case.drain_batch().await.unwrap().stored, 4);
    }

    #[tokio::test]
    async fn after_an_insert_of_unknown_outcome_the_same_events_are_stored_through_the_look_up() {
        let batch = events(3);
        let again = batch.clone();
        let ids: Vec<_> = batch.iter().map(LogEvent::id).collect();
        let mut queue = MockQueueConsumer::new();
        let mut reserves = Sequence::new();
        queue
            .expect_reserve()
            .times(1)
            .in_sequence(&mut reserves)
            .return_once(move |_| {
                Ok(Reservation {
                    events: batch,
                    receipt: Receipt::new(1),
                    redelivered: 0,
                })
            });
        queue
            .expect_reserve()
            .times(1)
            .in_sequence(&mut reserves)
            .return_once(move |_| {
                Ok(Reservation {
                    events: again,
                    receipt: Receipt::new(2),
                    redelivered: 0,
                })
            });
        queue
            .expect_reserve()
            .times(1)
            .in_sequence(&mut reserves)
            .returning(|_| Ok(reservation(2, 3)));
        queue
            .expect_release()
            .withf(|receipt| receipt.token() == 1)
            .times(1)
            .returning(|_| Ok(()));
        queue.expect_acknowledge().times(2).returning(|_| Ok(()));
        let mut store = MockLogWriter::new();
        let mut inserts = Sequence::new();
        store
            .expect_insert()
            .times(1)
            .in_sequence(&mut inserts)
            .returning(|_| Err(StoreError::Unavailable("timed out".into())));
        store
            .expect_insert_unless_stored()
            .withf(move |events| events.iter().map(LogEvent::id).eq(ids.iter().copied()))
            .times(1)
            .in_sequence(&mut inserts)
            .returning(|_| Ok(1));
        // Once the retry is acknowledged, the next (new) batch is a plain insert again.
        store
            .expect_insert()
            .times(1)
            .in_sequence(&mut inserts)
            .returning(|_| Ok(()));
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(20));

        assert!(use_case.drain_batch().await.is_err());
        assert_eq!(use_case.drain_batch().await.unwrap().stored, 3);
        assert_eq!(use_case.drain_batch().await.unwrap().stored, 2);
    }

    #[tokio::test]
    async fn a_failed_release_is_reported_and_the_batch_is_not_acknowledged() {
        let mut queue = MockQueueConsumer::new();
        queue
            .expect_reserve()
            .times(1)
            .returning(|_| Ok(reservation(1, 1)));
        queue.expect_acknowledge().times(0);
        queue
            .expect_release()
            .times(1)
            .returning(|_| Err(QueueError::Unavailable("gone".into())));
        let mut store = MockLogWriter::new();
        store
            .expect_insert()
            .times(1)
            .returning(|_| Err(StoreError::Failed("permission denied".into())));
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
        let mut queue = MockQueueConsumer::new();
        queue
            .expect_reserve()
            .times(1)
            .returning(|_| Err(QueueError::Unavailable("down".into())));
        let mut store = MockLogWriter::new();
        store.expect_insert().times(0);
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(20));

        assert!(matches!(
            use_case.drain_batch().await,
            Err(DrainError::Queue(QueueError::Unavailable(_)))
        ));
    }

    #[tokio::test]
    async fn a_poison_event_is_isolated_dead_lettered_and_the_rest_of_its_batch_stored() {
        let batch = events(4);
        let poison: EventId = batch[1].id();
        let mut queue = MockQueueConsumer::new();
        queue.expect_reserve().times(1).return_once(move |_| {
            Ok(Reservation {
                events: batch,
                receipt: Receipt::new(9),
                redelivered: 0,
            })
        });
        queue
            .expect_dead_letter()
            .withf(move |events, reason| {
                events.len() == 1 && events[0].id() == poison && reason.contains("Code: 395")
            })
            .times(1)
            .returning(|_, _| Ok(()));
        queue
            .expect_acknowledge()
            .withf(|receipt| receipt.token() == 9)
            .times(1)
            .returning(|_| Ok(()));
        queue.expect_release().times(0);
        let stored = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&stored);
        let mut store = MockLogWriter::new();
        // The whole batch, then [0,1] (refused), [0], [1] (refused), [2,3].
        store.expect_insert().times(5).returning(move |events| {
            if events.iter().any(|event| event.id() == poison) {
                Err(rejected())
            } else {
                counted.fetch_add(events.len(), Ordering::SeqCst);
                Ok(())
            }
        });
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(20));

        let outcome = use_case.drain_batch().await.unwrap();

        assert_eq!(
            outcome,
            DrainOutcome {
                stored: 3,
                dead_lettered: 1
            }
        );
        assert_eq!(
            stored.load(Ordering::SeqCst),
            3,
            "every event but the poison reached the store once"
        );
    }

    #[tokio::test]
    async fn an_outage_while_isolating_a_refused_batch_releases_it_whole() {
        let mut queue = MockQueueConsumer::new();
        queue
            .expect_reserve()
            .times(1)
            .returning(|_| Ok(reservation(4, 3)));
        queue.expect_dead_letter().times(0);
        queue.expect_acknowledge().times(0);
        queue
            .expect_release()
            .withf(|receipt| receipt.token() == 3)
            .times(1)
            .returning(|_| Ok(()));
        let mut store = MockLogWriter::new();
        let mut sequence = Sequence::new();
        store
            .expect_insert()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_| Err(rejected()));
        store
            .expect_insert()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_| Err(StoreError::Unavailable("timeout".into())));
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(20));

        let error = use_case.drain_batch().await.unwrap_err();

        assert!(matches!(
            error,
            DrainError::Store {
                released: true,
                source: StoreError::Unavailable(_),
                ..
            }
        ));
    }

    #[tokio::test]
    async fn draining_reserves_the_next_full_batch_while_storing_and_stops_when_the_queue_is_dry() {
        let mut queue = MockQueueConsumer::new();
        let mut backlog_sequence = Sequence::new();
        queue
            .expect_backlog()
            .times(1)
            .in_sequence(&mut backlog_sequence)
            .returning(|| Ok(backlog(5)));
        queue
            .expect_backlog()
            .times(1)
            .in_sequence(&mut backlog_sequence)
            .returning(|| Ok(Backlog::default()));
        let reserves = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&reserves);
        queue
            .expect_reserve()
            .withf(|max| *max == 2)
            .times(3)
            .returning(move |max| {
                let count = match counter.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => max,
                    _ => 1,
                };
                Ok(reservation(count, count as u64))
            });
        queue.expect_acknowledge().times(3).returning(|_| Ok(()));
        let mut store = MockLogWriter::new();
        store.expect_insert().times(3).returning(|_| Ok(()));
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(2));

        let outcome = use_case
            .drain_until_empty(&CancellationToken::new())
            .await
            .unwrap();

        assert_eq!(outcome.stored, 5);
    }

    #[tokio::test]
    async fn when_a_batch_fails_the_prefetched_next_batch_is_released_too() {
        let mut queue = MockQueueConsumer::new();
        queue.expect_backlog().times(1).returning(|| Ok(backlog(4)));
        let mut reserve_sequence = Sequence::new();
        queue
            .expect_reserve()
            .times(1)
            .in_sequence(&mut reserve_sequence)
            .returning(|_| Ok(reservation(2, 1)));
        queue
            .expect_reserve()
            .times(1)
            .in_sequence(&mut reserve_sequence)
            .returning(|_| Ok(reservation(2, 2)));
        queue
            .expect_release()
            .withf(|receipt| receipt.token() == 1)
            .times(1)
            .returning(|_| Ok(()));
        queue
            .expect_release()
            .withf(|receipt| receipt.token() == 2)
            .times(1)
            .returning(|_| Ok(()));
        queue.expect_acknowledge().times(0);
        let mut store = MockLogWriter::new();
        store
            .expect_insert()
            .times(1)
            .returning(|_| Err(StoreError::Unavailable("down".into())));
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(2));

        let error = use_case
            .drain_until_empty(&CancellationToken::new())
            .await
            .unwrap_err();

        assert!(
            matches!(error, DrainError::Store { released: true, .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_short_batch_waits_for_its_oldest_event_to_reach_the_batch_timeout() {
        let (queue, store) = stored_after_one_wait(1);
        let slow = DrainSettings {
            batch_timeout: Duration::from_millis(100),
            ..settings(50)
        };
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), slow);

        let outcome = use_case
            .drain_until_empty(&CancellationToken::new())
            .await
            .unwrap();

        assert_eq!(outcome.stored, 1);
    }

    #[tokio::test]
    async fn a_short_batch_below_the_busy_mark_goes_at_the_batch_timeout() {
        // One event short of busy: a wait for the busy timeout would have looked a third time
        // and found the queue empty.
        let (queue, store) = stored_after_one_wait(9);
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), busy_settings());

        let outcome = use_case
            .drain_until_empty(&CancellationToken::new())
            .await
            .unwrap();

        assert_eq!(outcome.stored, 9);
    }

    #[tokio::test]
    async fn a_short_batch_of_steady_traffic_waits_for_the_busy_timeout_looking_again_meanwhile() {
        let arrived = Timestamp::now();
        let started = std::time::Instant::now();
        let stored_at = Arc::new(std::sync::Mutex::new(None));
        let looks = Arc::new(AtomicUsize::new(0));
        let mut queue = MockQueueConsumer::new();
        queue.expect_backlog().returning({
            let (stored_at, looks) = (Arc::clone(&stored_at), Arc::clone(&looks));
            move || {
                looks.fetch_add(1, Ordering::SeqCst);
                if stored_at.lock().unwrap().is_some() {
                    return Ok(Backlog::default());
                }
                Ok(Backlog {
                    depth: 10,
                    oldest_received_at: Some(arrived),
                })
            }
        });
        queue
            .expect_reserve()
            .withf(|max| *max == 50)
            .times(1)
            .returning(|_| Ok(reservation(10, 1)));
        queue.expect_acknowledge().times(1).returning(|_| Ok(()));
        let mut store = MockLogWriter::new();
        store.expect_insert().times(1).returning({
            let stored_at = Arc::clone(&stored_at);
            move |_| {
                *stored_at.lock().unwrap() = Some(std::time::Instant::now());
                Ok(())
            }
        });
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), busy_settings());

        let outcome = use_case
            .drain_until_empty(&CancellationToken::new())
            .await
            .unwrap();

        assert_eq!(outcome.stored, 10);
        let waited = stored_at.lock().unwrap().unwrap().duration_since(started);
        assert!(
            waited >= Duration::from_millis(145),
            "stored after {waited:?}, before the busy timeout (150 ms)"
        );
        // On arrival, at least once in between (every `batch_timeout`), at the timeout, and
        // once more after storing.
        assert!(looks.load(Ordering::SeqCst) >= 4, "{looks:?}");
    }

    /// A queue holding `depth` events that just arrived, looked at twice (on arrival: too
    /// young, wait; after waiting: old enough, store) and then empty, whose batch is reserved
    /// and acknowledged once; and a store that takes one insert.
    fn stored_after_one_wait(depth: u64) -> (MockQueueConsumer, MockLogWriter) {
        let arrived = Timestamp::now();
        let mut queue = MockQueueConsumer::new();
        let mut sequence = Sequence::new();
        queue
            .expect_backlog()
            .times(2)
            .in_sequence(&mut sequence)
            .returning(move || {
                Ok(Backlog {
                    depth,
                    oldest_received_at: Some(arrived),
                })
            });
        queue
            .expect_backlog()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|| Ok(Backlog::default()));
        queue
            .expect_reserve()
            .times(1)
            .returning(move |_| Ok(reservation(depth as usize, 1)));
        queue.expect_acknowledge().times(1).returning(|_| Ok(()));
        let mut store = MockLogWriter::new();
        store.expect_insert().times(1).returning(|_| Ok(()));
        (queue, store)
    }

    /// Batches of 50; short ones wait 30 ms, or 150 ms from 10 events on.
    fn busy_settings() -> DrainSettings {
        DrainSettings {
            batch_timeout: Duration::from_millis(30),
            busy_batch_events: 10,
            busy_batch_timeout: Duration::from_millis(150),
            ..settings(50)
        }
    }

    fn quiet_maintenance(queue: &mut MockQueueConsumer) {
        queue.expect_heartbeat().times(1..).returning(|| Ok(()));
        queue
            .expect_reclaim_abandoned()
            .times(1..)
            .returning(|| Ok(0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_takes_its_lease_recovers_first_then_drains_on_a_signal_and_stops_on_shutdown()
    {
        let mut queue = MockQueueConsumer::new();
        quiet_maintenance(&mut queue);
        let mut sequence = Sequence::new();
        queue
            .expect_recover_unacknowledged()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|| Ok(4));
        // First pass at start finds nothing; the signalled pass finds one event.
        queue
            .expect_backlog()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|| Ok(Backlog::default()));
        queue
            .expect_backlog()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|| Ok(backlog(1)));
        queue
            .expect_reserve()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_| {
                Ok(Reservation {
                    redelivered: 1,
                    ..reservation(1, 1)
                })
            });
        queue
            .expect_backlog()
            .times(1)
            .returning(|| Ok(Backlog::default()));
        queue.expect_acknowledge().times(1).returning(|_| Ok(()));
        let mut store = MockLogWriter::new();
        // Recovered events were delivered before (the queue says so): stored through the look-up.
        store
            .expect_insert_unless_stored()
            .times(1)
            .returning(|events| Ok(events.len()));
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
    async fn events_the_queue_counts_as_redelivered_are_stored_through_the_look_up_and_later_ones_are_not()
     {
        let mut queue = MockQueueConsumer::new();
        quiet_maintenance(&mut queue);
        queue
            .expect_recover_unacknowledged()
            .times(1)
            .returning(|| Ok(3));
        let mut backlogs = Sequence::new();
        queue
            .expect_backlog()
            .times(3)
            .in_sequence(&mut backlogs)
            .returning(|| Ok(backlog(2)));
        queue
            .expect_backlog()
            .times(0..)
            .in_sequence(&mut backlogs)
            .returning(|| Ok(Backlog::default()));
        // The three recovered events fill the first batch and half the second.
        let mut redelivered = [2, 1, 0].into_iter();
        queue.expect_reserve().times(3).returning(move |_| {
            Ok(Reservation {
                redelivered: redelivered.next().unwrap_or(0),
                ..reservation(2, 1)
            })
        });
        queue.expect_acknowledge().times(3).returning(|_| Ok(()));
        let mut store = MockLogWriter::new();
        store
            .expect_insert_unless_stored()
            .times(2)
            .returning(|events| Ok(events.len()));
        store.expect_insert().times(1).returning(|_| Ok(()));
        // Batches of two in a batch size of three: none is full, so none is prefetched.
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(3));
        let shutdown = CancellationToken::new();

        let running = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { use_case.run(DrainTrigger::new(), shutdown).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        shutdown.cancel();

        tokio::time::timeout(Duration::from_secs(1), running)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_signal_the_loop_drains_again_after_the_poll_interval() {
        let mut queue = MockQueueConsumer::new();
        quiet_maintenance(&mut queue);
        queue
            .expect_recover_unacknowledged()
            .times(1)
            .returning(|| Ok(0));
        queue
            .expect_backlog()
            .times(2)
            .returning(|| Ok(Backlog::default()));
        let use_case = DrainUseCase::new(
            Arc::new(queue),
            Arc::new(MockLogWriter::new()),
            settings(20),
        );
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
        let mut queue = MockQueueConsumer::new();
        quiet_maintenance(&mut queue);
        let mut sequence = Sequence::new();
        queue
            .expect_recover_unacknowledged()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|| Ok(0));
        queue
            .expect_backlog()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|| Ok(backlog(1)));
        queue
            .expect_reserve()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_| Ok(reservation(1, 1)));
        queue
            .expect_release()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_| Ok(()));
        // The retry first makes sure this worker holds nothing (the release worked: nothing).
        queue
            .expect_recover_unacknowledged()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|| Ok(0));
        queue
            .expect_backlog()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|| Ok(backlog(1)));
        queue
            .expect_reserve()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_| Ok(reservation(1, 2)));
        queue
            .expect_acknowledge()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_| Ok(()));
        queue
            .expect_backlog()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|| Ok(Backlog::default()));
        let mut store = MockLogWriter::new();
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
        // Well before the 5 s poll interval: only the (at most 100 ms) backoff explains the retry.
        tokio::time::sleep(Duration::from_millis(150)).await;
        shutdown.cancel();

        tokio::time::timeout(Duration::from_secs(1), running)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_reserve_that_failed_the_next_pass_first_puts_back_what_this_worker_holds() {
        let mut queue = MockQueueConsumer::new();
        quiet_maintenance(&mut queue);
        let mut sequence = Sequence::new();
        queue
            .expect_recover_unacknowledged()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|| Ok(0));
        queue
            .expect_backlog()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|| Ok(backlog(2)));
        // The reserve timed out; the queue ran it anyway once it resumed, so two events sit in
        // this worker's keeping that it never saw.
        queue
            .expect_reserve()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_| Err(QueueError::Unavailable("timed out".into())));
        queue
            .expect_recover_unacknowledged()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|| Ok(2));
        queue
            .expect_backlog()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|| Ok(backlog(2)));
        queue
            .expect_reserve()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_| {
                Ok(Reservation {
                    redelivered: 2,
                    ..reservation(2, 7)
                })
            });
        queue
            .expect_acknowledge()
            .times(1)
            .in_sequence(&mut sequence)
            .withf(|receipt| receipt.token() == 7)
            .returning(|_| Ok(()));
        queue
            .expect_backlog()
            .times(0..)
            .in_sequence(&mut sequence)
            .returning(|| Ok(Backlog::default()));
        let mut store = MockLogWriter::new();
        // Put back and counted by the queue as redelivered: stored through the look-up.
        store
            .expect_insert_unless_stored()
            .times(1)
            .withf(|events| events.len() == 2)
            .returning(|events| Ok(events.len()));
        store.expect_insert().times(0);
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(20));
        let shutdown = CancellationToken::new();

        let running = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { use_case.run(DrainTrigger::new(), shutdown).await }
        });
        // Within the first backoff (at most 100 ms), long before the 5 s poll interval.
        tokio::time::sleep(Duration::from_millis(150)).await;
        shutdown.cancel();

        tokio::time::timeout(Duration::from_secs(1), running)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn reclaimed_batches_of_a_dead_worker_wake_the_drain_loop() {
        let mut queue = MockQueueConsumer::new();
        queue.expect_heartbeat().times(1..).returning(|| Ok(()));
        queue
            .expect_recover_unacknowledged()
            .times(1)
            .returning(|| Ok(0));
        let mut reclaim_sequence = Sequence::new();
        queue
            .expect_reclaim_abandoned()
            .times(1)
            .in_sequence(&mut reclaim_sequence)
            .returning(|| Ok(0));
        queue
            .expect_reclaim_abandoned()
            .times(1)
            .in_sequence(&mut reclaim_sequence)
            .returning(|| Ok(3));
        queue
            .expect_reclaim_abandoned()
            .times(0..)
            .in_sequence(&mut reclaim_sequence)
            .returning(|| Ok(0));
        let mut backlog_sequence = Sequence::new();
        queue
            .expect_backlog()
            .times(1)
            .in_sequence(&mut backlog_sequence)
            .returning(|| Ok(Backlog::default()));
        queue
            .expect_backlog()
            .times(1)
            .in_sequence(&mut backlog_sequence)
            .returning(|| Ok(backlog(3)));
        queue
            .expect_backlog()
            .times(0..)
            .in_sequence(&mut backlog_sequence)
            .returning(|| Ok(Backlog::default()));
        queue
            .expect_reserve()
            .times(1)
            .returning(|_| Ok(reservation(3, 1)));
        queue.expect_acknowledge().times(1).returning(|_| Ok(()));
        let mut store = MockLogWriter::new();
        store.expect_insert().times(1).returning(|_| Ok(()));
        let use_case = DrainUseCase::new(Arc::new(queue), Arc::new(store), settings(20));
        let shutdown = CancellationToken::new();

        let running = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { use_case.run(DrainTrigger::new(), shutdown).await }
        });
        // The second reclaim tick (10 s) finds a dead worker's events, before the 15 s poll.
        tokio::time::sleep(Duration::from_millis(10_500)).await;
        shutdown.cancel();

        tokio::time::timeout(Duration::from_secs(1), running)
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn dead_letter_reasons_carry_the_whole_cause_chain() {
        let error = StoreError::Rejected("Code: 395".into());
        assert_eq!(describe(&error), "store rejected the data: Code: 395");
    }
}
