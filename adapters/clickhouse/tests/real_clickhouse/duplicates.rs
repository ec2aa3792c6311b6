//! At-least-once delivery stores some events twice; the query use case over the real store still
//! returns each event once, page after page.

use std::sync::Arc;

use application::QueryUseCase;
use application::ports::LogWriter;
use application::testing::sample_event;
use domain::{FilterDraft, Level, Timestamp};

use crate::common::TestDatabase;

#[tokio::test]
async fn events_stored_twice_are_returned_once_across_cursor_pages() {
    let database = TestDatabase::migrated().await;
    let store = database.store();
    let now = Timestamp::now().unix_nanos();
    let events: Vec<_> = (0..1500u64)
        .map(|i| {
            sample_event(
                "dup",
                Level::Info,
                &format!("e{i}"),
                Timestamp::from_unix_nanos(now - i * 1_000_000),
            )
        })
        .collect();
    store.insert(&events).await.unwrap();
    // Batches of 20 inserted twice, spread over the range, as a crashing worker would.
    for start in (0..1500).step_by(100) {
        store.insert(&events[start..start + 20]).await.unwrap();
    }
    let queries = QueryUseCase::new(Arc::new(store));

    let mut seen = std::collections::HashSet::new();
    let mut cursor = None;
    let mut pages = Vec::new();
    loop {
        let page = queries
            .query(FilterDraft {
                limit: Some("1000".into()),
                cursor: cursor.clone(),
                ..FilterDraft::default()
            })
            .await
            .unwrap();
        pages.push(page.logs.len());
        for event in &page.logs {
            assert!(seen.insert(event.id()), "{} returned twice", event.id());
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next.encode()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 1500, "pages: {pages:?}");
    database.drop().await;
}

/// A full batch of the worker's default size (20,000 events) retried after an attempt of unknown
/// outcome that did store all but ten: the look-up (ids longer than the server's default query
/// size) finds every stored one, and only the events the attempt did not hold are inserted.
#[tokio::test]
async fn a_retried_full_batch_adds_only_its_missing_events() {
    let database = TestDatabase::migrated().await;
    let store = database.store();
    let now = Timestamp::now().unix_nanos();
    let events: Vec<_> = (0..20_000u64)
        .map(|i| {
            let level = if i % 3 == 0 { Level::Warn } else { Level::Info };
            sample_event(
                &format!("svc-{}", i % 7),
                level,
                &format!("e{i}"),
                Timestamp::from_unix_nanos(now - i * 1_000_000),
            )
        })
        .collect();
    store.insert(&events[..19_990]).await.unwrap();

    let inserted = store.insert_unless_stored(&events).await.unwrap();

    assert_eq!(inserted, 10);
    let rows = database
        .client()
        .query("SELECT count(), uniqExact(id) FROM logs")
        .fetch_one::<(u64, u64)>()
        .await
        .unwrap();
    assert_eq!(rows, (20_000, 20_000));
    database.drop().await;
}
