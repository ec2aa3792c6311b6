//! Group commit for the ingestion side: pushes made at the same time by concurrent requests go
//! to the queue as one push, so that a burst of single-event requests costs a handful of queue
//! round trips instead of one each.

use std::sync::Arc;

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
/// it, and none of their events was added (a push is all or none). A caller waits at most for
/// the joint push in flight and then its own.
pub(crate) struct PushCoalescer {
    pending: mpsc::UnboundedSender<PendingPush>,
}

impl PushCoalescer {
    /// Spawns the task that performs the joint pushes (needs a Tokio runtime); it ends when this
    /// value is dropped.
    pub(crate) fn new(queue: Arc<dyn QueueProducer>, max_events: usize) -> Self {
        let (pending, receiver) = mpsc::unbounded_channel();
        tokio::spawn(push_joined(queue, receiver, max_events.max(1)));
        Self { pending }
    }

    /// Queues `events` in the next joint push and waits for its outcome.
    pub(crate) async fn push(&self, events: Vec<LogEvent>) -> Result<(), QueueError> {
        let stopped = || QueueError::Failed("the push task has stopped".into());
        let (done, answer) = oneshot::channel();
        self.pending
            .send(PendingPush { events, done })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Takes every push waiting, pushes their events together, answers each caller; repeats.
async fn push_joined(
    queue: Arc<dyn QueueProducer>,
    mut receiver: mpsc::UnboundedReceiver<PendingPush>,
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
        let mut events = first.events;
        let mut callers = vec![first.done];
        while events.len() < max_events {
            match receiver.try_recv() {
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
        let coalescer = PushCoalescer::new(Arc::new(queue), 100);

        let (a, b, c) = tokio::join!(
            coalescer.push(events(&["a"])),
            coalescer.push(events(&["b1", "b2"])),
            coalescer.push(events(&["c"])),
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
        let coalescer = PushCoalescer::new(Arc::new(queue), 100);

        let (a, b) = tokio::join!(
            coalescer.push(events(&["a"])),
            coalescer.push(events(&["b"])),
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
        let coalescer = PushCoalescer::new(Arc::new(queue), 3);

        let (a, b, c) = tokio::join!(
            coalescer.push(events(&["a1", "a2"])),
            coalescer.push(events(&["b1", "b2"])),
            coalescer.push(events(&["c"])),
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
        let coalescer = PushCoalescer::new(Arc::new(queue), 2);

        assert!(coalescer.push(events(&["1", "2", "3", "4"])).await.is_ok());
    }
}
