//! Probes for the adapter's own tests against a real server (`tests/real_clickhouse`), behind the
//! `testing` feature: what the public API cannot reach without a contrived schema or a slow
//! server. Not part of the adapter's interface.

use clickhouse::error::Error;
use domain::Filter;

use crate::config::ClickHouseConfig;
use crate::errors::{Operation, classify};
use crate::migrations::{self, AppliedMigration, EmbeddedMigration, MigrationError};
use crate::row::LogRow;
use crate::sql::{self, PageKey};
use crate::store::ClickHouseLogStore;
use application::ports::StoreError;

/// Applies `migrations` (instead of the embedded set) as [`crate::apply_migrations`] would.
pub async fn apply_migrations_from(
    config: &ClickHouseConfig,
    migrations: &[EmbeddedMigration],
) -> Result<Vec<AppliedMigration>, MigrationError> {
    migrations::apply(config, migrations).await
}

/// The ids of the first page for `filter`, read in the store's two steps (keys, then rows) with
/// `force_primary_key`: the server refuses (code 277) a step its primary index cannot answer.
pub async fn page_ids_with_primary_key_forced(
    store: &ClickHouseLogStore,
    filter: &Filter,
) -> Result<Vec<String>, Error> {
    let keys = store
        .read(&sql::page_keys(filter))
        .with_setting("force_primary_key", "1")
        .fetch_all::<PageKey>()
        .await?;
    let rows = store
        .read(&sql::rows_by_keys(&keys, filter.order()))
        .with_setting("force_primary_key", "1")
        .fetch_all::<LogRow>()
        .await?;
    Ok(rows.into_iter().map(|row| row.id).collect())
}

/// What a failed read of logs for a client is reported as.
pub fn query_error(error: Error) -> StoreError {
    classify(error, Operation::Query)
}
