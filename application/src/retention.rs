//! Keeping logs for a limited time: every so often, days older than the retention period are
//! deleted whole.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use domain::Timestamp;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::ports::{LogRetention, StoreError};

const NANOS_PER_DAY: u64 = 86_400 * 1_000_000_000;

/// Deletes the days of logs that fall out of the retention period.
#[derive(Clone)]
pub struct RetentionUseCase {
    retention: Arc<dyn LogRetention>,
    keep_days: NonZeroU32,
}

impl std::fmt::Debug for RetentionUseCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetentionUseCase")
            .field("keep_days", &self.keep_days)
            .finish_non_exhaustive()
    }
}

impl RetentionUseCase {
    /// Keeps the last `keep_days` days (24-hour periods) of logs.
    pub fn new(retention: Arc<dyn LogRetention>, keep_days: NonZeroU32) -> Self {
        Self {
            retention,
            keep_days,
        }
    }

    /// Deletes every day of logs that ended more than `keep_days` days before `now`; answers the
    /// days deleted.
    pub async fn apply(&self, now: Timestamp) -> Result<Vec<String>, StoreError> {
        let keep = u64::from(self.keep_days.get()).saturating_mul(NANOS_PER_DAY);
        let cutoff = Timestamp::from_unix_nanos(now.unix_nanos().saturating_sub(keep));
        self.retention.drop_days_before(cutoff).await
    }

    /// Applies the retention now and then every `every` until `shutdown`; failures are logged
    /// and retried at the next round.
    pub async fn run(&self, every: Duration, shutdown: CancellationToken) {
        let mut rounds = tokio::time::interval(every);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = rounds.tick() => {}
            }
            match self.apply(Timestamp::now()).await {
                Ok(dropped) if dropped.is_empty() => {}
                Ok(dropped) => {
                    info!(days = ?dropped, keep_days = self.keep_days.get(), "dropped days past retention")
                }
                Err(error) => {
                    warn!(error = %error, cause = ?error, "retention round failed; retrying next round")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::MockLogRetention;

    #[tokio::test]
    async fn days_older_than_the_retention_period_are_dropped_with_the_right_cutoff() {
        let now = Timestamp::parse_rfc3339("2026-05-10T12:00:00Z", "now").unwrap();
        let expected_cutoff = Timestamp::parse_rfc3339("2026-05-03T12:00:00Z", "cutoff").unwrap();
        let mut retention = MockLogRetention::new();
        retention
            .expect_drop_days_before()
            .withf(move |cutoff| *cutoff == expected_cutoff)
            .times(1)
            .returning(|_| Ok(vec!["2026-05-01".into(), "2026-05-02".into()]));
        let use_case = RetentionUseCase::new(Arc::new(retention), NonZeroU32::new(7).unwrap());

        let dropped = use_case.apply(now).await.unwrap();

        assert_eq!(dropped, ["2026-05-01", "2026-05-02"]);
    }

    #[tokio::test]
    async fn a_store_failure_is_reported() {
        let mut retention = MockLogRetention::new();
        retention
            .expect_drop_days_before()
            .times(1)
            .returning(|_| Err(StoreError::Unavailable("down".into())));
        let use_case = RetentionUseCase::new(Arc::new(retention), NonZeroU32::new(1).unwrap());

        assert!(matches!(
            use_case.apply(Timestamp::now()).await,
            Err(StoreError::Unavailable(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_applies_at_once_and_then_every_round_until_shutdown() {
        let mut retention = MockLogRetention::new();
        retention
            .expect_drop_days_before()
            .times(3)
            .returning(|_| Ok(Vec::new()));
        let use_case = RetentionUseCase::new(Arc::new(retention), NonZeroU32::new(30).unwrap());
        let shutdown = CancellationToken::new();

        let running = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { use_case.run(Duration::from_secs(3600), shutdown).await }
        });
        tokio::time::sleep(Duration::from_secs(2 * 3600 + 60)).await;
        shutdown.cancel();

        tokio::time::timeout(Duration::from_secs(1), running)
            .await
            .unwrap()
            .unwrap();
    }
}
