//! LogQL metric queries of Loki's query API end to end, on the real binaries: for a fixed data
//! set, every supported metric query (each function, no aggregation, `sum by`, `count by`, on
//! aligned and unaligned steps, steps shorter than the range) answers what the logs of
//! `GET /logs` give by the definition of a window, `(t - range, t]`; windows that tile the range
//! answer exactly the buckets of `GET /logs/histogram`; sliding windows and instant queries
//! answer what `GET /logs/stats` counts over the same interval; Grafana's log volume query
//! answers; limits (steps, series, time range) are refused with Loki's plain-text 400.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code fails loudly

use std::collections::BTreeMap;
use std::time::Duration;

use e2e_tests::{Service, Stack, StackOptions, nanos_of_timestamp};
use serde_json::{Value, json};

const SECOND: u64 = 1_000_000_000;
const MINUTE: u64 = 60 * SECOND;
/// 2026-05-05T10:00:00Z: the data set's first event.
const BASE: u64 = 1_777_975_200 * SECOND;
const EVENTS: u64 = 240;
const SERVICES: [&str; 3] = ["api", "web", "billing"];
const LEVELS: [&str; 5] = ["DEBUG", "INFO", "INFO", "WARN", "ERROR"];

/// A log as `GET /logs` returns it, reduced to what metrics read.
#[derive(Debug, Clone)]
struct Log {
    nanos: u64,
    /// `service`, `level` and the metadata with a value: the log's stream.
    labels: BTreeMap<String, String>,
    message: String,
}

/// Two hours of logs every 30 s from 10:00 (so many lie exactly on window edges), some a
/// nanosecond before or after, with varied services, levels, regions and message lengths
/// (some not ASCII, so bytes are not characters).
fn data_set() -> Vec<Value> {
    (0..EVENTS)
        .map(|i| {
            let nanos = match i % 11 {
                5 => BASE + i * 30 * SECOND - 1,
                7 => BASE + i * 30 * SECOND + 1,
                _ => BASE + i * 30 * SECOND,
            };
            let message = match i % 4 {
                0 => format!("GET /users/{i} took {}ms", i * 3),
                1 => format!("timeout talking to db after {i}s"),
                2 => format!(
                    "cache miss for key k{i}: größe {}",
                    "ü".repeat((i % 9) as usize)
                ),
                _ => format!("payment {i} accepted"),
            };
            let mut metadata = serde_json::Map::new();
            if i % 5 != 0 {
                metadata.insert("region".into(), json!(if i % 3 == 0 { "eu" } else { "us" }));
            }
            json!({
                "service": SERVICES[(i % 3) as usize],
                "level": LEVELS[((i * 7 / 3) % 5) as usize],
                "message": message,
                "timestamp": nanos,
                "metadata": metadata,
            })
        })
        .collect()
}

/// The data set's range for `GET /logs`.
const WINDOW: &str = "from=2026-05-05T09:00:00Z&to=2026-05-05T13:00:00Z";

async fn start_with_data() -> (Stack, Vec<Log>) {
    start_with_data_and(Vec::new()).await
}

async fn start_with_data_and(extra_env: Vec<(Service, &'static str, String)>) -> (Stack, Vec<Log>) {
    let stack = Stack::start(StackOptions {
        poll_interval_ms: 200,
        extra_env,
        ..StackOptions::default()
    })
    .await;
    let (status, body) = stack.ingest(&Value::Array(data_set())).await;
    assert_eq!(status, 202, "{body}");
    let logs = stack
        .wait_for_logs(
            &format!("{WINDOW}&limit=1000&order=asc"),
            EVENTS as usize,
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(logs.len() as u64, EVENTS);
    let logs = logs
        .iter()
        .map(|log| {
            let mut labels: BTreeMap<String, String> = log["metadata"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(key, value)| (key.clone(), value.as_str().unwrap().to_owned()))
                .filter(|(_, value)| !value.is_empty())
                .collect();
            labels.insert("service".into(), log["service"].as_str().unwrap().into());
            labels.insert("level".into(), log["level"].as_str().unwrap().into());
            Log {
                nanos: u64::try_from(nanos_of_timestamp(log["timestamp"].as_str().unwrap()))
                    .unwrap(),
                labels,
                message: log["message"].as_str().unwrap().to_owned(),
            }
        })
        .collect();
    (stack, logs)
}

/// Percent-encodes a query parameter's value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn rfc3339(nanos: u64) -> String {
    domain::Timestamp::from_unix_nanos(nanos).to_rfc3339()
}

/// Series as `labels -> [(milliseconds, value text)]`.
type Answer = BTreeMap<BTreeMap<String, String>, Vec<(u64, String)>>;

fn labels_of(metric: &Value) -> BTreeMap<String, String> {
    metric
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| (name.clone(), value.as_str().unwrap().to_owned()))
        .collect()
}

