//! Test support for adapter crates: in-memory fakes of the ports and the contract suites every
//! implementation of a port must pass, so a fake cannot promise what the real adapter does not do.
//! Enabled by the `testing` feature.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use domain::{Level, LogEvent, LogEventDraft, Timestamp, TimestampInput, TraceId};

use crate::ports::{Backlog, QueueConsumer, QueueError, QueueProducer, Receipt, Reservation};
pub use crate::ports::{
    MockDrainSignal, MockLogReader, MockLogWriter, MockQueueConsumer, MockQueueProducer,
};

mod in_memory_store;
pub mod store_contract;

pub use in_memory_store::{InMemoryCursor, InMemoryLogStore};

/// A valid event with the given fields, for tests.
pub fn sample_event(service: &str, level: Level, message: &str, timestamp: Timestamp) -> LogEvent {
    let draft = LogEventDraft {
        service: service.into(),
        level: level.as_str().into(),
        message: message.into(),
        metadata: [
            ("user_id".to_owned(), "42".to_owned()),
            ("host".to_owned(), "db-primary".to_owned()),
        ]
        .into_iter()
        .collect(),
        timestamp: Some(TimestampInput::Integer(i128::from(timestamp.unix_nanos()))),
        trace_id: None,
        span_id: Some("00f067aa0ba902b7".into()),
    };
    #[allow(clippy::expect_used)]
    LogEvent::from_draft(draft, Timestamp::now(), TraceId::generate())
        .expect("sample events are valid")
}

/// A queue ([`QueueProducer`] and [`QueueConsumer`]) in memory with the same at-least-once semantics as the real ones, for one
/// consumer (its lease never runs out).
#[derive(Debug, Default)]
pub struct InMemoryLogQueue {
    state: Mutex<QueueState>,
}

#[derive(Debug, Default)]
struct QueueState {
    ready: VecDeque<LogEvent>,
    reserved: std::collections::BTreeMap<u64, Vec<LogEvent>>,
    next_receipt: u64,
    dead: Vec<(LogEvent, String)>,
    /// How many events at the front of `ready` were delivered before.
    redelivered: usize,
}

impl InMemoryLogQueue {
    fn state(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Events moved to the dead-letter list, with their reasons.
    pub fn dead_letters(&self) -> Vec<(LogEvent, String)> {
        self.state().dead.clone()
    }
}

fn requeue_front(state: &mut QueueState, batch: Vec<LogEvent>) {
    state.redelivered += batch.len();
    for event in batch.into_iter().rev() {
        state.ready.push_front(event);
    }
}

#[async_trait]
impl QueueProducer for InMemoryLogQueue {
    async fn push(&self, events: &[LogEvent]) -> Result<(), QueueError> {
        self.state().ready.extend(events.iter().cloned());
        Ok(())
    }

    async fn health(&self) -> Result<(), QueueError> {
        Ok(())
    }
}

#[async_trait]
impl QueueConsumer for InMemoryLogQueue {
    async fn reserve(&self, max: usize) -> Result<Reservation, QueueError> {
        let mut state = self.state();
        let take = max.min(state.ready.len());
        let events: Vec<LogEvent> = state.ready.drain(..take).collect();
        if events.is_empty() {
            return Ok(Reservation::default());
        }
        state.next_receipt += 1;
        let receipt = state.next_receipt;
        state.reserved.insert(receipt, events.clone());
        let redelivered = state.redelivered.min(events.len());
        state.redelivered -= redelivered;
        Ok(Reservation {
            events,
            receipt: Receipt::new(receipt),
            redelivered,
        })
    }

    async fn acknowledge(&self, receipt: Receipt) -> Result<(), QueueError> {
        self.state().reserved.remove(&receipt.token());
        Ok(())
    }

    async fn release(&self, receipt: Receipt) -> Result<(), QueueError> {
        let mut state = self.state();
        if let Some(batch) = state.reserved.remove(&receipt.token()) {
            requeue_front(&mut state, batch);
        }
        Ok(())
    }

    async fn recover_unacknowledged(&self) -> Result<u64, QueueError> {
        let mut state = self.state();
        let mut recovered = 0;
        while let Some((_, batch)) = state.reserved.pop_last() {
            recovered += batch.len() as u64;
            requeue_front(&mut state, batch);
        }
        Ok(recovered)
    }

    async fn backlog(&self) -> Result<Backlog, QueueError> {
        let state = self.state();
        Ok(Backlog {
            depth: state.ready.len() as u64,
            oldest_received_at: state.ready.front().map(LogEvent::observed_timestamp),
        })
    }

    async fn heartbeat(&self) -> Result<(), QueueError> {
        Ok(())
    }

    async fn reclaim_abandoned(&self) -> Result<u64, QueueError> {
        Ok(0)
    }

    async fn dead_letter(&self, events: &[LogEvent], reason: &str) -> Result<(), QueueError> {
        self.state().dead.extend(
            events
                .iter()
                .map(|event| (event.clone(), reason.to_owned())),
        );
        Ok(())
    }

