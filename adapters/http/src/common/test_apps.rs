//! What the protocols' tests share: the ingestion service over mocks, so that each protocol's
//! tests exercise it through the same composition (`app.rs`) as the real service.

use std::sync::Arc;

use application::IngestUseCase;
use application::ports::{MockDrainSignal, MockQueueProducer};
use domain::LogEvent;
use poem::Endpoint;

use crate::app::ingestion_app;
use crate::common::config::IngestHttpConfig;
use crate::common::keys::ApiKeys;

/// The body limit of [`ingestion_over_mocks`].
pub(crate) const TEST_MAX_BODY_BYTES: usize = 64 * 1024;

/// The ingestion service over `queue` and a drain signal that expects exactly `signals` calls,
/// with bodies up to [`TEST_MAX_BODY_BYTES`], batches up to `max_batch_events` and `keys`.
pub(crate) fn ingestion_over_mocks(
    queue: MockQueueProducer,
    signals: usize,
    max_batch_events: usize,
    keys: ApiKeys,
) -> impl Endpoint {
    let mut signal = MockDrainSignal::new();
    signal
        .expect_request_drain()
        .times(signals)
        .returning(|| Ok(()));
    ingestion_app(
        IngestUseCase::new(Arc::new(queue), Arc::new(signal)),
        IngestHttpConfig {
            max_body_bytes: TEST_MAX_BODY_BYTES,
            max_batch_events,
            ..IngestHttpConfig::default()
        },
        keys,
    )
}

/// A queue that expects one push whose events satisfy `check`, or no push when `check` is
/// `None`.
pub(crate) fn queue_pushing_once(check: Option<fn(&[LogEvent]) -> bool>) -> MockQueueProducer {
    let mut queue = MockQueueProducer::new();
    match check {
        Some(check) => {
            queue
                .expect_push()
                .times(1)
                .withf(check)
                .returning(|_| Ok(()));
        }
        None => {
            queue.expect_push().times(0);
        }
    }
    queue
}
