//! The migration runner: brings a ClickHouse database to the schema of the workspace's
//! `migrations/*.sql` files, which `build.rs` embeds into the crate.
//!
//! Each file is applied once, in version order, and recorded in the database's
//! `schema_migrations` table. Every statement must be idempotent (`IF NOT EXISTS`), so two
//! workers starting at once both succeed: both may run a file, both record it, and the duplicate
//! record is harmless.
//!
//! On a cluster (`ClickHouseConfig::cluster`) the files of `migrations/cluster/` (the same
//! versions) are applied instead, with `${cluster}` and `${database}` replaced: every statement
//! runs `ON CLUSTER`, through ClickHouse's distributed DDL queue in ZooKeeper, which runs it on
//! every node in one order. `schema_migrations` is then one replicated table whose single
//! replication group spans every node, so a record written through any node is seen on all.
//! Two workers starting at once on different nodes both run a file's statements; with
//! `IF NOT EXISTS` the second run changes nothing, so every object is created once, and the
//! two records of the version are harmless as on one server. This idempotent design needs no
//! lock that a crashed worker could leave behind.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clickhouse::Client;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::config::ClickHouseConfig;
use crate::errors::{ErrorKind, Operation, exception_code, kind_of};

/// One file of the `migrations` folder, embedded at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedMigration {
    /// The file name's leading number.
    pub version: u32,
    /// The file name, e.g. `001_create_logs.sql`.
    pub name: &'static str,
    /// The file's text.
    pub sql: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// The migrations this build carries, in the order they are applied.
pub fn embedded_migrations() -> &'static [EmbeddedMigration] {
    EMBEDDED
}

/// The same versions for a cluster (`migrations/cluster/`).
pub fn embedded_cluster_migrations() -> &'static [EmbeddedMigration] {
    EMBEDDED_CLUSTER
}

/// How long one `ON CLUSTER` statement may take: it waits until every node ran it (ClickHouse's
/// own limit, `distributed_ddl_task_timeout`, is 180 s).
const CLUSTER_DDL_TIMEOUT: Duration = Duration::from_secs(180);

/// A migration that [`apply_migrations`] ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    /// The file name's leading number.
    pub version: u32,
    /// The file name, e.g. `001_create_logs.sql`.
    pub name: String,
}

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The configured database name cannot be written into DDL safely.
    #[error("database name {0:?} is not an identifier ([A-Za-z_][A-Za-z0-9_]*)")]
    InvalidDatabaseName(String),
    /// The configured cluster name cannot be written into DDL safely.
    #[error("cluster name {0:?} is not an identifier ([A-Za-z_][A-Za-z0-9_]*)")]
    InvalidClusterName(String),
    /// A statement of the runner itself (creating the database or the `schema_migrations`
    /// table, reading or recording applied versions) failed.
    #[error("migration bookkeeping failed on `{statement}`")]
    Bookkeeping {
        statement: String,
        #[source]
        source: clickhouse::error::Error,
    },
    /// A statement of a migration file failed.
    #[error("migration {file} failed on `{statement}`")]
    Statement {
        file: &'static str,
        statement: String,
        #[source]
        source: clickhouse::error::Error,
    },
    /// ClickHouse did not answer a statement in time.
    #[error("no answer within {after:?} to `{statement}`")]
    TimedOut { statement: String, after: Duration },
}

impl MigrationError {
    /// Whether running the migrations again later may succeed (the server is down, overloaded
    /// or slow), as opposed to a configuration or SQL error. A worker retries these at start-up.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::InvalidDatabaseName(_) | Self::InvalidClusterName(_) => false,
            Self::TimedOut { .. } => true,
            Self::Bookkeeping { source, .. } | Self::Statement { source, .. } => {
                kind_of(source, Operation::Read) == ErrorKind::Unavailable
            }
        }
    }
}

const CREATE_SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS schema_migrations \
     (version UInt32, name String, checksum String, applied_at DateTime) \
     ENGINE = MergeTree ORDER BY version";
const SELECT_APPLIED: &str = "SELECT version, checksum FROM schema_migrations";
const INSERT_APPLIED: &str = "INSERT INTO schema_migrations";

/// A row of `schema_migrations`.
#[derive(Debug, clickhouse::Row, Serialize)]
struct MigrationRecord<'a> {
    version: u32,
    name: &'a str,
    checksum: &'a str,
    /// `DateTime`: seconds since the Unix epoch.
    applied_at: u32,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct AppliedVersion {
    version: u32,
    checksum: String,
}

