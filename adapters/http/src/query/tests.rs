//! The query API over HTTP, with the store mocked or in memory: parameters reach the use case,
//! answers and errors have the documented shape, and the OpenAPI document lists everything.

use std::sync::Arc;

use application::ports::{LogReader, LogWriter, MockLogReader, StoreError};
use application::testing::{InMemoryLogStore, sample_event};
use application::{QuerySettings, QueryUseCase};
use domain::{Level, LogEvent, LogEventDraft, Timestamp, TimestampInput, TraceId};
use poem::http::{Method, StatusCode};
use poem::test::TestClient;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::app::query_app;
use crate::common::keys::ApiKeys;

fn unlimited(store: Arc<dyn LogReader>) -> QueryUseCase {
    QueryUseCase::with_settings(
        store,
        QuerySettings {
            max_range: None,
            ..QuerySettings::default()
        },
        CancellationToken::new(),
    )
}

async fn get(app: impl poem::Endpoint, uri: &str) -> (StatusCode, Option<String>, Vec<u8>) {
    let client = TestClient::new(app);
    let response = client.get(uri).send().await;
    let status = response.0.status();
    let content_type = response
        .0
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = response.0.into_body().into_vec().await.unwrap_or_default();
    (status, content_type, body)
}

async fn get_json(app: impl poem::Endpoint, uri: &str) -> (StatusCode, Value) {
    let (status, _, body) = get(app, uri).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn at(seconds: u64) -> Timestamp {
    Timestamp::from_unix_nanos(1_777_975_200_000_000_000 + seconds * 1_000_000_000)
}

#[tokio::test]
async fn metadata_parameters_are_read_from_the_raw_query_string_with_the_declared_ones() {
    let mut store = MockLogReader::new();
    store
        .expect_query()
        .withf(|filter| {
            filter.metadata()
                == [
                    ("user_id".to_owned(), "42".to_owned()),
                    ("region name".to_owned(), "eu+west".to_owned()),
                ]
                && filter.text().map(|text| text.terms().to_vec())
                    == Some(vec!["db".to_owned(), "connection failed".to_owned()])
                && filter.min_level() == Some(Level::Warn)
        })
        .times(1)
        .returning(|_| Ok(Vec::new()));
    let app = query_app(unlimited(Arc::new(store)), ApiKeys::none());

    let (status, body) = get_json(
        app,
        "/logs?metadata.user_id=42&q=db%20%22connection%20failed%22&min_level=warn\
         &metadata.region%20name=eu%2Bwest&unrelated=1",
    )
    .await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["count"], 0);
    assert!(body.get("next_cursor").is_none(), "{body}");
}