    async fn health(&self) -> Result<(), QueueError> {
        Ok(())
    }
}

/// The behaviour every queue must show. Call each function with a fresh, empty queue, or let
/// [`queue_contract_tests!`](crate::queue_contract_tests) make one test of each.
pub mod queue_contract {
    use super::*;

    fn at(seconds: u64) -> Timestamp {
        Timestamp::from_unix_nanos(1_777_975_200_000_000_000 + seconds * 1_000_000_000)
    }

    fn ids(events: &[LogEvent]) -> Vec<domain::EventId> {
        events.iter().map(LogEvent::id).collect()
    }

    fn numbered(count: u64) -> Vec<LogEvent> {
        (0..count)
            .map(|i| sample_event("svc", Level::Info, &format!("event {i}"), at(i)))
            .collect()
    }

    /// Events come out in the order they went in, in batches of at most `max`, intact.
    pub async fn events_are_reserved_oldest_first_in_batches(queue: &dyn QueueUnderTest) {
        let events = numbered(5);
        queue.push(&events[..2]).await.expect("push");
        queue.push(&events[2..]).await.expect("push");

        let first = queue.reserve(3).await.expect("reserve");
        assert_eq!(
            first.events,
            events[..3],
            "first batch holds the three oldest events, intact"
        );
        queue.acknowledge(first.receipt).await.expect("acknowledge");
        let second = queue.reserve(3).await.expect("reserve");
        assert_eq!(ids(&second.events), ids(&events[3..]));
        queue
            .acknowledge(second.receipt)
            .await
            .expect("acknowledge");
        assert!(
            queue.reserve(3).await.expect("reserve").events.is_empty(),
            "queue is empty"
        );
    }

    /// A released batch comes back first, in its order.
    pub async fn released_events_are_delivered_again_first(queue: &dyn QueueUnderTest) {
        let events = numbered(4);
        queue.push(&events).await.expect("push");

        let batch = queue.reserve(2).await.expect("reserve");
        queue.release(batch.receipt).await.expect("release");

        let again = queue.reserve(10).await.expect("reserve");
        assert_eq!(ids(&again.events), ids(&events));
        queue.acknowledge(again.receipt).await.expect("acknowledge");
    }

    /// Reserved but unacknowledged events survive and are recovered, ahead of newer events.
    pub async fn unacknowledged_events_are_recovered(queue: &dyn QueueUnderTest) {
        let events = numbered(3);
        queue.push(&events[..2]).await.expect("push");
        let abandoned = queue.reserve(2).await.expect("reserve");
        assert_eq!(abandoned.events.len(), 2);
        queue.push(&events[2..]).await.expect("push");

        assert_eq!(queue.recover_unacknowledged().await.expect("recover"), 2);

        let all = queue.reserve(10).await.expect("reserve");
        assert_eq!(ids(&all.events), ids(&events));
        queue.acknowledge(all.receipt).await.expect("acknowledge");
        assert_eq!(
            queue.recover_unacknowledged().await.expect("recover"),
            0,
            "acknowledged is gone"
        );
    }

    /// Receipts are exact: acknowledging or releasing one batch never touches another, in any
    /// order.
    pub async fn receipts_are_independent_of_order(queue: &dyn QueueUnderTest) {
        let events = numbered(6);
        queue.push(&events).await.expect("push");
        let first = queue.reserve(2).await.expect("reserve");
        let second = queue.reserve(2).await.expect("reserve");
        let third = queue.reserve(2).await.expect("reserve");

        queue
            .acknowledge(second.receipt)
            .await
            .expect("acknowledge the middle batch first");
        queue
            .release(first.receipt)
            .await
            .expect("release the oldest");
        queue
            .acknowledge(third.receipt)
            .await
            .expect("acknowledge the newest");

        let again = queue.reserve(10).await.expect("reserve");
        assert_eq!(
            ids(&again.events),
            ids(&events[..2]),
            "only the released batch comes back"
        );
        queue.acknowledge(again.receipt).await.expect("acknowledge");
        assert_eq!(queue.recover_unacknowledged().await.expect("recover"), 0);
    }

    /// Dead-lettered events leave the flow; their batch is still acknowledged as a whole.
    pub async fn dead_lettered_events_do_not_come_back(queue: &dyn QueueUnderTest) {
        let events = numbered(3);
        queue.push(&events).await.expect("push");
        let batch = queue.reserve(3).await.expect("reserve");
        queue
            .dead_letter(&batch.events[1..2], "refused by the store")
            .await
            .expect("dead letter");
        queue.acknowledge(batch.receipt).await.expect("acknowledge");

        assert_eq!(queue.recover_unacknowledged().await.expect("recover"), 0);
        assert!(queue.reserve(3).await.expect("reserve").events.is_empty());
        queue.heartbeat().await.expect("heartbeat");
    }

