//! The original design's flow, end to end: real binaries, real Redis, real ClickHouse.
#![allow(clippy::unwrap_used)] // test code fails loudly

use std::time::{Duration, Instant};

use e2e_tests::{Service, Stack, StackOptions, free_port};
use serde_json::{Value, json};

fn auth_error() -> Value {
    json!({
        "service": "auth-service",
        "level": "ERROR",
        "message": "DB connection failed",
        "metadata": {"user_id": "42", "host": "db-primary"}
    })
}

fn is_trace_id(value: &Value) -> bool {
    value.as_str().is_some_and(|text| {
        text.len() == 32
            && text
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    })
}

#[tokio::test]
async fn the_original_design_flow_ingests_then_queries_by_service_and_level() {
    // A 60 s poll interval: only the gRPC signal can deliver the event this quickly.
    let stack = Stack::start(StackOptions {
        poll_interval_ms: 60_000,
        ..StackOptions::default()
    })
    .await;

    let sent = Instant::now();
    let (status, accepted) = stack.ingest(&auth_error()).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["status"], "accepted");
    assert!(is_trace_id(&accepted["trace_id"]), "{accepted}");

    let logs = stack
        .wait_for_logs(
            "service=auth-service&level=ERROR",
            1,
            Duration::from_secs(10),
        )
        .await;
    eprintln!(
        "ingest-to-query latency through the drain signal: {:?}",
        sent.elapsed()
    );
    assert_eq!(logs.len(), 1);
    let log = &logs[0];
    assert_eq!(log["service"], "auth-service");
    assert_eq!(log["level"], "ERROR");
    assert_eq!(log["message"], "DB connection failed");
    assert_eq!(
        log["metadata"],
        json!({"user_id": "42", "host": "db-primary"})
    );
    assert_eq!(log["trace_id"], accepted["trace_id"]);
    assert_eq!(log["id"], accepted["id"]);
    assert!(log["timestamp"].as_str().unwrap().ends_with('Z'));

    let (status, other) = stack.logs("service=auth-service&level=INFO").await;
    assert_eq!((status, other["count"].as_u64()), (200, Some(0)));
}

