//! Loki's query API end to end, on the real binaries: for a fixed data set, every supported log
//! query (each in both directions, with a small and a large limit) answers the same logs as the
//! same question asked through `GET /logs`; a request sequence of Grafana's Loki data source
//! (health check, label browser, Explore log query, detected fields, live tail over a real
//! WebSocket client) is replayed with its expected answers; unsupported constructs and bad
//! parameters get Loki's plain-text 400.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code fails loudly

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use e2e_tests::{Service, Stack, StackOptions, nanos_of_timestamp};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const SECOND: u64 = 1_000_000_000;
/// 2026-05-05T10:00:00Z: the data set's first event.
const BASE: u64 = 1_777_975_200 * SECOND;
const EVENTS: u64 = 60;
const SERVICES: [&str; 3] = ["api", "web", "billing"];
const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/// A stream as `labels text -> [(nanoseconds, line)]`.
type Streams = BTreeMap<String, Vec<(String, String)>>;

/// The fixed data set: services, levels, metadata (numbers, text, missing keys) and messages
/// varied by index; events 20 and 21 share a timestamp.
fn data_set() -> Vec<Value> {
    (0..EVENTS)
        .map(|i| {
            let seconds = if i == 21 { 20 * 10 } else { i * 10 };
            let timestamp = format!(
                "2026-05-05T{:02}:{:02}:{:02}Z",
                10 + seconds / 3600,
                (seconds % 3600) / 60,
                seconds % 60
            );
            let message = match i % 5 {
                0 => format!("GET /users/{i} took {}ms", i * 3),
                1 => format!("timeout talking to db after {i}s"),
                2 => format!("Timeout in worker {i}"),
                3 => format!("payment {i} accepted"),
                _ => format!("cache miss for key k{i}"),
            };
            let mut metadata = serde_json::Map::new();
            if i % 5 != 4 {
                metadata.insert("user_id".into(), json!(((i * 7) % 50).to_string()));
            }
            metadata.insert("region".into(), json!(if i % 4 == 0 { "eu" } else { "us" }));
            if i % 3 == 0 {
                metadata.insert("took".into(), json!(format!("{}", i as f64 * 1.5)));
            }
            json!({
                "service": SERVICES[(i % 3) as usize],
                "level": LEVELS[((i / 3 + i) % 6) as usize],
                "message": message,
                "timestamp": timestamp,
                "metadata": metadata,
            })
        })
        .collect()
}

