//! Hostile values in every filter parameter, against the real server: each is either matched
//! literally (the answer is exactly what `Filter::matches` accepts, and never an error) or
//! refused by validation before any SQL exists.

use application::ports::{LogReader, LogWriter};
use application::testing::store_contract::custom_event;
use domain::limits::{METADATA_VALUE_MAX_BYTES, SEARCH_MAX_CHARS};
use domain::{
    Cursor, EventId, Filter, FilterDraft, Level, LogEvent, SortOrder, Timestamp, TraceId,
};

use crate::common::TestDatabase;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn at(seconds: u64) -> Timestamp {
    Timestamp::from_unix_nanos(1_777_975_200_000_000_000 + seconds * 1_000_000_000)
}

/// Strings that break naive SQL building, pattern matching or text handling.
fn hostile_strings() -> Vec<String> {
    let mut strings: Vec<String> = [
        "x' OR 1=1 --",
        "'); DROP TABLE logs; --",
        r"back\slash",
        r"trailing\",
        r"\'",
        r"\\'",
        "100%",
        "%",
        "_",
        "a_b",
        "what?",
        "?fields",
        "{name:String}",
        "$1 %s {}",
        "\"double\" `tick`",
        "日本語のテキスト",
        "ünïcödé ÜNÏCÖDÉ",
        "emoji 🚀✓",
        "line\nbreak\ttab\r",
        "nul\0byte",
        "(?i)abc.*[",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    strings.push("long ".repeat(1600));
    strings
}

/// `text` as one `q` phrase: quoted, its backslashes and double quotes escaped.
fn as_phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The ids `filter` selects from `corpus`, newest first, as the store must return them.
fn expected_ids(corpus: &[LogEvent], filter: &Filter) -> Vec<EventId> {
    let mut matching: Vec<&LogEvent> = corpus.iter().filter(|e| filter.matches(e)).collect();
    matching.sort_by_key(|event| (event.timestamp(), event.id()));
    matching.reverse();
    matching.iter().map(|event| event.id()).collect()
}

async fn found_ids(store: &dyn LogReader, filter: &Filter) -> Vec<EventId> {
    let page = filter.clone().paged(SortOrder::Descending, None);
    store
        .query(&page)
        .await
        .unwrap_or_else(|error| panic!("{filter:?} failed: {error:?}"))
        .iter()
        .map(LogEvent::id)
        .collect()
}

#[tokio::test]
async fn hostile_search_text_is_matched_literally_as_words_and_as_phrases() {
    let database = TestDatabase::migrated().await;
    let store = database.store();
    let strings = hostile_strings();
    let corpus: Vec<LogEvent> = strings
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let message = format!("before {text} after");
            custom_event("svc", Level::Info, &message, at(i as u64), &[], TRACE)
        })
        .chain([custom_event(
            "svc",
            Level::Info,
            "1000 aXb whatX plain text",
            at(100),
            &[],
            TRACE,
        )])
        .collect();
    store.insert(&corpus).await.unwrap();

    for text in &strings {
        let phrase = as_phrase(text);
        let q = if phrase.chars().count() > SEARCH_MAX_CHARS {
            text.chars().take(SEARCH_MAX_CHARS - 2).collect::<String>()
        } else {
            phrase
        };
        for q in [q, text.clone()] {
            let Ok(filter) = Filter::from_draft(FilterDraft {
                q: Some(q.clone()),
                ..FilterDraft::default()
            }) else {
                // Refused by validation (too long, unclosed quote): never reaches the store.
                continue;
            };
            let found = found_ids(&store, &filter).await;
            assert_eq!(found, expected_ids(&corpus, &filter), "q={q:?}");
            if filter.text().is_some() {
                assert!(!found.is_empty(), "q={q:?} found nothing");
            }
        }
    }
    database.drop().await;
}

#[tokio::test]
async fn hostile_metadata_keys_and_values_are_matched_exactly() {
    let database = TestDatabase::migrated().await;
    let store = database.store();
    let strings = hostile_strings();
    let long_value = "v".repeat(METADATA_VALUE_MAX_BYTES);
    let corpus: Vec<LogEvent> = strings
        .iter()
        .enumerate()
        .map(|(i, text)| {
            // Keys have at most 128 characters and no control characters.
            let key: String = text.chars().filter(|c| !c.is_control()).take(128).collect();
            custom_event(
                "svc",
                Level::Info,
                "m",
                at(i as u64),
                &[(key.as_str(), text.as_str()), ("plain", text.as_str())],
                TRACE,
            )
        })
        .chain([custom_event(
            "svc",
            Level::Info,
            "m",
            at(100),
            &[
                ("plain", long_value.as_str()),
                ("a_b", "aXb"),
                ("%", "1000"),
            ],
            TRACE,
        )])
        .collect();
    store.insert(&corpus).await.unwrap();

    let mut conditions: Vec<(String, String)> = strings
        .iter()
        .flat_map(|text| {
            let key: String = text.chars().filter(|c| !c.is_control()).take(128).collect();
            [(key, text.clone()), ("plain".to_owned(), text.clone())]
        })
        .collect();
    conditions.push(("plain".into(), long_value.clone()));
    conditions.push(("a_b".into(), "a_b".into()));
    conditions.push(("%".into(), "%".into()));
    for (key, value) in conditions {
        let filter = Filter::from_draft(FilterDraft {
            metadata: vec![(key.clone(), value.clone())],
            ..FilterDraft::default()
        })
        .unwrap();
        let found = found_ids(&store, &filter).await;
        let expected = expected_ids(&corpus, &filter);
        assert_eq!(found, expected, "metadata.{key:?}={:.40?}", value);
    }
    database.drop().await;
}

#[tokio::test]
async fn hostile_trace_ids_and_cursors_are_refused_before_any_sql_and_valid_forms_match() {
    for text in hostile_strings() {
        let trace = Filter::from_draft(FilterDraft {
            trace_id: Some(text.clone()),
            ..FilterDraft::default()
        });
        assert_eq!(trace.unwrap_err().field(), "trace_id", "{text:?}");
        let cursor = Filter::from_draft(FilterDraft {
            cursor: Some(text.clone()),
            ..FilterDraft::default()
        });
        assert_eq!(cursor.unwrap_err().field(), "cursor", "{text:?}");
    }

    let database = TestDatabase::migrated().await;
    let store = database.store();
    let corpus: Vec<LogEvent> = (0..4)
        .map(|i| custom_event("svc", Level::Info, "m", at(i), &[], TRACE))
        .collect();
    store.insert(&corpus).await.unwrap();
    let upper_case_trace = Filter::from_draft(FilterDraft {
        trace_id: Some(format!("  {}  ", TRACE.to_uppercase())),
        ..FilterDraft::default()
    })
    .unwrap();
    assert_eq!(
        upper_case_trace.trace_id(),
        Some(TraceId::parse(TRACE).unwrap())
    );
    assert_eq!(found_ids(&store, &upper_case_trace).await.len(), 4);
    let after_second_newest = Filter::from_draft(FilterDraft {
        cursor: Some(Cursor::after(&corpus[2], SortOrder::Descending).encode()),
        ..FilterDraft::default()
    })
    .unwrap();
    let page = store.query(&after_second_newest).await.unwrap();
    assert_eq!(
        page.iter().map(LogEvent::id).collect::<Vec<_>>(),
        [corpus[1].id(), corpus[0].id()]
    );
    database.drop().await;
}
