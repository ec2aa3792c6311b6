//! The live tail: one shared poller per query service reads newly stored events from the store
//! once per tick and hands them to every subscriber over a broadcast channel; each subscriber
//! keeps the events its filter matches. However many clients follow the tail, the store sees
//! one query per tick.
//!
//! New means newly received: the poller follows `(observed_timestamp, id)`. Events reach the
//! store some time after they were received (queue, batching), not always in receive order, so
//! each poll looks `lookback` back and skips the events it has already handed out.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use domain::{Cursor, EventId, Filter, LogEvent, SortOrder, Timestamp};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::ports::{ArrivalWindow, LogReader, StoreError};

/// How the live tail polls and talks to its subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailSettings {
    /// Time between two polls of the store.
    pub poll_interval: Duration,
    /// Time between two heartbeats on every subscription.
    pub heartbeat_interval: Duration,
    /// How long after its receipt an event may reach the store and still be tailed.
    pub lookback: Duration,
    /// How far an event's own time may lie before its receipt for it to be tailed (events
    /// backdated further are stored and queryable, but not tailed); lets the store skip old
    /// data on every poll.
    pub max_backdate: Duration,
    /// Most events one poll query reads; a full answer is followed by another at once.
    pub batch_size: u32,
    /// Events a subscriber may fall behind before it skips some (and is told how many).
    pub buffer: usize,
}

impl Default for TailSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(500),
            heartbeat_interval: Duration::from_secs(15),
            lookback: Duration::from_secs(10),
            max_backdate: Duration::from_secs(3600),
            batch_size: 1000,
            buffer: 10_000,
        }
    }
}

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailItem {
    /// A matching event.
    Log(LogEvent),
    /// Nothing new; the connection is alive. Carries the current time.
    Heartbeat(Timestamp),
    /// The subscriber fell behind and this many new events (matching or not) were skipped.
    Skipped(u64),
}

/// The poller and its subscribers. The poller runs while anybody subscribes.
pub(crate) struct TailHub {
    store: Arc<dyn LogReader>,
    settings: TailSettings,
    sender: broadcast::Sender<Arc<LogEvent>>,
    poller_running: Mutex<bool>,
    shutdown: CancellationToken,
}

impl TailHub {
    pub(crate) fn new(
        store: Arc<dyn LogReader>,
        settings: TailSettings,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let (sender, _) = broadcast::channel(settings.buffer.max(1));
        Arc::new(Self {
            store,
            settings,
            sender,
            poller_running: Mutex::new(false),
            shutdown,
        })
    }

    /// A subscription to events newly stored from now on, plus, when the filter has a `from`,
    /// the stored events from then on first. The first page of those is read here, so a store
    /// failure is reported before anything is streamed.
    pub(crate) async fn subscribe(
        self: &Arc<Self>,
        filter: Filter,
    ) -> Result<TailSubscription, StoreError> {
        let receiver = {
            let mut running = self
                .poller_running
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let receiver = self.sender.subscribe();
            if !*running {
                *running = true;
                // Events received from now on are new to this subscriber.
                tokio::spawn(Arc::clone(self).poll_while_subscribed(Timestamp::now()));
            }
            receiver
        };
        let subscribed_at = Timestamp::now();
        let mut subscription = TailSubscription {
            store: Arc::clone(&self.store),
            backfill: filter.from().map(|_| backfill_filter(&filter, None)),
            filter,
            receiver,
            pending: VecDeque::new(),
            backfilled_recently: HashSet::new(),
            last_backfilled: None,
            recent_after: Timestamp::from_unix_nanos(
                subscribed_at
                    .unix_nanos()
                    .saturating_sub(duration_nanos(self.settings.lookback) * 2),
            ),
            heartbeat: heartbeat_timer(self.settings.heartbeat_interval),
            shutdown: self.shutdown.clone(),
        };
        subscription.read_backfill_page().await?;
        Ok(subscription)
    }

    /// The poller: polls once per tick until nobody subscribes any more (or shutdown). Events
    /// received before `started_at` are not new.
    async fn poll_while_subscribed(self: Arc<Self>, started_at: Timestamp) {
        let mut state = PollState::new(started_at);
        let mut ticks = tokio::time::interval(self.settings.poll_interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        debug!("tail poller started");
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                _ = ticks.tick() => {}
            }
            {
                let mut running = self
                    .poller_running
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if self.sender.receiver_count() == 0 {
                    *running = false;
                    debug!("tail poller stopped: no subscribers");
                    return;
                }
            }
            if let Err(error) = self.poll_once(&mut state).await {
                warn!(error = %error, cause = ?std::error::Error::source(&error), "tail poll failed");
            }
        }
        *self
            .poller_running
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = false;
    }

    /// Reads everything received since the last poll (and `lookback` before it) and hands out
    /// what was not handed out yet.
    async fn poll_once(&self, state: &mut PollState) -> Result<(), StoreError> {
        let lookback = duration_nanos(self.settings.lookback);
        let received_from =
            Timestamp::from_unix_nanos(state.watermark.unix_nanos().saturating_sub(lookback));
        let event_time_from = Timestamp::from_unix_nanos(
            received_from
                .unix_nanos()
                .saturating_sub(duration_nanos(self.settings.max_backdate)),
        );
        let mut after = None;
        loop {
            let window = ArrivalWindow {
                received_from,
                after,
                event_time_from,
                max: self.settings.batch_size,
            };
            let events = self.store.arrivals(&window).await?;
            let full = events.len() >= self.settings.batch_size as usize;
            after = events
                .last()
                .map(|event| (event.observed_timestamp(), event.id()));
            for event in events {
                if state.first_sighting(&event) {
                    // A closed channel only means nobody listens right now.
                    let _ = self.sender.send(Arc::new(event));
                }
            }
            if !full {
                break;
            }
        }
        state.forget_before(received_from);
        Ok(())
    }
}