/// Creates the configured database if needed and applies every embedded migration it has not
/// recorded yet, in version order. Returns the migrations it applied (none when the schema is
/// up to date). Safe to run again and from several processes at once.
pub async fn apply_migrations(
    config: &ClickHouseConfig,
) -> Result<Vec<AppliedMigration>, MigrationError> {
    let migrations = match config.cluster() {
        Some(_) => embedded_cluster_migrations(),
        None => embedded_migrations(),
    };
    apply(config, migrations).await
}

/// The bookkeeping DDL for one server or for a cluster.
fn bookkeeping_ddl(config: &ClickHouseConfig) -> (String, String) {
    let database = &config.database;
    match config.cluster() {
        None => (
            format!("CREATE DATABASE IF NOT EXISTS `{database}`"),
            CREATE_SCHEMA_MIGRATIONS.to_owned(),
        ),
        Some(cluster) => (
            format!("CREATE DATABASE IF NOT EXISTS `{database}` ON CLUSTER `{cluster}`"),
            format!(
                "CREATE TABLE IF NOT EXISTS `{database}`.schema_migrations ON CLUSTER `{cluster}` \
                 (version UInt32, name String, checksum String, applied_at DateTime) \
                 ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/schema_migrations', \
                 '{{shard}}-{{replica}}') ORDER BY version"
            ),
        ),
    }
}

/// A cluster migration's statement with its `${cluster}` and `${database}` filled in.
fn for_cluster(statement: &str, config: &ClickHouseConfig) -> String {
    match config.cluster() {
        // Both are checked to be plain identifiers, which stand as they are in names, engine
        // arguments and ZooKeeper paths alike.
        Some(cluster) => statement
            .replace("${cluster}", cluster)
            .replace("${database}", &config.database),
        None => statement.to_owned(),
    }
}

pub(crate) async fn apply(
    config: &ClickHouseConfig,
    migrations: &[EmbeddedMigration],
) -> Result<Vec<AppliedMigration>, MigrationError> {
    if !is_identifier(&config.database) {
        return Err(MigrationError::InvalidDatabaseName(config.database.clone()));
    }
    if let Some(cluster) = config.cluster().filter(|name| !is_identifier(name)) {
        return Err(MigrationError::InvalidClusterName(cluster.to_owned()));
    }
    let limit = match config.cluster() {
        Some(_) => config.query_timeout().max(CLUSTER_DDL_TIMEOUT),
        None => config.query_timeout(),
    };
    let (create_database, create_schema_migrations) = bookkeeping_ddl(config);
    run_bookkeeping(limit, &create_database, config.server_client()).await?;
    let client = config.database_client();
    run_bookkeeping(limit, &create_schema_migrations, client.clone()).await?;

    let applied: BTreeMap<u32, String> = within(limit, SELECT_APPLIED, async {
        client
            .query(SELECT_APPLIED)
            .fetch_all::<AppliedVersion>()
            .await
    })
    .await?
    .map_err(|source| bookkeeping(SELECT_APPLIED, source))?
    .into_iter()
    .map(|row| (row.version, row.checksum))
    .collect();

    let mut done = Vec::new();
    for migration in migrations {
        let expected = checksum(migration.sql);
        if let Some(recorded) = applied.get(&migration.version) {
            if *recorded != expected {
                warn!(
                    version = migration.version,
                    file = migration.name,
                    recorded = %recorded,
                    embedded = %expected,
                    "applied migration file has changed since; it is not run again"
                );
            }
            continue;
        }
        for statement in split_statements(migration.sql) {
            let statement = for_cluster(&statement, config);
            run_statement(limit, &client, migration.name, &statement).await?;
        }
        record(limit, &client, migration, &expected).await?;
        info!(version = migration.version, file = migration.name, database = %config.database, "applied migration");
        done.push(AppliedMigration {
            version: migration.version,
            name: migration.name.to_owned(),
        });
    }
    Ok(done)
}

async fn within<T>(
    limit: Duration,
    statement: &str,
    call: impl Future<Output = T>,
) -> Result<T, MigrationError> {
    tokio::time::timeout(limit, call)
        .await
        .map_err(|_| MigrationError::TimedOut {
            statement: statement.to_owned(),
            after: limit,
        })
}

fn bookkeeping(statement: &str, source: clickhouse::error::Error) -> MigrationError {
    MigrationError::Bookkeeping {
        statement: statement.to_owned(),
        source,
    }
}

