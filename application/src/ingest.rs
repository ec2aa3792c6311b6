//! Accepting events: validate, give each a trace id, queue, nudge the worker. One event at a time
//! or a batch, whose valid events are queued together and whose invalid ones are reported.

use std::sync::Arc;
use std::time::Duration;

use domain::limits::EventLimits;
use domain::{EventId, LogEvent, LogEventDraft, Timestamp, TraceId, ValidationError};
use tracing::warn;

use crate::coalesce::PushCoalescer;
use crate::ports::{DrainSignal, QueueError, QueueProducer};

/// What the client is told about an accepted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub event_id: EventId,
    pub trace_id: TraceId,
}

/// One event of a batch that was not accepted: its position in the batch and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEvent {
    /// Zero-based position of the event in the batch handed to [`IngestUseCase::ingest_batch`].
    pub index: usize,
    /// The first field that failed validation.
    pub error: ValidationError,
}

/// What became of a batch: the accepted events (queued, in batch order) and the rejected ones
/// (not queued, in batch order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The request's trace id, given to every event of the batch that has none of its own.
    pub trace_id: TraceId,
    pub accepted: Vec<Accepted>,
    pub rejected: Vec<RejectedEvent>,
}

/// Why an event was not accepted. Nothing was queued in either case.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The event is invalid; the error names the field.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The queue could not take the event; the client should retry.
    #[error("event not queued")]
    Queue(#[from] QueueError),
}

/// Validates events and queues them for storage.
#[derive(Clone)]
pub struct IngestUseCase {
    queue: Arc<dyn QueueProducer>,
    signal: Arc<dyn DrainSignal>,
    coalescer: Option<Arc<PushCoalescer>>,
    /// Longest wait for the queue to take a request's events.
    queue_deadline: Duration,
    limits: EventLimits,
}

/// Most pushes waiting for the joint push in flight; one more is refused as `Unavailable`.
const MAX_WAITING_PUSHES: usize = 4096;

/// The longest wait for the queue unless [`IngestUseCase::with_queue_deadline`] says otherwise.
const DEFAULT_QUEUE_DEADLINE: Duration = Duration::from_secs(30);

impl std::fmt::Debug for IngestUseCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestUseCase").finish_non_exhaustive()
    }
}

impl IngestUseCase {
    pub fn new(queue: Arc<dyn QueueProducer>, signal: Arc<dyn DrainSignal>) -> Self {
        Self {
            queue,
            signal,
            coalescer: None,
            queue_deadline: DEFAULT_QUEUE_DEADLINE,
            limits: EventLimits::default(),
        }
    }

