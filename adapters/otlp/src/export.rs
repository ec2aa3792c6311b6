//! One OTLP logs export, whatever carried it: the batch limit, the mapping, one
//! `IngestUseCase::ingest_batch` (validation, one queue push, one drain signal), and the
//! `ExportLogsServiceResponse`, whose `partial_success` counts and names the records validation
//! rejected while the others were queued (OTLP's partial success: the client must not retry).

use application::{BatchOutcome, IngestError, IngestUseCase};
use domain::TraceId;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use tracing::info;

use crate::mapping::{RecordPosition, map_request, record_count};

/// How many rejected records `partial_success.error_message` describes one by one.
pub const LISTED_REJECTIONS: usize = 10;

/// A request whose valid records were queued.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    /// The answer: `partial_success` unset when every record was queued.
    pub response: ExportLogsServiceResponse,
    /// Records queued.
    pub accepted: usize,
    /// Records validation rejected (not queued); [`Self::response`] names them.
    pub rejected: usize,
}

/// Why no record of a request was queued.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The request holds more records than one request may.
    #[error(
        "a request may hold at most {max} log records, this one holds {count}; nothing was accepted"
    )]
    TooManyRecords { max: usize, count: usize },
    /// The use case refused the valid records (the queue is full or cannot be reached); none
    /// was queued. `records` is how many records the request held, for the metrics.
    #[error("{error}")]
    Ingest {
        #[source]
        error: IngestError,
        records: usize,
    },
}

/// Maps the records of `request` and ingests them as one batch of at most `max_records`.
/// Records without a trace id of their own get `request_trace_id` (else one new id for the
/// request).
///
/// Errors: [`ExportError::TooManyRecords`] before anything is mapped; [`ExportError::Ingest`]
/// when the queue did not take the valid records.
pub async fn export_logs(
    ingest: &IngestUseCase,
    max_records: usize,
    request: ExportLogsServiceRequest,
    request_trace_id: Option<TraceId>,
) -> Result<Exported, ExportError> {
    let count = record_count(&request);
    if count > max_records {
        return Err(ExportError::TooManyRecords {
            max: max_records,
            count,
        });
    }
    let mapped = map_request(request);
    let submitted = mapped.drafts.len();
    let outcome = ingest
        .ingest_batch(mapped.drafts, request_trace_id)
        .await
        .map_err(|error| ExportError::Ingest {
            error,
            records: submitted,
        })?;
    let accepted = outcome.accepted.len();
    let rejected = outcome.rejected.len();
    info!(accepted, rejected, "otlp logs exported");
    Ok(Exported {
        response: export_response(&outcome, &mapped.positions),
        accepted,
        rejected,
    })
}

