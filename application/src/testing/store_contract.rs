//! The behaviour every [`LogStore`] must show. Call each function with a fresh, empty store.
//!
//! The suite holds the in-memory store and ClickHouse to the same semantics; in particular
//! every store must select exactly the events [`Filter::matches`] accepts, which is what the
//! live tail uses to filter events without asking the store.

use std::collections::BTreeMap;

use domain::{
    Anchoring, Cursor, EventId, FieldCondition, FieldName, FieldOp, Filter, FilterDraft, GroupBy,
    HistogramInterval, Level, LineCondition, LineParser, LogEvent, LogEventParts, Message,
    Metadata, MetricKind, MetricSpec, ParsedLabel, Pattern, RangeFunction, SampleRows,
    SeriesGrouping, ServiceName, SortOrder, StepGrid, Timestamp, TraceId,
};

use super::sample_event;
use crate::ports::{
    ArrivalWindow, BucketCount, GroupCount, HistogramRequest, LogReader, LogWriter, MetricRequest,
    SampledCounts, SeriesSplit, WindowCount,
};

const TRACE_A: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACE_B: &str = "0af7651916cd43dd8448eb211c80319c";

fn at(seconds: u64) -> Timestamp {
    Timestamp::from_unix_nanos(1_777_975_200_000_000_000 + seconds * 1_000_000_000)
}

fn filter(draft: FilterDraft) -> Filter {
    #[allow(clippy::expect_used)]
    Filter::from_draft(draft).expect("valid filter")
}

fn messages(events: &[LogEvent]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event.message().as_str())
        .collect()
}

fn ids(events: &[LogEvent]) -> Vec<EventId> {
    events.iter().map(LogEvent::id).collect()
}

/// An event with exactly these fields, received one second after it happened.
#[allow(clippy::expect_used)]
pub fn custom_event(
    service: &str,
    level: Level,
    message: &str,
    timestamp: Timestamp,
    metadata: &[(&str, &str)],
    trace_id: &str,
) -> LogEvent {
    let entries: BTreeMap<String, String> = metadata
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    LogEvent::from_parts(LogEventParts {
        id: EventId::generate(),
        timestamp,
        observed_timestamp: timestamp.saturating_add_nanos(1_000_000_000),
        service: ServiceName::parse(service, "service").expect("valid service"),
        level,
        message: Message::new(message.to_owned()).expect("valid message"),
        metadata: Metadata::new(entries).expect("valid metadata"),
        trace_id: TraceId::parse(trace_id).expect("valid trace id"),
        span_id: None,
    })
}

/// The same event, received at `observed`.
pub fn received_at(event: LogEvent, observed: Timestamp) -> LogEvent {
    LogEvent::from_parts(LogEventParts {
        observed_timestamp: observed,
        ..event.into_parts()
    })
}

/// The whole result of `filter` (pages of 1000 are plenty here), in its order.
async fn everything(store: &dyn LogStoreUnderTest, filter: &Filter) -> Vec<LogEvent> {
    store
        .query(&filter.clone().paged(filter.order(), None))
        .await
        .expect("query")
}

/// Every field survives a round trip through the store.
pub async fn stored_events_read_back_unchanged(store: &dyn LogStoreUnderTest) {
    let event = sample_event("auth-service", Level::Error, "DB connection failed", at(0));
    store
        .insert(std::slice::from_ref(&event))
        .await
        .expect("insert");

    let read = store.query(&Filter::default()).await.expect("query");

    assert_eq!(read, vec![event]);
}

/// Service, level and time range filters combine; results are newest first by default;
/// `from` is inclusive and `to` exclusive.
pub async fn filters_combine_and_results_are_newest_first(store: &dyn LogStoreUnderTest) {
    let events = vec![
        sample_event("auth", Level::Error, "a0", at(0)),
        sample_event("auth", Level::Info, "a1", at(1)),
        sample_event("auth", Level::Error, "a2", at(2)),
        sample_event("billing", Level::Error, "b3", at(3)),
        sample_event("auth", Level::Error, "a4", at(4)),
    ];
    store.insert(&events).await.expect("insert");

    let all = store.query(&Filter::default()).await.expect("query");
    assert_eq!(messages(&all), ["a4", "b3", "a2", "a1", "a0"]);

    let auth_errors = filter(FilterDraft {
        services: vec!["auth".into()],
        levels: vec!["ERROR".into()],
        ..FilterDraft::default()
    });
    assert_eq!(
        messages(&store.query(&auth_errors).await.expect("query")),
        ["a4", "a2", "a0"]
    );

    let window = filter(FilterDraft {
        from: Some(at(1).to_rfc3339()),
        to: Some(at(4).to_rfc3339()),
        ..FilterDraft::default()
    });
    assert_eq!(
        messages(&store.query(&window).await.expect("query")),
        ["b3", "a2", "a1"]
    );

    let several = filter(FilterDraft {
        services: vec!["auth".into(), "billing".into()],
        levels: vec!["INFO".into(), "ERROR".into()],
        order: Some("asc".into()),
        ..FilterDraft::default()
    });
    assert_eq!(
        messages(&store.query(&several).await.expect("query")),
        ["a0", "a1", "a2", "b3", "a4"]
    );
}

/// Limit and offset page through the results without gaps or repeats.
pub async fn limit_and_offset_page_through_results(store: &dyn LogStoreUnderTest) {
    let events: Vec<LogEvent> = (0..7)
        .map(|i| sample_event("svc", Level::Warn, &format!("m{i}"), at(i)))
        .collect();
    store.insert(&events).await.expect("insert");

    let mut seen = Vec::new();
    for offset in [0, 3, 6] {
        let page = filter(FilterDraft {
            limit: Some("3".into()),
            offset: Some(offset.to_string()),
            ..FilterDraft::default()
        });
        let logs = store.query(&page).await.expect("query");
        seen.extend(logs.iter().map(|event| event.message().as_str().to_owned()));
    }
    assert_eq!(seen, ["m6", "m5", "m4", "m3", "m2", "m1", "m0"]);
    LogReader::health(store).await.expect("healthy");
    LogWriter::health(store).await.expect("healthy");
}

