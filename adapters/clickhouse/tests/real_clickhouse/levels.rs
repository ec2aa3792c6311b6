//! LogQL's `level` conditions on a table large enough for ClickHouse to read its primary key
//! (service, level, timestamp) through them: every matching row is counted.

use application::ports::LogReader;
use domain::{FieldCondition, FieldName, FieldOp, Filter, FilterDraft, GroupBy};

use crate::common::TestDatabase;

const ROWS: u64 = 1_000_000;

fn level_condition(op: FieldOp, value: &str) -> Filter {
    Filter::from_draft(FilterDraft {
        field_conditions: vec![FieldCondition::new(FieldName::Level, op, value).unwrap()],
        ..FilterDraft::default()
    })
    .unwrap()
}

async fn count(database: &TestDatabase, sql_condition: &str) -> u64 {
    database
        .client()
        .query(&format!("SELECT count() FROM logs WHERE {sql_condition}"))
        .fetch_one::<u64>()
        .await
        .unwrap()
}

/// 18.16 read `toString(level) = 'ERROR'` through the key as if the enum's names sorted like
/// its numbers, and skipped granules holding ERROR logs (139k of 167k counted here).
#[tokio::test]
async fn level_conditions_count_every_matching_row_of_a_million() {
    let database = TestDatabase::migrated().await;
    database
        .client()
        .query(&format!(
            "INSERT INTO logs (timestamp, observed_timestamp, id, trace_id, service, level, message) \
             SELECT 1777975200000000000 + number * 86400000 AS ts, ts, lower(hex(MD5(toString(number)))), \
             '0af7651916cd43dd8448eb211c80319c', \
             arrayElement(['a', 'b', 'c', 'd'], cityHash64(number, 2) % 4 + 1), \
             arrayElement(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'], cityHash64(number, 3) % 6 + 1), \
             'm' FROM numbers({ROWS})"
        ))
        .execute()
        .await
        .unwrap();
    let store = database.store();
    let errors = count(&database, "level = 'ERROR'").await;
    assert!(errors > ROWS / 10, "{errors}");
    let total = |groups: Vec<application::ports::GroupCount>| -> u64 {
        groups.iter().map(|group| group.count).sum()
    };

    let equal = store
        .count_by(&level_condition(FieldOp::Equal, "ERROR"), GroupBy::Service)
        .await
        .unwrap();
    assert_eq!(total(equal), errors);
    let not_equal = store
        .count_by(
            &level_condition(FieldOp::NotEqual, "ERROR"),
            GroupBy::Service,
        )
        .await
        .unwrap();
    assert_eq!(total(not_equal), ROWS - errors);
    let matches = store
        .count_by(
            &level_condition(FieldOp::Matches, "ERROR|FATAL"),
            GroupBy::Level,
        )
        .await
        .unwrap();
    assert_eq!(
        total(matches),
        count(&database, "level IN ('ERROR', 'FATAL')").await
    );
    // Not a level name as stored: no level equals it, every level differs from it.
    let lower = store
        .count_by(&level_condition(FieldOp::Equal, "error"), GroupBy::Service)
        .await
        .unwrap();
    assert_eq!(total(lower), 0);
    let not_lower = store
        .count_by(
            &level_condition(FieldOp::NotEqual, "error"),
            GroupBy::Service,
        )
        .await
        .unwrap();
    assert_eq!(total(not_lower), ROWS);
    let page = store
        .query(&level_condition(FieldOp::Equal, "FATAL"))
        .await
        .unwrap();
    assert!(!page.is_empty());
    assert!(page.iter().all(|event| event.level().as_str() == "FATAL"));
    database.drop().await;
}
