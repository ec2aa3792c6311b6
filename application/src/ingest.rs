//! Accepting events: validate, give each a trace id, queue, nudge the worker.

use std::sync::Arc;

use domain::{EventId, LogEvent, LogEventDraft, Timestamp, TraceId, ValidationError};
use tracing::warn;

use crate::ports::{DrainSignal, LogQueue, QueueError};

/// What the client is told about an accepted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub event_id: EventId,
    pub trace_id: TraceId,
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
    queue: Arc<dyn LogQueue>,
    signal: Arc<dyn DrainSignal>,
}

impl std::fmt::Debug for IngestUseCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestUseCase").finish_non_exhaustive()
    }
}

impl IngestUseCase {
    pub fn new(queue: Arc<dyn LogQueue>, signal: Arc<dyn DrainSignal>) -> Self {
        Self { queue, signal }
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
        let event = LogEvent::from_draft(draft, Timestamp::now(), trace_id)?;
        let accepted = Accepted {
            event_id: event.id(),
            trace_id: event.trace_id(),
        };
        self.queue.push(std::slice::from_ref(&event)).await?;
        if let Err(error) = self.signal.request_drain() {
            warn!(error = %error, cause = ?error.0, "drain signal not sent; the worker's poll will pick the event up");
        }
        Ok(accepted)
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
    use crate::ports::{MockDrainSignal, MockLogQueue, SignalError};

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
        let mut queue = MockLogQueue::new();
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
        let mut queue = MockLogQueue::new();
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
        let mut queue = MockLogQueue::new();
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
            let mut queue = MockLogQueue::new();
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
    async fn a_queue_failure_is_an_error_and_the_worker_is_not_signalled() {
        let mut queue = MockLogQueue::new();
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
        let mut queue = MockLogQueue::new();
        queue.expect_push().times(1).returning(|_| Ok(()));
        let signal = signal_expecting(1, || Err(SignalError("worker unreachable".into())));
        let use_case = IngestUseCase::new(Arc::new(queue), Arc::new(signal));

        let accepted = use_case.ingest(draft(), Some(request_trace())).await;

        assert_eq!(accepted.map(|a| a.trace_id).ok(), Some(request_trace()));
    }

    #[tokio::test]
    async fn readiness_reports_the_queue_health() {
        let mut queue = MockLogQueue::new();
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