/// `q` finds messages holding every term, ignoring case (in every script with simple case
/// pairs, see `domain::fold_case`); quoted phrases must
/// occur as written; `%`, `_`, quotes and backslashes match only themselves.
pub async fn text_search_matches_every_term_ignoring_case_and_literally(
    store: &dyn LogStoreUnderTest,
) {
    let texts = [
        "DB Connection FAILED after 3 retries",
        "db connection refused",
        "Ünïcödé ОШИБКА in straße",
        "disk 100% full on /var_log",
        "disk 1000 full on /varXlog",
        r#"quote ' and "double" and back\slash"#,
        "failed to open connection",
    ];
    let events: Vec<LogEvent> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| sample_event("svc", Level::Info, text, at(i as u64)))
        .collect();
    store.insert(&events).await.expect("insert");

    let cases: [(&str, &[&str]); 11] = [
        ("connection failed", &[texts[6], texts[0]]),
        (r#""connection failed""#, &[texts[0]]),
        ("CONNECTION db", &[texts[1], texts[0]]),
        ("ünïcödé ошибка STRAßE", &[texts[2]]),
        ("100%", &[texts[3]]),
        ("_log", &[texts[3]]),
        ("%", &[texts[3]]),
        (r"back\slash", &[texts[5]]),
        (r#"' \"double\""#, &[texts[5]]),
        ("\"quote '\"", &[texts[5]]),
        ("nowhere", &[]),
    ];
    for (q, expected) in cases {
        let search = filter(FilterDraft {
            q: Some(q.into()),
            ..FilterDraft::default()
        });
        let found = everything(store, &search).await;
        assert_eq!(messages(&found), expected, "q={q}");
    }
}

/// `metadata.<key>=<value>` needs the key with exactly that value (an empty value included);
/// several combine with AND; `trace_id` selects one trace.
pub async fn metadata_and_trace_conditions_match_exactly(store: &dyn LogStoreUnderTest) {
    let events = vec![
        custom_event(
            "svc",
            Level::Info,
            "m0",
            at(0),
            &[("user_id", "42"), ("host", "db-primary")],
            TRACE_A,
        ),
        custom_event(
            "svc",
            Level::Info,
            "m1",
            at(1),
            &[("user_id", "420")],
            TRACE_A,
        ),
        custom_event(
            "svc",
            Level::Info,
            "m2",
            at(2),
            &[("user_id", ""), ("region", "eu")],
            TRACE_B,
        ),
        custom_event("svc", Level::Info, "m3", at(3), &[], TRACE_B),
        custom_event(
            "svc",
            Level::Info,
            "m4",
            at(4),
            &[("USER_ID", "42")],
            TRACE_B,
        ),
    ];
    store.insert(&events).await.expect("insert");

    /// Metadata conditions, trace id, expected messages.
    type Case<'a> = (Vec<(&'a str, &'a str)>, Option<&'a str>, &'a [&'a str]);
    let cases: [Case; 7] = [
        (vec![("user_id", "42")], None, &["m0"]),
        (vec![("user_id", "")], None, &["m2"]),
        (
            vec![("user_id", "42"), ("host", "db-primary")],
            None,
            &["m0"],
        ),
        (vec![("user_id", "42"), ("host", "db-replica")], None, &[]),
        (vec![("region", "EU")], None, &[]),
        (vec![], Some(TRACE_B), &["m4", "m3", "m2"]),
        (vec![("user_id", "")], Some(TRACE_A), &[]),
    ];
    for (metadata, trace_id, expected) in cases {
        let conditions = filter(FilterDraft {
            metadata: metadata
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            trace_id: trace_id.map(Into::into),
            ..FilterDraft::default()
        });
        let found = everything(store, &conditions).await;
        assert_eq!(messages(&found), expected, "{metadata:?} {trace_id:?}");
    }
}

/// `min_level` selects that level and the more severe ones, within the listed levels if any.
pub async fn min_level_selects_that_level_and_above(store: &dyn LogStoreUnderTest) {
    let events: Vec<LogEvent> = Level::ALL
        .into_iter()
        .enumerate()
        .map(|(i, level)| sample_event("svc", level, level.as_str(), at(i as u64)))
        .collect();
    store.insert(&events).await.expect("insert");

    let cases: [(&[&str], &str, &[&str]); 3] = [
        (&[], "warn", &["FATAL", "ERROR", "WARN"]),
        (&["info", "error"], "warning", &["ERROR"]),
        (&["debug"], "error", &[]),
    ];
    for (levels, min_level, expected) in cases {
        let conditions = filter(FilterDraft {
            levels: levels.iter().map(|level| (*level).to_owned()).collect(),
            min_level: Some(min_level.into()),
            ..FilterDraft::default()
        });
        let found = everything(store, &conditions).await;
        assert_eq!(messages(&found), expected, "{levels:?} min {min_level}");
    }
}

