//! Reading logs back.

use std::sync::Arc;

use domain::{Filter, FilterDraft, LogEvent, ValidationError};

use crate::ports::{LogStore, StoreError};

/// One page of logs, in the filter's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPage {
    pub logs: Vec<LogEvent>,
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A parameter is invalid; the error names it.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The store could not answer.
    #[error("logs could not be read")]
    Store(#[from] StoreError),
}

/// Validates filters and reads pages of logs.
#[derive(Clone)]
pub struct QueryUseCase {
    store: Arc<dyn LogStore>,
}

impl std::fmt::Debug for QueryUseCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryUseCase").finish_non_exhaustive()
    }
}

impl QueryUseCase {
    pub fn new(store: Arc<dyn LogStore>) -> Self {
        Self { store }
    }

    /// Validates the client's parameters and returns the page they describe.
    pub async fn query(&self, draft: FilterDraft) -> Result<LogPage, QueryError> {
        let filter = Filter::from_draft(draft)?;
        let logs = self.store.query(&filter).await?;
        Ok(LogPage { logs })
    }

    /// Whether logs can be read now (the store answers).
    pub async fn check_ready(&self) -> Result<(), StoreError> {
        self.store.health().await
    }
}

#[cfg(test)]
mod tests {
    use domain::{Level, LogEventDraft, Timestamp, TraceId};

    use super::*;
    use crate::ports::MockLogStore;

    fn stored_event() -> LogEvent {
        let draft = LogEventDraft {
            service: "auth-service".into(),
            level: "ERROR".into(),
            message: "DB connection failed".into(),
            ..LogEventDraft::default()
        };
        LogEvent::from_draft(draft, Timestamp::now(), TraceId::generate()).unwrap()
    }

    #[tokio::test]
    async fn a_valid_filter_is_passed_to_the_store_and_its_page_returned() {
        let event = stored_event();
        let returned = event.clone();
        let mut store = MockLogStore::new();
        store
            .expect_query()
            .withf(|filter| {
                filter.services().len() == 1
                    && filter.services()[0].as_str() == "auth-service"
                    && filter.levels() == [Level::Error]
                    && filter.limit().get() == 50
                    && filter.offset() == 10
            })
            .times(1)
            .return_once(move |_| Ok(vec![returned]));
        let use_case = QueryUseCase::new(Arc::new(store));
        let draft = FilterDraft {
            services: vec!["auth-service".into()],
            levels: vec!["error".into()],
            limit: Some("50".into()),
            offset: Some("10".into()),
            ..FilterDraft::default()
        };

        let page = use_case.query(draft).await.unwrap();

        assert_eq!(page.logs, vec![event]);
    }

    #[tokio::test]
    async fn an_invalid_filter_is_rejected_naming_the_parameter_without_asking_the_store() {
        let mut store = MockLogStore::new();
        store.expect_query().times(0);
        let use_case = QueryUseCase::new(Arc::new(store));

        let error = use_case
            .query(FilterDraft {
                limit: Some("5000".into()),
                ..FilterDraft::default()
            })
            .await;

        match error {
            Err(QueryError::Invalid(invalid)) => assert_eq!(invalid.field(), "limit"),
            other => panic!("expected invalid limit, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_store_failure_is_reported_as_such() {
        let mut store = MockLogStore::new();
        store
            .expect_query()
            .times(1)
            .returning(|_| Err(StoreError::Unavailable("timeout".into())));
        let use_case = QueryUseCase::new(Arc::new(store));

        let error = use_case.query(FilterDraft::default()).await.unwrap_err();

        assert!(
            matches!(error, QueryError::Store(StoreError::Unavailable(_))),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn readiness_reports_the_store_health() {
        let mut store = MockLogStore::new();
        store.expect_health().times(1).returning(|| Ok(()));
        let use_case = QueryUseCase::new(Arc::new(store));

        assert!(use_case.check_ready().await.is_ok());
    }
}
