//! The migration runner against a real server.

use clickhouse::Row;
use clickhouse_adapter::testing::apply_migrations_from;
use clickhouse_adapter::{
    EmbeddedMigration, MigrationError, apply_migrations, embedded_migrations,
};
use serde::Deserialize;

use crate::common::{TestDatabase, config_for_new_database};

#[derive(Debug, Row, Deserialize)]
struct Column {
    name: String,
    r#type: String,
}

async fn columns(database: &TestDatabase, table: &str) -> Vec<(String, String)> {
    database
        .client()
        // In table order: 18.16 has no `position` column to sort by, and lists columns in order.
        .query("SELECT name, type FROM system.columns WHERE database = ? AND table = ?")
        .bind(database.config.database.as_str())
        .bind(table)
        .fetch_all::<Column>()
        .await
        .unwrap()
        .into_iter()
        .map(|column| (column.name, column.r#type))
        .collect()
}

async fn recorded_versions(database: &TestDatabase) -> Vec<u32> {
    database
        .client()
        .query("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all::<u32>()
        .await
        .unwrap()
}

#[tokio::test]
async fn migrations_create_the_logs_table_and_a_second_run_applies_nothing() {
    let config = config_for_new_database();

    let first = apply_migrations(&config).await.unwrap();
    let second = apply_migrations(&config).await.unwrap();

    let all: Vec<(u32, String)> = embedded_migrations()
        .iter()
        .map(|m| (m.version, m.name.to_owned()))
        .collect();
    let applied: Vec<(u32, String)> = first.into_iter().map(|m| (m.version, m.name)).collect();
    assert_eq!(applied, all);
    assert!(second.is_empty(), "{second:?}");
    let database = TestDatabase { config };
    let expected: Vec<(String, String)> = [
        ("timestamp", "UInt64"),
        ("observed_timestamp", "UInt64"),
        ("id", "String"),
        ("trace_id", "String"),
        ("span_id", "String"),
        ("service", "String"),
        (
            "level",
            "Enum8('TRACE' = 1, 'DEBUG' = 5, 'INFO' = 9, 'WARN' = 13, 'ERROR' = 17, 'FATAL' = 21)",
        ),
        ("message", "String"),
        ("metadata_keys", "Array(String)"),
        ("metadata_values", "Array(String)"),
    ]
    .into_iter()
    .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
    .collect();
    assert_eq!(columns(&database, "logs").await, expected);
    assert_eq!(
        recorded_versions(&database).await,
        all.iter().map(|(version, _)| *version).collect::<Vec<_>>()
    );
    database.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_starting_at_once_all_succeed() {
    let config = config_for_new_database();

    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let config = config.clone();
        runs.spawn(async move { apply_migrations(&config).await });
    }
    let results = runs.join_all().await;

    for result in &results {
        assert!(result.is_ok(), "{result:?}");
    }
    let database = TestDatabase { config };
    assert_eq!(columns(&database, "logs").await.len(), 10);
    // Several runners may have applied and recorded the same file; that is harmless.
    let mut recorded = recorded_versions(&database).await;
    recorded.dedup();
    let embedded: Vec<u32> = embedded_migrations().iter().map(|m| m.version).collect();
    assert_eq!(recorded, embedded);
    assert!(apply_migrations(&database.config).await.unwrap().is_empty());
    database.drop().await;
}

#[tokio::test]
async fn an_unreachable_server_is_a_retryable_migration_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let config = clickhouse_adapter::ClickHouseConfig {
        url,
        ..config_for_new_database()
    };

    let error = apply_migrations(&config).await.unwrap_err();

    assert!(error.is_retryable(), "{error:?}");
}

#[tokio::test]
async fn a_failing_statement_names_its_file_and_statement_and_is_not_recorded() {
    let config = config_for_new_database();
    let broken = [EmbeddedMigration {
        version: 7,
        name: "007_broken.sql",
        sql: "CREATE TABLE IF NOT EXISTS t (x UInt8) ENGINE = Memory;\n-- typo next\nSELEC 1;",
    }];

    let error = apply_migrations_from(&config, &broken).await.unwrap_err();

    match &error {
        MigrationError::Statement {
            file, statement, ..
        } => assert_eq!((*file, statement.as_str()), ("007_broken.sql", "SELEC 1")),
        other => panic!("expected a statement error, got {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        "migration 007_broken.sql failed on `SELEC 1`"
    );
    assert!(!error.is_retryable());
    let fixed = [EmbeddedMigration {
        sql: "CREATE TABLE IF NOT EXISTS t (x UInt8) ENGINE = Memory",
        ..broken[0]
    }];
    let applied = apply_migrations_from(&config, &fixed).await.unwrap();
    assert_eq!(applied.len(), 1, "the failed migration was not recorded");
    let database = TestDatabase { config };
    assert_eq!(recorded_versions(&database).await, [7]);
    database.drop().await;
}