/// The store selects exactly the events `Filter::matches` accepts, for every kind of
/// condition and their combinations.
pub async fn the_store_selects_what_filter_matches_accepts(store: &dyn LogStoreUnderTest) {
    let services = ["auth", "billing", "search"];
    let words = [
        "timeout",
        "Connection refused",
        "payment DECLINED",
        "ok",
        "100% done",
    ];
    let corpus: Vec<LogEvent> = (0..36_u64)
        .map(|i| {
            let index = usize::try_from(i).unwrap_or_default();
            let user = (i % 4).to_string();
            let metadata: Vec<(&str, &str)> = if i % 5 == 0 {
                vec![]
            } else {
                vec![("user_id", user.as_str()), ("host", "h1")]
            };
            custom_event(
                services[index % 3],
                Level::ALL[index % 6],
                &format!("{} #{i}", words[index % 5]),
                at(i / 2),
                &metadata,
                if i % 3 == 0 { TRACE_A } else { TRACE_B },
            )
        })
        .collect();
    store.insert(&corpus).await.expect("insert");

    let drafts = vec![
        FilterDraft::default(),
        FilterDraft {
            services: vec!["auth".into(), "search".into()],
            min_level: Some("info".into()),
            ..FilterDraft::default()
        },
        FilterDraft {
            q: Some("connection".into()),
            metadata: vec![("host".into(), "h1".into())],
            ..FilterDraft::default()
        },
        FilterDraft {
            q: Some(r#""payment declined" #1"#.into()),
            order: Some("asc".into()),
            ..FilterDraft::default()
        },
        FilterDraft {
            metadata: vec![("user_id".into(), "3".into())],
            trace_id: Some(TRACE_B.into()),
            levels: vec!["trace".into(), "fatal".into(), "warn".into()],
            ..FilterDraft::default()
        },
        FilterDraft {
            from: Some(at(4).to_rfc3339()),
            to: Some(at(11).to_rfc3339()),
            q: Some("100%".into()),
            ..FilterDraft::default()
        },
    ];
    for draft in drafts {
        let conditions = filter(draft.clone());
        let mut expected: Vec<&LogEvent> = corpus
            .iter()
            .filter(|event| conditions.matches(event))
            .collect();
        expected.sort_by_key(|event| (event.timestamp(), event.id()));
        if conditions.order() == SortOrder::Descending {
            expected.reverse();
        }
        let expected: Vec<EventId> = expected.iter().map(|event| event.id()).collect();
        let found = everything(store, &conditions).await;
        assert_eq!(ids(&found), expected, "{draft:?}");
    }
}

/// Field comparisons (equality, regular expressions matching the whole value, numbers, a
/// missing metadata key as an empty value) and message tests (case-sensitive text, regular
/// expressions matching any part) select exactly what `Filter::matches` accepts.
#[allow(clippy::expect_used)]
pub async fn field_and_line_conditions_select_what_filter_matches_accepts(
    store: &dyn LogStoreUnderTest,
) {
    let services = ["auth", "auth-api", "billing"];
    let messages = [
        "timeout after 30s",
        "Connection refused",
        "GET /api/users 200",
        "ünïcödé ОШИБКА",
        "",
    ];
    let corpus: Vec<LogEvent> = (0..30_u64)
        .map(|i| {
            let index = usize::try_from(i).unwrap_or_default();
            let took = format!("{}.5", i * 3);
            let code = if i % 4 == 0 {
                "5xx".to_owned()
            } else {
                (200 + i).to_string()
            };
            let metadata: Vec<(&str, &str)> = match i % 3 {
                0 => vec![],
                1 => vec![("took", took.as_str()), ("code", code.as_str())],
                _ => vec![("took", ""), ("user", "Ada")],
            };
            custom_event(
                services[index % 3],
                Level::ALL[index % 6],
                &format!("{} #{i}", messages[index % 5]),
                at(i),
                &metadata,
                TRACE_A,
            )
        })
        .collect();
    store.insert(&corpus).await.expect("insert");
    let field = |name: &str, op: FieldOp, value: &str| {
        FieldCondition::new(FieldName::parse(name).expect("field"), op, value).expect("condition")
    };
    let pattern = |source: &str| Pattern::new(source, Anchoring::AnyPart, "line").expect("pattern");

    let cases: Vec<(Vec<FieldCondition>, Vec<LineCondition>)> = vec![
        (vec![field("service", FieldOp::Equal, "auth")], vec![]),
        (vec![field("service", FieldOp::NotEqual, "auth")], vec![]),
        (vec![field("service", FieldOp::Matches, "auth")], vec![]),
        (
            vec![field("service", FieldOp::Matches, "auth.*|bill")],
            vec![],
        ),
        (
            vec![field("service", FieldOp::NotMatches, "auth-.*")],
            vec![],
        ),
        (
            vec![field("level", FieldOp::Matches, "(?i)error|warn")],
            vec![],
        ),
        (vec![field("level", FieldOp::NotEqual, "INFO")], vec![]),
        (vec![field("metadata.user", FieldOp::Equal, "")], vec![]),
        (vec![field("metadata.took", FieldOp::NotEqual, "")], vec![]),
        (
            vec![field("metadata.user", FieldOp::Matches, "a.a")],
            vec![],
        ),
        (
            vec![field("metadata.user", FieldOp::Matches, "(?i)a.a")],
            vec![],
        ),
        (vec![field("metadata.took", FieldOp::Greater, "30")], vec![]),
        (
            vec![field("metadata.took", FieldOp::LessOrEqual, "19.5")],
            vec![],
        ),
        (
            vec![field("metadata.code", FieldOp::GreaterOrEqual, "0")],
            vec![],
        ),
        (vec![field("metadata.code", FieldOp::Less, "210")], vec![]),
        (vec![], vec![LineCondition::Contains("Connection".into())]),
        (vec![], vec![LineCondition::Contains("connection".into())]),
        (vec![], vec![LineCondition::NotContains("#1".into())]),
        (vec![], vec![LineCondition::Contains(String::new())]),
        (
            vec![],
            vec![LineCondition::Matches(pattern("(?i)connection|TIMEOUT"))],
        ),
        (
            vec![],
            vec![LineCondition::Matches(pattern("^GET /api/\\w+ 2\\d\\d"))],
        ),
        (vec![], vec![LineCondition::NotMatches(pattern("#[12]"))]),
        (vec![], vec![LineCondition::Matches(pattern("ОШИБКА"))]),
        (
            vec![
                field("service", FieldOp::Matches, "auth.*"),
                field("metadata.took", FieldOp::Greater, "10"),
            ],
            vec![
                LineCondition::NotContains("refused".into()),
                LineCondition::Matches(pattern("\\d+")),
            ],
        ),
    ];
    for (field_conditions, line_conditions) in cases {
        let conditions = filter(FilterDraft {
            field_conditions,
            line_conditions,
            ..FilterDraft::default()
        });
        let expected = newest_first_matching(&corpus, &conditions);
        let found = everything(store, &conditions).await;
        assert_eq!(
            ids(&found),
            expected,
            "{:?} {:?}",
            conditions.field_conditions(),
            conditions.line_conditions()
        );
    }
}

/// The ids of the events of `corpus` that `conditions` accepts in memory, newest first, as the
/// store answers them.
fn newest_first_matching(corpus: &[LogEvent], conditions: &Filter) -> Vec<EventId> {
    let mut expected: Vec<&LogEvent> = corpus
        .iter()
        .filter(|event| conditions.matches(event))
        .collect();
    expected.sort_by_key(|event| (event.timestamp(), event.id()));
    expected.reverse();
    expected.iter().map(|event| event.id()).collect()
}

/// Labels that `| json` and `| logfmt` read from the message select the same events in the
/// store as `Filter::matches` selects in memory (both run `domain::ParsedLabel`'s pattern), an
/// event's metadata entry of the label's name wins, and metric windows group by them.
pub async fn labels_parsed_from_the_message_select_what_filter_matches_accepts(
    store: &dyn LogStoreUnderTest,
) {
    let messages: [(&str, &[(&str, &str)]); 12] = [
        (r#"{"status":500,"path":"/api/pay","msg":"boom"}"#, &[]),
        (
            r#"{"status": 404, "path": "/api/users", "msg": "not \"here\""}"#,
            &[],
        ),
        (r#"{"status":"503","path":"/health"}"#, &[]),
        (
            r#"{"request": {"status": 201, "path": "/api/orders"}}"#,
            &[],
        ),
        (r#"{"status": null, "path": "/x"}"#, &[]),
        (r#"{"statuses": 500}"#, &[]),
        (r#"{"status": 500}"#, &[("status", "200")]),
        ("not json at all status=500", &[]),
        (
            "ts=2024 level=error status=502 msg=\"db \\\"down\\\"\" took=12ms",
            &[],
        ),
        ("level=info status=200 path=/api/pay", &[]),
        ("xstatus=500 status= took=3ms", &[]),
        ("status", &[]),
    ];
    let corpus: Vec<LogEvent> = messages
        .iter()
        .zip(0_u64..)
        .map(|((message, metadata), i)| {
            custom_event("app", Level::Info, message, at(i), metadata, TRACE_A)
        })
        .collect();
    store.insert(&corpus).await.expect("insert");
    let label = |parser: LineParser, key: &str| {
        FieldName::Parsed(ParsedLabel::new(parser, key).expect("label"))
    };
    let json = |key: &str, op: FieldOp, value: &str| {
        FieldCondition::new(label(LineParser::Json, key), op, value).expect("condition")
    };
    let logfmt = |key: &str, op: FieldOp, value: &str| {
        FieldCondition::new(label(LineParser::Logfmt, key), op, value).expect("condition")
    };
    // (conditions, how many events the in-memory reading selects: pins that the cases select
    // something and not everything)
    let cases: Vec<(Vec<FieldCondition>, usize)> = vec![
        (vec![json("status", FieldOp::Equal, "500")], 1),
        (vec![json("status", FieldOp::GreaterOrEqual, "400")], 3),
        (vec![json("status", FieldOp::Matches, "5..")], 2),
        (vec![json("status", FieldOp::NotEqual, "")], 5),
        (vec![json("path", FieldOp::Matches, "/api/.*")], 3),
        (vec![json("msg", FieldOp::Equal, r#"not \"here\""#)], 1),
        (
            vec![
                json("status", FieldOp::Less, "500"),
                json("path", FieldOp::NotEqual, "/api/users"),
            ],
            2,
        ),
        (vec![logfmt("status", FieldOp::GreaterOrEqual, "500")], 2),
        (vec![logfmt("status", FieldOp::Equal, "")], 8),
        (vec![logfmt("msg", FieldOp::Equal, r#"db \"down\""#)], 1),
        (vec![logfmt("took", FieldOp::Matches, "[0-9]+ms")], 2),
        (vec![logfmt("level", FieldOp::Equal, "error")], 1),
    ];
    for (field_conditions, selected) in cases {
        let conditions = filter(FilterDraft {
            field_conditions,
            ..FilterDraft::default()
        });
        let expected = newest_first_matching(&corpus, &conditions);
        assert_eq!(
            expected.len(),
            selected,
            "{:?}",
            conditions.field_conditions()
        );
        let found = everything(store, &conditions).await;
        assert_eq!(ids(&found), expected, "{:?}", conditions.field_conditions());
    }

    #[allow(clippy::expect_used)]
    let spec = MetricSpec::new(
        Filter::default(),
        RangeFunction::CountOverTime,
        3_600_000_000_000,
        StepGrid::range(at(3_000), at(3_000), 60_000_000_000).expect("valid steps"),
        SeriesGrouping::Streams,
        MetricKind::Instant,
    )
    .expect("valid metric");
    let request = MetricRequest {
        spec,
        split: SeriesSplit::Labels(vec![label(LineParser::Json, "status")]),
        max_rows: 100,
    };
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for row in store.metric_windows(&request).await.expect("metric") {
        let status = row.labels.get("status").cloned().unwrap_or_default();
        *counts.entry(status).or_default() += row.count;
    }
    let expected: BTreeMap<String, u64> = [
        ("", 7),
        ("200", 1),
        ("201", 1),
        ("404", 1),
        ("500", 1),
        ("503", 1),
    ]
    .into_iter()
    .map(|(status, count)| (status.to_owned(), count))
    .collect();
    assert_eq!(counts, expected);
}

/// Paging with cursors visits every matching event once, in order, even when many share a
/// timestamp, in both orders; the offset counts from the cursor.
pub async fn cursors_page_through_equal_timestamps_without_gaps_or_repeats(
    store: &dyn LogStoreUnderTest,
) {
    let mut events: Vec<LogEvent> = (0..23_u64)
        .map(|i| sample_event("svc", Level::Info, &format!("m{i}"), at(i / 8)))
        .collect();
    events.push(sample_event("other", Level::Info, "not me", at(1)));
    store.insert(&events).await.expect("insert");
    let mut matching: Vec<&LogEvent> = events
        .iter()
        .filter(|event| event.service().as_str() == "svc")
        .collect();
    matching.sort_by_key(|event| (event.timestamp(), event.id()));

    for order in [SortOrder::Ascending, SortOrder::Descending] {
        let mut expected: Vec<EventId> = matching.iter().map(|event| event.id()).collect();
        if order == SortOrder::Descending {
            expected.reverse();
        }
        let mut seen = Vec::new();
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = filter(FilterDraft {
                services: vec!["svc".into()],
                limit: Some("4".into()),
                order: Some(order.to_string()),
                cursor: cursor.map(|cursor| cursor.encode()),
                ..FilterDraft::default()
            });
            let logs = store.query(&page).await.expect("query");
            seen.extend(ids(&logs));
            match logs.last() {
                Some(last) if logs.len() == 4 => cursor = Some(Cursor::after(last, order)),
                _ => break,
            }
        }
        assert_eq!(seen, expected, "order {order}");

        let skipping = filter(FilterDraft {
            services: vec!["svc".into()],
            limit: Some("2".into()),
            offset: Some("3".into()),
            cursor: Some(
                Cursor::after(
                    matching
                        .iter()
                        .find(|event| event.id() == expected[4])
                        .copied()
                        .unwrap_or(&events[0]),
                    order,
                )
                .encode(),
            ),
            ..FilterDraft::default()
        });
        let logs = store.query(&skipping).await.expect("query");
        assert_eq!(ids(&logs), expected[8..10], "offset after cursor, {order}");
    }
}

/// Paging through recent logs (the last hours, some stamped in the future) visits every match
/// once in order, whatever shortcut a store takes for the newest or oldest pages.
pub async fn pages_of_recent_logs_are_complete_in_both_orders(store: &dyn LogStoreUnderTest) {
    let now = Timestamp::now().unix_nanos();
    let minutes_ago = |minutes: i64| {
        let nanos = i128::from(now) - i128::from(minutes) * 60_000_000_000;
        Timestamp::from_unix_nanos(u64::try_from(nanos).unwrap_or_default())
    };
    let mut events: Vec<LogEvent> = Vec::new();
    for minute in (0..25).chain(70..95).chain(-5..0) {
        let word = if minute % 2 == 0 { "even" } else { "odd" };
        events.push(sample_event(
            "svc",
            Level::Info,
            &format!("{word} {minute}"),
            minutes_ago(minute),
        ));
    }
    store.insert(&events).await.expect("insert");

    for (q, order) in [
        (None, SortOrder::Descending),
        (Some("EVEN"), SortOrder::Descending),
        (None, SortOrder::Ascending),
        (Some("odd"), SortOrder::Ascending),
    ] {
        let conditions = filter(FilterDraft {
            q: q.map(Into::into),
            from: Some(minutes_ago(180).to_rfc3339()),
            order: Some(order.to_string()),
            ..FilterDraft::default()
        });
        let mut expected: Vec<&LogEvent> =
            events.iter().filter(|e| conditions.matches(e)).collect();
        expected.sort_by_key(|event| (event.timestamp(), event.id()));
        if order == SortOrder::Descending {
            expected.reverse();
        }
        let expected: Vec<EventId> = expected.iter().map(|event| event.id()).collect();
        let mut seen = Vec::new();
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = filter(FilterDraft {
                q: q.map(Into::into),
                from: Some(minutes_ago(180).to_rfc3339()),
                limit: Some("7".into()),
                order: Some(order.to_string()),
                cursor: cursor.map(|cursor| cursor.encode()),
                ..FilterDraft::default()
            });
            let logs = store.query(&page).await.expect("query");
            seen.extend(ids(&logs));
            match logs.last() {
                Some(last) if logs.len() == 7 => cursor = Some(Cursor::after(last, order)),
                _ => break,
            }
        }
        assert_eq!(seen, expected, "q={q:?}, {order}");
    }
}

/// Counts per level or service: largest first, ties by key, at most `limit` groups, only
/// matching events.
pub async fn counts_per_group_are_largest_first(store: &dyn LogStoreUnderTest) {
    let mut events = Vec::new();
    let spec: [(&str, Level, usize); 5] = [
        ("auth", Level::Error, 3),
        ("auth", Level::Info, 1),
        ("billing", Level::Error, 2),
        ("billing", Level::Warn, 2),
        ("search", Level::Info, 2),
    ];
    for (service, level, count) in spec {
        for i in 0..count {
            events.push(sample_event(
                service,
                level,
                &format!("{service}é"),
                at(i as u64),
            ));
        }
    }
    store.insert(&events).await.expect("insert");
    // Messages are the service and "é" (two bytes): `bytes` sums bytes, not characters.
    let count = |key: &str, count: u64, bytes: u64| GroupCount {
        key: key.to_owned(),
        count,
        bytes,
    };

    let by_level = store
        .count_by(&Filter::default(), GroupBy::Level)
        .await
        .expect("count");
    assert_eq!(
        by_level,
        [
            count("ERROR", 5, 3 * 6 + 2 * 9),
            count("INFO", 3, 6 + 2 * 8),
            count("WARN", 2, 2 * 9)
        ]
    );
    let by_service = store
        .count_by(&Filter::default(), GroupBy::Service)
        .await
        .expect("count");
    assert_eq!(
        by_service,
        [
            count("auth", 4, 4 * 6),
            count("billing", 4, 4 * 9),
            count("search", 2, 2 * 8)
        ]
    );
    let errors_top_one = filter(FilterDraft {
        levels: vec!["error".into()],
        limit: Some("1".into()),
        ..FilterDraft::default()
    });
    assert_eq!(
        store
            .count_by(&errors_top_one, GroupBy::Service)
            .await
            .expect("count"),
        [count("auth", 3, 3 * 6)]
    );
    let nothing = filter(FilterDraft {
        q: Some("absent".into()),
        ..FilterDraft::default()
    });
    assert!(
        store
            .count_by(&nothing, GroupBy::Level)
            .await
            .expect("count")
            .is_empty()
    );
}

/// Metadata keys, and the values of one key, are counted per matching event (largest first,
/// ties by key, at most `limit`); a sample smaller than the matches reads exactly that many
/// events and counts no more than it read.
pub async fn metadata_keys_and_values_are_counted_over_a_bounded_sample(
    store: &dyn LogStoreUnderTest,
) {
    let events = vec![
        custom_event(
            "auth",
            Level::Info,
            "m",
            at(0),
            &[("user", "42"), ("host", "a")],
            TRACE_A,
        ),
        custom_event("auth", Level::Info, "m", at(1), &[("user", "42")], TRACE_A),
        custom_event(
            "auth",
            Level::Error,
            "m",
            at(2),
            &[("user", "7"), ("region", "")],
            TRACE_A,
        ),
        custom_event(
            "billing",
            Level::Info,
            "m",
            at(3),
            &[("host", "b")],
            TRACE_B,
        ),
        custom_event("billing", Level::Info, "m", at(4), &[], TRACE_B),
    ];
    store.insert(&events).await.expect("insert");
    let count = |key: &str, count: u64| GroupCount {
        key: key.to_owned(),
        count,
        bytes: 0,
    };
    let everything = SampleRows::new(1000);

    let keys = store
        .metadata_keys(&Filter::default(), everything)
        .await
        .expect("keys");
    assert_eq!(
        keys,
        SampledCounts {
            groups: vec![count("user", 3), count("host", 2), count("region", 1)],
            events_read: 5,
        }
    );
    let auth_top_one = filter(FilterDraft {
        services: vec!["auth".into()],
        limit: Some("1".into()),
        ..FilterDraft::default()
    });
    assert_eq!(
        store
            .metadata_keys(&auth_top_one, everything)
            .await
            .expect("keys"),
        SampledCounts {
            groups: vec![count("user", 3)],
            events_read: 3,
        }
    );
    assert_eq!(
        store
            .metadata_values(&Filter::default(), "user", everything)
            .await
            .expect("values"),
        SampledCounts {
            groups: vec![count("42", 2), count("7", 1)],
            events_read: 3,
        }
    );
    // An empty value is a value; an absent key is none.
    assert_eq!(
        store
            .metadata_values(&Filter::default(), "region", everything)
            .await
            .expect("values"),
        SampledCounts {
            groups: vec![count("", 1)],
            events_read: 1,
        }
    );
    assert_eq!(
        store
            .metadata_values(&Filter::default(), "absent", everything)
            .await
            .expect("values"),
        SampledCounts::default()
    );

    let two = SampleRows::new(2);
    let sampled_keys = store
        .metadata_keys(&Filter::default(), two)
        .await
        .expect("keys");
    assert_eq!(sampled_keys.events_read, 2);
    assert!(sampled_keys.groups.iter().all(|group| group.count <= 2));
    assert!(!sampled_keys.groups.is_empty());
    let sampled_values = store
        .metadata_values(&Filter::default(), "user", two)
        .await
        .expect("values");
    assert_eq!(sampled_values.events_read, 2);
    assert_eq!(
        sampled_values
            .groups
            .iter()
            .map(|group| group.count)
            .sum::<u64>(),
        2
    );
}

/// Counts per time bucket start on whole intervals, list only buckets with events, by start
/// and then level (least severe first), and stop at `max_rows`.
pub async fn histograms_count_per_bucket_and_level(store: &dyn LogStoreUnderTest) {
    let events = vec![
        sample_event("svc", Level::Info, "m", at(10)),
        sample_event("svc", Level::Error, "m", at(50)),
        sample_event("svc", Level::Info, "m", at(90)),
        sample_event("svc", Level::Info, "m", at(300)),
        sample_event("other", Level::Info, "m", at(301)),
    ];
    store.insert(&events).await.expect("insert");
    let only_svc = filter(FilterDraft {
        services: vec!["svc".into()],
        ..FilterDraft::default()
    });
    let bucket = |seconds: u64, level: Option<Level>, count: u64| BucketCount {
        start: at(seconds),
        level,
        count,
    };

    let per_minute = store
        .histogram(&HistogramRequest {
            filter: only_svc.clone(),
            interval: HistogramInterval::OneMinute,
            by_level: false,
            max_rows: 100,
        })
        .await
        .expect("histogram");
    assert_eq!(
        per_minute,
        [
            bucket(0, None, 2),
            bucket(60, None, 1),
            bucket(300, None, 1)
        ]
    );
    let by_level = store
        .histogram(&HistogramRequest {
            filter: only_svc.clone(),
            interval: HistogramInterval::FiveMinutes,
            by_level: true,
            max_rows: 100,
        })
        .await
        .expect("histogram");
    assert_eq!(
        by_level,
        [
            bucket(0, Some(Level::Info), 2),
            bucket(0, Some(Level::Error), 1),
            bucket(300, Some(Level::Info), 1)
        ]
    );
    let capped = store
        .histogram(&HistogramRequest {
            filter: only_svc.clone(),
            interval: HistogramInterval::OneMinute,
            by_level: true,
            max_rows: 2,
        })
        .await
        .expect("histogram");
    assert_eq!(
        capped,
        [
            bucket(0, Some(Level::Info), 1),
            bucket(0, Some(Level::Error), 1)
        ]
    );
    let daily = store
        .histogram(&HistogramRequest {
            filter: Filter::default(),
            interval: HistogramInterval::OneDay,
            by_level: false,
            max_rows: 100,
        })
        .await
        .expect("histogram");
    let midnight = HistogramInterval::OneDay.bucket_start(at(0));
    assert_eq!(
        daily,
        [BucketCount {
            start: midnight,
            level: None,
            count: 5
        }]
    );
}

/// A metric's logs are counted per series and per steps whose window `(t - range, t]` holds
/// them: a log at the start of a window is out of it, one at its end in it; bytes are those of
/// the message in UTF-8.
pub async fn metric_windows_count_each_log_at_the_steps_holding_it(store: &dyn LogStoreUnderTest) {
    let nanos_after = |seconds: u64, nanos: u64| at(seconds).saturating_add_nanos(nanos);
    let event = |service: &str, level, message: &str, time, host: Option<&str>| {
        let metadata: Vec<(&str, &str)> = host.map(|host| ("host", host)).into_iter().collect();
        custom_event(service, level, message, time, &metadata, TRACE_A)
    };
    // Steps at 100 s, 160 s and 220 s, windows of 90 s: (10, 100], (70, 160], (130, 220].
    let events = vec![
        event("auth", Level::Info, "out", at(10), None),
        event("auth", Level::Info, "in", nanos_after(10, 1), None),
        event("auth", Level::Error, "héllo", at(100), None),
        event("auth", Level::Info, "x", at(150), Some("a")),
        event("auth", Level::Info, "xyz", at(160), Some("a")),
        event("billing", Level::Info, "yy", at(220), Some("")),
        event("auth", Level::Info, "late", nanos_after(220, 1), None),
    ];
    store.insert(&events).await.expect("insert");
    #[allow(clippy::expect_used)]
    let spec = MetricSpec::new(
        Filter::default(),
        RangeFunction::BytesOverTime,
        90_000_000_000,
        StepGrid::range(at(100), at(250), 60_000_000_000).expect("valid steps"),
        SeriesGrouping::Streams,
        MetricKind::Range,
    )
    .expect("valid metric");
    let windows = |split: SeriesSplit, max_rows: u64| {
        let request = MetricRequest {
            spec: spec.clone(),
            split,
            max_rows,
        };
        async move {
            let mut rows = store.metric_windows(&request).await.expect("metric");
            rows.sort();
            rows
        }
    };
    let row = |labels: &[(&str, &str)], first_step, end_step, count, bytes| WindowCount {
        labels: labels
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect(),
        first_step,
        end_step,
        count,
        bytes,
    };
    let auth_info = [("level", "INFO"), ("service", "auth")];
    let mut expected = vec![
        row(&auth_info, 0, 1, 1, 2),
        row(&[("level", "ERROR"), ("service", "auth")], 0, 2, 1, 6),
        row(
            &[("host", "a"), ("level", "INFO"), ("service", "auth")],
            1,
            3,
            2,
            4,
        ),
        row(&[("level", "INFO"), ("service", "billing")], 2, 3, 1, 2),
    ];
    expected.sort();
    assert_eq!(windows(SeriesSplit::Streams, 100).await, expected);

    let mut by_level = vec![
        row(&[("level", "INFO")], 0, 1, 1, 2),
        row(&[("level", "ERROR")], 0, 2, 1, 6),
        row(&[("level", "INFO")], 1, 3, 2, 4),
        row(&[("level", "INFO")], 2, 3, 1, 2),
    ];
    by_level.sort();
    assert_eq!(
        windows(SeriesSplit::Labels(vec![FieldName::Level]), 100).await,
        by_level
    );
    let mut by_host = vec![
        row(&[], 0, 1, 1, 2),
        row(&[], 0, 2, 1, 6),
        row(&[("host", "a")], 1, 3, 2, 4),
        row(&[], 2, 3, 1, 2),
    ];
    by_host.sort();
    assert_eq!(
        windows(
            SeriesSplit::Labels(vec![FieldName::Metadata("host".into())]),
            100
        )
        .await,
        by_host
    );
    let mut everything = vec![
        row(&[], 0, 1, 1, 2),
        row(&[], 0, 2, 1, 6),
        row(&[], 1, 3, 2, 4),
        row(&[], 2, 3, 1, 2),
    ];
    everything.sort();
    assert_eq!(
        windows(SeriesSplit::Labels(Vec::new()), 100).await,
        everything
    );
    assert_eq!(windows(SeriesSplit::Streams, 2).await.len(), 2, "max_rows");
    // A count reads no message: its bytes are 0.
    #[allow(clippy::expect_used)]
    let count = MetricRequest {
        spec: MetricSpec::new(
            Filter::default(),
            RangeFunction::CountOverTime,
            spec.range_nanos(),
            *spec.grid(),
            SeriesGrouping::Streams,
            MetricKind::Range,
        )
        .expect("valid metric"),
        split: SeriesSplit::Labels(Vec::new()),
        max_rows: 100,
    };
    let mut counted = store.metric_windows(&count).await.expect("metric");
    counted.sort();
    let without_bytes: Vec<WindowCount> = everything
        .into_iter()
        .map(|row| WindowCount { bytes: 0, ..row })
        .collect();
    assert_eq!(counted, without_bytes);
}

/// An export hands out every matching event in the filter's order, ignoring limit and offset.
pub async fn exports_read_every_match_in_order(store: &dyn LogStoreUnderTest) {
    let mut events: Vec<LogEvent> = (0..1_234_u64)
        .map(|i| sample_event("svc", Level::Info, &format!("m{i}"), at(i / 3)))
        .collect();
    events.push(sample_event("other", Level::Info, "not me", at(5)));
    store.insert(&events).await.expect("insert");
    let mut expected: Vec<&LogEvent> = events
        .iter()
        .filter(|event| event.service().as_str() == "svc")
        .collect();
    expected.sort_by_key(|event| (event.timestamp(), event.id()));
    let expected: Vec<EventId> = expected.iter().map(|event| event.id()).collect();

    let conditions = filter(FilterDraft {
        services: vec!["svc".into()],
        order: Some("asc".into()),
        limit: Some("10".into()),
        offset: Some("5".into()),
        ..FilterDraft::default()
    });
    let mut cursor = store.export(&conditions).await.expect("export");
    let mut read = Vec::new();
    loop {
        let batch = cursor.next_batch().await.expect("next batch");
        if batch.is_empty() {
            break;
        }
        read.extend(ids(&batch));
    }
    assert_eq!(read, expected);
    assert!(
        cursor.next_batch().await.expect("after the end").is_empty(),
        "a finished cursor stays finished"
    );
}

/// Arrivals are read by receive time and id, from the window's start or after its position,
/// without events whose own time is older than the window allows, at most `max`.
pub async fn arrivals_are_read_in_receive_order(store: &dyn LogStoreUnderTest) {
    let received = |seconds: u64| at(1000 + seconds);
    let events = vec![
        received_at(sample_event("svc", Level::Info, "r0", at(1)), received(0)),
        received_at(sample_event("svc", Level::Info, "r1a", at(2)), received(1)),
        received_at(sample_event("svc", Level::Info, "r1b", at(3)), received(1)),
        received_at(sample_event("svc", Level::Info, "r2", at(4)), received(2)),
        received_at(
            sample_event("svc", Level::Info, "backdated", at(0)),
            received(3),
        ),
    ];
    store.insert(&events).await.expect("insert");
    let window = |after: Option<&LogEvent>, max: u32| ArrivalWindow {
        received_from: received(1),
        after: after.map(|event| (event.observed_timestamp(), event.id())),
        event_time_from: at(1),
        max,
    };

    let all = store.arrivals(&window(None, 10)).await.expect("arrivals");
    assert_eq!(messages(&all), ["r1a", "r1b", "r2"]);
    let first = store.arrivals(&window(None, 1)).await.expect("arrivals");
    assert_eq!(messages(&first), ["r1a"]);
    let rest = store
        .arrivals(&window(first.first(), 10))
        .await
        .expect("arrivals");
    assert_eq!(messages(&rest), ["r1b", "r2"]);
}

/// A retry of a batch whose earlier attempt stored part of it (or all) adds only the missing
/// events: across services, levels and days, every id ends up stored once.
pub async fn a_retry_stores_only_what_is_missing(store: &dyn LogStoreUnderTest) {
    let day = 86_400;
    let batch = vec![
        sample_event("auth", Level::Info, "r0", at(0)),
        sample_event("billing", Level::Error, "r1", at(5)),
        sample_event("auth", Level::Warn, "r2", at(day + 7)),
        sample_event("auth", Level::Info, "r3", at(2 * day)),
    ];
    store.insert(&batch[..2]).await.expect("first attempt");
    let unrelated = sample_event("auth", Level::Info, "other", at(3));
    store
        .insert(std::slice::from_ref(&unrelated))
        .await
        .expect("insert");

    let inserted = store.insert_unless_stored(&batch).await.expect("retry");
    let again = store
        .insert_unless_stored(&batch)
        .await
        .expect("second retry");

    assert_eq!((inserted, again), (2, 0));
    let all = everything(store, &filter(FilterDraft::default())).await;
    let mut stored = ids(&all);
    stored.sort();
    let mut expected = ids(&batch);
    expected.push(unrelated.id());
    expected.sort();
    assert_eq!(stored, expected, "every event once");
}

/// A store under test: the writing and the reading side of one store (both ports are
/// implemented by the real adapter and by the in-memory fake).
pub trait LogStoreUnderTest: LogWriter + LogReader {}

impl<T: LogWriter + LogReader + ?Sized> LogStoreUnderTest for T {}

/// One `#[tokio::test]` per behaviour of [`store_contract`](self), each on a fresh store, for
/// an adapter: `setup` is a future of a fixture, `store` borrows the store from it and
/// `teardown` disposes of it. The list of behaviours lives only here, so a behaviour added to
/// the suite runs against every adapter that uses the macro.
///
/// ```ignore
/// application::store_contract_tests!(
///     setup = TestDatabase::migrated(),
///     store = |database| database.store(),
///     teardown = |database| database.drop().await,
/// );
/// ```
#[macro_export]
macro_rules! store_contract_tests {
    (setup = $setup:expr, store = |$fixture:ident| $store:expr $(,)?) => {
        $crate::store_contract_tests!(setup = $setup, store = |$fixture| $store, teardown = |gone| drop(gone));
    };
    (setup = $setup:expr, store = |$fixture:ident| $store:expr, teardown = |$gone:ident| $teardown:expr $(,)?) => {
        $crate::store_contract_tests!(@each ($setup) ($fixture) ($store) ($gone) ($teardown);
            stored_events_read_back_unchanged,
            filters_combine_and_results_are_newest_first,
            limit_and_offset_page_through_results,
            text_search_matches_every_term_ignoring_case_and_literally,
            metadata_and_trace_conditions_match_exactly,
            min_level_selects_that_level_and_above,
            the_store_selects_what_filter_matches_accepts,
            field_and_line_conditions_select_what_filter_matches_accepts,
            labels_parsed_from_the_message_select_what_filter_matches_accepts,
            cursors_page_through_equal_timestamps_without_gaps_or_repeats,
            pages_of_recent_logs_are_complete_in_both_orders,
            counts_per_group_are_largest_first,
            metadata_keys_and_values_are_counted_over_a_bounded_sample,
            histograms_count_per_bucket_and_level,
            metric_windows_count_each_log_at_the_steps_holding_it,
            exports_read_every_match_in_order,
            arrivals_are_read_in_receive_order,
            a_retry_stores_only_what_is_missing
        );
    };
    (@each ($setup:expr) ($fixture:ident) ($store:expr) ($gone:ident) ($teardown:expr); $($behaviour:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $behaviour() {
                let $fixture = $setup.await;
                $crate::testing::store_contract::$behaviour(&$store).await;
                let $gone = $fixture;
                $teardown;
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    use crate::testing::InMemoryLogStore;

    crate::store_contract_tests!(
        setup = async { InMemoryLogStore::default() },
        store = |store| store,
    );
}
