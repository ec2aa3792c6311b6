//! Retention: dropping whole daily partitions of `logs` that lie entirely before a cutoff.
//! `ALTER TABLE ... DROP PARTITION` is instant and works the same on ClickHouse 18.16 and current
//! releases (TTL, the usual way today, does not exist on 18.16). On a cluster the days are
//! listed from every node (`cluster()`) and dropped `ON CLUSTER` from every shard's
//! `logs_local`.

use std::time::Duration;

use application::ports::{LogRetention, StoreError};
use async_trait::async_trait;
use clickhouse::Client;
use domain::Timestamp;
use serde::Deserialize;
use time::{Date, Month};
use tracing::info;

use crate::config::ClickHouseConfig;
use crate::errors::{Operation, classify};
use crate::migrations::is_identifier;

const NANOS_PER_DAY: u64 = 86_400 * 1_000_000_000;

/// Drops old days of logs from ClickHouse.
#[derive(Clone)]
pub struct ClickHouseRetention {
    client: Client,
    database: String,
    cluster: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for ClickHouseRetention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseRetention")
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Partition {
    partition: String,
}

impl ClickHouseRetention {
    pub fn new(config: &ClickHouseConfig) -> Self {
        Self {
            client: config.database_client(),
            database: config.database.clone(),
            cluster: config.cluster().map(str::to_owned),
            timeout: match config.cluster() {
                // An ON CLUSTER statement waits until every node ran it.
                Some(_) => config.query_timeout().max(Duration::from_secs(180)),
                None => config.query_timeout(),
            },
        }
    }

    async fn within_timeout<T>(
        &self,
        call: impl std::future::Future<Output = clickhouse::error::Result<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result.map_err(|error| classify(error, Operation::Read)),
            Err(_) => Err(StoreError::Unavailable(
                "retention statement timed out".into(),
            )),
        }
    }
}

/// The day a partition name such as `2026-05-05` stands for; `None` for any other name.
fn partition_day(name: &str) -> Option<Date> {
    let mut parts = name.split('-');
    let (Some(year), Some(month), Some(day), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    let month = Month::try_from(month.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()
}

/// Whether every event of `day` happened before `cutoff`.
fn ends_before(day: Date, cutoff: Timestamp) -> bool {
    let days_since_epoch =
        (day - Date::from_calendar_date(1970, Month::January, 1).unwrap_or(Date::MIN)).whole_days();
    u64::try_from(days_since_epoch + 1)
        .map(|end_day| end_day.saturating_mul(NANOS_PER_DAY) <= cutoff.unix_nanos())
        .unwrap_or(true)
}

#[async_trait]
impl LogRetention for ClickHouseRetention {
    async fn drop_days_before(&self, cutoff: Timestamp) -> Result<Vec<String>, StoreError> {
        let list = match &self.cluster {
            None => self
                .client
                .query(
                    "SELECT DISTINCT partition FROM system.parts \
                     WHERE database = ? AND table = 'logs' AND active ORDER BY partition",
                )
                .bind(self.database.as_str()),
            // The cluster name was checked to be an identifier by the migrations; bound as a
            // quoted literal, which `cluster()` takes.
            Some(cluster) => self
                .client
                .query(
                    "SELECT DISTINCT partition FROM cluster(?, system, parts) \
                     WHERE database = ? AND table = 'logs_local' AND active ORDER BY partition",
                )
                .bind(cluster.as_str())
                .bind(self.database.as_str()),
        };
        let partitions: Vec<Partition> = self.within_timeout(list.fetch_all::<Partition>()).await?;
        let mut dropped = Vec::new();
        for partition in partitions {
            let Some(day) = partition_day(&partition.partition) else {
                continue;
            };
            if !ends_before(day, cutoff) {
                continue;
            }
            // The name was checked to be a date above; the bound value is quoted by the client.
            let drop = match &self.cluster {
                None => self.client.query("ALTER TABLE logs DROP PARTITION ?"),
                // Qualified: each node runs the statement without this client's default
                // database.
                Some(cluster) if is_identifier(cluster) && is_identifier(&self.database) => {
                    self.client.query(&format!(
                        "ALTER TABLE {}.logs_local ON CLUSTER {cluster} DROP PARTITION ?",
                        self.database
                    ))
                }
                Some(cluster) => {
                    return Err(StoreError::Failed(
                        format!(
                            "cluster {cluster:?} or database {:?} is not an identifier",
                            self.database
                        )
                        .into(),
                    ));
                }
            };
            self.within_timeout(drop.bind(partition.partition.as_str()).execute())
                .await?;
            info!(partition = %partition.partition, "dropped partition past retention");
            dropped.push(partition.partition);
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_date_shaped_partition_names_are_days() {
        assert_eq!(
            partition_day("2026-05-05"),
            Date::from_calendar_date(2026, Month::May, 5).ok()
        );
        for name in [
            "",
            "2026-5-05",
            "20260505",
            "2026-13-01",
            "2026-05-05-x",
            "tuple()",
        ] {
            assert_eq!(partition_day(name), None, "{name}");
        }
    }

    #[test]
    fn a_day_is_dropped_only_once_it_ended_before_the_cutoff() {
        let day = Date::from_calendar_date(2026, Month::May, 5).unwrap();
        let may_6_midnight = Timestamp::parse_rfc3339("2026-05-06T00:00:00Z", "t").unwrap();
        assert!(ends_before(day, may_6_midnight));
        assert!(!ends_before(
            day,
            Timestamp::from_unix_nanos(may_6_midnight.unix_nanos() - 1)
        ));
    }
}