/// What the poller remembers between polls.
struct PollState {
    /// Events received before this were there before the poller started: not new.
    started_at: Timestamp,
    /// The latest receive time seen.
    watermark: Timestamp,
    /// Events seen within the lookback window, oldest first, to skip them when seen again.
    seen: VecDeque<(Timestamp, EventId)>,
    seen_ids: HashSet<EventId>,
}

impl PollState {
    fn new(started_at: Timestamp) -> Self {
        Self {
            started_at,
            watermark: started_at,
            seen: VecDeque::new(),
            seen_ids: HashSet::new(),
        }
    }

    /// Records `event`; whether it is new and should be handed out.
    fn first_sighting(&mut self, event: &LogEvent) -> bool {
        if !self.seen_ids.insert(event.id()) {
            return false;
        }
        self.seen
            .push_back((event.observed_timestamp(), event.id()));
        self.watermark = self.watermark.max(event.observed_timestamp());
        event.observed_timestamp() >= self.started_at
    }

    fn forget_before(&mut self, received_from: Timestamp) {
        // Entries are roughly in receive order; a late one stays a little longer, harmlessly.
        while let Some((received, id)) = self.seen.front().copied() {
            if received >= received_from {
                break;
            }
            self.seen.pop_front();
            self.seen_ids.remove(&id);
        }
    }
}

/// One client's view of the tail.
pub struct TailSubscription {
    store: Arc<dyn LogReader>,
    filter: Filter,
    /// The next page of stored events to send before the live ones, while any remain.
    backfill: Option<Filter>,
    receiver: broadcast::Receiver<Arc<LogEvent>>,
    pending: VecDeque<LogEvent>,
    /// Events sent from the backfill that were received recently: the poller may hand them
    /// out again.
    backfilled_recently: HashSet<EventId>,
    /// The last event sent from the backfill, to skip its copies.
    last_backfilled: Option<EventId>,
    recent_after: Timestamp,
    heartbeat: tokio::time::Interval,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for TailSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TailSubscription")
            .field("filter", &self.filter)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl TailSubscription {
    /// The next item: stored events first (with `from`), then new matching events as they
    /// arrive, with a heartbeat whenever the heartbeat interval passes. `None` when the service
    /// shuts down. A store failure while reading the stored events ends them early, with an
    /// error; the live part goes on afterwards.
    pub async fn next(&mut self) -> Option<Result<TailItem, StoreError>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(TailItem::Log(event)));
            }
            if self.backfill.is_some() {
                if let Err(error) = self.read_backfill_page().await {
                    self.backfill = None;
                    return Some(Err(error));
                }
                continue;
            }
            tokio::select! {
                () = self.shutdown.cancelled() => return None,
                _ = self.heartbeat.tick() => {
                    return Some(Ok(TailItem::Heartbeat(Timestamp::now())));
                }
                received = self.receiver.recv() => match received {
                    Ok(event) => {
                        if self.filter.matches(&event)
                            && !self.backfilled_recently.contains(&event.id())
                        {
                            self.pending.push_back(LogEvent::clone(&event));
                        }
                    }
                    Err(RecvError::Lagged(skipped)) => return Some(Ok(TailItem::Skipped(skipped))),
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }

    /// Reads the next page of stored events into `pending`.
    async fn read_backfill_page(&mut self) -> Result<(), StoreError> {
        let Some(page_filter) = self.backfill.take() else {
            return Ok(());
        };
        let page = self.store.query(&page_filter.with_extra_row()).await?;
        let page_size = page_filter.limit().get() as usize;
        let next_page = (page.len() > page_size)
            .then(|| page.get(page_size - 1))
            .flatten()
            .map(|last| Cursor::after(last, SortOrder::Ascending));
        for event in page.into_iter().take(page_size) {
            // Copies of an event stored twice are neighbours; send it once.
            if self.last_backfilled == Some(event.id()) {
                continue;
            }
            self.last_backfilled = Some(event.id());
            if event.observed_timestamp() >= self.recent_after {
                self.backfilled_recently.insert(event.id());
            }
            self.pending.push_back(event);
        }
        if let Some(cursor) = next_page {
            self.backfill = Some(backfill_filter(&self.filter, Some(cursor)));
        }
        Ok(())
    }
}

/// The page of stored events after `cursor`, oldest first, that `filter` matches.
fn backfill_filter(filter: &Filter, cursor: Option<Cursor>) -> Filter {
    filter.clone().paged(SortOrder::Ascending, cursor)
}

fn heartbeat_timer(every: Duration) -> tokio::time::Interval {
    let every = every.max(Duration::from_millis(1));
    let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    timer
}

fn duration_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