async fn start_with_data(extra_env: Vec<(Service, &'static str, String)>) -> (Stack, Vec<Value>) {
    let stack = Stack::start(StackOptions {
        poll_interval_ms: 200,
        extra_env,
        ..StackOptions::default()
    })
    .await;
    let (status, body) = stack.ingest(&Value::Array(data_set())).await;
    assert_eq!(status, 202, "{body}");
    let window = window_query();
    let logs = stack
        .wait_for_logs(
            &format!("{window}&limit=1000&order=asc"),
            EVENTS as usize,
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(logs.len() as u64, EVENTS);
    (stack, logs)
}

/// The data set's range for `GET /logs`.
fn window_query() -> String {
    "from=2026-05-05T09:00:00Z&to=2026-05-05T12:00:00Z".to_owned()
}

/// The same range for Loki, as nanoseconds.
fn window_nanos() -> (u64, u64) {
    (BASE - 3600 * SECOND, BASE + 2 * 3600 * SECOND)
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `GET /logs` records grouped as Loki groups them: labels `service`, `level` and metadata.
fn streams_of_logs(logs: &[Value]) -> Streams {
    let mut streams = Streams::new();
    for log in logs {
        let mut labels: BTreeMap<String, String> = log["metadata"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(key, value)| (key.clone(), value.as_str().unwrap().to_owned()))
            // Loki leaves out empty labels.
            .filter(|(_, value)| !value.is_empty())
            .collect();
        labels.insert("service".into(), log["service"].as_str().unwrap().into());
        labels.insert("level".into(), log["level"].as_str().unwrap().into());
        streams.entry(labels_text(&labels)).or_default().push((
            nanos_of_timestamp(log["timestamp"].as_str().unwrap()).to_string(),
            log["message"].as_str().unwrap().to_owned(),
        ));
    }
    streams
}

/// A Loki `streams` answer in the same form; checks the envelope and the stream order.
fn streams_of_answer(body: &Value) -> Streams {
    assert_eq!(body["status"], "success", "{body}");
    assert_eq!(body["data"]["resultType"], "streams", "{body}");
    let mut streams = Streams::new();
    let mut previous: Option<String> = None;
    for stream in body["data"]["result"].as_array().unwrap() {
        let labels: BTreeMap<String, String> = stream["stream"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, value)| (name.clone(), value.as_str().unwrap().to_owned()))
            .collect();
        let text = labels_text(&labels);
        // Loki sorts streams by their label set's text, `{a="1", b="2"}`.
        let loki_text = format!(
            "{{{}}}",
            labels
                .iter()
                .map(|(name, value)| format!("{name}={value:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert!(
            previous.as_ref().is_none_or(|before| *before < loki_text),
            "streams sorted: {body}"
        );
        previous = Some(loki_text);
        let entries = stream["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| {
                (
                    entry[0].as_str().unwrap().to_owned(),
                    entry[1].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(
            streams.insert(text, entries).is_none(),
            "one stream per label set"
        );
    }
    streams
}

async fn loki_get(
    stack: &Stack,
    path: &str,
    parameters: &[(&str, String)],
) -> (u16, String, String) {
    let response = stack
        .http
        .get(format!("{}/loki/api/v1{path}", stack.query_url))
        .query(parameters)
        .header("X-Scope-OrgID", "tenant-a")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

async fn loki_json(stack: &Stack, path: &str, parameters: &[(&str, String)]) -> Value {
    let (status, _, body) = loki_get(stack, path, parameters).await;
    assert_eq!(status, 200, "{path} {parameters:?}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn text(value: &Value, key: &str) -> String {
    value["metadata"][key]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn number(value: &Value, key: &str) -> Option<f64> {
    value["metadata"][key]
        .as_str()
        .and_then(|text| text.parse().ok())
}

fn field(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap().to_owned()
}

fn message(value: &Value) -> String {
    field(value, "message")
}

/// One supported log query, the predicate that says which logs it selects (written here, not
/// taken from the service), and the same question as `GET /logs` parameters where those can
/// state it.
struct Case {
    logql: &'static str,
    selects: fn(&Value) -> bool,
    logs_parameters: Option<&'static str>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            logql: r#"{service="api"}"#,
            selects: |v| field(v, "service") == "api",
            logs_parameters: Some("service=api"),
        },
        Case {
            logql: r#"{service!="api"}"#,
            selects: |v| field(v, "service") != "api",
            logs_parameters: Some("exclude.service=api"),
        },
        Case {
            logql: r#"{service=~"api|web"}"#,
            selects: |v| ["api", "web"].contains(&field(v, "service").as_str()),
            logs_parameters: Some("service=api,web"),
        },
        Case {
            logql: r#"{service!~"b.*"}"#,
            selects: |v| !field(v, "service").starts_with('b'),
            logs_parameters: Some("exclude.service=billing"),
        },
        Case {
            logql: r#"{level="error"}"#,
            selects: |v| field(v, "level") == "ERROR",
            logs_parameters: Some("level=ERROR"),
        },
        Case {
            logql: r#"{level=~"ERROR|FATAL"}"#,
            selects: |v| ["ERROR", "FATAL"].contains(&field(v, "level").as_str()),
            logs_parameters: Some("min_level=ERROR"),
        },
        Case {
            logql: r#"{service="api", level="INFO"}"#,
            selects: |v| field(v, "service") == "api" && field(v, "level") == "INFO",
            logs_parameters: Some("service=api&level=INFO"),
        },
        Case {
            logql: r#"{region="eu"}"#,
            selects: |v| text(v, "region") == "eu",
            logs_parameters: Some("metadata.region=eu"),
        },
        Case {
            logql: r#"{user_id="14"}"#,
            selects: |v| text(v, "user_id") == "14",
            logs_parameters: Some("metadata.user_id=14"),
        },
        Case {
            logql: r#"{level!="INFO", region="us"}"#,
            selects: |v| field(v, "level") != "INFO" && text(v, "region") == "us",
            logs_parameters: Some("exclude.level=INFO&metadata.region=us"),
        },
        Case {
            logql: r#"{service="web"} |= "timeout""#,
            selects: |v| field(v, "service") == "web" && message(v).contains("timeout"),
            logs_parameters: None,
        },
        Case {
            logql: r#"{service=~".+"} != "timeout""#,
            selects: |v| !message(v).contains("timeout"),
            logs_parameters: None,
        },
        Case {
            logql: r#"{service=~".+"} |~ "time(out)? talking""#,
            selects: |v| message(v).contains("timeout talking"),
            logs_parameters: None,
        },
        Case {
            logql: r#"{service=~".+"} !~ "^GET""#,
            selects: |v| !message(v).starts_with("GET"),
            logs_parameters: None,
        },
        Case {
            logql: r#"{service=~".+"} |= "Timeout""#,
            selects: |v| message(v).contains("Timeout"),
            logs_parameters: None,
        },
        Case {
            logql: r#"{service=~".+"} |~ "(?i)timeout""#,
            selects: |v| message(v).to_lowercase().contains("timeout"),
            logs_parameters: None,
        },
        Case {
            logql: r#"{service="api"} | user_id > 20"#,
            selects: |v| {
                field(v, "service") == "api" && number(v, "user_id").is_some_and(|n| n > 20.0)
            },
            logs_parameters: None,
        },
        Case {
            logql: r#"{service=~".+"} | user_id <= 7"#,
            selects: |v| number(v, "user_id").is_some_and(|n| n <= 7.0),
            logs_parameters: None,
        },
        Case {
            logql: r#"{service=~".+"} | took >= 30.5"#,
            selects: |v| number(v, "took").is_some_and(|n| n >= 30.5),
            logs_parameters: None,
        },
        Case {
            logql: r#"{service=~".+"} | user_id == 21"#,
            selects: |v| number(v, "user_id") == Some(21.0),
            logs_parameters: None,
        },
        Case {
            logql: r#"{service=~".+"} | region != "eu""#,
            selects: |v| text(v, "region") != "eu",
            logs_parameters: None,
        },
        Case {
            logql: r#"{service=~".+"} | user_id = """#,
            selects: |v| text(v, "user_id").is_empty(),
            logs_parameters: None,
        },
        Case {
            logql: r#"{service=~".+"} | user_id=~"1.*" and region="us""#,
            selects: |v| text(v, "user_id").starts_with('1') && text(v, "region") == "us",
            logs_parameters: None,
        },
        Case {
            logql: r#"{service="billing"} |= "GET" |~ "users/[0-9]+""#,
            selects: |v| field(v, "service") == "billing" && message(v).starts_with("GET /users/"),
            logs_parameters: None,
        },
        Case {
            logql: r#"{service=~".+"} |= "payment" | drop __error__"#,
            selects: |v| message(v).contains("payment"),
            logs_parameters: None,
        },
        Case {
            logql: r#"{region=~"e.", service!="web"} != "cache""#,
            selects: |v| {
                text(v, "region") == "eu"
                    && field(v, "service") != "web"
                    && !message(v).contains("cache")
            },
            logs_parameters: None,
        },
    ]
}

/// The first `limit` of `logs` (oldest first) in the direction.
fn page(mut logs: Vec<Value>, backward: bool, limit: usize) -> Vec<Value> {
    if backward {
        logs.reverse();
    }
    logs.truncate(limit);
    logs
}

#[tokio::test]
async fn every_supported_log_query_answers_what_get_logs_answers() {
    let (stack, all) = start_with_data(Vec::new()).await;
    let (start, end) = window_nanos();
    let mut compared = 0;
    for case in cases() {
        let selected: Vec<Value> = all
            .iter()
            .filter(|log| (case.selects)(log))
            .cloned()
            .collect();
        assert!(
            !selected.is_empty(),
            "{}: the data set has logs for it",
            case.logql
        );
        for (direction, backward) in [("backward", true), ("forward", false)] {
            for limit in [3usize, 1000] {
                let body = loki_json(
                    &stack,
                    "/query_range",
                    &[
                        ("query", case.logql.to_owned()),
                        ("start", start.to_string()),
                        ("end", end.to_string()),
                        ("limit", limit.to_string()),
                        ("direction", direction.to_owned()),
                        ("step", "2000ms".to_owned()),
                    ],
                )
                .await;
                let answered = streams_of_answer(&body);
                let expected = streams_of_logs(&page(selected.clone(), backward, limit));
                assert_eq!(
                    answered, expected,
                    "{} {direction} limit {limit}",
                    case.logql
                );
                if let Some(parameters) = case.logs_parameters {
                    let order = if backward { "desc" } else { "asc" };
                    let (status, logs) = stack
                        .logs(&format!(
                            "{parameters}&{}&order={order}&limit={limit}",
                            window_query()
                        ))
                        .await;
                    assert_eq!(status, 200, "{logs}");
                    let through_logs = streams_of_logs(logs["logs"].as_array().unwrap());
                    assert_eq!(
                        answered, through_logs,
                        "{} vs GET /logs?{parameters}",
                        case.logql
                    );
                }
                compared += 1;
            }
        }
    }
    assert!(compared >= 80, "{compared} comparisons");

    // The same range as RFC 3339 and as float seconds, and a POSTed form: the same answer.
    let question = r#"{service="api"} |= "timeout""#;
    let by_nanos = loki_json(
        &stack,
        "/query_range",
        &[
            ("query", question.into()),
            ("start", start.to_string()),
            ("end", end.to_string()),
        ],
    )
    .await;
    let by_text = loki_json(
        &stack,
        "/query_range",
        &[
            ("query", question.into()),
            ("start", "2026-05-05T09:00:00Z".into()),
            ("end", "2026-05-05T12:00:00.000000000Z".into()),
        ],
    )
    .await;
    let by_seconds = loki_json(
        &stack,
        "/query_range",
        &[
            ("query", question.into()),
            ("start", format!("{}.000", start / SECOND)),
            ("end", format!("{}", end / SECOND)),
        ],
    )
    .await;
    let posted: Value = stack
        .http
        .post(format!("{}/loki/api/v1/query_range", stack.query_url))
        .form(&[
            ("query", question.to_owned()),
            ("start", start.to_string()),
            ("end", end.to_string()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected = streams_of_answer(&by_nanos);
    assert!(!expected.is_empty());
    for other in [&by_text, &by_seconds, &posted] {
        assert_eq!(streams_of_answer(other), expected);
    }
}

#[tokio::test]
async fn unsupported_constructs_and_bad_parameters_get_lokis_plain_text_400() {
    let stack = Stack::start(StackOptions::default()).await;
    let (start, end) = window_nanos();
    let refusals = [
        (
            r#"{service="api"} | line_format "{{.user_id}}""#,
            "line_format",
        ),
        (r#"{service="api"} | json status="response.code""#, "json"),
        (r#"{service="api"} | pattern "<ip> <_>""#, "pattern"),
        (r#"topk(3, count_over_time({service="api"}[5m]))"#, "topk"),
        (
            r#"quantile_over_time(0.99, {service="api"} | unwrap took [5m])"#,
            "quantile_over_time",
        ),
        (
            r#"sum without (level) (count_over_time({service="api"}[5m]))"#,
            "without",
        ),
        (r#"{service="api"} |= "a" or "b""#, "or"),
        (r#"{service="api"} |> "<_> error""#, "pattern line filters"),
        (r#"{service="api""#, "parse error"),
        (r#"{service="api"} |~ "(""#, "RE2"),
    ];
    for (query, named) in refusals {
        let (status, content_type, body) = loki_get(
            &stack,
            "/query_range",
            &[
                ("query", query.to_owned()),
                ("start", start.to_string()),
                ("end", end.to_string()),
            ],
        )
        .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(content_type, "text/plain; charset=utf-8", "{query}");
        assert!(body.contains(named), "{query}: {body}");
    }
    let query = r#"{service="api"}"#.to_owned();
    let bad_parameters = [
        (vec![("limit", "0")], "limit"),
        (vec![("limit", "100000")], "limit"),
        (vec![("direction", "sideways")], "direction"),
        (vec![("start", "tomorrow")], "start"),
        (vec![("start", "2000"), ("end", "1000")], "end timestamp"),
        (vec![("step", "0")], "step"),
        (
            vec![("start", "0"), ("end", "86400"), ("step", "1")],
            "11,000",
        ),
    ];
    for (parameters, named) in bad_parameters {
        let mut all = vec![("query", query.clone())];
        all.extend(
            parameters
                .iter()
                .map(|(name, value)| (*name, (*value).to_owned())),
        );
        let (status, content_type, body) = loki_get(&stack, "/query_range", &all).await;
        assert_eq!(status, 400, "{parameters:?}: {body}");
        assert_eq!(content_type, "text/plain; charset=utf-8");
        assert!(body.contains(named), "{parameters:?}: {body}");
    }
    let (status, _, body) = loki_get(
        &stack,
        "/labels",
        &[("query", "rate({a=\"b\"}[1m])".into())],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = loki_get(&stack, "/label/%20/values", &[]).await;
    assert_eq!(status, 400, "{body}");
}

/// Grafana's Loki data source (its backend for queries and resources, its frontend for the live
/// tail), replayed with the requests it sends: the shapes are Grafana's
/// (`pkg/tsdb/loki/api.go`, `healthcheck.go`, `LanguageProvider.ts`, `datasource.ts`).
#[tokio::test]
async fn a_grafana_session_health_check_label_browser_explore_and_live_tail_is_answered() {
    let (stack, all) = start_with_data(vec![
        (Service::Query, "QUERY_TAIL_HEARTBEAT_MS", "300".to_owned()),
        (Service::Query, "QUERY_TAIL_POLL_MS", "100".to_owned()),
    ])
    .await;
    let (start, end) = window_nanos();
    let range = || vec![("start", start.to_string()), ("end", end.to_string())];

    // "Save & test": an instant query at 4 s past the epoch, with a 1 s step.
    let health = loki_json(
        &stack,
        "/query",
        &[
            ("query", "vector(1)+vector(1)".into()),
            ("direction", "backward".into()),
            ("time", "4000000000".into()),
        ],
    )
    .await;
    assert_eq!(health["status"], "success");
    assert_eq!(health["data"]["resultType"], "vector");
    // "4000000000" has ten digits, which Loki reads as seconds; Grafana checks only the value.
    assert_eq!(
        health["data"]["result"],
        json!([{"metric": {}, "value": [4_000_000_000_u64, "2"]}])
    );

    // The label browser: Grafana probes `detected_labels` (absent here, so it falls back),
    // then asks for labels and values.
    let (status, _, _) = loki_get(&stack, "/detected_labels", &range()).await;
    assert_eq!(status, 404);
    let labels = loki_json(&stack, "/labels", &range()).await;
    assert_eq!(
        labels,
        json!({"status": "success", "data": ["level", "region", "service", "took", "user_id"]})
    );
    let services = loki_json(&stack, "/label/service/values", &range()).await;
    assert_eq!(services["data"], json!(["api", "billing", "web"]));
    let mut with_selector = range();
    with_selector.push(("query", r#"{service="api"}"#.into()));
    let api_levels = loki_json(&stack, "/label/level/values", &with_selector).await;
    let mut expected_levels: Vec<String> = all
        .iter()
        .filter(|log| field(log, "service") == "api")
        .map(|log| field(log, "level"))
        .collect();
    expected_levels.sort();
    expected_levels.dedup();
    assert_eq!(api_levels["data"], json!(expected_levels));
    let mut series_request = range();
    series_request.push(("match[]", r#"{service="api"}"#.into()));
    let series = loki_json(&stack, "/series", &series_request).await;
    let mut pairs: Vec<String> = series["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|set| {
            format!(
                "{}:{}",
                set["service"].as_str().unwrap(),
                set["level"].as_str().unwrap()
            )
        })
        .collect();
    pairs.sort();
    let expected_pairs: Vec<String> = expected_levels
        .iter()
        .map(|level| format!("api:{level}"))
        .collect();
    assert_eq!(pairs, expected_pairs);
    let stats = loki_json(&stack, "/index/stats", &with_selector).await;
    let api_count = all
        .iter()
        .filter(|log| field(log, "service") == "api")
        .count();
    assert_eq!(stats["entries"], json!(api_count));
    let api_bytes: usize = all
        .iter()
        .filter(|log| field(log, "service") == "api")
        .map(|log| field(log, "message").len())
        .sum();
    assert_eq!(stats["bytes"], json!(api_bytes));
    assert_eq!(stats["streams"], json!(1));

    // Explore: the log query as Grafana's backend sends it.
    let question = r#"{service="api"} |= "timeout""#;
    let response = stack
        .http
        .get(format!("{}/loki/api/v1/query_range", stack.query_url))
        .query(&[
            ("direction", "backward".to_owned()),
            ("end", end.to_string()),
            ("limit", "1000".to_owned()),
            ("query", question.to_owned()),
            ("start", start.to_string()),
            ("step", "2000ms".to_owned()),
        ])
        .header("X-Query-Tags", "Source=grafana-explore")
        .header("User-Agent", "Grafana/12.2.0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let explore: Value = response.json().await.unwrap();
    let expected: Vec<Value> = all
        .iter()
        .filter(|log| field(log, "service") == "api" && message(log).contains("timeout"))
        .cloned()
        .collect();
    assert_eq!(
        streams_of_answer(&explore),
        streams_of_logs(&page(expected.clone(), true, 1000))
    );
    assert_eq!(
        explore["data"]["stats"]["summary"]["totalEntriesReturned"],
        json!(expected.len())
    );

    // The query builder's field list.
    let mut fields_request = with_selector.clone();
    fields_request.push(("limit", "1000".into()));
    let fields = loki_json(&stack, "/detected_fields", &fields_request).await;
    let described: BTreeMap<String, (String, u64)> = fields["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| {
            assert_eq!(field["parsers"], Value::Null, "{field}");
            (
                field["label"].as_str().unwrap().to_owned(),
                (
                    field["type"].as_str().unwrap().to_owned(),
                    field["cardinality"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    let distinct = |key: &str| {
        let mut values: Vec<String> = all
            .iter()
            .filter(|log| field(log, "service") == "api")
            .map(|log| text(log, key))
            .filter(|value| !value.is_empty())
            .collect();
        values.sort();
        values.dedup();
        values.len() as u64
    };
    assert_eq!(
        described,
        BTreeMap::from([
            (
                "region".to_owned(),
                ("string".to_owned(), distinct("region"))
            ),
            ("took".to_owned(), ("float".to_owned(), distinct("took"))),
            (
                "user_id".to_owned(),
                ("int".to_owned(), distinct("user_id"))
            ),
        ])
    );

    // Live: one stored entry first (from the hour before), then a new one as it is stored,
    // with pings in between.
    let live_line = |what: &str| json!({"service": "live", "level": "INFO", "message": what});
    let (status, body) = stack.ingest(&live_line("stored before the tail")).await;
    assert_eq!(status, 202, "{body}");
    stack
        .wait_for_logs("service=live", 1, Duration::from_secs(20))
        .await;
    let url = format!(
        "{}/loki/api/v1/tail?query=%7Bservice%3D%22live%22%7D",
        stack.query_url.replacen("http://", "ws://", 1)
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let first = next_text(&mut socket).await;
    assert_eq!(tail_lines(&first), ["stored before the tail"], "{first}");
    let (status, body) = stack.ingest(&live_line("arrived while tailing")).await;
    assert_eq!(status, 202, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut pings = 0;
    let live = loop {
        assert!(Instant::now() < deadline, "no live entry");
        match tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Text(text))) => break serde_json::from_str::<Value>(&text).unwrap(),
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(tail_lines(&live), ["arrived while tailing"], "{live}");
    assert_eq!(
        live["streams"][0]["stream"],
        json!({"service": "live", "level": "INFO"})
    );
    // The heartbeat is 300 ms: a ping comes within a second of quiet.
    let ping = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            if let Some(Ok(Message::Ping(_))) = socket.next().await {
                return;
            }
        }
    })
    .await;
    assert!(ping.is_ok() || pings > 0, "no ping");
    socket.send(Message::Close(None)).await.unwrap();
}

async fn next_text(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(Message::Ping(_))) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// The lines of a tail message, in order.
fn tail_lines(message: &Value) -> Vec<String> {
    message["streams"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|stream| stream["values"].as_array().unwrap().iter())
        .map(|entry| entry[1].as_str().unwrap().to_owned())
        .collect()
}

/// `| json` and `| logfmt`: label filters read the line's pairs (an event's metadata entry of
/// the name wins), the answer's streams carry the pairs as labels (`<name>_extracted` where the
/// stream has the name), and a metric groups by them.
#[tokio::test]
async fn parser_stages_read_labels_from_the_line() {
    let (stack, _) = start_with_data(Vec::new()).await;
    let line = |service: &str, second: u64, message: &str, metadata: Value| {
        json!({
            "service": service,
            "level": "INFO",
            "message": message,
            "timestamp": format!("2026-05-05T10:30:{second:02}Z"),
            "metadata": metadata,
        })
    };
    let parsed = vec![
        line(
            "jsonapp",
            1,
            r#"{"status": 500, "path": "/pay", "region": "ap"}"#,
            json!({"region": "eu"}),
        ),
        line("jsonapp", 2, r#"{"status":404,"path":"/users"}"#, json!({})),
        line(
            "jsonapp",
            3,
            r#"{"status": "503", "path": "/pay", "msg": "say \"no\""}"#,
            json!({}),
        ),
        line("jsonapp", 4, "not json status=500", json!({})),
        line("jsonapp", 5, r#"{"status": 200}"#, json!({"status": "502"})),
        line(
            "fmtapp",
            6,
            r#"ts=1 status=500 msg="db down" took=12ms"#,
            json!({}),
        ),
        line("fmtapp", 7, "ts=2 status=200 took=3ms", json!({})),
    ];
    let (status, body) = stack.ingest(&Value::Array(parsed)).await;
    assert_eq!(status, 202, "{body}");
    stack
        .wait_for_logs(
            &format!("{}&service=jsonapp,fmtapp", window_query()),
            7,
            Duration::from_secs(30),
        )
        .await;
    let (start, end) = window_nanos();
    let ask = |query: &str| {
        let parameters = vec![
            ("query", query.to_owned()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("direction", "forward".to_owned()),
        ];
        let stack = &stack;
        async move { streams_of_answer(&loki_json(stack, "/query_range", &parameters).await) }
    };
    let stream = |labels: &[(&str, &str)], entries: &[(u64, &str)]| {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        let entries: Vec<(String, String)> = entries
            .iter()
            .map(|(second, line)| {
                (
                    (BASE + (1800 + second) * SECOND).to_string(),
                    (*line).to_owned(),
                )
            })
            .collect();
        (labels_text(&labels), entries)
    };

    assert_eq!(
        ask(r#"{service="jsonapp"} | json | status >= 500"#).await,
        Streams::from([
            stream(
                &[
                    ("level", "INFO"),
                    ("path", "/pay"),
                    ("region", "eu"),
                    ("region_extracted", "ap"),
                    ("service", "jsonapp"),
                    ("status", "500"),
                ],
                &[(1, r#"{"status": 500, "path": "/pay", "region": "ap"}"#)],
            ),
            stream(
                &[
                    ("level", "INFO"),
                    ("msg", r#"say \"no\""#),
                    ("path", "/pay"),
                    ("service", "jsonapp"),
                    ("status", "503"),
                ],
                &[(
                    3,
                    r#"{"status": "503", "path": "/pay", "msg": "say \"no\""}"#
                )],
            ),
            // The metadata entry `status` (502) wins over the line's 200.
            stream(
                &[
                    ("level", "INFO"),
                    ("service", "jsonapp"),
                    ("status", "502"),
                    ("status_extracted", "200")
                ],
                &[(5, r#"{"status": 200}"#)],
            ),
        ])
    );
    assert_eq!(
        ask(r#"{service=~"jsonapp|fmtapp"} | logfmt | status="500""#).await,
        Streams::from([
            stream(
                &[
                    ("level", "INFO"),
                    ("msg", "db down"),
                    ("service", "fmtapp"),
                    ("status", "500"),
                    ("took", "12ms"),
                    ("ts", "1"),
                ],
                &[(6, r#"ts=1 status=500 msg="db down" took=12ms"#)],
            ),
            // `status=500` after a space is a logfmt pair of this non-JSON line.
            stream(
                &[("level", "INFO"), ("service", "jsonapp"), ("status", "500")],
                &[(4, "not json status=500")],
            ),
        ])
    );

    let body = loki_json(
        &stack,
        "/query",
        &[
            (
                "query",
                r#"sum by (status) (count_over_time({service="jsonapp"} | json [1h]))"#.to_owned(),
            ),
            ("time", (BASE + 3600 * SECOND).to_string()),
        ],
    )
    .await;
    assert_eq!(body["data"]["resultType"], "vector", "{body}");
    let mut counts: BTreeMap<String, String> = BTreeMap::new();
    for sample in body["data"]["result"].as_array().unwrap() {
        let status = sample["metric"]["status"].as_str().unwrap_or("").to_owned();
        counts.insert(status, sample["value"][1].as_str().unwrap().to_owned());
    }
    let expected: BTreeMap<String, String> = [
        ("", "1"),
        ("404", "1"),
        ("500", "1"),
        ("502", "1"),
        ("503", "1"),
    ]
    .into_iter()
    .map(|(status, count)| (status.to_owned(), count.to_owned()))
    .collect();
    assert_eq!(counts, expected, "{body}");
}
