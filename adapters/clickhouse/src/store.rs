//! [`ClickHouseLogStore`]: the [`LogStore`] port on ClickHouse's HTTP interface.

use std::future::Future;
use std::time::{Duration, Instant};

use application::ports::{LogStore, StoreError};
use async_trait::async_trait;
use clickhouse::Client;
use clickhouse::query::Query;
use domain::{Filter, LogEvent, SortOrder};
use tracing::debug;

use crate::config::ClickHouseConfig;
use crate::errors::{NoAnswerInTime, Operation, classify};
use crate::row::{LOGS_TABLE, LogRow};

/// Stores events in the `logs` table of the configured database and reads them back.
///
/// Cheap to clone (the HTTP connection pool is shared). Building it does no I/O; a server that
/// is down shows up as `StoreError::Unavailable` on the first call.
#[derive(Debug, Clone)]
pub struct ClickHouseLogStore {
    client: Client,
    query_timeout: Duration,
    insert_timeout: Duration,
    max_execution_time_secs: u64,
}

impl ClickHouseLogStore {
    /// A store for `config`'s server and database. The `logs` table must exist (see
    /// [`crate::apply_migrations`]); until it does, calls fail as unavailable.
    pub fn new(config: &ClickHouseConfig) -> Self {
        Self {
            client: config.database_client(),
            query_timeout: config.query_timeout(),
            insert_timeout: config.insert_timeout(),
            max_execution_time_secs: config.max_execution_time_secs(),
        }
    }

    async fn write_rows(&self, events: &[LogEvent]) -> clickhouse::error::Result<()> {
        let mut insert = self.client.insert::<LogRow>(LOGS_TABLE).await?;
        for event in events {
            insert.write(&LogRow::from_event(event)).await?;
        }
        insert.end().await
    }

    fn select(&self, filter: &Filter) -> Query {
        bind_filter(self.client.query(&select_sql(filter)), filter)
            .with_setting(
                "max_execution_time",
                self.max_execution_time_secs.to_string(),
            )
            // The server buffers the whole answer before sending it, so an error in the middle
            // of a result arrives as an error status, not as text after the rows.
            .with_setting("wait_end_of_query", "1")
    }
}

/// Runs `call` within `limit`; an expired limit is an unavailable store.
async fn within<T>(
    limit: Duration,
    operation: Operation,
    call: impl Future<Output = clickhouse::error::Result<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result.map_err(|error| classify(error, operation)),
        Err(_) => Err(StoreError::Unavailable(Box::new(NoAnswerInTime(limit)))),
    }
}

#[async_trait]
impl LogStore for ClickHouseLogStore {
    async fn insert(&self, events: &[LogEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        within(
            self.insert_timeout,
            Operation::Insert,
            self.write_rows(events),
        )
        .await
        .inspect_err(
            |error| debug!(rows = events.len(), error = ?error, "clickhouse insert failed"),
        )?;
        debug!(
            rows = events.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "inserted rows"
        );
        Ok(())
    }

    async fn query(&self, filter: &Filter) -> Result<Vec<LogEvent>, StoreError> {
        let rows = within(
            self.query_timeout,
            Operation::Read,
            self.select(filter).fetch_all::<LogRow>(),
        )
        .await
        .inspect_err(|error| debug!(error = ?error, "clickhouse query failed"))?;
        rows.into_iter()
            .map(|row| {
                row.into_event()
                    .map_err(|invalid| StoreError::Failed(Box::new(invalid)))
            })
            .collect()
    }

    async fn health(&self) -> Result<(), StoreError> {
        let answer = within(
            self.query_timeout,
            Operation::Read,
            self.client.query("SELECT 1").fetch_one::<u8>(),
        )
        .await;
        // Whatever went wrong, the store does not answer as it should: the port knows one kind.
        answer.map(drop).map_err(|error| match error {
            StoreError::Unavailable(cause)
            | StoreError::Rejected(cause)
            | StoreError::Failed(cause) => StoreError::Unavailable(cause),
        })
    }
}

/// The SELECT for `filter`: its text holds only fixed SQL and one `?` per value, which
/// [`bind_filter`] fills in the same order. Service and level lists become `IN (?, ?)`, a
/// tuple: 18.16 refuses `IN [..]` (what binding a `Vec` gives) and needs `IN` rather than
/// `has(..)` to use the primary key (service, level, timestamp).
fn select_sql(filter: &Filter) -> String {
    let list = |count: usize| vec!["?"; count].join(", ");
    let mut conditions = Vec::new();
    if !filter.services().is_empty() {
        conditions.push(format!("service IN ({})", list(filter.services().len())));
    }
    if !filter.levels().is_empty() {
        conditions.push(format!("level IN ({})", list(filter.levels().len())));
    }
    if filter.from().is_some() {
        conditions.push("timestamp >= ?".to_owned());
    }
    if filter.to().is_some() {
        conditions.push("timestamp < ?".to_owned());
    }
    let mut sql = format!("SELECT ?fields FROM {LOGS_TABLE}");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(match filter.order() {
        SortOrder::Descending => " ORDER BY timestamp DESC, id DESC",
        SortOrder::Ascending => " ORDER BY timestamp ASC, id ASC",
    });
    sql.push_str(" LIMIT ? OFFSET ?");
    sql
}

/// Binds `filter`'s values to the placeholders of [`select_sql`], in order. The crate escapes
/// each value as a quoted literal.
fn bind_filter(mut query: Query, filter: &Filter) -> Query {
    for service in filter.services() {
        query = query.bind(service.as_str());
    }
    for level in filter.levels() {
        // Enum8 compares with its names; numbers would be a type mismatch on 18.16.
        query = query.bind(level.as_str());
    }
    if let Some(from) = filter.from() {
        query = query.bind(from.unix_nanos());
    }
    if let Some(to) = filter.to() {
        query = query.bind(to.unix_nanos());
    }
    query.bind(filter.limit().get()).bind(filter.offset())
}

#[cfg(test)]
mod tests {
    use domain::FilterDraft;

