//! Retention against the real server: whole old days go, everything newer stays.

use application::ports::{LogRetention, LogWriter};
use application::testing::sample_event;
use clickhouse_adapter::ClickHouseRetention;
use domain::{Level, Timestamp};

use crate::common::TestDatabase;

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text, "t").unwrap()
}

#[tokio::test]
async fn days_that_ended_before_the_cutoff_are_dropped_and_later_days_kept() {
    let database = TestDatabase::migrated().await;
    let store = database.store();
    let now = Timestamp::now();
    store
        .insert(&[
            sample_event("svc", Level::Info, "jan 1", at("2026-01-01T10:00:00Z")),
            sample_event("svc", Level::Info, "jan 2", at("2026-01-02T23:59:59Z")),
            sample_event("svc", Level::Info, "jan 3", at("2026-01-03T00:00:00Z")),
            sample_event("svc", Level::Info, "today", now),
        ])
        .await
        .unwrap();
    let retention = ClickHouseRetention::new(&database.config);

    let dropped = retention
        .drop_days_before(at("2026-01-03T06:00:00Z"))
        .await
        .unwrap();

    assert_eq!(dropped, ["2026-01-01", "2026-01-02"]);
    let left: Vec<String> = database
        .client()
        .query("SELECT message FROM logs ORDER BY timestamp")
        .fetch_all::<String>()
        .await
        .unwrap();
    assert_eq!(left, ["jan 3", "today"]);
    assert!(
        retention
            .drop_days_before(at("2026-01-03T06:00:00Z"))
            .await
            .unwrap()
            .is_empty(),
        "idempotent"
    );
    database.drop().await;
}
