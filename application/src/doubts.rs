//! What a worker knows about events that may already be stored although their batch was never
//! acknowledged, so that it inserts them again only through the store's look-up
//! ([`crate::ports::LogWriter::insert_unless_stored`]) and never twice.
//!
//! Two things cause such doubt. An insert whose outcome is unknown (a timeout, a dropped
//! connection: the store may have finished it after the worker gave up) leaves the batch's ids
//! here until a later attempt of them is acknowledged. Events put back at the head of the queue
//! after a crash (recovered at start, reclaimed from a worker whose lease ran out) were delivered
//! before, to an insert that may have happened; the queue only says how many they are, so the
//! next that many events reserved count as retries. The first attempt of every other batch
//! stays a plain insert.

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};

use domain::{EventId, LogEvent};

/// How many batches of unknown outcome are remembered. Normally one or two (the batch being
/// stored and the prefetched one); a batch another worker took and stored is never seen again,
/// so the oldest are forgotten beyond this.
const REMEMBERED_BATCHES: usize = 16;

#[derive(Debug, Default)]
pub(crate) struct Doubts(Mutex<Inner>);

#[derive(Debug, Default)]
struct Inner {
    batches: VecDeque<HashSet<EventId>>,
    /// Events still to be reserved that were delivered before (recovered or reclaimed).
    redelivered: u64,
}

impl Doubts {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A batch whose insert may or may not have happened.
    pub(crate) fn outcome_unknown(&self, events: &[LogEvent]) {
        let mut inner = self.inner();
        inner
            .batches
            .push_back(events.iter().map(LogEvent::id).collect());
        while inner.batches.len() > REMEMBERED_BATCHES {
            inner.batches.pop_front();
        }
    }

    /// `count` events that were delivered before now wait at the head of the queue.
    pub(crate) fn redelivered(&self, count: u64) {
        let mut inner = self.inner();
        inner.redelivered = inner.redelivered.saturating_add(count);
    }

    /// Whether `events`, just reserved, must be stored as a retry: one of them is of a batch of
    /// unknown outcome, or redelivered events are still expected (they come first, so this batch
    /// holds some; it counts against them).
    pub(crate) fn is_retry(&self, events: &[LogEvent]) -> bool {
        let mut inner = self.inner();
        let known = events
            .iter()
            .any(|event| inner.batches.iter().any(|ids| ids.contains(&event.id())));
        let expected = inner.redelivered > 0;
        inner.redelivered = inner.redelivered.saturating_sub(events.len() as u64);
        known || expected
    }

    /// `events` are stored and acknowledged: no more doubt about them.
    pub(crate) fn settled(&self, events: &[LogEvent]) {
        let mut inner = self.inner();
        if inner.batches.is_empty() {
            return;
        }
        for ids in &mut inner.batches {
            for event in events {
                ids.remove(&event.id());
            }
        }
        inner.batches.retain(|ids| !ids.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use domain::{Level, Timestamp};

    use super::*;
    use crate::testing::sample_event;

    fn events(count: usize) -> Vec<LogEvent> {
        (0..count)
            .map(|_| sample_event("svc", Level::Info, "m", Timestamp::now()))
            .collect()
    }

    #[test]
    fn a_batch_of_unknown_outcome_is_a_retry_until_it_is_settled() {
        let doubts = Doubts::default();
        let batch = events(3);
        assert!(
            !doubts.is_retry(&batch),
            "a first attempt is a plain insert"
        );

        doubts.outcome_unknown(&batch);

        assert!(doubts.is_retry(&batch));
        assert!(
            doubts.is_retry(&batch[1..2]),
            "a batch holding any of its events, however cut"
        );
        assert!(!doubts.is_retry(&events(2)), "other events are not");
        doubts.settled(&batch);
        assert!(!doubts.is_retry(&batch));
    }

    #[test]
    fn redelivered_events_make_the_next_batches_retries_until_that_many_were_reserved() {
        let doubts = Doubts::default();
        doubts.redelivered(5);

        assert!(doubts.is_retry(&events(3)));
        assert!(doubts.is_retry(&events(3)), "two of the five were left");
        assert!(!doubts.is_retry(&events(3)));
    }

    #[test]
    fn only_the_latest_batches_of_unknown_outcome_are_remembered() {
        let doubts = Doubts::default();
        let first = events(1);
        doubts.outcome_unknown(&first);
        for _ in 0..REMEMBERED_BATCHES {
            doubts.outcome_unknown(&events(1));
        }

        assert!(!doubts.is_retry(&first));
    }
}