    use super::*;

    fn filter(draft: FilterDraft) -> Filter {
        Filter::from_draft(draft).unwrap()
    }

    fn bound_sql(filter: &Filter) -> String {
        let client = Client::default().with_validation(false);
        bind_filter(client.query(&select_sql(filter)), filter)
            .sql_display()
            .to_string()
    }

    /// Needs a real server, like the tests in `tests/`: `TEST_CLICKHOUSE_URL`.
    #[tokio::test]
    async fn a_service_filter_uses_the_primary_key() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let config = ClickHouseConfig {
            url: std::env::var("TEST_CLICKHOUSE_URL")
                .unwrap_or_else(|_| "http://127.0.0.1:8123".into()),
            database: format!("test_{}_{nanos}_pk", std::process::id()),
            ..ClickHouseConfig::default()
        };
        crate::apply_migrations(&config).await.unwrap();
        let store = ClickHouseLogStore::new(&config);
        let filter = filter(FilterDraft {
            services: vec!["auth".into(), "billing".into()],
            ..FilterDraft::default()
        });

        // With `force_primary_key` the server refuses (code 277) a query whose conditions cannot
        // be answered from the primary index, as `has(['auth'], service)` cannot on 18.16.
        let answer = store
            .select(&filter)
            .with_setting("force_primary_key", "1")
            .fetch_all::<LogRow>()
            .await;

        assert!(answer.is_ok(), "{answer:?}");
        config
            .server_client()
            .query_raw(&format!("DROP DATABASE `{}`", config.database))
            .execute()
            .await
            .unwrap();
    }

    #[test]
    fn the_default_filter_reads_the_newest_page() {
        assert_eq!(
            bound_sql(&Filter::default()),
            "SELECT ?fields FROM logs ORDER BY timestamp DESC, id DESC LIMIT 100 OFFSET 0"
        );
    }

    #[test]
    fn every_condition_is_a_placeholder_filled_with_an_escaped_literal() {
        let filter = filter(FilterDraft {
            services: vec!["auth".into(), r"x' OR 1=1 --\".into()],
            levels: vec!["error".into(), "warn".into()],
            from: Some("2026-05-05T10:00:00Z".into()),
            to: Some("2026-05-05T11:00:00Z".into()),
            limit: Some("10".into()),
            offset: Some("20".into()),
            order: Some("asc".into()),
        });
        assert_eq!(
            select_sql(&filter),
            "SELECT ?fields FROM logs WHERE service IN (?, ?) AND level IN (?, ?) \
             AND timestamp >= ? AND timestamp < ? ORDER BY timestamp ASC, id ASC LIMIT ? OFFSET ?"
        );
        assert_eq!(
            bound_sql(&filter),
            r"SELECT ?fields FROM logs WHERE service IN ('auth', 'x\' OR 1=1 --\\') AND level IN ('ERROR', 'WARN') AND timestamp >= 1777975200000000000 AND timestamp < 1777978800000000000 ORDER BY timestamp ASC, id ASC LIMIT 10 OFFSET 20"
        );
    }
}
