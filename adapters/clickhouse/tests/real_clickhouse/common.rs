//! Test support: a fresh database per test on the server named by `TEST_CLICKHOUSE_URL`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use clickhouse::Client;
use clickhouse_adapter::{ClickHouseConfig, ClickHouseLogStore, apply_migrations};

/// The server under test: `TEST_CLICKHOUSE_URL`, or a local one on the default port.
pub fn server_url() -> String {
    std::env::var("TEST_CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// A database name no other test (or test run) uses.
pub fn unique_database_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "test_{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A configuration for a database that does not exist yet.
pub fn config_for_new_database() -> ClickHouseConfig {
    ClickHouseConfig {
        url: server_url(),
        database: unique_database_name(),
        ..ClickHouseConfig::default()
    }
}

/// A database of its own for one test.
#[derive(Debug)]
pub struct TestDatabase {
    pub config: ClickHouseConfig,
}

impl TestDatabase {
    /// A new, migrated database.
    pub async fn migrated() -> Self {
        let config = config_for_new_database();
        apply_migrations(&config).await.unwrap_or_else(|error| {
            panic!(
                "cannot prepare a test database on {} (start one with infra/test-servers.sh or \
                 set TEST_CLICKHOUSE_URL): {error:?}",
                config.url
            )
        });
        Self { config }
    }

    /// A new database without any table.
    pub async fn empty() -> Self {
        let config = config_for_new_database();
        server(&config)
            .query(&format!("CREATE DATABASE `{}`", config.database))
            .execute()
            .await
            .unwrap();
        Self { config }
    }

    pub fn store(&self) -> ClickHouseLogStore {
        ClickHouseLogStore::new(&self.config)
    }

    /// A client on this database, for checks the store's API does not offer.
    pub fn client(&self) -> Client {
        server(&self.config).with_database(&self.config.database)
    }

    /// Drops the database; a failed test leaves its database behind for inspection.
    pub async fn drop(self) {
        server(&self.config)
            .query(&format!(
                "DROP DATABASE IF EXISTS `{}`",
                self.config.database
            ))
            .execute()
            .await
            .unwrap();
    }
}

fn server(config: &ClickHouseConfig) -> Client {
    Client::default()
        .with_url(&config.url)
        .with_user(&config.user)
        .with_password(&config.password)
        .with_validation(false)
}