async fn run_bookkeeping(
    limit: Duration,
    statement: &str,
    client: Client,
) -> Result<(), MigrationError> {
    let result = within(limit, statement, client.query_raw(statement).execute()).await?;
    tolerate_concurrent_creation(statement, result).map_err(|source| bookkeeping(statement, source))
}

async fn run_statement(
    limit: Duration,
    client: &Client,
    file: &'static str,
    statement: &str,
) -> Result<(), MigrationError> {
    // Raw: a `?` in a migration is SQL, not a bind placeholder.
    let result = within(limit, statement, client.query_raw(statement).execute()).await?;
    tolerate_concurrent_creation(statement, result).map_err(|source| MigrationError::Statement {
        file,
        statement: statement.to_owned(),
        source,
    })
}

/// Two runners creating the same object at once: the loser of the race may hear "already
/// exists" (57 TABLE_ALREADY_EXISTS, 82 DATABASE_ALREADY_EXISTS) despite `IF NOT EXISTS`.
/// The object exists, which is what the statement asked for.
fn tolerate_concurrent_creation(
    statement: &str,
    result: clickhouse::error::Result<()>,
) -> clickhouse::error::Result<()> {
    match result {
        Err(clickhouse::error::Error::BadResponse(text))
            if matches!(exception_code(&text), Some(57 | 82))
                && statement.to_ascii_uppercase().contains("IF NOT EXISTS") =>
        {
            Ok(())
        }
        other => other,
    }
}

async fn record(
    limit: Duration,
    client: &Client,
    migration: &EmbeddedMigration,
    checksum: &str,
) -> Result<(), MigrationError> {
    let applied_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| u32::try_from(since.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0);
    let row = MigrationRecord {
        version: migration.version,
        name: migration.name,
        checksum,
        applied_at,
    };
    let write = async {
        let mut insert = client
            .insert::<MigrationRecord<'_>>("schema_migrations")
            .await?;
        insert.write(&row).await?;
        insert.end().await
    };
    within(limit, INSERT_APPLIED, write)
        .await?
        .map_err(|source| bookkeeping(INSERT_APPLIED, source))
}

/// `[A-Za-z_][A-Za-z0-9_]*`
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// FNV-1a (64 bit) of the file's text, in hex: enough to notice that an applied file changed.
fn checksum(sql: &str) -> String {
    let hash = sql.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("fnv1a64:{hash:016x}")
}