#[tokio::test]
async fn exclusions_become_not_equal_conditions_of_the_filter() {
    let mut store = MockLogReader::new();
    store
        .expect_query()
        .withf(|filter| {
            let conditions: Vec<String> = filter
                .field_conditions()
                .iter()
                .map(|condition| {
                    format!(
                        "{} {:?} {}",
                        condition.field(),
                        condition.op(),
                        condition.value()
                    )
                })
                .collect();
            conditions
                == [
                    "service NotEqual auth",
                    "service NotEqual api",
                    "metadata.user id NotEqual 4,2",
                    "level NotEqual WARN",
                ]
        })
        .times(1)
        .returning(|_| Ok(Vec::new()));
    let app = query_app(unlimited(Arc::new(store)), ApiKeys::none());

    let (status, body) = get_json(
        app,
        "/logs?exclude.service=auth&exclude.service=api&exclude.metadata.user%20id=4%2C2\
         &exclude.level=warning",
    )
    .await;

    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn excluded_values_leave_the_page_and_the_counts_alike() {
    let store = Arc::new(InMemoryLogStore::default());
    let event = |service: &str, user: Option<&str>| {
        let draft = LogEventDraft {
            service: service.into(),
            level: "INFO".into(),
            message: "m".into(),
            metadata: user
                .map(|user| ("user".to_owned(), user.to_owned()))
                .into_iter()
                .collect(),
            timestamp: Some(TimestampInput::Integer(i128::from(at(0).unix_nanos()))),
            trace_id: None,
            span_id: None,
        };
        LogEvent::from_draft(draft, Timestamp::now(), TraceId::generate()).unwrap()
    };
    let events = [
        event("auth", Some("1")),
        event("auth", Some("2")),
        event("api", Some("1")),
        event("db", Some("3")),
        event("db", None),
    ];
    store.insert(&events).await.unwrap();
    let use_case = unlimited(store);

    let (status, page) = get_json(
        query_app(use_case.clone(), ApiKeys::none()),
        "/logs?exclude.service=api&exclude.metadata.user=1&order=asc",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let kept: Vec<(String, String)> = page["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|log| {
            (
                log["service"].as_str().unwrap().to_owned(),
                log["metadata"]["user"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expected = [("auth", "2"), ("db", "3"), ("db", "")];
    let mut kept_sorted = kept.clone();
    kept_sorted.sort();
    let mut expected: Vec<(String, String)> = expected
        .iter()
        .map(|(service, user)| ((*service).to_owned(), (*user).to_owned()))
        .collect();
    expected.sort();
    assert_eq!(kept_sorted, expected, "a log without the key is kept");

    let (status, stats) = get_json(
        query_app(use_case, ApiKeys::none()),
        "/logs/stats?group_by=service&exclude.service=api&exclude.metadata.user=1",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    let counted: u64 = stats["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| group["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 3, "{stats}");
}

#[tokio::test]
async fn a_full_page_carries_a_cursor_that_fetches_the_next_page() {
    let store = Arc::new(InMemoryLogStore::default());
    let events: Vec<_> = (0..5)
        .map(|i| sample_event("svc", Level::Info, &format!("m{i}"), at(0)))
        .collect();
    store.insert(&events).await.unwrap();
    let use_case = unlimited(store);

    let (status, first) = get_json(
        query_app(use_case.clone(), ApiKeys::none()),
        "/logs?limit=3&order=asc",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (status, second) = get_json(
        query_app(use_case.clone(), ApiKeys::none()),
        &format!("/logs?limit=3&cursor={cursor}"),
    )
    .await;

    assert_eq!(status, StatusCode::OK);
    let ids = |page: &Value| {
        page["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|log| log["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let mut expected: Vec<_> = events.iter().map(|event| event.id()).collect();
    expected.sort();
    let expected: Vec<String> = expected.iter().map(ToString::to_string).collect();
    assert_eq!([ids(&first), ids(&second)].concat(), expected);
    assert!(second.get("next_cursor").is_none(), "{second}");
    let (status, conflict) = get_json(
        query_app(use_case, ApiKeys::none()),
        &format!("/logs?cursor={cursor}&order=desc"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(conflict["field"], "cursor");
}

#[tokio::test]
async fn bad_parameters_get_400_naming_the_parameter_on_every_endpoint() {
    let cases = [
        ("/logs?cursor=garbage", "cursor"),
        ("/logs?q=%22unclosed", "q"),
        ("/logs?trace_id=%27%20OR%201%3D1", "trace_id"),
        ("/logs?metadata.=x", "metadata"),
        ("/logs/stats?group_by=host", "group_by"),
        ("/logs/stats", "group_by"),
        ("/logs/histogram?interval=2m", "interval"),
        ("/logs/histogram?interval=1m&by=host", "by"),
        ("/logs/tail?min_level=LOUD", "min_level"),
        ("/logs/export?level=LOUD", "level"),
        ("/logs?exclude.host=a", "exclude.host"),
        ("/logs?exclude.level=LOUD", "exclude.level"),
        (
            "/logs/stats?group_by=level&exclude.metadata.=x",
            "exclude.metadata.",
        ),
    ];
    for (uri, field) in cases {
        let mut store = MockLogReader::new();
        store.expect_query().times(0);
        let (status, body) =
            get_json(query_app(unlimited(Arc::new(store)), ApiKeys::none()), uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["code"], "invalid_parameter", "{uri}: {body}");
        assert_eq!(body["field"], field, "{uri}: {body}");
    }
}

#[tokio::test]
async fn a_query_that_runs_out_of_time_is_504_query_timeout_and_an_outage_503() {
    let mut store = MockLogReader::new();
    store
        .expect_count_by()
        .times(1)
        .returning(|_, _| Err(StoreError::TimedOut("max_execution_time".into())));
    store
        .expect_query()
        .times(1)
        .returning(|_| Err(StoreError::Unavailable("refused".into())));
    let use_case = unlimited(Arc::new(store));

    let (status, body) = get_json(
        query_app(use_case.clone(), ApiKeys::none()),
        "/logs/stats?group_by=level",
    )
    .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(body["code"], "query_timeout");
    let (status, body) = get_json(query_app(use_case, ApiKeys::none()), "/logs").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], "store_unavailable");
}

#[tokio::test]
async fn stats_and_histograms_answer_with_their_documents() {
    let store = Arc::new(InMemoryLogStore::default());
    store
        .insert(&[
            sample_event("auth", Level::Error, "m", at(10)),
            sample_event("auth", Level::Info, "m", at(70)),
            sample_event("billing", Level::Error, "m", at(190)),
        ])
        .await
        .unwrap();
    let use_case = unlimited(store);

    let (status, stats) = get_json(
        query_app(use_case.clone(), ApiKeys::none()),
        "/logs/stats?group_by=Level&service=auth,billing",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        stats,
        serde_json::json!({"group_by": "level", "groups": [
            {"key": "ERROR", "count": 2}, {"key": "INFO", "count": 1}
        ]})
    );
    let (status, histogram) = get_json(
        query_app(use_case, ApiKeys::none()),
        "/logs/histogram?interval=1m&by=level&from=2026-05-05T10:00:00Z&to=2026-05-05T10:04:00Z",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{histogram}");
    assert_eq!(
        histogram,
        serde_json::json!({"interval": "1m", "buckets": [
            {"start": "2026-05-05T10:00:00.000000000Z", "count": 1, "levels": {"ERROR": 1}},
            {"start": "2026-05-05T10:01:00.000000000Z", "count": 1, "levels": {"INFO": 1}},
            {"start": "2026-05-05T10:02:00.000000000Z", "count": 0, "levels": {}},
            {"start": "2026-05-05T10:03:00.000000000Z", "count": 1, "levels": {"ERROR": 1}},
        ]})
    );
}

#[tokio::test]
async fn an_export_streams_every_match_as_ndjson_lines() {
    let store = Arc::new(InMemoryLogStore::default());
    let events: Vec<_> = (0..2500)
        .map(|i| sample_event("svc", Level::Info, &format!("m{i}"), at(i)))
        .collect();
    store.insert(&events).await.unwrap();
    store
        .insert(&[sample_event("other", Level::Info, "not me", at(1))])
        .await
        .unwrap();

    let (status, content_type, body) = get(
        query_app(unlimited(store), ApiKeys::none()),
        "/logs/export?service=svc&order=asc",
    )
    .await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some("application/x-ndjson"));
    let text = String::from_utf8(body).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2500);
    assert_eq!(lines[0]["message"], "m0");
    assert_eq!(lines[2499]["message"], "m2499");
    assert!(text.ends_with('\n'));
}

#[tokio::test]
async fn the_openapi_document_lists_every_endpoint_status_content_type_and_example() {
    let (status, spec) = get_json(
        query_app(unlimited(Arc::new(MockLogReader::new())), ApiKeys::none()),
        "/openapi.json",
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    for path in [
        "/logs",
        "/logs/stats",
        "/logs/histogram",
        "/logs/tail",
        "/logs/export",
    ] {
        let operation = &spec["paths"][path]["get"];
        for code in ["200", "400", "500", "503", "504"] {
            assert!(
                operation["responses"].get(code).is_some(),
                "{path} lacks {code}"
            );
        }
        for parameter in operation["parameters"].as_array().unwrap() {
            assert!(
                parameter.get("example").is_some() || parameter["schema"].get("example").is_some(),
                "{path} parameter {} has no example",
                parameter["name"]
            );
        }
        assert!(
            operation["description"]
                .as_str()
                .is_some_and(|text| text.contains("metadata.")),
            "{path} does not explain metadata.<key>"
        );
    }
    let content = |path: &str| spec["paths"][path]["get"]["responses"]["200"]["content"].clone();
    assert!(content("/logs/tail").get("text/event-stream").is_some());
    assert!(
        content("/logs/export")
            .get("application/x-ndjson")
            .is_some()
    );

    // The documented examples are valid requests.
    let examples: Vec<String> = spec["paths"]["/logs"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|parameter| {
            format!(
                "{}={}",
                parameter["name"].as_str().unwrap(),
                parameter["schema"]["example"]
                    .as_str()
                    .unwrap()
                    .replace(' ', "%20")
                    .replace('"', "%22")
            )
        })
        .collect();
    let uri = format!("/logs?{}", examples.join("&"));
    let (status, body) = get_json(
        query_app(
            unlimited(Arc::new(InMemoryLogStore::default())),
            ApiKeys::none(),
        ),
        &uri,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
}

#[tokio::test]
async fn a_method_a_path_does_not_take_is_405_naming_the_ones_it_takes() {
    let client = TestClient::new(query_app(
        unlimited(Arc::new(InMemoryLogStore::default())),
        ApiKeys::none(),
    ));
    for path in ["/logs", "/logs/stats", "/logs/export", "/health"] {
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            let response = client.request(method.clone(), path).send().await;
            response.assert_status(StatusCode::METHOD_NOT_ALLOWED);
            response.assert_header("allow", "GET, HEAD");
        }
    }
    // HEAD is answered where GET is, as the header says.
    let head = client.request(Method::HEAD, "/health").send().await;
    head.assert_status_is_ok();
    // A path of no operation stays 404, without Allow.
    let missing = client.post("/nowhere").send().await;
    missing.assert_status(StatusCode::NOT_FOUND);
    missing.assert_header_is_not_exist("allow");
}

#[tokio::test]
async fn group_by_and_interval_are_required_parameters_and_missing_ones_name_themselves() {
    let app = || {
        query_app(
            unlimited(Arc::new(InMemoryLogStore::default())),
            ApiKeys::none(),
        )
    };
    let (_, spec) = get_json(app(), "/openapi.json").await;
    for (path, name) in [("/logs/stats", "group_by"), ("/logs/histogram", "interval")] {
        let parameter = spec["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|parameter| parameter["name"] == name)
            .cloned()
            .unwrap();
        assert_eq!(parameter["required"], true, "{path} {name}");

        let (status, body) = get_json(app(), path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            (&body["code"], &body["field"]),
            (
                &serde_json::json!("invalid_parameter"),
                &serde_json::json!(name)
            )
        );
    }
}
