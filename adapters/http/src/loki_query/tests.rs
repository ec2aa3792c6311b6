//! The Loki query API over HTTP with the store in memory or mocked: Grafana's health check,
//! log queries as streams (GET and POST, both directions, limits), the metadata endpoints,
//! and Loki's plain-text errors for unsupported constructs, bad parameters, refused keys and
//! a store that cannot answer.

use std::sync::Arc;

use application::ports::{LogReader, LogWriter, MockLogReader, StoreError};
use application::testing::InMemoryLogStore;
use application::{QuerySettings, QueryUseCase};
use domain::{
    FieldName, FieldOp, Level, LogEvent, LogEventDraft, SortOrder, Timestamp, TimestampInput,
    TraceId,
};
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::app::query_app;
use crate::common::keys::{ApiKeys, Scope};

const SECOND: u64 = 1_000_000_000;
/// 2026-05-05T10:00:00Z.
const BASE: u64 = 1_777_975_200 * SECOND;

fn use_case(store: Arc<dyn LogReader>) -> QueryUseCase {
    QueryUseCase::with_settings(
        store,
        QuerySettings {
            max_range: None,
            ..QuerySettings::default()
        },
        CancellationToken::new(),
    )
}

fn event(
    service: &str,
    level: Level,
    message: &str,
    seconds: u64,
    metadata: &[(&str, &str)],
) -> LogEvent {
    let draft = LogEventDraft {
        service: service.into(),
        level: level.as_str().into(),
        message: message.into(),
        metadata: metadata
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect(),
        timestamp: Some(TimestampInput::Integer(i128::from(BASE + seconds * SECOND))),
        ..LogEventDraft::default()
    };
    LogEvent::from_draft(draft, Timestamp::now(), TraceId::generate()).unwrap()
}

async fn stored() -> Arc<InMemoryLogStore> {
    let store = Arc::new(InMemoryLogStore::default());
    store
        .insert(&[
            event(
                "api",
                Level::Info,
                "GET /users took 12ms",
                1,
                &[("user_id", "42")],
            ),
            event(
                "api",
                Level::Error,
                "timeout talking to db",
                2,
                &[("user_id", "42")],
            ),
            event("api", Level::Error, "timeout again", 3, &[("user_id", "7")]),
            event("web", Level::Warn, "slow render", 4, &[]),
            event("api", Level::Info, "GET /health", 5, &[]),
        ])
        .await
        .unwrap();
    store
}

async fn app() -> impl poem::Endpoint {
    query_app(use_case(stored().await), ApiKeys::none())
}

async fn call(app: &impl poem::Endpoint, uri: &str) -> (StatusCode, String, String) {
    let client = TestClient::new(app);
    let response = client.get(uri).send().await;
    let status = response.0.status();
    let content_type = response
        .0
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.0.into_body().into_string().await.unwrap();
    (status, content_type, body)
}