/// Splits a file into statements at `;`, dropping `--` and `/* */` comments and empty
/// statements. Semicolons and comment markers inside quotes ('text', "name", `name`) are kept.
fn split_statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                current.push(c);
                while let Some(inner) = chars.next() {
                    current.push(inner);
                    if inner == '\\' {
                        if let Some(escaped) = chars.next() {
                            current.push(escaped);
                        }
                    } else if inner == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for skipped in chars.by_ref() {
                    if skipped == '\n' {
                        current.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut previous = ' ';
                for skipped in chars.by_ref() {
                    if previous == '*' && skipped == '/' {
                        break;
                    }
                    previous = skipped;
                }
                current.push(' ');
            }
            ';' => statements.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    statements.push(current);
    statements
        .into_iter()
        .map(|statement| statement.trim().to_owned())
        .filter(|statement| !statement.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_embeds_the_migrations_folder_in_version_order() {
        let migrations = embedded_migrations();
        assert!(!migrations.is_empty());
        assert_eq!(migrations[0].version, 1);
        assert_eq!(migrations[0].name, "001_create_logs.sql");
        assert!(
            migrations[0]
                .sql
                .contains("CREATE TABLE IF NOT EXISTS logs")
        );
        assert!(
            migrations
                .windows(2)
                .all(|pair| pair[0].version < pair[1].version)
        );
    }

    #[test]
    fn the_cluster_migrations_have_the_same_versions_and_run_every_statement_on_the_cluster() {
        let versions = |set: &[EmbeddedMigration]| -> Vec<u32> {
            set.iter().map(|migration| migration.version).collect()
        };
        assert_eq!(
            versions(embedded_cluster_migrations()),
            versions(embedded_migrations()),
            "every migration has its cluster twin in migrations/cluster/"
        );
        let config = ClickHouseConfig {
            database: "obs".into(),
            cluster: "logs_cluster".into(),
            ..ClickHouseConfig::default()
        };
        for migration in embedded_cluster_migrations() {
            for statement in split_statements(migration.sql) {
                let filled = for_cluster(&statement, &config);
                assert!(filled.contains("ON CLUSTER logs_cluster"), "{filled}");
                assert!(!filled.contains("${"), "{filled}");
            }
        }
        let single = ClickHouseConfig::default();
        assert_eq!(for_cluster("SELECT '${x}'", &single), "SELECT '${x}'");
    }

    #[tokio::test]
    async fn an_invalid_cluster_name_is_refused_before_any_io() {
        let config = ClickHouseConfig {
            url: "http://127.0.0.1:1".into(),
            cluster: "c` ; DROP".into(),
            ..ClickHouseConfig::default()
        };
        let error = apply_migrations(&config).await.unwrap_err();
        assert!(matches!(error, MigrationError::InvalidClusterName(_)));
        assert!(!error.is_retryable());
    }

    #[test]
    fn statements_are_split_at_semicolons_without_comments_or_empty_ones() {
        let sql = "-- header; with a semicolon\n\
                   CREATE TABLE a (x UInt8) ENGINE = Memory; -- trailing\n\
                   /* block; comment */ ;\n\
                   INSERT INTO a VALUES (1);\n\n;";
        assert_eq!(
            split_statements(sql),
            [
                "CREATE TABLE a (x UInt8) ENGINE = Memory",
                "INSERT INTO a VALUES (1)"
            ]
        );
    }

    #[test]
    fn quoted_semicolons_and_dashes_stay_in_their_statement() {
        let sql = r#"SELECT 'a;b -- c', "x;y", `p;q`, 'it\'s; fine' -- gone
FROM t; SELECT 2"#;
        assert_eq!(
            split_statements(sql),
            [
                "SELECT 'a;b -- c', \"x;y\", `p;q`, 'it\\'s; fine' \nFROM t",
                "SELECT 2"
            ]
        );
    }

    #[test]
    fn the_logs_migration_is_one_statement_without_comments() {
        let statements = split_statements(embedded_migrations()[0].sql);
        assert_eq!(statements.len(), 1, "{statements:?}");
        assert!(statements[0].starts_with("CREATE TABLE IF NOT EXISTS logs"));
        assert!(!statements[0].contains("--"));
    }

    #[test]
    fn already_exists_is_success_only_for_if_not_exists_statements() {
        // ClickHouse 18.16's answers to a CREATE without IF NOT EXISTS of an existing object.
        let table = "Code: 57, e.displayText() = DB::Exception: Table probe.t already exists., e.what() = DB::Exception";
        let database = "Code: 82, e.displayText() = DB::Exception: Database probe already exists., e.what() = DB::Exception";
        let answer = |text: &str| Err(clickhouse::error::Error::BadResponse(text.into()));

        for text in [table, database] {
            assert!(
                tolerate_concurrent_creation("CREATE TABLE IF NOT EXISTS t", answer(text)).is_ok()
            );
            assert!(
                tolerate_concurrent_creation("create database if not exists d", answer(text))
                    .is_ok()
            );
            assert!(tolerate_concurrent_creation("CREATE TABLE t", answer(text)).is_err());
        }
        let syntax =
            "Code: 62, e.displayText() = DB::Exception: Syntax error, e.what() = DB::Exception";
        assert!(
            tolerate_concurrent_creation("CREATE TABLE IF NOT EXISTS t", answer(syntax)).is_err()
        );
    }

    #[test]
    fn only_plain_identifiers_are_database_names() {
        for good in ["observability", "_x", "test_123_abc", "A"] {
            assert!(is_identifier(good), "{good}");
        }
        for bad in ["", "1abc", "a-b", "a b", "a`b", "db; DROP", "é"] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn checksums_are_stable_and_tell_texts_apart() {
        assert_eq!(checksum(""), "fnv1a64:cbf29ce484222325");
        assert_eq!(checksum("a"), "fnv1a64:af63dc4c8601ec8c");
        assert_ne!(checksum("CREATE x"), checksum("CREATE y"));
    }

    #[tokio::test]
    async fn an_invalid_database_name_is_refused_before_any_io() {
        let config = ClickHouseConfig {
            url: "http://127.0.0.1:1".into(),
            database: "x`; DROP DATABASE y".into(),
            ..ClickHouseConfig::default()
        };
        let error = apply_migrations(&config).await.unwrap_err();
        assert!(matches!(error, MigrationError::InvalidDatabaseName(_)));
        assert!(!error.is_retryable());
    }
}