fn millis_of(point: &Value) -> u64 {
    (point[0].as_f64().unwrap() * 1000.0).round() as u64
}

/// A `matrix` answer; checks the envelope, that series are sorted by labels, have values and
/// that each series' values are in time order.
fn matrix(body: &Value) -> Answer {
    assert_eq!(body["status"], "success", "{body}");
    assert_eq!(body["data"]["resultType"], "matrix", "{body}");
    let mut answer = Answer::new();
    let mut previous: Option<BTreeMap<String, String>> = None;
    for series in body["data"]["result"].as_array().unwrap() {
        let labels = labels_of(&series["metric"]);
        assert!(previous.as_ref() < Some(&labels), "series sorted: {body}");
        previous = Some(labels.clone());
        let values: Vec<(u64, String)> = series["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|point| (millis_of(point), point[1].as_str().unwrap().to_owned()))
            .collect();
        assert!(!values.is_empty(), "{body}");
        assert!(
            values.windows(2).all(|pair| pair[0].0 < pair[1].0),
            "{body}"
        );
        answer.insert(labels, values);
    }
    answer
}

/// A `vector` answer as `labels -> (milliseconds, value text)`.
fn vector(body: &Value) -> BTreeMap<BTreeMap<String, String>, (u64, String)> {
    assert_eq!(body["status"], "success", "{body}");
    assert_eq!(body["data"]["resultType"], "vector", "{body}");
    body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sample| {
            let value = &sample["value"];
            (
                labels_of(&sample["metric"]),
                (millis_of(value), value[1].as_str().unwrap().to_owned()),
            )
        })
        .collect()
}

async fn query_range(stack: &Stack, query: &str, start: u64, end: u64, step: &str) -> Value {
    let (status, body) = stack
        .query_get(&format!(
            "/loki/api/v1/query_range?query={}&start={start}&end={end}&step={step}",
            encode(query)
        ))
        .await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

async fn instant(stack: &Stack, query: &str, time: u64) -> Value {
    let (status, body) = stack
        .query_get(&format!(
            "/loki/api/v1/query?query={}&time={time}",
            encode(query)
        ))
        .await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

/// What a range function computes, as the test states it.
#[derive(Debug, Clone, Copy)]
enum Function {
    Count,
    Rate,
    Bytes,
    BytesRate,
}

/// How the series are formed.
#[derive(Debug, Clone)]
enum Grouping {
    Streams,
    Sum(&'static [&'static str]),
    Count(&'static [&'static str]),
}

/// A supported metric query with the selection, function, range and grouping its LogQL means,
/// written independently of the service's parser.
struct Case {
    logql: &'static str,
    selects: fn(&Log) -> bool,
    function: Function,
    range: u64,
    grouping: Grouping,
}

fn label<'a>(log: &'a Log, name: &str) -> &'a str {
    log.labels.get(name).map_or("", String::as_str)
}

fn projected(labels: &BTreeMap<String, String>, names: &[&str]) -> BTreeMap<String, String> {
    names
        .iter()
        .filter_map(|name| {
            labels
                .get(*name)
                .map(|value| ((*name).to_owned(), value.clone()))
        })
        .collect()
}

/// Loki's value text: Go's shortest representation, as Rust prints an `f64`.
fn value_text(value: f64) -> String {
    format!("{value}")
}

