//! Group commit for the ingestion side: pushes made at the same time by concurrent requests go
//! to the queue as one push, so that a burst of single-event requests costs a handful of queue
//! round trips instead of one each.

use std::sync::Arc;
use std::time::Duration;

use domain::LogEvent;
use tokio::sync::{mpsc, oneshot};

use crate::ports::{QueueError, QueueProducer};

/// One caller's events, and where to tell it how the push went.
struct PendingPush {
    events: Vec<LogEvent>,
    done: oneshot::Sender<Result<(), QueueError>>,
}

/// Joins the pushes waiting at the same moment into one push of the queue (at most
/// `max_events` events, whole pushes only), one joint push at a time. Each caller returns once
/// its events are in the queue, as with a direct push; a failed joint push fails every caller in
/// it, and none of their events was added (a push is all or none).
///
/// Bounded in time and memory: a caller waits at most its deadline, then fails as
/// `Unavailable`; a caller that gave up before its events were taken into a joint push is left
/// out of it. At most `max_waiting` pushes wait; one more fails at once as `Unavailable`.
pub(crate) struct PushCoalescer {
    pending: mpsc::Sender<PendingPush>,
}

impl PushCoalescer {
    /// Spawns the task that performs the joint pushes (needs a Tokio runtime); it ends when this
    /// value is dropped.
    pub(crate) fn new(
        queue: Arc<dyn QueueProducer>,
        max_events: usize,
        max_waiting: usize,
    ) -> Self {
        let (pending, receiver) = mpsc::channel(max_waiting.max(1));
        tokio::spawn(push_joined(queue, receiver, max_events.max(1)));
        Self { pending }
    }

    /// Queues `events` in the next joint push and waits for its outcome, at most `deadline`.
    pub(crate) async fn push(
        &self,
        events: Vec<LogEvent>,
        deadline: Duration,
    ) -> Result<(), QueueError> {
        let stopped = || QueueError::Failed("the push task has stopped".into());
        let (done, answer) = oneshot::channel();
        self.pending
            .try_send(PendingPush { events, done })
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => {
                    QueueError::Unavailable("too many pushes waiting for the queue".into())
                }
                mpsc::error::TrySendError::Closed(_) => stopped(),
            })?;
        match tokio::time::timeout(deadline, answer).await {
            Ok(answer) => answer.map_err(|_| stopped())?,
            Err(_) => Err(QueueError::Unavailable(
                format!("the queue did not answer within {deadline:?}").into(),
            )),
        }
    }
}

/// Takes every push waiting, pushes their events together, answers each caller; repeats.
async fn push_joined(
    queue: Arc<dyn QueueProducer>,
    mut receiver: mpsc::Receiver<PendingPush>,
    max_events: usize,
) {
    let mut carried: Option<PendingPush> = None;
    loop {
        let first = match carried.take() {
            Some(push) => push,
            None => match receiver.recv().await {
                Some(push) => push,
                None => return,
            },
        };
        // Its caller gave up (deadline passed, request cancelled): its events are not pushed.
        if first.done.is_closed() {
            continue;
        }
        let mut events = first.events;
        let mut callers = vec![first.done];
        while events.len() < max_events {
            match receiver.try_recv() {
                Ok(push) if push.done.is_closed() => {}
                Ok(push) if events.len() + push.events.len() <= max_events => {
                    callers.push(push.done);
                    events.extend(push.events);
                }
                Ok(push) => {
                    carried = Some(push);
                    break;
                }
                Err(_) => break,
            }
        }
        let result = queue.push(&events).await;
        for done in callers {
            // A caller that went away (request cancelled) needs no answer.
            let _ = done.send(result.as_ref().map(|_| ()).map_err(copy_error));
        }
    }
}