async fn json_of(app: &impl poem::Endpoint, uri: &str) -> Value {
    let (status, _, body) = call(app, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn encode(text: &str) -> String {
    serde_urlencoded::to_string([("q", text)]).unwrap()[2..].to_owned()
}

fn range_uri(query: &str, extra: &str) -> String {
    format!(
        "/loki/api/v1/query_range?query={}&start={}&end={}{extra}",
        encode(query),
        BASE,
        BASE + 60 * SECOND
    )
}

/// `(labels as text, [line, ...])` per stream.
fn streams(body: &Value) -> Vec<(String, Vec<String>)> {
    assert_eq!(body["status"], "success", "{body}");
    assert_eq!(body["data"]["resultType"], "streams", "{body}");
    body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stream| {
            let labels = stream["stream"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(name, value)| format!("{name}={}", value.as_str().unwrap()))
                .collect::<Vec<_>>()
                .join(",");
            let lines = stream["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|entry| entry[1].as_str().unwrap().to_owned())
                .collect();
            (labels, lines)
        })
        .collect()
}

fn expected(streams: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    streams
        .iter()
        .map(|(labels, lines)| {
            (
                (*labels).to_owned(),
                lines.iter().map(|line| (*line).to_owned()).collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn grafanas_health_check_gets_the_vector_2_at_its_instant() {
    let app = app().await;
    let body = json_of(
        &app,
        "/loki/api/v1/query?query=vector%281%29%2Bvector%281%29&time=4000000000&direction=backward",
    )
    .await;
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["resultType"], "vector");
    // Grafana sends the nanoseconds of 4 s, "4000000000": ten digits, which Loki reads as
    // seconds (and so answers at 4000000000 s); Grafana only checks the value.
    assert_eq!(
        body["data"]["result"],
        json!([{"metric": {}, "value": [4_000_000_000_u64, "2"]}])
    );
    let range = json_of(
        &app,
        "/loki/api/v1/query_range?query=vector(1)%2Bvector(1)&start=1&end=3&step=1",
    )
    .await;
    assert_eq!(
        range["data"]["result"],
        json!([{"metric": {}, "values": [[1, "2"], [2, "2"], [3, "2"]]}])
    );
}

#[tokio::test]
async fn a_log_query_answers_streams_grouped_by_labels_newest_first_within_the_limit() {
    let app = app().await;
    let body = json_of(
        &app,
        &range_uri(r#"{service="api"} |= "timeout""#, "&limit=10"),
    )
    .await;
    assert_eq!(
        streams(&body),
        expected(&[
            (
                "level=ERROR,service=api,user_id=42",
                &["timeout talking to db"]
            ),
            ("level=ERROR,service=api,user_id=7", &["timeout again"])
        ])
    );
    let entry = &body["data"]["result"][0]["values"][0];
    assert_eq!(entry[0], (BASE + 2 * SECOND).to_string());
    assert_eq!(body["data"]["stats"]["summary"]["totalEntriesReturned"], 2);

    let newest_two = json_of(&app, &range_uri(r#"{service=~"api|web"}"#, "&limit=2")).await;
    assert_eq!(
        streams(&newest_two),
        expected(&[
            ("level=INFO,service=api", &["GET /health"]),
            ("level=WARN,service=web", &["slow render"]),
        ])
    );
    let oldest_two = json_of(
        &app,
        &range_uri(r#"{service=~"api|web"}"#, "&limit=2&direction=FORWARD"),
    )
    .await;
    assert_eq!(
        streams(&oldest_two),
        expected(&[
            (
                "level=ERROR,service=api,user_id=42",
                &["timeout talking to db"]
            ),
            (
                "level=INFO,service=api,user_id=42",
                &["GET /users took 12ms"]
            ),
        ])
    );
}

#[tokio::test]
async fn levels_match_in_any_case_and_label_filters_compare_numbers() {
    let app = app().await;
    let lower = json_of(&app, &range_uri(r#"{level="error"}"#, "")).await;
    assert_eq!(
        streams(&lower),
        expected(&[
            (
                "level=ERROR,service=api,user_id=42",
                &["timeout talking to db"]
            ),
            ("level=ERROR,service=api,user_id=7", &["timeout again"]),
        ])
    );
    let numeric = json_of(&app, &range_uri(r#"{service="api"} | user_id > 10"#, "")).await;
    assert_eq!(
        streams(&numeric),
        expected(&[
            (
                "level=ERROR,service=api,user_id=42",
                &["timeout talking to db"]
            ),
            (
                "level=INFO,service=api,user_id=42",
                &["GET /users took 12ms"]
            ),
        ])
    );
}

#[tokio::test]
async fn a_posted_form_is_read_like_the_query_string() {
    let app = app().await;
    let form = serde_urlencoded::to_string([
        ("query", r#"{service="web"}"#.to_owned()),
        ("start", BASE.to_string()),
        ("end", (BASE + 60 * SECOND).to_string()),
    ])
    .unwrap();
    let response = TestClient::new(&app)
        .post("/loki/api/v1/query_range")
        .header("X-Scope-OrgID", "tenant-1")
        .content_type("application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await;
    response.assert_status_is_ok();
    let body: Value =
        serde_json::from_str(&response.0.into_body().into_string().await.unwrap()).unwrap();
    assert_eq!(
        streams(&body),
        expected(&[("level=WARN,service=web", &["slow render"])])
    );
}

#[tokio::test]
async fn the_reader_gets_the_selection_range_limit_and_direction() {
    let mut store = MockLogReader::new();
    store
        .expect_query()
        .withf(|filter| {
            let conditions: Vec<(FieldName, FieldOp, String)> = filter
                .field_conditions()
                .iter()
                .map(|c| (c.field().clone(), c.op(), c.value().to_owned()))
                .collect();
            conditions
                == [
                    (FieldName::Service, FieldOp::Equal, "api".to_owned()),
                    (FieldName::Level, FieldOp::NotEqual, "DEBUG".to_owned()),
                    (
                        FieldName::Metadata("user_id".to_owned()),
                        FieldOp::Matches,
                        "4.*".to_owned(),
                    ),
                ]
                && filter.line_conditions().len() == 1
                && filter.from() == Some(Timestamp::from_unix_nanos(BASE))
                && filter.to() == Some(Timestamp::from_unix_nanos(BASE + 60 * SECOND))
                && filter.order() == SortOrder::Ascending
                // one more than asked, to learn whether another page follows
                && filter.limit().get() == 8
        })
        .times(1)
        .returning(|_| Ok(Vec::new()));
    let app = query_app(use_case(Arc::new(store)), ApiKeys::none());
    let body = json_of(
        &app,
        &range_uri(
            r#"{service="api", level!="debug"} |= "x" | user_id=~"4.*""#,
            "&limit=7&direction=forward",
        ),
    )
    .await;
    assert_eq!(body["data"]["result"], json!([]));
}

#[tokio::test]
async fn unsupported_constructs_and_syntax_errors_are_400_plain_text_naming_them() {
    let app = app().await;
    let cases = [
        (r#"{service="api"} | line_format "{{.x}}""#, "line_format"),
        (
            r#"avg_over_time({service="api"} | unwrap x [5m])"#,
            "avg_over_time",
        ),
        (r#"{service="api"} | json status="response.code""#, "json"),
        (r#"{service="api"} | json | logfmt"#, "second parser stage"),
        (r#"{service="api""#, "parse error"),
        (
            r#"count_over_time({service="api"}[5m] offset 1h)"#,
            "offset",
        ),
    ];
    for (query, named) in cases {
        let (status, content_type, body) = call(&app, &range_uri(query, "")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(content_type, "text/plain; charset=utf-8", "{query}");
        assert!(body.contains(named), "{query}: {body}");
        assert!(body.ends_with('\n'), "{query}");
    }
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let app = app().await;
    let cases = [
        ("&limit=0", "limit"),
        ("&limit=5000", "limit"),
        ("&direction=sideways", "direction"),
        ("&step=0", "step"),
    ];
    for (extra, named) in cases {
        let (status, _, body) = call(&app, &range_uri(r#"{service="api"}"#, extra)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{extra}: {body}");
        assert!(body.contains(named), "{extra}: {body}");
    }
    let (status, _, body) = call(
        &app,
        "/loki/api/v1/query_range?query=%7Bservice%3D%22api%22%7D&start=200&end=100",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("end timestamp must not be before"), "{body}");
    let (status, _, body) = call(&app, "/loki/api/v1/query_range?start=1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("query"), "{body}");
    let (status, _, body) = call(
        &app,
        "/loki/api/v1/query_range?query=%7Bservice%3D%22api%22%7D&start=soon",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("\"start\""), "{body}");
}

#[tokio::test]
async fn a_store_that_cannot_answer_is_503_with_retry_after() {
    let mut store = MockLogReader::new();
    store
        .expect_query()
        .times(1)
        .returning(|_| Err(StoreError::Unavailable("connection refused".into())));
    let app = query_app(use_case(Arc::new(store)), ApiKeys::none());
    let client = TestClient::new(&app);
    let response = client.get(range_uri(r#"{service="api"}"#, "")).send().await;
    response.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    response.assert_header("Retry-After", "1");
    response.assert_content_type("text/plain; charset=utf-8");
}

#[tokio::test]
async fn labels_values_series_stats_and_fields_describe_the_range() {
    let app = app().await;
    let range = format!("start={BASE}&end={}", BASE + 60 * SECOND);
    let labels = json_of(&app, &format!("/loki/api/v1/labels?{range}")).await;
    assert_eq!(
        labels,
        json!({"status": "success", "data": ["level", "service", "user_id"]})
    );
    let services = json_of(&app, &format!("/loki/api/v1/label/service/values?{range}")).await;
    assert_eq!(services["data"], json!(["api", "web"]));
    let users = json_of(
        &app,
        &format!(
            "/loki/api/v1/label/user_id/values?{range}&query={}",
            encode(r#"{level="ERROR"}"#)
        ),
    )
    .await;
    assert_eq!(users["data"], json!(["42", "7"]));
    let series = json_of(
        &app,
        &format!(
            "/loki/api/v1/series?{range}&match[]={}",
            encode(r#"{service="api"}"#)
        ),
    )
    .await;
    let mut sets: Vec<String> = series["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|set| format!("{}/{}", set["service"], set["level"]))
        .collect();
    sets.sort();
    assert_eq!(sets, [r#""api"/"ERROR""#, r#""api"/"INFO""#]);
    let stats = json_of(
        &app,
        &format!(
            "/loki/api/v1/index/stats?{range}&query={}",
            encode(r#"{service="api"}"#)
        ),
    )
    .await;
    assert_eq!(
        stats,
        json!({"streams": 1, "chunks": 0, "bytes": 65, "entries": 4}),
        "bytes: the api messages' lengths, 20 + 21 + 13 + 11"
    );
    let fields = json_of(
        &app,
        &format!(
            "/loki/api/v1/detected_fields?{range}&limit=1000&query={}",
            encode(r#"{service="api"}"#)
        ),
    )
    .await;
    assert_eq!(
        fields,
        json!({"fields": [{"label": "user_id", "type": "int", "cardinality": 2,
            "parsers": null, "jsonPath": []}], "limit": 1000})
    );
    let values = json_of(
        &app,
        &format!("/loki/api/v1/detected_field/user_id/values?{range}"),
    )
    .await;
    assert_eq!(values, json!({"values": ["42", "7"], "limit": 1000}));
    let build = json_of(&app, "/loki/api/v1/status/buildinfo").await;
    assert_eq!(build["version"], "2.9.0");
}

#[tokio::test]
async fn with_keys_a_request_without_one_is_401_plain_text_with_a_challenge() {
    let mut keys = ApiKeys::none();
    keys.add_list(Scope::Query, "query-key-0123456789abcdef", "test")
        .unwrap();
    let app = query_app(use_case(stored().await), keys);
    let client = TestClient::new(&app);
    let refused = client.get("/loki/api/v1/labels").send().await;
    refused.assert_status(StatusCode::UNAUTHORIZED);
    refused.assert_content_type("text/plain; charset=utf-8");
    assert!(refused.0.headers().contains_key("WWW-Authenticate"));
    let accepted = client
        .get("/loki/api/v1/labels")
        .header(
            "Authorization",
            "Basic Z3JhZmFuYTpxdWVyeS1rZXktMDEyMzQ1Njc4OWFiY2RlZg==",
        )
        .send()
        .await;
    accepted.assert_status_is_ok();
}

#[tokio::test]
async fn the_tail_without_a_websocket_upgrade_is_refused_after_checking_the_query() {
    let app = app().await;
    let (status, _, body) = call(&app, "/loki/api/v1/tail?query=%7Bservice%3D%22api%22").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("parse error"), "{body}");
    let (status, _, body) = call(&app, "/loki/api/v1/tail?query=%7Bservice%3D%22api%22%7D").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("WebSocket"), "{body}");
    let (status, _, body) = call(
        &app,
        "/loki/api/v1/tail?query=%7Bservice%3D%22api%22%7D&delay_for=6",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("delay_for"), "{body}");
}

#[tokio::test]
async fn metric_queries_answer_a_matrix_of_sliding_windows_and_a_vector_as_loki_writes_them() {
    let app = app().await;
    // api: INFO at 1 s, ERROR at 2 s and 3 s, INFO at 5 s; steps 2 s to 5 s, windows (t - 2 s, t].
    let body = json_of(
        &app,
        &format!(
            "/loki/api/v1/query_range?query={}&start={}&end={}&step=1",
            encode(r#"sum by (level) (count_over_time({service="api"}[2s]))"#),
            BASE + 2 * SECOND,
            BASE + 5 * SECOND,
        ),
    )
    .await;
    let at = |seconds: u64| BASE / SECOND + seconds;
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["resultType"], "matrix", "{body}");
    assert_eq!(
        body["data"]["result"],
        json!([
            {"metric": {"level": "ERROR"}, "values": [[at(2), "1"], [at(3), "2"], [at(4), "1"]]},
            {"metric": {"level": "INFO"}, "values": [[at(2), "1"], [at(5), "1"]]},
        ])
    );
    assert_eq!(body["data"]["stats"]["summary"]["totalEntriesReturned"], 5);

    let body = json_of(
        &app,
        &format!(
            "/loki/api/v1/query?query={}&time={}",
            encode(r#"sum(rate({service=~".+"}[4s]))"#),
            BASE + 4 * SECOND
        ),
    )
    .await;
    assert_eq!(
        body["data"],
        json!({
            "resultType": "vector",
            "result": [{"metric": {}, "value": [at(4), "1"]}],
            "stats": body["data"]["stats"].clone(),
        })
    );
}

#[tokio::test]
async fn a_metric_query_past_the_store_time_limit_is_504_and_too_many_steps_400() {
    let mut store = MockLogReader::new();
    store
        .expect_metric_windows()
        .times(1)
        .returning(|_| Err(StoreError::TimedOut("max_execution_time".into())));
    let app = query_app(use_case(Arc::new(store)), ApiKeys::none());
    let metric = encode(r#"sum(count_over_time({service="api"}[5m]))"#);
    let (status, _, body) = call(
        &app,
        &format!("/loki/api/v1/query?query={metric}&time={BASE}"),
    )
    .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    let (status, _, body) = call(
        &app,
        &format!(
            "/loki/api/v1/query_range?query={metric}&start={BASE}&end={}&step=0.001",
            BASE + 12 * SECOND
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("step"), "{body}");
}

#[tokio::test]
async fn a_method_a_route_does_not_serve_is_405_naming_the_methods_it_does() {
    let app = app().await;
    let client = TestClient::new(&app);
    let cases = [
        ("/loki/api/v1/query_range", "GET, POST, HEAD"),
        ("/loki/api/v1/query", "GET, POST, HEAD"),
        ("/loki/api/v1/labels", "GET, POST, HEAD"),
        ("/loki/api/v1/label/service/values", "GET, POST, HEAD"),
        ("/loki/api/v1/series", "GET, POST, HEAD"),
        ("/loki/api/v1/index/stats", "GET, POST, HEAD"),
        ("/loki/api/v1/detected_fields", "GET, HEAD"),
        ("/loki/api/v1/detected_field/service/values", "GET, HEAD"),
        ("/loki/api/v1/status/buildinfo", "GET, HEAD"),
        ("/loki/api/v1/tail", "GET, HEAD"),
    ];
    for (path, allow) in cases {
        let response = client.delete(path).send().await;
        response.assert_status(StatusCode::METHOD_NOT_ALLOWED);
        response.assert_header("Allow", allow);
    }
    // A GET-only route refuses a POST, naming GET.
    let response = client.post("/loki/api/v1/detected_fields").send().await;
    response.assert_status(StatusCode::METHOD_NOT_ALLOWED);
    response.assert_header("Allow", "GET, HEAD");
}

/// A store whose `query` takes an hour; anything else is refused by the mock (no expectations).
struct SlowReader(MockLogReader);

#[async_trait::async_trait]
impl LogReader for SlowReader {
    async fn query(&self, _filter: &domain::Filter) -> Result<Vec<LogEvent>, StoreError> {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        Ok(Vec::new())
    }
    async fn count_by(
        &self,
        filter: &domain::Filter,
        group_by: domain::GroupBy,
    ) -> Result<Vec<application::ports::GroupCount>, StoreError> {
        self.0.count_by(filter, group_by).await
    }
    async fn histogram(
        &self,
        request: &application::ports::HistogramRequest,
    ) -> Result<Vec<application::ports::BucketCount>, StoreError> {
        self.0.histogram(request).await
    }
    async fn metric_windows(
        &self,
        request: &application::ports::MetricRequest,
    ) -> Result<Vec<application::ports::WindowCount>, StoreError> {
        self.0.metric_windows(request).await
    }
    async fn metadata_keys(
        &self,
        filter: &domain::Filter,
        sample: domain::SampleRows,
    ) -> Result<application::ports::SampledCounts, StoreError> {
        self.0.metadata_keys(filter, sample).await
    }
    async fn metadata_values(
        &self,
        filter: &domain::Filter,
        key: &str,
        sample: domain::SampleRows,
    ) -> Result<application::ports::SampledCounts, StoreError> {
        self.0.metadata_values(filter, key, sample).await
    }
    async fn export(
        &self,
        filter: &domain::Filter,
    ) -> Result<Box<dyn application::ports::EventCursor>, StoreError> {
        self.0.export(filter).await
    }
    async fn arrivals(
        &self,
        window: &application::ports::ArrivalWindow,
    ) -> Result<Vec<LogEvent>, StoreError> {
        self.0.arrivals(window).await
    }
    async fn health(&self) -> Result<(), StoreError> {
        self.0.health().await
    }
}

// Tokio's clock is paused: the hour passes at once, the deadline is exact.
#[tokio::test(start_paused = true)]
async fn a_query_past_the_request_deadline_is_503_with_retry_after_in_lokis_plain_text() {
    let app = crate::app::query_app_with(
        use_case(Arc::new(SlowReader(MockLogReader::new()))),
        ApiKeys::none(),
        crate::QueryHttpConfig {
            request_timeout_ms: 500,
        },
    );
    let client = TestClient::new(&app);
    let response = client.get(range_uri(r#"{service="api"}"#, "")).send().await;
    response.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    response.assert_header("Retry-After", "1");
    response.assert_content_type("text/plain; charset=utf-8");
    let body = response.0.into_body().into_string().await.unwrap();
    assert!(body.contains("500 ms"), "{body}");
    assert!(body.ends_with('\n') && !body.starts_with('{'), "{body}");

    // Elsewhere on the service the same deadline still answers our JSON error.
    let response = client
        .get("/logs?service=api&from=2026-05-05T10:00:00Z")
        .send()
        .await;
    response.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    response.assert_content_type("application/json; charset=utf-8");
    let body: Value = response.0.into_body().into_json().await.unwrap();
    assert_eq!(body["code"], "request_timeout", "{body}");
}