/// The answer by definition: at each step `t`, the selected logs with `t - range < time <= t`.
fn by_definition(logs: &[Log], case: &Case, steps: &[u64]) -> Answer {
    let mut answer = Answer::new();
    let seconds = case.range as f64 / SECOND as f64;
    for &step in steps {
        let mut per_stream: BTreeMap<BTreeMap<String, String>, (u64, u64)> = BTreeMap::new();
        for log in logs.iter().filter(|log| (case.selects)(log)) {
            if log.nanos + case.range > step && log.nanos <= step {
                let key = match &case.grouping {
                    Grouping::Sum(names) => projected(&log.labels, names),
                    Grouping::Streams | Grouping::Count(_) => log.labels.clone(),
                };
                let entry = per_stream.entry(key).or_default();
                entry.0 += 1;
                entry.1 += log.message.len() as u64;
            }
        }
        let mut values: BTreeMap<BTreeMap<String, String>, f64> = BTreeMap::new();
        for (labels, (count, bytes)) in per_stream {
            match &case.grouping {
                Grouping::Count(names) => {
                    *values.entry(projected(&labels, names)).or_default() += 1.0
                }
                Grouping::Streams | Grouping::Sum(_) => {
                    let value = match case.function {
                        Function::Count => count as f64,
                        Function::Rate => count as f64 / seconds,
                        Function::Bytes => bytes as f64,
                        Function::BytesRate => bytes as f64 / seconds,
                    };
                    values.insert(labels, value);
                }
            }
        }
        for (labels, value) in values {
            answer
                .entry(labels)
                .or_default()
                .push((step / 1_000_000, value_text(value)));
        }
    }
    answer
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            logql: r#"count_over_time({service="api"}[10m])"#,
            selects: |log| label(log, "service") == "api",
            function: Function::Count,
            range: 10 * MINUTE,
            grouping: Grouping::Streams,
        },
        Case {
            logql: r#"sum by (level) (count_over_time({service=~"api|web"}[10m]))"#,
            selects: |log| ["api", "web"].contains(&label(log, "service")),
            function: Function::Count,
            range: 10 * MINUTE,
            grouping: Grouping::Sum(&["level"]),
        },
        Case {
            logql: r#"sum(rate({level="error"}[15m]))"#,
            selects: |log| label(log, "level") == "ERROR",
            function: Function::Rate,
            range: 15 * MINUTE,
            grouping: Grouping::Sum(&[]),
        },
        Case {
            logql: r#"sum by (region) (bytes_over_time({service="billing"} |= "a" [30m]))"#,
            selects: |log| label(log, "service") == "billing" && log.message.contains('a'),
            function: Function::Bytes,
            range: 30 * MINUTE,
            grouping: Grouping::Sum(&["region"]),
        },
        Case {
            logql: r#"bytes_rate({service="web", level!="DEBUG"}[5m])"#,
            selects: |log| label(log, "service") == "web" && label(log, "level") != "DEBUG",
            function: Function::BytesRate,
            range: 5 * MINUTE,
            grouping: Grouping::Streams,
        },
        Case {
            logql: r#"count by (level) (count_over_time({service=~".+"}[10m]))"#,
            selects: |_| true,
            function: Function::Count,
            range: 10 * MINUTE,
            grouping: Grouping::Count(&["level"]),
        },
        Case {
            logql: r#"sum by (service, region) (count_over_time({service=~".+"} | region="eu" [20m]))"#,
            selects: |log| label(log, "region") == "eu",
            function: Function::Count,
            range: 20 * MINUTE,
            grouping: Grouping::Sum(&["service", "region"]),
        },
        Case {
            logql: r#"count(rate({service="api"} !~ "(?i)CACHE" [10m]))"#,
            selects: |log| label(log, "service") == "api" && !log.message.contains("cache"),
            function: Function::Rate,
            range: 10 * MINUTE,
            grouping: Grouping::Count(&[]),
        },
        Case {
            logql: r#"sum by (level, detected_level) (count_over_time({service="api"} | drop __error__ [1m]))"#,
            selects: |log| label(log, "service") == "api",
            function: Function::Count,
            range: MINUTE,
            grouping: Grouping::Sum(&["level", "detected_level"]),
        },
        Case {
            logql: r#"sum by (region) (rate({service=~".+"} | region!="" [1h]))"#,
            selects: |log| !label(log, "region").is_empty(),
            function: Function::Rate,
            range: 60 * MINUTE,
            grouping: Grouping::Sum(&["region"]),
        },
        Case {
            logql: r#"sum(bytes_rate({level=~"WARN|ERROR"}[3m]))"#,
            selects: |log| ["WARN", "ERROR"].contains(&label(log, "level")),
            function: Function::BytesRate,
            range: 3 * MINUTE,
            grouping: Grouping::Sum(&[]),
        },
        Case {
            logql: r#"sum by (service) (count_over_time({level!="DEBUG"} |= "timeout" [7m]))"#,
            selects: |log| label(log, "level") != "DEBUG" && log.message.contains("timeout"),
            function: Function::Count,
            range: 7 * MINUTE,
            grouping: Grouping::Sum(&["service"]),
        },
    ]
}