/// The same failure for another caller of a joint push (causes are kept as text).
fn copy_error(error: &QueueError) -> QueueError {
    match error {
        QueueError::Unavailable(cause) => QueueError::Unavailable(cause.to_string().into()),
        QueueError::Full { depth, capacity } => QueueError::Full {
            depth: *depth,
            capacity: *capacity,
        },
        QueueError::Failed(cause) => QueueError::Failed(cause.to_string().into()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use domain::{Level, Timestamp};

    use super::*;
    use crate::ports::MockQueueProducer;
    use crate::testing::sample_event;

    const WAIT: Duration = Duration::from_secs(10);

    fn events(messages: &[&str]) -> Vec<LogEvent> {
        messages
            .iter()
            .map(|message| sample_event("api", Level::Info, message, Timestamp::now()))
            .collect()
    }

    fn messages(events: &[LogEvent]) -> Vec<String> {
        events
            .iter()
            .map(|event| event.message().as_str().to_owned())
            .collect()
    }

    // On the test's single-threaded runtime the push task runs only once every caller of a
    // `join!` has handed over its events, so these tests see the joining deterministically.

    #[tokio::test]
    async fn concurrent_pushes_go_to_the_queue_as_one_push_in_arrival_order() {
        let mut queue = MockQueueProducer::new();
        queue
            .expect_push()
            .times(1)
            .withf(|pushed| messages(pushed) == ["a", "b1", "b2", "c"])
            .returning(|_| Ok(()));
        let coalescer = PushCoalescer::new(Arc::new(queue), 100, 100);

        let (a, b, c) = tokio::join!(
            coalescer.push(events(&["a"]), WAIT),
            coalescer.push(events(&["b1", "b2"]), WAIT),
            coalescer.push(events(&["c"]), WAIT),
        );

        assert!(a.is_ok() && b.is_ok() && c.is_ok(), "{a:?} {b:?} {c:?}");
    }

    #[tokio::test]
    async fn a_failed_joint_push_fails_every_caller_in_it() {
        let mut queue = MockQueueProducer::new();
        queue.expect_push().times(1).returning(|_| {
            Err(QueueError::Full {
                depth: 10,
                capacity: 10,
            })
        });
        let coalescer = PushCoalescer::new(Arc::new(queue), 100, 100);

        let (a, b) = tokio::join!(
            coalescer.push(events(&["a"]), WAIT),
            coalescer.push(events(&["b"]), WAIT),
        );

        for result in [a, b] {
            assert!(
                matches!(
                    result,
                    Err(QueueError::Full {
                        depth: 10,
                        capacity: 10
                    })
                ),
                "{result:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_joint_push_stops_at_the_maximum_without_splitting_a_callers_events() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&sizes);
        let mut queue = MockQueueProducer::new();
        queue.expect_push().times(2).returning(move |pushed| {
            recorded.lock().unwrap().push(messages(pushed));
            Ok(())
        });
        let coalescer = PushCoalescer::new(Arc::new(queue), 3, 100);

        let (a, b, c) = tokio::join!(
            coalescer.push(events(&["a1", "a2"]), WAIT),
            coalescer.push(events(&["b1", "b2"]), WAIT),
            coalescer.push(events(&["c"]), WAIT),
        );

        assert!(a.is_ok() && b.is_ok() && c.is_ok());
        assert_eq!(
            *sizes.lock().unwrap(),
            [vec!["a1", "a2"], vec!["b1", "b2", "c"]]
        );
    }

    #[tokio::test]
    async fn a_push_larger_than_the_maximum_goes_alone_and_whole() {
        let mut queue = MockQueueProducer::new();
        queue
            .expect_push()
            .times(1)
            .withf(|pushed| pushed.len() == 4)
            .returning(|_| Ok(()));
        let coalescer = PushCoalescer::new(Arc::new(queue), 2, 100);

        assert!(
            coalescer
                .push(events(&["1", "2", "3", "4"]), WAIT)
                .await
                .is_ok()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_behind_a_stalled_joint_push_gets_its_answer_at_its_deadline_and_is_left_out()
    {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let mut queue = MockQueueProducer::new();
        queue.expect_push().returning(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            // A stalled Redis: the push blocks its thread until its own timeout.
            std::thread::sleep(Duration::from_millis(600));
            Err(QueueError::Unavailable("timed out".into()))
        });
        let coalescer = Arc::new(PushCoalescer::new(Arc::new(queue), 100, 100));
        let first = tokio::spawn({
            let coalescer = Arc::clone(&coalescer);
            async move { coalescer.push(events(&["first"]), WAIT).await }
        });
        while calls.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        let started = std::time::Instant::now();
        let behind = coalescer
            .push(events(&["behind"]), Duration::from_millis(100))
            .await;
        let waited = started.elapsed();

        assert!(
            matches!(behind, Err(QueueError::Unavailable(_))),
            "{behind:?}"
        );
        assert!(
            waited < Duration::from_millis(500),
            "answered at its deadline, not after the stalled push: {waited:?}"
        );
        assert!(matches!(
            first.await.unwrap(),
            Err(QueueError::Unavailable(_))
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the events of the caller that gave up were not pushed"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_most_waiting_pushes_one_more_fails_at_once() {
        let mut queue = MockQueueProducer::new();
        queue.expect_push().returning(|_| {
            std::thread::sleep(Duration::from_millis(300));
            Ok(())
        });
        let coalescer = Arc::new(PushCoalescer::new(Arc::new(queue), 1, 1));
        // One push in flight (taken from the channel), one waiting: the channel is full.
        let in_flight = tokio::spawn({
            let coalescer = Arc::clone(&coalescer);
            async move { coalescer.push(events(&["a"]), WAIT).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let waiting = tokio::spawn({
            let coalescer = Arc::clone(&coalescer);
            async move { coalescer.push(events(&["b"]), WAIT).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;

        let refused = coalescer.push(events(&["c"]), WAIT).await;

        assert!(
            matches!(refused, Err(QueueError::Unavailable(_))),
            "{refused:?}"
        );
        assert!(in_flight.await.unwrap().is_ok());
        assert!(waiting.await.unwrap().is_ok());
    }
}
