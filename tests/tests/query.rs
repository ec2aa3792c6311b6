//! The query API end to end: events ingested through `POST /ingest` by the real binaries, then
//! searched, filtered, paged by cursor, counted, followed live and exported.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code fails loudly

use std::collections::HashSet;
use std::time::{Duration, Instant};

use e2e_tests::{Service, Stack, StackOptions};
use serde_json::{Value, json};

const TRACE_A: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACE_B: &str = "0af7651916cd43dd8448eb211c80319c";

/// GET on the query service with parameters URL-encoded by the client.
async fn get(stack: &Stack, path: &str, parameters: &[(&str, &str)]) -> (u16, Value) {
    let response = stack
        .http
        .get(format!("{}{path}", stack.query_url))
        .query(parameters)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Ingests `events` (one JSON array) and waits until `expected` logs match `query`.
async fn ingest_and_wait(stack: &Stack, events: Vec<Value>, query: &str, expected: u64) {
    let (status, body) = stack.ingest(&Value::Array(events)).await;
    assert!((200..300).contains(&status), "{status}: {body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, stats) = stack
            .query_get(&format!("/logs/stats?group_by=service&limit=1000&{query}"))
            .await;
        assert_eq!(status, 200, "{stats}");
        let stored: u64 = stats["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|group| group["count"].as_u64().unwrap())
            .sum();
        if stored >= expected {
            assert_eq!(stored, expected, "more logs than ingested match {query}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {stored} of {expected} logs stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn messages(body: &Value) -> Vec<String> {
    body["logs"]
        .as_array()
        .unwrap_or_else(|| panic!("no logs in {body}"))
        .iter()
        .map(|log| log["message"].as_str().unwrap().to_owned())
        .collect()
}

fn seconds_ago(seconds: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    rfc3339(now - seconds)
}

/// Unix seconds as RFC 3339 in UTC (days-from-civil, no date crate needed).
fn rfc3339(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let seconds_of_day = unix_seconds.rem_euclid(86_400);
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds_of_day / 3600,
        seconds_of_day % 3600 / 60,
        seconds_of_day % 60
    )
}

#[tokio::test]
async fn text_metadata_trace_and_level_filters_select_exactly_the_matching_logs() {
    let stack = Stack::start(StackOptions::default()).await;
    let event = |service: &str, level: &str, message: &str, minute: u32, metadata: Value| {
        json!({
            "service": service, "level": level, "message": message, "metadata": metadata,
            "timestamp": format!("2026-05-05T10:{minute:02}:00Z"),
            "trace_id": if minute.is_multiple_of(2) { TRACE_A } else { TRACE_B },
        })
    };
    let events = vec![
        event(
            "auth",
            "ERROR",
            "DB Connection FAILED after 3 retries",
            0,
            json!({"user_id": "42", "host": "db-primary"}),
        ),
        event(
            "auth",
            "WARN",
            "db connection refused",
            1,
            json!({"user_id": "420"}),
        ),
        event(
            "billing",
            "INFO",
            "payment 100% done",
            2,
            json!({"region": "eu west"}),
        ),
        event("billing", "FATAL", "disk full", 3, json!({"user_id": ""})),
        event("search", "DEBUG", "ünïcödé ОШИБКА", 4, json!({})),
        event("search", "INFO", "failed to open connection", 5, json!({})),
    ];
    ingest_and_wait(&stack, events, "", 6).await;

    /// Query parameters and the messages they select, newest first.
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: [Case; 12] = [
        (
            &[("q", "connection failed")],
            &[
                "failed to open connection",
                "DB Connection FAILED after 3 retries",
            ],
        ),
        (
            &[("q", "\"connection failed\"")],
            &["DB Connection FAILED after 3 retries"],
        ),
        (&[("q", "ÜNÏCÖDÉ ошибка")], &["ünïcödé ОШИБКА"]),
        (&[("q", "100%")], &["payment 100% done"]),
        (
            &[("min_level", "warn")],
            &[
                "disk full",
                "db connection refused",
                "DB Connection FAILED after 3 retries",
            ],
        ),
        (
            &[("metadata.user_id", "42")],
            &["DB Connection FAILED after 3 retries"],
        ),
        (&[("metadata.user_id", "")], &["disk full"]),
        (&[("metadata.region", "eu west")], &["payment 100% done"]),
        (
            &[("metadata.user_id", "42"), ("metadata.host", "db-primary")],
            &["DB Connection FAILED after 3 retries"],
        ),
        (
            &[("metadata.user_id", "42"), ("metadata.host", "other")],
            &[],
        ),
        (
            &[("trace_id", TRACE_A)],
            &[
                "ünïcödé ОШИБКА",
                "payment 100% done",
                "DB Connection FAILED after 3 retries",
            ],
        ),
        (
            &[
                ("service", "auth,billing"),
                ("min_level", "error"),
                ("q", "d"),
                ("order", "asc"),
            ],
            &["DB Connection FAILED after 3 retries", "disk full"],
        ),
    ];
    for (parameters, expected) in cases {
        let (status, body) = get(&stack, "/logs", parameters).await;
        assert_eq!(status, 200, "{parameters:?}: {body}");
        assert_eq!(messages(&body), expected, "{parameters:?}");
    }
}

#[tokio::test]
async fn cursors_page_through_many_logs_sharing_a_timestamp_without_gaps_or_repeats() {
    let stack = Stack::start(StackOptions::default()).await;
    let mut events: Vec<Value> = (0..300)
        .map(|i| {
            json!({"service": "paging", "level": "INFO", "message": format!("same instant {i}"),
                   "timestamp": "2026-05-05T10:00:00Z"})
        })
        .collect();
    events.extend((0..40).map(|i| {
        json!({"service": "paging", "level": "INFO", "message": format!("a second later {i}"),
               "timestamp": "2026-05-05T10:00:01Z"})
    }));
    events.push(
        json!({"service": "elsewhere", "level": "INFO", "message": "not paged",
                       "timestamp": "2026-05-05T10:00:00Z"}),
    );
    ingest_and_wait(&stack, events, "", 341).await;

    for order in ["desc", "asc"] {
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut parameters = vec![("service", "paging"), ("limit", "7")];
            if let Some(cursor) = &cursor {
                parameters.push(("cursor", cursor.as_str()));
            } else {
                parameters.push(("order", order));
            }
            let (status, page) = get(&stack, "/logs", &parameters).await;
            assert_eq!(status, 200, "{page}");
            pages += 1;
            for log in page["logs"].as_array().unwrap() {
                seen.push((
                    log["timestamp"].as_str().unwrap().to_owned(),
                    log["id"].as_str().unwrap().to_owned(),
                ));
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, 49, "340 logs in pages of 7, {order}");
        let unique: HashSet<&(String, String)> = seen.iter().collect();
        assert_eq!(unique.len(), 340, "no repeats, {order}");
        let mut sorted = seen.clone();
        sorted.sort();
        if order == "desc" {
            sorted.reverse();
        }
        assert_eq!(seen, sorted, "in (timestamp, id) order, {order}");
    }
}

#[tokio::test]
async fn stats_and_histograms_count_the_logs_the_filters_select() {
    let stack = Stack::start(StackOptions::default()).await;
    let event = |service: &str, level: &str, time: &str| json!({"service": service, "level": level, "message": "counted", "timestamp": time});
    let events = vec![
        event("auth", "ERROR", "2026-05-05T10:00:10Z"),
        event("auth", "ERROR", "2026-05-05T10:04:59Z"),
        event("auth", "INFO", "2026-05-05T10:05:00Z"),
        event("billing", "WARN", "2026-05-05T10:12:00Z"),
        event("billing", "ERROR", "2026-05-05T10:14:59Z"),
    ];
    ingest_and_wait(&stack, events, "", 5).await;

    let (status, by_level) = get(&stack, "/logs/stats", &[("group_by", "level")]).await;
    assert_eq!(status, 200);
    assert_eq!(
        by_level,
        json!({"group_by": "level", "groups": [
            {"key": "ERROR", "count": 3}, {"key": "INFO", "count": 1}, {"key": "WARN", "count": 1}
        ]})
    );
    let (_, by_service) = get(
        &stack,
        "/logs/stats",
        &[("group_by", "service"), ("min_level", "warn")],
    )
    .await;
    assert_eq!(
        by_service["groups"],
        json!([{"key": "auth", "count": 2}, {"key": "billing", "count": 2}])
    );
    let (status, histogram) = get(
        &stack,
        "/logs/histogram",
        &[
            ("interval", "5m"),
            ("by", "level"),
            ("from", "2026-05-05T10:00:00Z"),
            ("to", "2026-05-05T10:20:00Z"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{histogram}");
    assert_eq!(
        histogram,
        json!({"interval": "5m", "buckets": [
            {"start": "2026-05-05T10:00:00.000000000Z", "count": 2, "levels": {"ERROR": 2}},
            {"start": "2026-05-05T10:05:00.000000000Z", "count": 1, "levels": {"INFO": 1}},
            {"start": "2026-05-05T10:10:00.000000000Z", "count": 2, "levels": {"WARN": 1, "ERROR": 1}},
            {"start": "2026-05-05T10:15:00.000000000Z", "count": 0, "levels": {}},
        ]})
    );
    let (_, hourly) = get(
        &stack,
        "/logs/histogram",
        &[
            ("interval", "1h"),
            ("service", "auth"),
            ("to", "2026-05-05T11:00:00Z"),
        ],
    )
    .await;
    assert_eq!(
        hourly,
        json!({"interval": "1h", "buckets": [{"start": "2026-05-05T10:00:00.000000000Z", "count": 3}]})
    );
}

/// Reads server-sent events from a streamed response.
struct EventSource {
    response: reqwest::Response,
    buffer: String,
}

impl EventSource {
    async fn open(stack: &Stack, parameters: &[(&str, &str)]) -> Self {
        let response = stack
            .http
            .get(format!("{}/logs/tail", stack.query_url))
            .query(parameters)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event's name and JSON data.
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event: ") {
                        name = value.to_owned();
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data.push_str(value);
                    }
                }
                if data.is_empty() {
                    continue; // a comment or keep-alive
                }
                return (name, serde_json::from_str(&data).unwrap());
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.response.chunk())
                .await
                .expect("the tail went silent: not even a heartbeat")
                .unwrap()
                .expect("the tail ended");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Waits for a heartbeat: from then on the subscription is live.
    async fn until_heartbeat(&mut self) -> Vec<Value> {
        let mut logs = Vec::new();
        loop {
            match self.next().await {
                (name, _) if name == "heartbeat" => return logs,
                (name, log) if name == "log" => logs.push(log),
                (name, data) => panic!("unexpected {name}: {data}"),
            }
        }
    }

    /// Reads until `count` logs came, then on to the next heartbeat; returns every log read.
    async fn logs(&mut self, count: usize) -> Vec<String> {
        let mut logs = Vec::new();
        while logs.len() < count {
            let (name, data) = self.next().await;
            if name == "log" {
                logs.push(data);
            }
        }
        logs.extend(self.until_heartbeat().await);
        logs.iter()
            .map(|log| log["message"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn the_tail_streams_new_matching_logs_to_every_subscriber_with_heartbeats() {
    let stack = Stack::start(StackOptions {
        extra_env: vec![
            (Service::Query, "QUERY_TAIL_POLL_MS", "100".into()),
            (Service::Query, "QUERY_TAIL_HEARTBEAT_MS", "300".into()),
        ],
        ..StackOptions::default()
    })
    .await;
    let mut errors =
        EventSource::open(&stack, &[("service", "tailed"), ("min_level", "ERROR")]).await;
    let mut disks = EventSource::open(&stack, &[("service", "tailed"), ("q", "DISK")]).await;
    assert!(errors.until_heartbeat().await.is_empty());
    assert!(disks.until_heartbeat().await.is_empty());

    let (status, _) = stack
        .ingest(&json!([
            {"service": "tailed", "level": "INFO", "message": "disk almost full"},
            {"service": "tailed", "level": "ERROR", "message": "disk failed"},
            {"service": "elsewhere", "level": "ERROR", "message": "disk failed elsewhere"},
        ]))
        .await;
    assert!((200..300).contains(&status));

    assert_eq!(errors.logs(1).await, ["disk failed"]);
    let mut disk_logs = disks.logs(2).await;
    disk_logs.sort();
    assert_eq!(disk_logs, ["disk almost full", "disk failed"]);

    // From a time in the past: the stored logs first, oldest first, then live ones.
    let mut replay = EventSource::open(
        &stack,
        &[("service", "tailed"), ("from", &seconds_ago(3600))],
    )
    .await;
    let mut stored = replay.logs(2).await;
    stored.sort();
    assert_eq!(stored, ["disk almost full", "disk failed"]);
    stack
        .ingest(&json!({"service": "tailed", "level": "FATAL", "message": "after the replay"}))
        .await;
    assert_eq!(replay.logs(1).await, ["after the replay"]);
    assert_eq!(errors.logs(1).await, ["after the replay"]);
}

#[tokio::test]
async fn an_export_streams_every_matching_log_as_ndjson() {
    let stack = Stack::start(StackOptions::default()).await;
    let mut events: Vec<Value> = (0..2500)
        .map(|i| json!({"service": "exported", "level": "INFO", "message": format!("line {i}")}))
        .collect();
    events.push(json!({"service": "kept-out", "level": "INFO", "message": "not exported"}));
    ingest_and_wait(&stack, events, "", 2501).await;

    let response = stack
        .http
        .get(format!("{}/logs/export", stack.query_url))
        .query(&[("service", "exported"), ("order", "asc")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    let text = response.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2500);
    assert!(lines.iter().all(|log| log["service"] == "exported"));
    let keys: Vec<(String, String)> = lines
        .iter()
        .map(|log| {
            (
                log["timestamp"].as_str().unwrap().to_owned(),
                log["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    let unique: HashSet<&(String, String)> = keys.iter().collect();
    assert_eq!(unique.len(), 2500);
}

/// `text` as one `q` phrase: quoted, its backslashes and double quotes escaped.
fn as_phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[tokio::test]
async fn hostile_parameter_values_are_matched_literally_or_refused_with_400() {
    let stack = Stack::start(StackOptions::default()).await;
    let long_text = "long ".repeat(1000);
    let hostile = [
        "x' OR 1=1 --",
        "'); DROP TABLE logs; --",
        r"back\slash",
        r"trailing\",
        "100%",
        "a_b",
        "what?",
        "{name:String}",
        "\"double\" `tick`",
        "日本語 🚀",
        long_text.as_str(),
    ];
    let events: Vec<Value> = hostile
        .iter()
        .enumerate()
        .map(|(i, text)| {
            json!({"service": format!("svc {text:.100}"), "level": "INFO",
                   "message": format!("before {text} after"),
                   "metadata": {format!("key {text:.100}"): text},
                   "timestamp": format!("2026-05-05T10:00:{i:02}Z")})
        })
        .chain([json!({"service": "decoy", "level": "INFO",
                       "message": "1000 aXb whatX plain", "metadata": {"key a_b": "aXb"},
                       "timestamp": "2026-05-05T11:00:00Z"})])
        .collect();
    ingest_and_wait(&stack, events, "", hostile.len() as u64 + 1).await;

    for text in hostile {
        let message = format!("before {text} after");
        let service = format!("svc {text:.100}");
        let key = format!("metadata.key {text:.100}");
        let phrase = as_phrase(text);
        let literal_matches: [(Vec<(&str, &str)>, &str); 3] = [
            (vec![("q", phrase.as_str())], "q"),
            (vec![("service", service.as_str())], "service"),
            (vec![(key.as_str(), text)], "metadata"),
        ];
        for (parameters, what) in literal_matches {
            let (status, body) = get(&stack, "/logs", &parameters).await;
            if status == 400 {
                // Only over-long values may be refused, and the refusal names the parameter.
                assert!(text.len() > 1000, "{what}={text:.40}: {body}");
                assert!(body["field"].as_str().unwrap().starts_with(what), "{body}");
                continue;
            }
            assert_eq!(status, 200, "{what}={text:.40}: {body}");
            assert_eq!(messages(&body), [message.as_str()], "{what}={text:.40}");
        }
    }
    let refused: [(&str, &str, &str); 14] = [
        ("/logs", "trace_id", "' OR 1=1 --"),
        ("/logs", "cursor", "'); DROP TABLE logs; --"),
        ("/logs", "level", "ERROR' OR '1'='1"),
        ("/logs", "min_level", "%"),
        ("/logs", "from", "2026-05-05' OR 1=1"),
        ("/logs", "to", "\\"),
        ("/logs", "limit", "1; DROP TABLE logs"),
        ("/logs", "offset", "_"),
        ("/logs", "order", "asc, (SELECT 1)"),
        ("/logs", "q", &"q".repeat(1025)),
        // Filters take any value that can be stored: up to the ceiling of a service name.
        ("/logs", "service", &"s".repeat(1025)),
        ("/logs/stats", "group_by", "level; DROP TABLE logs"),
        ("/logs/histogram", "interval", "1m' --"),
        ("/logs/histogram", "by", "level'"),
    ];
    for (path, parameter, value) in refused {
        let mut parameters = vec![(parameter, value)];
        if path == "/logs/histogram" && parameter == "by" {
            parameters.push(("interval", "1h"));
        }
        let (status, body) = get(&stack, path, &parameters).await;
        assert_eq!(status, 400, "{path} {parameter}={value:.40}: {body}");
        assert_eq!(body["field"], parameter, "{body}");
    }
    let long_key = format!("metadata.{}", "k".repeat(1025));
    let (status, body) = get(&stack, "/logs", &[(long_key.as_str(), "v")]).await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "metadata");
    // The table is intact.
    let (_, all) = get(&stack, "/logs", &[("limit", "1000")]).await;
    assert_eq!(all["count"], hostile.len() + 1);
}

#[tokio::test]
async fn the_range_limit_bounds_every_query_and_wider_ranges_are_refused() {
    let stack = Stack::start(StackOptions {
        extra_env: vec![(Service::Query, "QUERY_MAX_RANGE_HOURS", "24".into())],
        ..StackOptions::default()
    })
    .await;
    let events = vec![
        json!({"service": "ranged", "level": "INFO", "message": "recent", "timestamp": seconds_ago(60)}),
        json!({"service": "ranged", "level": "INFO", "message": "two days old",
               "timestamp": seconds_ago(48 * 3600)}),
    ];
    let (status, _) = stack.ingest(&Value::Array(events)).await;
    assert!((200..300).contains(&status));
    let stored = stack
        .wait_for_logs(
            &format!(
                "from={}&to={}",
                seconds_ago(49 * 3600),
                seconds_ago(47 * 3600)
            ),
            1,
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(stored.len(), 1);
    stack.wait_for_logs("", 1, Duration::from_secs(20)).await;

    let (status, recent) = get(&stack, "/logs", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(messages(&recent), ["recent"], "without from: the last 24 h");
    let (_, counted) = get(&stack, "/logs/stats", &[("group_by", "service")]).await;
    assert_eq!(counted["groups"], json!([{"key": "ranged", "count": 1}]));

    let too_early = seconds_ago(25 * 3600);
    for path in [
        "/logs",
        "/logs/stats",
        "/logs/histogram",
        "/logs/export",
        "/logs/tail",
    ] {
        let (status, body) = get(
            &stack,
            path,
            &[
                ("from", too_early.as_str()),
                ("group_by", "level"),
                ("interval", "1h"),
            ],
        )
        .await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["field"], "from", "{path}");
    }
    let (status, body) = get(
        &stack,
        "/logs",
        &[
            ("from", seconds_ago(60 * 3600).as_str()),
            ("to", seconds_ago(35 * 3600).as_str()),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "to");
}

#[tokio::test]
async fn queries_that_get_no_answer_in_time_are_504_query_timeout() {
    // Accepts connections but never answers, like a ClickHouse stuck on a huge query.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let stack = Stack::start(StackOptions {
        extra_env: vec![
            (Service::Query, "CLICKHOUSE_URL", silent_url),
            (Service::Query, "CLICKHOUSE_QUERY_TIMEOUT_MS", "300".into()),
            (Service::Query, "CLICKHOUSE_EXPORT_TIMEOUT_MS", "300".into()),
        ],
        ..StackOptions::default()
    })
    .await;

    for path in [
        "/logs",
        "/logs/stats?group_by=level",
        "/logs/histogram?interval=1h",
        "/logs/export",
        "/logs/tail?from=2026-05-05T00:00:00Z",
    ] {
        let (status, body) = stack.query_get(path).await;
        assert_eq!(status, 504, "{path}: {body}");
        assert_eq!(body["code"], "query_timeout", "{path}");
    }
    holder.abort();
}