    /// Validates events against `limits` instead of the defaults.
    pub fn with_event_limits(mut self, limits: EventLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Joins the pushes of concurrent requests into one queue push of up to `max_events` events
    /// (group commit): under load, one queue round trip then serves many requests. Each request
    /// still returns only once its events are queued, and a failed joint push fails every
    /// request in it. Needs a Tokio runtime (it spawns the task that pushes).
    pub fn with_push_coalescing(mut self, max_events: usize) -> Self {
        self.coalescer = Some(Arc::new(PushCoalescer::new(
            Arc::clone(&self.queue),
            max_events,
            MAX_WAITING_PUSHES,
        )));
        self
    }

    /// Answers `Unavailable` when the queue has not taken a request's events after `deadline`,
    /// however many requests wait (a joint push in flight does not add its own wait). Events
    /// whose request gave up before they were sent are not queued; a push already sent may
    /// still land (as with any timeout, at least once).
    pub fn with_queue_deadline(mut self, deadline: Duration) -> Self {
        self.queue_deadline = deadline;
        self
    }

    /// Queues events, all or none: directly, or through the coalescer; at most the deadline.
    async fn push(&self, events: Vec<LogEvent>) -> Result<(), QueueError> {
        match &self.coalescer {
            Some(coalescer) => coalescer.push(events, self.queue_deadline).await,
            None => tokio::time::timeout(self.queue_deadline, self.queue.push(&events))
                .await
                .unwrap_or_else(|_| {
                    Err(QueueError::Unavailable(
                        format!("the queue did not answer within {:?}", self.queue_deadline).into(),
                    ))
                }),
        }
    }

    /// Validates one event and queues it. Its trace id is the event's own, else `request_trace_id`
    /// (from the request's headers), else a new one. Returns once the queue holds the event; the
    /// drain signal is fired without waiting and its failure is only logged.
    pub async fn ingest(
        &self,
        draft: LogEventDraft,
        request_trace_id: Option<TraceId>,
    ) -> Result<Accepted, IngestError> {
        let trace_id = request_trace_id.unwrap_or_else(TraceId::generate);
        let event =
            LogEvent::from_draft_with_limits(draft, Timestamp::now(), trace_id, &self.limits)?;
        let accepted = Accepted {
            event_id: event.id(),
            trace_id: event.trace_id(),
        };
        self.push(vec![event]).await?;
        self.signal_drain();
        Ok(accepted)
    }

    /// Validates every event of a batch and queues the valid ones with one `push` (all or none)
    /// and one drain signal. Invalid events are reported by position and never queued; when none
    /// is valid nothing is pushed or signalled and the outcome has no accepted event. Every event
    /// without a trace id of its own gets `request_trace_id`, else one new id for the batch.
    ///
    /// Errors: `Queue` when the queue did not take the valid events; then none was accepted.
    pub async fn ingest_batch(
        &self,
        drafts: Vec<LogEventDraft>,
        request_trace_id: Option<TraceId>,
    ) -> Result<BatchOutcome, IngestError> {
        let trace_id = request_trace_id.unwrap_or_else(TraceId::generate);
        let received_at = Timestamp::now();
        let mut events = Vec::with_capacity(drafts.len());
        let mut rejected = Vec::new();
        for (index, draft) in drafts.into_iter().enumerate() {
            match LogEvent::from_draft_with_limits(draft, received_at, trace_id, &self.limits) {
                Ok(event) => events.push(event),
                Err(error) => rejected.push(RejectedEvent { index, error }),
            }
        }
        let accepted = events
            .iter()
            .map(|event| Accepted {
                event_id: event.id(),
                trace_id: event.trace_id(),
            })
            .collect();
        if !events.is_empty() {
            self.push(events).await?;
            self.signal_drain();
        }
        Ok(BatchOutcome {
            trace_id,
            accepted,
            rejected,
        })
    }

    /// Nudges the worker; a lost signal only delays storage until its next poll.
    fn signal_drain(&self) {
        if let Err(error) = self.signal.request_drain() {
            warn!(error = %error, cause = ?error.0, "drain signal not sent; the worker's poll will pick the events up");
        }
    }

    /// Whether events can be accepted now (the queue answers).
    pub async fn check_ready(&self) -> Result<(), QueueError> {
        self.queue.health().await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use domain::Level;
    use mockall::predicate::always;

    use super::*;
    use crate::ports::{MockDrainSignal, MockQueueProducer, SignalError};

    fn draft() -> LogEventDraft {
        LogEventDraft {
            service: "auth-service".into(),
            level: "ERROR".into(),
            message: "DB connection failed".into(),
            metadata: BTreeMap::from([("user_id".into(), "42".into())]),
            ..LogEventDraft::default()
        }
    }

    fn request_trace() -> TraceId {
        TraceId::parse("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
    }

    fn signal_expecting(times: usize, result: fn() -> Result<(), SignalError>) -> MockDrainSignal {
        let mut signal = MockDrainSignal::new();
        signal.expect_request_drain().times(times).returning(result);
        signal
    }

    #[tokio::test]
    async fn a_valid_event_is_queued_once_with_the_request_trace_and_the_worker_is_signalled() {
        let mut queue = MockQueueProducer::new();
        queue
            .expect_push()
            .times(1)
            .withf(|events| {
                events.len() == 1
                    && events[0].service().as_str() == "auth-service"
                    && events[0].level() == Level::Error
                    && events[0].metadata().get("user_id") == Some("42")
                    && events[0].trace_id() == request_trace()
            })
            .returning(|_| Ok(()));
        let use_case =
            IngestUseCase::new(Arc::new(queue), Arc::new(signal_expecting(1, || Ok(()))));

        let accepted = use_case
            .ingest(draft(), Some(request_trace()))
            .await
            .unwrap();

        assert_eq!(accepted.trace_id, request_trace());
    }

    #[tokio::test]
    async fn without_a_request_trace_a_new_trace_id_is_generated_and_returned() {
        let mut queue = MockQueueProducer::new();
        queue
            .expect_push()
            .times(1)
            .withf(|events| events[0].trace_id() != request_trace())
            .returning(|_| Ok(()));
        let use_case =
            IngestUseCase::new(Arc::new(queue), Arc::new(signal_expecting(1, || Ok(()))));

        let accepted = use_case.ingest(draft(), None).await.unwrap();

        assert_ne!(accepted.trace_id, request_trace());
        assert_eq!(accepted.trace_id.to_string().len(), 32);
    }

    #[tokio::test]
    async fn a_trace_id_on_the_event_itself_wins_over_the_request_trace() {
        let own = "0af7651916cd43dd8448eb211c80319c";
        let mut queue = MockQueueProducer::new();
        queue
            .expect_push()
            .times(1)
            .withf(move |events| events[0].trace_id().to_string() == own)
            .returning(|_| Ok(()));
        let use_case =
            IngestUseCase::new(Arc::new(queue), Arc::new(signal_expecting(1, || Ok(()))));
        let mut input = draft();
        input.trace_id = Some(own.into());

        let accepted = use_case.ingest(input, Some(request_trace())).await.unwrap();

        assert_eq!(accepted.trace_id.to_string(), own);
    }

    #[tokio::test]
    async fn an_invalid_event_is_rejected_naming_the_field_and_nothing_is_queued_or_signalled() {
        type Mutation = fn(&mut LogEventDraft);
        let cases: Vec<(&str, Mutation)> = vec![
            ("service", |d| d.service = String::new()),
            ("level", |d| d.level = "LOUD".into()),
            ("message", |d| d.message = " ".into()),
            ("metadata.big", |d| {
                d.metadata.insert("big".into(), "x".repeat(9000));
            }),
            ("timestamp", |d| {
                d.timestamp = Some(domain::TimestampInput::Text("later".into()))
            }),
            ("trace_id", |d| d.trace_id = Some("not-hex".into())),
        ];
        for (field, mutate) in cases {
            let mut queue = MockQueueProducer::new();
            queue.expect_push().times(0);
            let use_case =
                IngestUseCase::new(Arc::new(queue), Arc::new(signal_expecting(0, || Ok(()))));
            let mut input = draft();
            mutate(&mut input);

            let error = use_case.ingest(input, None).await.unwrap_err();

            match error {
                IngestError::Invalid(invalid) => assert_eq!(invalid.field(), field),
                other => panic!("expected a validation error for {field}, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn configured_event_limits_decide_what_is_queued_and_the_rejection_quotes_them() {
        let limits = EventLimits::default()
            .with_message_max_bytes(20)
            .and_then(|limits| limits.with_service_max_chars(200))
            .unwrap();
        let mut queue = MockQueueProducer::new();
        queue
            .expect_push()
            .times(1)
            .withf(|events| {
                let lengths: Vec<(usize, usize)> = events
                    .iter()
                    .map(|e| (e.service().as_str().len(), e.message().as_str().len()))
                    .collect();
                lengths == [(12, 20), (200, 4)]
            })
            .returning(|_| Ok(()));
        let use_case =
            IngestUseCase::new(Arc::new(queue), Arc::new(signal_expecting(1, || Ok(()))))
                .with_event_limits(limits);
        let drafts = vec![
            LogEventDraft {
                message: "m".repeat(20),
                ..draft()
            },
            LogEventDraft {
                message: "m".repeat(21),
                ..draft()
            },
            LogEventDraft {
                service: "s".repeat(200),
                message: "long".into(),
                ..draft()
            },
        ];

        let outcome = use_case.ingest_batch(drafts, None).await.unwrap();

        assert_eq!(outcome.accepted.len(), 2);
        let rejected: Vec<(usize, String)> = outcome
            .rejected
            .iter()
            .map(|rejected| (rejected.index, rejected.error.to_string()))
            .collect();
        assert_eq!(
            rejected,
            [(1, "message must be at most 20 bytes".to_owned())]
        );
    }

    #[tokio::test]
    async fn a_single_event_over_a_configured_limit_is_rejected_and_not_queued() {
        let mut queue = MockQueueProducer::new();
        queue.expect_push().times(0);
        let use_case =
            IngestUseCase::new(Arc::new(queue), Arc::new(signal_expecting(0, || Ok(()))))
                .with_event_limits(EventLimits::default().with_metadata_max_entries(1).unwrap());
        let mut input = draft();
        input.metadata.insert("host".into(), "db".into());

        let error = use_case.ingest(input, None).await.unwrap_err();

        assert_eq!(error.to_string(), "metadata must have at most 1 entries");
    }

    #[tokio::test]
    async fn a_queue_failure_is_an_error_and_the_worker_is_not_signalled() {
        let mut queue = MockQueueProducer::new();
        queue
            .expect_push()
            .with(always())
            .times(1)
            .returning(|_| Err(QueueError::Unavailable("connection refused".into())));
        let use_case =
            IngestUseCase::new(Arc::new(queue), Arc::new(signal_expecting(0, || Ok(()))));

        let error = use_case.ingest(draft(), None).await.unwrap_err();

        assert!(
            matches!(error, IngestError::Queue(QueueError::Unavailable(_))),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_signal_failure_does_not_fail_the_ingest() {
        let mut queue = MockQueueProducer::new();
        queue.expect_push().times(1).returning(|_| Ok(()));
        let signal = signal_expecting(1, || Err(SignalError("worker unreachable".into())));
        let use_case = IngestUseCase::new(Arc::new(queue), Arc::new(signal));

        let accepted = use_case.ingest(draft(), Some(request_trace())).await;

        assert_eq!(accepted.map(|a| a.trace_id).ok(), Some(request_trace()));
    }

    fn batch_drafts(levels: &[&str]) -> Vec<LogEventDraft> {
        levels
            .iter()
            .enumerate()
            .map(|(position, level)| LogEventDraft {
                level: (*level).into(),
                message: format!("event {position}"),
                ..draft()
            })
            .collect()
    }

    #[tokio::test]
    async fn a_valid_batch_is_queued_with_one_push_and_one_signal() {
        let mut queue = MockQueueProducer::new();
        queue
            .expect_push()
            .times(1)
            .withf(|events| {
                events.len() == 3
                    && events.iter().enumerate().all(|(position, event)| {
                        event.message().as_str() == format!("event {position}")
                            && event.trace_id() == request_trace()
                    })
            })
            .returning(|_| Ok(()));
        let use_case =
            IngestUseCase::new(Arc::new(queue), Arc::new(signal_expecting(1, || Ok(()))));

        let outcome = use_case
            .ingest_batch(
                batch_drafts(&["INFO", "warn", "ERROR"]),
                Some(request_trace()),
            )
            .await
            .unwrap();

        assert_eq!(outcome.trace_id, request_trace());
        assert_eq!(outcome.accepted.len(), 3);
        assert!(outcome.rejected.is_empty());
        assert!(
            outcome
                .accepted
                .iter()
                .all(|accepted| accepted.trace_id == request_trace())
        );
    }

    #[tokio::test]
    async fn only_the_valid_events_of_a_batch_are_queued_and_the_invalid_ones_are_reported_by_index()
     {
        let mut queue = MockQueueProducer::new();
        queue
            .expect_push()
            .times(1)
            .withf(|events| {
                let messages: Vec<&str> = events.iter().map(|e| e.message().as_str()).collect();
                messages == ["event 0", "event 2", "event 4"]
            })
            .returning(|_| Ok(()));
        let use_case =
            IngestUseCase::new(Arc::new(queue), Arc::new(signal_expecting(1, || Ok(()))));
        let mut drafts = batch_drafts(&["INFO", "LOUD", "DEBUG", "INFO", "FATAL"]);
        drafts[3].service = String::new();

        let outcome = use_case.ingest_batch(drafts, None).await.unwrap();

        assert_eq!(outcome.accepted.len(), 3);
        let rejected: Vec<(usize, &str)> = outcome
            .rejected
            .iter()
            .map(|rejected| (rejected.index, rejected.error.field()))
            .collect();
        assert_eq!(rejected, [(1, "level"), (3, "service")]);
        assert!(
            outcome
                .accepted
                .iter()
                .all(|accepted| accepted.trace_id == outcome.trace_id)
        );
    }

    #[tokio::test]
    async fn a_batch_without_a_valid_event_pushes_nothing_and_signals_nothing() {
        let mut queue = MockQueueProducer::new();
        queue.expect_push().times(0);
        let use_case =
            IngestUseCase::new(Arc::new(queue), Arc::new(signal_expecting(0, || Ok(()))));

        let outcome = use_case
            .ingest_batch(batch_drafts(&["LOUD", "", "nope"]), None)
            .await
            .unwrap();

        assert!(outcome.accepted.is_empty());
        let indices: Vec<usize> = outcome.rejected.iter().map(|r| r.index).collect();
        assert_eq!(indices, [0, 1, 2]);
    }

    #[tokio::test]
    async fn a_queue_failure_fails_the_whole_batch_and_the_worker_is_not_signalled() {
        let mut queue = MockQueueProducer::new();
        queue
            .expect_push()
            .times(1)
            .withf(|events| events.len() == 2)
            .returning(|_| Err(QueueError::Unavailable("connection refused".into())));
        let use_case =
            IngestUseCase::new(Arc::new(queue), Arc::new(signal_expecting(0, || Ok(()))));

        let error = use_case
            .ingest_batch(batch_drafts(&["INFO", "LOUD", "INFO"]), None)
            .await
            .unwrap_err();

        assert!(
            matches!(error, IngestError::Queue(QueueError::Unavailable(_))),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_signal_failure_does_not_fail_a_batch() {
        let mut queue = MockQueueProducer::new();
        queue
            .expect_push()
            .times(1)
            .withf(|events| events.len() == 2)
            .returning(|_| Ok(()));
        let signal = signal_expecting(1, || Err(SignalError("worker unreachable".into())));
        let use_case = IngestUseCase::new(Arc::new(queue), Arc::new(signal));

        let outcome = use_case
            .ingest_batch(batch_drafts(&["INFO", "ERROR"]), Some(request_trace()))
            .await
            .unwrap();

        assert_eq!(outcome.accepted.len(), 2);
        assert!(outcome.rejected.is_empty());
    }

    #[tokio::test]
    async fn with_push_coalescing_concurrent_requests_share_one_push_and_each_gets_its_own_answer()
    {
        let mut queue = MockQueueProducer::new();
        queue
            .expect_push()
            .times(1)
            .withf(|events| events.len() == 3)
            .returning(|_| Ok(()));
        let use_case =
            IngestUseCase::new(Arc::new(queue), Arc::new(signal_expecting(2, || Ok(()))))
                .with_push_coalescing(1000);

        let (single, batch) = tokio::join!(
            use_case.ingest(draft(), Some(request_trace())),
            use_case.ingest_batch(batch_drafts(&["INFO", "LOUD", "WARN"]), None),
        );

        assert_eq!(single.unwrap().trace_id, request_trace());
        let batch = batch.unwrap();
        assert_eq!((batch.accepted.len(), batch.rejected.len()), (2, 1));
        assert_ne!(batch.trace_id, request_trace());
    }

    #[tokio::test]
    async fn readiness_reports_the_queue_health() {
        let mut queue = MockQueueProducer::new();
        queue
            .expect_health()
            .times(1)
            .returning(|| Err(QueueError::Unavailable("down".into())));
        let use_case =
            IngestUseCase::new(Arc::new(queue), Arc::new(signal_expecting(0, || Ok(()))));

        assert!(matches!(
            use_case.check_ready().await,
            Err(QueueError::Unavailable(_))
        ));
    }
}