    /// The backlog counts what waits and knows when the oldest of it arrived.
    pub async fn the_backlog_reports_depth_and_the_oldest_arrival(queue: &dyn QueueUnderTest) {
        assert_eq!(queue.backlog().await.expect("backlog"), Backlog::default());
        let events = numbered(3);
        queue.push(&events).await.expect("push");
        let backlog = queue.backlog().await.expect("backlog");
        assert_eq!(backlog.depth, 3);
        assert_eq!(
            backlog.oldest_received_at,
            Some(events[0].observed_timestamp())
        );
        let batch = queue.reserve(2).await.expect("reserve");
        assert_eq!(
            queue.backlog().await.expect("backlog").depth,
            1,
            "reserved events are not waiting"
        );
        queue.acknowledge(batch.receipt).await.expect("acknowledge");
    }

    /// Released and recovered events are counted as delivered before by whoever reserves them
    /// next; events reserved for the first time are not.
    pub async fn events_delivered_before_are_counted_in_the_next_reservations(
        queue: &dyn QueueUnderTest,
    ) {
        let events = numbered(6);
        queue.push(&events[..4]).await.expect("push");
        let first = queue.reserve(3).await.expect("reserve");
        assert_eq!(first.redelivered, 0, "a first delivery");
        queue.release(first.receipt).await.expect("release");

        let again = queue.reserve(2).await.expect("reserve");
        assert_eq!(
            (ids(&again.events), again.redelivered),
            (ids(&events[..2]), 2)
        );
        let rest = queue.reserve(2).await.expect("reserve");
        assert_eq!(
            (ids(&rest.events), rest.redelivered),
            (ids(&events[2..4]), 1),
            "one released event, then one never delivered"
        );
        queue.acknowledge(again.receipt).await.expect("acknowledge");
        queue.acknowledge(rest.receipt).await.expect("acknowledge");

        queue.push(&events[4..]).await.expect("push");
        let abandoned = queue.reserve(1).await.expect("reserve");
        assert_eq!(abandoned.redelivered, 0);
        assert_eq!(queue.recover_unacknowledged().await.expect("recover"), 1);
        let recovered = queue.reserve(10).await.expect("reserve");
        assert_eq!(
            (ids(&recovered.events), recovered.redelivered),
            (ids(&events[4..]), 1)
        );
        queue
            .acknowledge(recovered.receipt)
            .await
            .expect("acknowledge");
    }

    /// Acknowledged events are never delivered again.
    pub async fn acknowledged_events_are_gone(queue: &dyn QueueUnderTest) {
        queue.push(&numbered(2)).await.expect("push");
        let batch = queue.reserve(2).await.expect("reserve");
        queue.acknowledge(batch.receipt).await.expect("acknowledge");

        assert_eq!(queue.recover_unacknowledged().await.expect("recover"), 0);
        assert!(queue.reserve(2).await.expect("reserve").events.is_empty());
        QueueConsumer::health(queue).await.expect("healthy");
    }
}

/// A queue under test: the producing and the consuming side of one queue.
pub trait QueueUnderTest: QueueProducer + QueueConsumer {}

impl<T: QueueProducer + QueueConsumer + ?Sized> QueueUnderTest for T {}

/// One `#[tokio::test]` per behaviour of [`queue_contract`], each on a fresh queue, for an
/// adapter: `setup` is a future of a fixture, `queue` borrows the queue from it and `teardown`
/// disposes of it. The list of behaviours lives only here, so a behaviour added to the suite
/// runs against every adapter that uses the macro.
#[macro_export]
macro_rules! queue_contract_tests {
    (setup = $setup:expr, queue = |$fixture:ident| $queue:expr $(,)?) => {
        $crate::queue_contract_tests!(setup = $setup, queue = |$fixture| $queue, teardown = |gone| drop(gone));
    };
    (setup = $setup:expr, queue = |$fixture:ident| $queue:expr, teardown = |$gone:ident| $teardown:expr $(,)?) => {
        $crate::queue_contract_tests!(@each ($setup) ($fixture) ($queue) ($gone) ($teardown);
            events_are_reserved_oldest_first_in_batches,
            released_events_are_delivered_again_first,
            unacknowledged_events_are_recovered,
            receipts_are_independent_of_order,
            dead_lettered_events_do_not_come_back,
            the_backlog_reports_depth_and_the_oldest_arrival,
            events_delivered_before_are_counted_in_the_next_reservations,
            acknowledged_events_are_gone
        );
    };
    (@each ($setup:expr) ($fixture:ident) ($queue:expr) ($gone:ident) ($teardown:expr); $($behaviour:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $behaviour() {
                let $fixture = $setup.await;
                $crate::testing::queue_contract::$behaviour(&$queue).await;
                let $gone = $fixture;
                $teardown;
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    use super::InMemoryLogQueue;

    crate::queue_contract_tests!(
        setup = async { InMemoryLogQueue::default() },
        queue = |queue| queue,
    );
}