#[tokio::test]
async fn time_ranges_limit_and_offset_select_and_page_newest_first() {
    let stack = Stack::start(StackOptions::default()).await;
    for minute in 0..5 {
        let event = json!({
            "service": "billing", "level": "info", "message": format!("m{minute}"),
            "timestamp": format!("2026-05-05T10:0{minute}:00Z"),
        });
        assert_eq!(stack.ingest(&event).await.0, 202);
    }
    let all = stack
        .wait_for_logs("service=billing", 5, Duration::from_secs(10))
        .await;
    let messages = |logs: &[Value]| {
        logs.iter()
            .map(|log| log["message"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(messages(&all), ["m4", "m3", "m2", "m1", "m0"]);

    let (_, window) = stack
        .logs("from=2026-05-05T10:01:00Z&to=2026-05-05T10:03:00Z")
        .await;
    assert_eq!(messages(window["logs"].as_array().unwrap()), ["m2", "m1"]);
    assert_eq!(window["count"], 2);

    let (_, page) = stack.logs("service=billing&limit=2&offset=2").await;
    assert_eq!(messages(page["logs"].as_array().unwrap()), ["m2", "m1"]);

    let (_, oldest) = stack.logs("service=billing&order=asc&limit=1").await;
    assert_eq!(messages(oldest["logs"].as_array().unwrap()), ["m0"]);
    assert_eq!(
        oldest["logs"][0]["timestamp"],
        "2026-05-05T10:00:00.000000000Z"
    );
}

#[tokio::test]
async fn health_and_readiness_answer_on_both_http_services() {
    let stack = Stack::start(StackOptions::default()).await;
    for base in [&stack.ingestion_url, &stack.query_url] {
        let health = stack
            .http
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        let ready = stack
            .http
            .get(format!("{base}/ready"))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
        let spec = stack
            .http
            .get(format!("{base}/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(spec.status(), 200);
        let spec: Value = spec.json().await.unwrap();
        assert!(spec["paths"].as_object().unwrap().len() >= 3, "{spec}");
        let docs = stack.http.get(format!("{base}/docs")).send().await.unwrap();
        assert_eq!(docs.status(), 200);
        assert!(docs.text().await.unwrap().contains("swagger"));
    }
}

#[tokio::test]
async fn without_the_grpc_signal_logs_still_arrive_by_polling() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let stack = Stack::start(StackOptions {
        poll_interval_ms: 500,
        worker_grpc_url: Some(closed),
        ..StackOptions::default()
    })
    .await;

    let (status, _) = stack.ingest(&auth_error()).await;
    assert_eq!(status, 202, "a dead worker signal never fails the ingest");

    let logs = stack
        .wait_for_logs("service=auth-service", 1, Duration::from_secs(10))
        .await;
    assert_eq!(logs.len(), 1);
}

#[tokio::test]
async fn trace_ids_propagate_from_request_headers_and_come_back_in_x_trace_id() {
    let stack = Stack::start(StackOptions::default()).await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response = stack
        .http
        .post(format!("{}/ingest", stack.ingestion_url))
        .header("traceparent", traceparent)
        .json(&auth_error())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["x-trace-id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");

    let response = stack
        .http
        .post(format!("{}/ingest", stack.ingestion_url))
        .header("x-trace-id", "0AF7651916CD43DD8448EB211C80319C")
        .json(&auth_error())
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["trace_id"], "0af7651916cd43dd8448eb211c80319c");

    let health = stack
        .http
        .get(format!("{}/health", stack.query_url))
        .send()
        .await
        .unwrap();
    assert!(is_trace_id(&Value::from(
        health.headers()["x-trace-id"].to_str().unwrap()
    )));
}

#[tokio::test]
async fn every_bad_input_gets_its_status_and_nothing_is_enqueued() {
    let stack = Stack::start(StackOptions {
        max_body_bytes: 4096,
        ..StackOptions::default()
    })
    .await;
    let url = format!("{}/ingest", stack.ingestion_url);
    let post = |body: String, content_type: &'static str| {
        stack
            .http
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let cases: Vec<(String, &str, u16, &str, Option<&str>)> = vec![
        (
            "{not json".into(),
            "application/json",
            400,
            "malformed_json",
            None,
        ),
        (
            r#"{"level":"ERROR","message":"m"}"#.into(),
            "application/json",
            400,
            "invalid_field",
            Some("service"),
        ),
        (
            r#"{"service":"s","level":"LOUD","message":"m"}"#.into(),
            "application/json",
            400,
            "invalid_field",
            Some("level"),
        ),
        (
            r#"{"service":"s","level":"INFO","message":""}"#.into(),
            "application/json",
            400,
            "invalid_field",
            Some("message"),
        ),
        (
            r#"{"service":"s","level":"INFO","message":"m","timestamp":"soon"}"#.into(),
            "application/json",
            400,
            "invalid_field",
            Some("timestamp"),
        ),
        (
            r#"{"service":"s","level":"INFO","message":"m","metadata":[1]}"#.into(),
            "application/json",
            400,
            "invalid_field",
            Some("metadata"),
        ),
        (
            auth_error().to_string(),
            "text/plain",
            415,
            "unsupported_media_type",
            None,
        ),
        (
            format!(
                r#"{{"service":"s","level":"INFO","message":"{}"}}"#,
                "x".repeat(5000)
            ),
            "application/json",
            413,
            "payload_too_large",
            None,
        ),
    ];
    for (body, content_type, status, code, field) in cases {
        let response = post(body.clone(), content_type).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{body:.80}");
        assert!(response.headers().contains_key("x-trace-id"));
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["code"], code, "{error}");
        assert_eq!(error["field"].as_str(), field, "{error}");
        assert!(!error["reason"].as_str().unwrap().is_empty());
    }

    for (query, parameter) in [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("from=yesterday", "from"),
        ("from=2026-05-05T10:00:00Z&to=2026-05-05T09:00:00Z", "to"),
        ("level=LOUD", "level"),
        ("order=sideways", "order"),
    ] {
        let (status, error) = stack.logs(query).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(
            (error["code"].as_str(), error["field"].as_str()),
            (Some("invalid_parameter"), Some(parameter))
        );
    }

    assert_eq!(
        stack.queue_length().await,
        0,
        "rejected requests enqueue nothing"
    );
}

#[tokio::test]
async fn an_unreachable_queue_answers_503_with_retry_after() {
    let stack = Stack::start(StackOptions {
        ingestion_redis_url: Some(format!("redis://127.0.0.1:{}", free_port())),
        ..StackOptions::default()
    })
    .await;

    let started = Instant::now();
    let response = stack
        .http
        .post(format!("{}/ingest", stack.ingestion_url))
        .json(&auth_error())
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "queue_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "answered, not hung"
    );
    let ready = stack
        .http
        .get(format!("{}/ready", stack.ingestion_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["down"], json!(["redis"]));
}

#[tokio::test]
async fn a_worker_killed_mid_stream_and_restarted_loses_nothing_that_was_accepted() {
    let mut stack = Stack::start(StackOptions {
        batch_size: 20,
        poll_interval_ms: 200,
        ..StackOptions::default()
    })
    .await;
    let (http, url) = (
        stack.http.clone(),
        format!("{}/ingest", stack.ingestion_url),
    );
    let load = tokio::spawn(async move {
        let mut accepted = 0_u64;
        for i in 0..1500 {
            let event =
                json!({"service": "chaos", "level": "INFO", "message": format!("event {i}")});
            let response = http.post(&url).json(&event).send().await.unwrap();
            if response.status() == 202 {
                accepted += 1;
            }
        }
        accepted
    });
    // SIGKILL the worker every 100 ms while the load runs, restarting it each time.
    let mut kills = 0;
    while !load.is_finished() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stack.kill(Service::Worker);
        stack.spawn(Service::Worker);
        kills += 1;
    }
    let accepted = load.await.unwrap();
    assert_eq!(accepted, 1500);
    assert!(
        kills >= 2,
        "the worker was killed during the load ({kills} times)"
    );

    let deadline = Instant::now() + Duration::from_secs(60);
    let (distinct, rows) = loop {
        let counts = stack.stored_counts().await;
        if counts.0 >= accepted || Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "{kills} kills: accepted {accepted}, stored {distinct} distinct ids in {rows} rows ({} duplicates)",
        rows - distinct
    );
    assert_eq!(distinct, accepted, "every accepted event is stored");
    assert_eq!(stack.queue_length().await, 0);

    // Duplicates stay in ClickHouse, but the query API returns each event once.
    let mut seen = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let query = match &cursor {
            Some(cursor) => format!("service=chaos&limit=1000&cursor={cursor}"),
            None => "service=chaos&limit=1000".to_owned(),
        };
        let (status, page) = stack.logs(&query).await;
        assert_eq!(status, 200, "{page}");
        pages.push((page["count"].clone(), page["next_cursor"].clone()));
        for log in page["logs"].as_array().unwrap() {
            assert!(
                seen.insert(log["id"].as_str().unwrap().to_owned()),
                "{} returned twice",
                log["id"]
            );
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let (distinct_now, rows_now) = stack.stored_counts().await;
    assert_eq!(
        seen.len() as u64,
        accepted,
        "paging by cursor returns every accepted event once; pages (count, next_cursor): {pages:?}; \
         stored now: {distinct_now} distinct ids in {rows_now} rows"
    );
}

#[tokio::test]
async fn sigterm_stops_the_worker_cleanly_after_its_batch() {
    let mut stack = Stack::start(StackOptions::default()).await;
    for i in 0..100 {
        let event = json!({"service": "term", "level": "WARN", "message": format!("e{i}")});
        assert_eq!(stack.ingest(&event).await.0, 202);
    }
    let _ = stack
        .wait_for_logs("service=term&limit=1000", 100, Duration::from_secs(10))
        .await;

    assert!(
        stack.terminate(Service::Worker),
        "worker exits with success on SIGTERM"
    );
    assert!(
        stack.terminate(Service::Ingestion),
        "ingestion exits with success on SIGTERM"
    );
    assert!(
        stack.terminate(Service::Query),
        "query exits with success on SIGTERM"
    );
    assert_eq!(stack.stored_counts().await.0, 100);
}
