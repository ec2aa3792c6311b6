//! Settings of the ClickHouse store and of the migration runner.

use std::fmt;
use std::time::Duration;

use clickhouse::Client;
use serde::{Deserialize, Serialize};

/// Where ClickHouse lives, who we are, and how long to wait for it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ClickHouseConfig {
    /// The HTTP interface, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// The database holding the `logs` table; the migration runner creates it. Must be an
    /// identifier (`[A-Za-z_][A-Za-z0-9_]*`) for the migration runner.
    pub database: String,
    /// The ClickHouse user, sent in the `X-ClickHouse-User` header.
    pub user: String,
    /// Empty for a user without password. Never printed by `Debug`.
    pub password: String,
    /// The cluster (a name in the servers' `remote_servers`) whose nodes share the logs, with
    /// ZooKeeper and the `{shard}`/`{replica}` macros configured; empty for a single server.
    /// Set, migrations create a replicated `logs_local` table on every node and a Distributed
    /// `logs` table over them, the store writes and reads through `logs`, and retention drops
    /// days on every shard. Must be an identifier.
    pub cluster: String,
    /// Longest wait for a query or one migration statement, in milliseconds;
    /// past it the call fails as unavailable. Also sent as the server's `max_execution_time`
    /// (rounded up to whole seconds) so the server stops the query too.
    pub query_timeout_ms: u64,
    /// Longest wait for a health check (`SELECT 1`, what `/ready` asks), in milliseconds: short
    /// and separate from the query timeout, so that a server that hangs is reported down within
    /// about this long instead of after a query's whole deadline.
    pub health_timeout_ms: u64,
    /// Longest wait for one batch insert, in milliseconds; past it the insert fails as
    /// unavailable (the batch may or may not have been stored: delivery is at least once).
    pub insert_timeout_ms: u64,
    /// Longest an export may run, in milliseconds (also the longest wait for its next rows):
    /// sent as the export query's `max_execution_time`, rounded up to whole seconds.
    pub export_timeout_ms: u64,
    /// How request and answer bodies travel: LZ4-compressed (the default) or as they are.
    pub compression: ClickHouseCompression,
}

/// The compression of the bodies exchanged with ClickHouse over HTTP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClickHouseCompression {
    /// ClickHouse's LZ4 framing: fewer bytes on the network, some CPU on both sides.
    #[default]
    Lz4,
    /// Plain bodies: no compression CPU, more bytes (for ClickHouse on the same machine).
    None,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8123".into(),
            database: "observability".into(),
            user: "default".into(),
            password: String::new(),
            cluster: String::new(),
            query_timeout_ms: 10_000,
            health_timeout_ms: 1_000,
            insert_timeout_ms: 30_000,
            export_timeout_ms: 600_000,
            compression: ClickHouseCompression::default(),
        }
    }
}

impl fmt::Debug for ClickHouseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseConfig")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("user", &self.user)
            .field(
                "password",
                &if self.password.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("cluster", &self.cluster)
            .field("query_timeout_ms", &self.query_timeout_ms)
            .field("health_timeout_ms", &self.health_timeout_ms)
            .field("insert_timeout_ms", &self.insert_timeout_ms)
            .field("export_timeout_ms", &self.export_timeout_ms)
            .field("compression", &self.compression)
            .finish()
    }
}

impl ClickHouseConfig {
    /// The cluster's name, when the logs live on a cluster.
    pub(crate) fn cluster(&self) -> Option<&str> {
        Some(self.cluster.as_str()).filter(|name| !name.is_empty())
    }

    pub(crate) fn query_timeout(&self) -> Duration {
        Duration::from_millis(self.query_timeout_ms)
    }

    pub(crate) fn health_timeout(&self) -> Duration {
        Duration::from_millis(self.health_timeout_ms)
    }

    pub(crate) fn insert_timeout(&self) -> Duration {
        Duration::from_millis(self.insert_timeout_ms)
    }

    /// The query timeout in whole seconds, at least one, for the server's `max_execution_time`.
    pub(crate) fn max_execution_time_secs(&self) -> u64 {
        self.query_timeout_ms.div_ceil(1000).max(1)
    }

    pub(crate) fn export_timeout(&self) -> Duration {
        Duration::from_millis(self.export_timeout_ms)
    }

    /// A client for the server as a whole, without a default database (which may not exist yet).
    pub(crate) fn server_client(&self) -> Client {
        // ClickHouse 18.16 knows neither the `describe_include_subcolumns` setting nor the
        // `RowBinaryWithNamesAndTypes` format that validation needs: rows are sent as RowBinary,
        // and the tests guard the row struct against schema drift instead.
        Client::default()
            .with_url(&self.url)
            .with_user(&self.user)
            .with_password(&self.password)
            .with_compression(match self.compression {
                ClickHouseCompression::Lz4 => clickhouse::Compression::Lz4,
                ClickHouseCompression::None => clickhouse::Compression::None,
            })
            .with_validation(false)
    }

    /// A client whose default database is the configured one.
    pub(crate) fn database_client(&self) -> Client {
        self.server_client().with_database(&self.database)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_point_at_a_local_server_and_debug_hides_the_password() {
        let config = ClickHouseConfig {
            password: "s3cret".into(),
            ..ClickHouseConfig::default()
        };
        assert_eq!(config.url, "http://127.0.0.1:8123");
        assert_eq!(config.database, "observability");
        assert_eq!(config.user, "default");
        let printed = format!("{config:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
    }

    #[test]
    fn compression_is_lz4_by_default_and_read_as_lz4_or_none() {
        assert_eq!(
            ClickHouseConfig::default().compression,
            ClickHouseCompression::Lz4
        );
        let read = |text: &str| serde_json::from_str::<ClickHouseCompression>(text);
        assert_eq!(read(r#""none""#).unwrap(), ClickHouseCompression::None);
        assert_eq!(read(r#""lz4""#).unwrap(), ClickHouseCompression::Lz4);
        let error = read(r#""gzip""#).unwrap_err().to_string();
        assert!(error.contains("lz4") && error.contains("none"), "{error}");
    }

    #[test]
    fn the_server_timeout_is_rounded_up_to_whole_seconds() {
        let at = |ms| ClickHouseConfig {
            query_timeout_ms: ms,
            ..ClickHouseConfig::default()
        };
        assert_eq!(at(0).max_execution_time_secs(), 1);
        assert_eq!(at(1).max_execution_time_secs(), 1);
        assert_eq!(at(10_000).max_execution_time_secs(), 10);
        assert_eq!(at(10_001).max_execution_time_secs(), 11);
    }
}
