//! What a worker knows about events that may already be stored although their batch was never
//! acknowledged, so that it inserts them again only through the store's look-up
//! ([`crate::ports::LogWriter::insert_unless_stored`]) and never twice.
//!
//! An insert whose outcome is unknown (a timeout, a dropped connection: the store may have
//! finished it after the worker gave up) leaves the batch's ids here until a later attempt of them
//! is acknowledged. Events put back in the queue (released after such an insert, recovered at
//! start, reclaimed from a worker whose lease ran out) are counted by the queue itself
//! ([`crate::ports::Reservation::redelivered`]), so that whichever worker reserves them next looks
//! them up. The first attempt of every other batch stays a plain insert.

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

    /// Whether `events`, just reserved, hold an event of a batch of unknown outcome.
    pub(crate) fn is_retry(&self, events: &[LogEvent]) -> bool {
        let inner = self.inner();
        events
            .iter()
            .any(|event| inner.batches.iter().any(|ids| ids.contains(&event.id())))
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