/// The answer: `partial_success` only when some record was rejected, with the count and a
/// message naming the first [`LISTED_REJECTIONS`] by position and reason.
fn export_response(
    outcome: &BatchOutcome,
    positions: &[RecordPosition],
) -> ExportLogsServiceResponse {
    let accepted = outcome.accepted.len();
    let rejected = outcome.rejected.len();
    if rejected == 0 {
        return ExportLogsServiceResponse::default();
    }
    let mut message = format!(
        "{rejected} of {} log records rejected (the others were accepted)",
        accepted + rejected
    );
    for rejection in outcome.rejected.iter().take(LISTED_REJECTIONS) {
        let position = positions.get(rejection.index).map_or_else(
            || format!("record {}", rejection.index),
            ToString::to_string,
        );
        message.push_str(&format!("; {position}: {}", rejection.error));
    }
    if rejected > LISTED_REJECTIONS {
        message.push_str(&format!("; and {} more", rejected - LISTED_REJECTIONS));
    }
    ExportLogsServiceResponse {
        partial_success: Some(ExportLogsPartialSuccess {
            rejected_log_records: i64::try_from(rejected).unwrap_or(i64::MAX),
            error_message: message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use application::ports::{MockDrainSignal, MockQueueProducer, QueueError};
    use domain::LogEvent;
    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyKind;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

    use super::*;

    fn use_case(queue: MockQueueProducer, signals: usize) -> IngestUseCase {
        let mut signal = MockDrainSignal::new();
        signal
            .expect_request_drain()
            .times(signals)
            .returning(|| Ok(()));
        IngestUseCase::new(Arc::new(queue), Arc::new(signal))
    }

    fn record(body: &str) -> LogRecord {
        LogRecord {
            body: Some(AnyValue {
                value: Some(AnyKind::StringValue(body.into())),
            }),
            ..LogRecord::default()
        }
    }

    /// A record the domain refuses: its span id is three bytes.
    fn bad_record() -> LogRecord {
        LogRecord {
            span_id: vec![9; 3],
            ..record("bad span id")
        }
    }

    fn request(scopes: Vec<Vec<LogRecord>>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: scopes
                    .into_iter()
                    .map(|records| ScopeLogs {
                        log_records: records,
                        ..ScopeLogs::default()
                    })
                    .collect(),
                ..ResourceLogs::default()
            }],
        }
    }

    fn trace() -> TraceId {
        TraceId::parse("0af7651916cd43dd8448eb211c80319c").unwrap()
    }

    #[tokio::test]
    async fn valid_records_are_queued_with_one_push_and_the_answer_has_no_partial_success() {
        let mut queue = MockQueueProducer::new();
        queue
            .expect_push()
            .times(1)
            .withf(|events: &[LogEvent]| {
                events.len() == 3
                    && events
                        .iter()
                        .all(|event| event.trace_id().to_string() == trace().to_string())
            })
            .returning(|_| Ok(()));

        let exported = export_logs(
            &use_case(queue, 1),
            10,
            request(vec![vec![record("a"), record("b")], vec![record("c")]]),
            Some(trace()),
        )
        .await
        .unwrap();

        assert_eq!(exported.accepted, 3);
        assert_eq!(exported.rejected, 0);
        assert_eq!(exported.response, ExportLogsServiceResponse::default());
    }

    #[tokio::test]
    async fn rejected_records_are_counted_and_named_by_position_and_the_others_queued() {
        let mut queue = MockQueueProducer::new();
        queue
            .expect_push()
            .times(1)
            .withf(|events: &[LogEvent]| {
                events.len() == 1 && events[0].message().as_str() == "fine"
            })
            .returning(|_| Ok(()));

        let exported = export_logs(
            &use_case(queue, 1),
            10,
            request(vec![vec![record("fine")], vec![bad_record(), bad_record()]]),
            None,
        )
        .await
        .unwrap();

        assert_eq!((exported.accepted, exported.rejected), (1, 2));
        let partial = exported.response.partial_success.unwrap();
        assert_eq!(partial.rejected_log_records, 2);
        assert!(
            partial
                .error_message
                .starts_with("2 of 3 log records rejected (the others were accepted); "),
            "{}",
            partial.error_message
        );
        assert!(
            partial
                .error_message
                .contains("resourceLogs[0].scopeLogs[1].logRecords[1]: span_id"),
            "{}",
            partial.error_message
        );
    }

    #[tokio::test]
    async fn the_message_lists_the_first_rejections_and_counts_the_rest() {
        let mut queue = MockQueueProducer::new();
        queue.expect_push().times(0);
        let records = vec![bad_record(); LISTED_REJECTIONS + 3];

        let exported = export_logs(&use_case(queue, 0), 100, request(vec![records]), None)
            .await
            .unwrap();

        let message = exported.response.partial_success.unwrap().error_message;
        assert_eq!(message.matches("logRecords[").count(), LISTED_REJECTIONS);
        assert!(message.ends_with("; and 3 more"), "{message}");
    }

    #[tokio::test]
    async fn more_records_than_the_maximum_are_refused_before_anything_is_queued() {
        let mut queue = MockQueueProducer::new();
        queue.expect_push().times(0);

        let error = export_logs(
            &use_case(queue, 0),
            2,
            request(vec![vec![record("a"), record("b"), record("c")]]),
            None,
        )
        .await
        .unwrap_err();

        assert!(matches!(
            error,
            ExportError::TooManyRecords { max: 2, count: 3 }
        ));
        assert_eq!(
            error.to_string(),
            "a request may hold at most 2 log records, this one holds 3; nothing was accepted"
        );
    }

    #[tokio::test]
    async fn a_queue_failure_refuses_every_valid_record_and_says_how_many() {
        let mut queue = MockQueueProducer::new();
        queue.expect_push().times(1).returning(|_| {
            Err(QueueError::Full {
                depth: 9,
                capacity: 5,
            })
        });

        let error = export_logs(
            &use_case(queue, 0),
            10,
            request(vec![vec![record("a"), bad_record(), record("b")]]),
            None,
        )
        .await
        .unwrap_err();

        match error {
            ExportError::Ingest { error, records } => {
                assert_eq!(records, 3);
                assert!(matches!(error, IngestError::Queue(QueueError::Full { .. })));
            }
            other => panic!("expected a queue failure, got {other:?}"),
        }
    }
}