#[tokio::test]
async fn every_supported_metric_query_answers_the_windows_of_the_logs_of_get_logs() {
    let (stack, logs) = start_with_data().await;
    // Steps aligned to 5 minutes; steps at odd nanoseconds; steps shorter than most ranges; a
    // grid reaching before and after the data.
    let grids = [
        (BASE, BASE + 120 * MINUTE, "300"),
        (
            BASE + 3 * MINUTE + 17 * SECOND + 1,
            BASE + 118 * MINUTE,
            "7m",
        ),
        (BASE - 30 * MINUTE, BASE + 150 * MINUTE, "90000ms"),
    ];
    for case in cases() {
        for (start, end, step) in grids {
            let step_nanos = match step {
                "300" => 5 * MINUTE,
                "7m" => 7 * MINUTE,
                _ => 90 * SECOND,
            };
            let steps: Vec<u64> = (0..)
                .map(|index| start + index * step_nanos)
                .take_while(|at| *at <= end)
                .collect();
            let expected = by_definition(&logs, &case, &steps);
            assert!(!expected.is_empty(), "{}", case.logql);
            let body = query_range(&stack, case.logql, start, end, step).await;
            assert_eq!(
                matrix(&body),
                expected,
                "{} at {start}..{end}/{step}",
                case.logql
            );
        }
        let at = BASE + 61 * MINUTE;
        let body = instant(&stack, case.logql, at).await;
        let expected: BTreeMap<_, _> = by_definition(&logs, &case, &[at])
            .into_iter()
            .map(|(labels, mut values)| (labels, values.remove(0)))
            .collect();
        assert_eq!(vector(&body), expected, "{} at {at}", case.logql);
    }
}

