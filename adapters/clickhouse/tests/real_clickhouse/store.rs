//! `ClickHouseLogStore` against a real server.

use std::collections::BTreeMap;

use application::ports::{LogReader, LogWriter, StoreError};
use application::testing::sample_event;
use clickhouse_adapter::{ClickHouseConfig, ClickHouseLogStore, testing};
use domain::{
    EventId, Filter, FilterDraft, Level, LogEvent, LogEventParts, Message, Metadata, ServiceName,
    SpanId, Timestamp, TraceId,
};

use crate::common::TestDatabase;

const MAY_5_2026: u64 = 1_777_975_200_000_000_000;

fn at(nanos_after: u64) -> Timestamp {
    Timestamp::from_unix_nanos(MAY_5_2026 + nanos_after)
}

fn filter(draft: FilterDraft) -> Filter {
    Filter::from_draft(draft).unwrap()
}

fn only_service(service: &str) -> Filter {
    filter(FilterDraft {
        services: vec![service.into()],
        ..FilterDraft::default()
    })
}

/// An event with every field set to awkward values; guards the row struct against the schema,
/// which the server does not check for RowBinary inserts.
fn awkward_event(level: Level, nanos_after: u64, span_id: Option<SpanId>) -> LogEvent {
    let metadata: BTreeMap<String, String> = [
        ("user_id", "42"),
        ("émoji 🚀", "日本語のテキスト"),
        ("quote'key", "it's \"quoted\""),
        ("back\\slash", r"C:\temp\new\x00 \\ \' \n"),
        ("multi", "line one\nline two\ttabbed\r\n"),
        ("sql", "'); DROP TABLE logs; --"),
        ("empty", ""),
        ("nul", "a\0b"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect();
    LogEvent::from_parts(LogEventParts {
        id: EventId::generate(),
        timestamp: at(nanos_after),
        observed_timestamp: at(nanos_after + 987_654_321),
        service: ServiceName::parse("päyments-ß 服务", "service").unwrap(),
        level,
        message: Message::new(format!(
            "  {level} with 'quotes', \"doubles\", back\\slashes, ; -- and ? marks\n\tand ünïcödé ✓  "
        ))
        .unwrap(),
        metadata: Metadata::new(metadata).unwrap(),
        trace_id: TraceId::parse("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        span_id,
    })
}

#[tokio::test]
async fn an_event_with_every_field_set_round_trips_exactly() {
    let database = TestDatabase::migrated().await;
    let store = database.store();
    let span = Some(SpanId::parse("00f067aa0ba902b7").unwrap());
    let mut events: Vec<LogEvent> = Level::ALL
        .into_iter()
        .enumerate()
        .map(|(i, level)| {
            let span_id = if i % 2 == 0 { span } else { None };
            awkward_event(level, i as u64 * 1_000 + 7, span_id)
        })
        .collect();
    let largest = LogEvent::from_parts(LogEventParts {
        message: Message::new("m".repeat(domain::limits::MESSAGE_MAX_BYTES)).unwrap(),
        metadata: Metadata::new(
            (0..domain::limits::METADATA_MAX_ENTRIES)
                .map(|i| {
                    (
                        format!("k{i:03}"),
                        "v".repeat(domain::limits::METADATA_VALUE_MAX_BYTES),
                    )
                })
                .collect(),
        )
        .unwrap(),
        ..awkward_event(Level::Info, 10_000, None).into_parts()
    });
    events.push(largest);
    store.insert(&events).await.unwrap();

    let read = store
        .query(&filter(FilterDraft {
            order: Some("asc".into()),
            ..FilterDraft::default()
        }))
        .await
        .unwrap();

    assert_eq!(read.len(), events.len());
    for (read, written) in read.iter().zip(&events) {
        assert_eq!(read, written);
    }
    database.drop().await;
}

/// The table's columns as the server names them, read independently of the adapter's row.
#[derive(Debug, PartialEq, clickhouse::Row, serde::Deserialize)]
struct StoredColumns {
    timestamp: u64,
    observed_timestamp: u64,
    id: String,
    trace_id: String,
    span_id: String,
    service: String,
    level: String,
    message: String,
    metadata_keys: Vec<String>,
    metadata_values: Vec<String>,
}

impl StoredColumns {
    fn expected(event: &LogEvent) -> Self {
        Self {
            timestamp: event.timestamp().unix_nanos(),
            observed_timestamp: event.observed_timestamp().unix_nanos(),
            id: event.id().to_string(),
            trace_id: event.trace_id().to_string(),
            span_id: event.span_id().map(|s| s.to_string()).unwrap_or_default(),
            service: event.service().to_string(),
            level: event.level().as_str().to_owned(),
            message: event.message().as_str().to_owned(),
            metadata_keys: event.metadata().iter().map(|(k, _)| k.to_owned()).collect(),
            metadata_values: event.metadata().iter().map(|(_, v)| v.to_owned()).collect(),
        }
    }
}

#[tokio::test]
async fn each_field_lands_in_the_column_of_its_name_with_the_level_named_in_the_enum() {
    // A round trip alone would not notice a symmetric mix-up (two fields swapped, a wrong
    // level number used both ways); reading the columns by name does.
    let database = TestDatabase::migrated().await;
    let span = Some(SpanId::parse("00f067aa0ba902b7").unwrap());
    let events: Vec<LogEvent> = Level::ALL
        .into_iter()
        .enumerate()
        .map(|(i, level)| awkward_event(level, i as u64, if i == 0 { span } else { None }))
        .collect();
    database.store().insert(&events).await.unwrap();

    let stored = database
        .client()
        .query(
            "SELECT timestamp, observed_timestamp, id, trace_id, span_id, service, \
             toString(level), message, metadata_keys, metadata_values FROM logs ORDER BY timestamp",
        )
        .fetch_all::<StoredColumns>()
        .await
        .unwrap();

    let expected: Vec<StoredColumns> = events.iter().map(StoredColumns::expected).collect();
    assert_eq!(stored, expected);
    database.drop().await;
}

#[tokio::test]
async fn hostile_filter_values_match_literally_and_do_not_error() {
    let database = TestDatabase::migrated().await;
    let store = database.store();
    let services = [
        "x' OR 1=1 --",
        r"back\slash",
        r"trailing\",
        "100%",
        "1000",
        "a_b",
        "aXb",
        "what?",
        "\"double\" `tick`",
        "plain",
    ];
    let events: Vec<LogEvent> = services
        .iter()
        .enumerate()
        .map(|(i, service)| sample_event(service, Level::Info, service, at(i as u64)))
        .collect();
    store.insert(&events).await.unwrap();

    for service in services {
        let found = store.query(&only_service(service)).await.unwrap();
        let names: Vec<&str> = found.iter().map(|e| e.service().as_str()).collect();
        assert_eq!(names, [service], "filter on {service:?}");
    }
    let several = filter(FilterDraft {
        services: vec!["x' OR 1=1 --".into(), "plain".into(), "nobody'); --".into()],
        ..FilterDraft::default()
    });
    let found = store.query(&several).await.unwrap();
    let names: Vec<&str> = found.iter().map(|e| e.service().as_str()).collect();
    assert_eq!(names, ["plain", "x' OR 1=1 --"]);
    assert!(store.query(&only_service("%")).await.unwrap().is_empty());
    assert!(store.query(&only_service("_")).await.unwrap().is_empty());
    database.drop().await;
}

#[tokio::test]
async fn events_at_the_same_instant_are_ordered_by_id() {
    let database = TestDatabase::migrated().await;
    let store = database.store();
    let events: Vec<LogEvent> = (0..5)
        .map(|i| sample_event("svc", Level::Info, &format!("m{i}"), at(0)))
        .collect();
    store.insert(&events).await.unwrap();
    let mut ids: Vec<EventId> = events.iter().map(LogEvent::id).collect();
    ids.sort();

    let ascending = store
        .query(&filter(FilterDraft {
            order: Some("asc".into()),
            ..FilterDraft::default()
        }))
        .await
        .unwrap();
    assert_eq!(ascending.iter().map(LogEvent::id).collect::<Vec<_>>(), ids);
    let newest_first = store.query(&Filter::default()).await.unwrap();
    ids.reverse();
    assert_eq!(
        newest_first.iter().map(LogEvent::id).collect::<Vec<_>>(),
        ids
    );
    database.drop().await;
}

fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn a_server_that_cannot_be_reached_is_unavailable_for_every_call() {
    let store = ClickHouseLogStore::new(&ClickHouseConfig {
        url: closed_port_url(),
        ..ClickHouseConfig::default()
    });
    let event = sample_event("svc", Level::Info, "m", at(0));

    let insert = store.insert(&[event]).await.unwrap_err();
    let query = store.query(&Filter::default()).await.unwrap_err();
    let health = LogReader::health(&store).await.unwrap_err();

    for error in [insert, query, health] {
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    }
}

#[tokio::test]
async fn a_server_that_does_not_answer_in_time_is_unavailable_and_a_query_timed_out() {
    // Accepts connections but never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let silent = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let store = ClickHouseLogStore::new(&ClickHouseConfig {
        url,
        query_timeout_ms: 200,
        insert_timeout_ms: 200,
        ..ClickHouseConfig::default()
    });

    let insert = store
        .insert(&[sample_event("svc", Level::Info, "m", at(0))])
        .await
        .unwrap_err();
    let query = store.query(&Filter::default()).await.unwrap_err();
    let health = LogReader::health(&store).await.unwrap_err();

    for error in [insert, health] {
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    }
    // For a query of logs, no answer in time is a query that took too long.
    assert!(matches!(query, StoreError::TimedOut(_)), "{query:?}");
    silent.abort();
}

#[tokio::test]
async fn a_database_without_the_logs_table_is_unavailable_until_migrated() {
    let database = TestDatabase::empty().await;
    let store = database.store();
    let event = sample_event("svc", Level::Info, "m", at(0));

    let insert = store
        .insert(std::slice::from_ref(&event))
        .await
        .unwrap_err();
    let query = store.query(&Filter::default()).await.unwrap_err();

    assert!(matches!(insert, StoreError::Unavailable(_)), "{insert:?}");
    assert!(matches!(query, StoreError::Unavailable(_)), "{query:?}");
    assert!(insert.is_retryable());
    LogWriter::health(&store).await.unwrap();
    database.drop().await;
}

#[tokio::test]
async fn a_store_whose_database_does_not_exist_is_unavailable() {
    let store = ClickHouseLogStore::new(&crate::common::config_for_new_database());
    let health = LogReader::health(&store).await.unwrap_err();
    let insert = store
        .insert(&[sample_event("svc", Level::Info, "m", at(0))])
        .await
        .unwrap_err();
    assert!(matches!(health, StoreError::Unavailable(_)), "{health:?}");
    assert!(matches!(insert, StoreError::Unavailable(_)), "{insert:?}");
}

#[tokio::test]
async fn rows_the_table_cannot_hold_are_rejected() {
    let database = TestDatabase::empty().await;
    // The last column holds numbers where the adapter sends strings: the server runs out of
    // bytes reading the row.
    database
        .client()
        .query(
            "CREATE TABLE logs (timestamp UInt64, observed_timestamp UInt64, id String, \
             trace_id String, span_id String, service String, \
             level Enum8('TRACE' = 1, 'DEBUG' = 5, 'INFO' = 9, 'WARN' = 13, 'ERROR' = 17, 'FATAL' = 21), \
             message String, metadata_keys Array(String), metadata_values Array(UInt64)) \
             ENGINE = MergeTree ORDER BY timestamp",
        )
        .execute()
        .await
        .unwrap();
    let store = database.store();

    let error = store
        .insert(&[sample_event("svc", Level::Info, "m", at(0))])
        .await
        .unwrap_err();

    assert!(matches!(error, StoreError::Rejected(_)), "{error:?}");
    assert!(!error.is_retryable());
    database.drop().await;
}

#[tokio::test]
async fn a_healthy_server_answers_the_health_check() {
    let database = TestDatabase::migrated().await;
    LogWriter::health(&database.store()).await.unwrap();
    database.drop().await;
}

#[tokio::test]
async fn a_query_stopped_by_the_server_time_limit_is_a_timeout() {
    let database = TestDatabase::empty().await;

    let error = database
        .client()
        .query("SELECT sleep(0.5) FROM numbers(5)")
        .with_setting("max_execution_time", "1")
        .with_setting("max_block_size", "1")
        .with_setting("wait_end_of_query", "1")
        .fetch_all::<u8>()
        .await
        .unwrap_err();

    let error = testing::query_error(error);
    assert!(matches!(error, StoreError::TimedOut(_)), "{error:?}");
    database.drop().await;
}

#[tokio::test]
async fn a_service_filter_uses_the_primary_key_in_both_steps_of_a_page_read() {
    let database = TestDatabase::migrated().await;
    let store = database.store();
    let event = sample_event("auth", Level::Info, "m", at(0));
    store.insert(std::slice::from_ref(&event)).await.unwrap();
    let filter = Filter::from_draft(FilterDraft {
        services: vec!["auth".into(), "billing".into()],
        ..FilterDraft::default()
    })
    .unwrap();

    // `has(['auth'], service)` could not use the index on 18.16; `force_primary_key` makes the
    // server refuse such a step (code 277) instead of scanning.
    let ids = testing::page_ids_with_primary_key_forced(&store, &filter)
        .await
        .unwrap();

    assert_eq!(ids, [event.id().to_string()]);
    database.drop().await;
}