#[tokio::test]
async fn windows_that_tile_the_range_answer_the_buckets_of_the_histogram() {
    let (stack, _) = start_with_data().await;
    let from = BASE - 60 * MINUTE;
    let to = BASE + 180 * MINUTE;
    for (interval, nanos) in [
        ("1m", MINUTE),
        ("5m", 5 * MINUTE),
        ("15m", 15 * MINUTE),
        ("1h", 60 * MINUTE),
    ] {
        let (status, histogram) = stack
            .query_get(&format!(
                "/logs/histogram?interval={interval}&by=level&from={}&to={}",
                rfc3339(from),
                rfc3339(to)
            ))
            .await;
        assert_eq!(status, 200, "{histogram}");
        // Step t's window (t - interval, t] is bucket [t - interval + 1 ns, t + 1 ns): with
        // steps a nanosecond before each bucket's end, window j is bucket j.
        let first_step = from + nanos - 1;
        let last_step = to - 1;
        let bucket_of = |millis: u64| millis * 1_000_000 + 1_000_000 - nanos;
        let totals = matrix(
            &query_range(
                &stack,
                &format!(r#"sum(count_over_time({{service=~".+"}}[{interval}]))"#),
                first_step,
                last_step,
                &format!("{}ms", nanos / 1_000_000),
            )
            .await,
        );
        let by_level = matrix(
            &query_range(
                &stack,
                &format!(r#"sum by (level) (count_over_time({{service=~".+"}}[{interval}]))"#),
                first_step,
                last_step,
                interval,
            )
            .await,
        );
        let mut expected_totals: Vec<(u64, String)> = Vec::new();
        let mut expected_levels: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
        for bucket in histogram["buckets"].as_array().unwrap() {
            let start =
                u64::try_from(nanos_of_timestamp(bucket["start"].as_str().unwrap())).unwrap();
            let count = bucket["count"].as_u64().unwrap();
            if count > 0 {
                expected_totals.push((start, count.to_string()));
            }
            for (level, count) in bucket["levels"].as_object().unwrap() {
                expected_levels
                    .entry(level.clone())
                    .or_default()
                    .push((start, count.as_u64().unwrap().to_string()));
            }
        }
        assert!(expected_totals.len() > 1, "{histogram}");
        let answered_totals: Vec<(u64, String)> = totals
            .values()
            .next()
            .unwrap()
            .iter()
            .map(|(millis, value)| (bucket_of(*millis), value.clone()))
            .collect();
        assert_eq!(answered_totals, expected_totals, "{interval}");
        let answered_levels: BTreeMap<String, Vec<(u64, String)>> = by_level
            .into_iter()
            .map(|(labels, values)| {
                (
                    labels["level"].clone(),
                    values
                        .into_iter()
                        .map(|(millis, value)| (bucket_of(millis), value))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(answered_levels, expected_levels, "{interval} by level");
    }
}

/// `GET /logs/stats` over the window `(t - range, t]` of one step.
async fn stats(
    stack: &Stack,
    group_by: &str,
    extra: &str,
    step: u64,
    range: u64,
) -> BTreeMap<String, u64> {
    let (status, body) = stack
        .query_get(&format!(
            "/logs/stats?group_by={group_by}{extra}&from={}&to={}",
            rfc3339(step - range + 1),
            rfc3339(step + 1)
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| {
            (
                group["key"].as_str().unwrap().to_owned(),
                group["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn sliding_windows_and_instant_queries_answer_what_stats_counts_in_each_window() {
    let (stack, _) = start_with_data().await;
    let range = 10 * MINUTE;
    let (start, end) = (BASE, BASE + 125 * MINUTE);
    let by_level = matrix(
        &query_range(
            &stack,
            r#"sum by (level) (count_over_time({service=~"api|web"}[10m]))"#,
            start,
            end,
            "4m",
        )
        .await,
    );
    let rates = matrix(
        &query_range(
            &stack,
            r#"sum by (service) (rate({level=~"WARN|ERROR"}[10m]))"#,
            start,
            end,
            "4m",
        )
        .await,
    );
    let mut step = start;
    let mut compared = 0;
    while step <= end {
        let millis = step / 1_000_000;
        let value_at = |answer: &Answer, name: &str, key: &str| {
            answer
                .iter()
                .find(|(labels, _)| labels.get(name).map(String::as_str) == Some(key))
                .and_then(|(_, values)| values.iter().find(|(at, _)| *at == millis))
                .map(|(_, value)| value.clone())
        };
        let counts = stats(&stack, "level", "&service=api,web", step, range).await;
        for level in ["DEBUG", "INFO", "WARN", "ERROR"] {
            let expected = counts.get(level).map(u64::to_string);
            assert_eq!(
                value_at(&by_level, "level", level),
                expected,
                "{level} at {step}"
            );
            compared += usize::from(expected.is_some());
        }
        let counts = stats(&stack, "service", "&level=WARN,ERROR", step, range).await;
        for service in SERVICES {
            let expected = counts
                .get(service)
                .map(|count| value_text(*count as f64 / 600.0));
            assert_eq!(
                value_at(&rates, "service", service),
                expected,
                "{service} at {step}"
            );
        }
        step += 4 * MINUTE;
    }
    assert!(compared > 40, "{compared}");

    // Instant queries, at event times (a window holds its end) and between them.
    for at in [
        BASE + 30 * MINUTE,
        BASE + 30 * MINUTE + 15 * SECOND,
        BASE + 119 * MINUTE,
    ] {
        let answer = vector(
            &instant(
                &stack,
                r#"sum by (level) (count_over_time({service=~".+"}[1h]))"#,
                at,
            )
            .await,
        );
        let counts = stats(&stack, "level", "", at, 60 * MINUTE).await;
        let answered: BTreeMap<String, u64> = answer
            .into_iter()
            .map(|(labels, (millis, value))| {
                assert_eq!(millis, at / 1_000_000);
                (labels["level"].clone(), value.parse().unwrap())
            })
            .collect();
        assert_eq!(answered, counts, "at {at}");
    }
}

#[tokio::test]
async fn grafanas_log_volume_query_answers_a_matrix_by_level() {
    let (stack, logs) = start_with_data().await;
    // As Grafana's Loki data source sends the Explore volume histogram of `{service="web"}`:
    // nanosecond times, the step in milliseconds, the range its interval, tagged.
    let (start, end) = (BASE - 15 * MINUTE, BASE + 135 * MINUTE);
    let query = r#"sum by (level, detected_level) (count_over_time({service="web"} | drop __error__ [1m]))"#;
    let response = reqwest::Client::new()
        .get(format!(
            "{}/loki/api/v1/query_range?direction=backward&end={end}&query={}&start={start}&step=60000ms",
            stack.query_url,
            encode(query)
        ))
        .header("X-Query-Tags", "Source=logvolhist")
        .header("X-Scope-OrgID", "tenant-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    let answer = matrix(&body);
    let levels: Vec<&str> = answer
        .keys()
        .map(|labels| labels["level"].as_str())
        .collect();
    assert_eq!(levels, ["DEBUG", "ERROR", "INFO", "WARN"], "{body}");
    assert!(
        answer.keys().all(|labels| labels.len() == 1),
        "no detected_level label: {body}"
    );
    // Windows of one step tile (start - 1m, end]: the values add up to the web logs there.
    let total: u64 = answer
        .values()
        .flatten()
        .map(|(_, value)| value.parse::<u64>().unwrap())
        .sum();
    let web = logs
        .iter()
        .filter(|log| {
            label(log, "service") == "web" && log.nanos > start - MINUTE && log.nanos <= end
        })
        .count();
    assert_eq!(total, web as u64);
}

#[tokio::test]
async fn steps_series_and_ranges_past_the_limits_are_refused_naming_the_parameter() {
    let (stack, _) =
        start_with_data_and(vec![(Service::Query, "QUERY_MAX_RANGE_HOURS", "24".into())]).await;
    let many: Vec<Value> = (0..501)
        .map(|i| {
            json!({
                "service": "many",
                "level": "INFO",
                "message": "one stream each",
                "timestamp": BASE + i * SECOND,
                "metadata": {"request_id": format!("r{i}")},
            })
        })
        .collect();
    let (status, body) = stack.ingest(&Value::Array(many)).await;
    assert_eq!(status, 202, "{body}");
    stack
        .wait_for_logs(
            &format!("{WINDOW}&service=many&limit=1000"),
            501,
            Duration::from_secs(30),
        )
        .await;
    let refused = |query: &str, start: u64, end: u64, step: &str| {
        let path = format!(
            "/loki/api/v1/query_range?query={}&start={start}&end={end}&step={step}",
            encode(query)
        );
        let url = format!("{}{path}", stack.query_url);
        async move {
            let response = reqwest::get(url).await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            (status, text)
        }
    };
    let (status, text) = refused(
        r#"count_over_time({service="many"}[1h])"#,
        BASE + 10 * MINUTE,
        BASE + 10 * MINUTE + 30 * SECOND,
        "60",
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("maximum of series (500)"), "{text}");
    // The same logs summed into few series are fine.
    let summed = query_range(
        &stack,
        r#"sum by (level) (count_over_time({service="many"}[1h]))"#,
        BASE + 10 * MINUTE,
        BASE + 10 * MINUTE + 30 * SECOND,
        "60",
    )
    .await;
    assert_eq!(
        matrix(&summed).into_values().next().unwrap(),
        [((BASE + 10 * MINUTE) / 1_000_000, "501".to_owned())]
    );

    let (status, text) = refused(
        r#"sum(count_over_time({service="api"}[5m]))"#,
        BASE,
        BASE + 11_001 * SECOND,
        "1",
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("exceeded maximum resolution of 11,000 points"),
        "{text}"
    );
    assert!(text.contains("step"), "{text}");

    let (status, text) = refused(
        r#"sum(count_over_time({service="api"}[24h]))"#,
        BASE,
        BASE + 60 * MINUTE,
        "60",
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("the query time range exceeds the limit"),
        "{text}"
    );
}
