//! Configured limits, end to end: event field sizes on the ingestion service and the largest
//! page on the query service, each answered with its configured number; out-of-range settings
//! stop a service at start.
#![allow(clippy::unwrap_used)] // test code fails loudly

use std::time::{Duration, Instant};

use e2e_tests::{Service, Stack, StackOptions};
use serde_json::{Value, json};

fn event(service: &str, message: &str) -> Value {
    json!({"service": service, "level": "INFO", "message": message})
}

#[tokio::test]
async fn configured_event_limits_and_page_size_are_applied_and_quoted() {
    let stack = Stack::start(StackOptions {
        extra_env: vec![
            (Service::Ingestion, "INGEST_MAX_MESSAGE_BYTES", "100".into()),
            // Above the default of 128: the worker and the query service must read it back.
            (Service::Ingestion, "INGEST_MAX_SERVICE_CHARS", "200".into()),
            (
                Service::Ingestion,
                "INGEST_MAX_METADATA_ENTRIES",
                "2".into(),
            ),
            (Service::Query, "QUERY_MAX_PAGE_LIMIT", "5".into()),
        ],
        ..StackOptions::default()
    })
    .await;

    // One event over the message limit: 400 naming the field and the configured number.
    let (status, error) = stack.ingest(&event("limits", &"m".repeat(101))).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(
        (&error["code"], &error["field"], &error["reason"]),
        (
            &json!("invalid_field"),
            &json!("message"),
            &json!("message must be at most 100 bytes")
        )
    );
    let crowded = json!({"service": "limits", "level": "INFO", "message": "m",
                         "metadata": {"a": "1", "b": "2", "c": "3"}});
    let (status, error) = stack.ingest(&crowded).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["reason"], "metadata must have at most 2 entries");

    // In a batch: the events at the limits are accepted, the one over it reported by index.
    let long_service = "s".repeat(200);
    let mut batch: Vec<Value> = (0..6)
        .map(|i| event("limits", &format!("{i:0>100}")))
        .collect();
    batch.push(event("limits", &"m".repeat(101)));
    batch.push(event(&long_service, "a long service name"));
    batch.push(event(&"s".repeat(201), "too long a service name"));
    let (status, body) = stack.ingest(&Value::Array(batch)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        (&body["accepted"], &body["rejected"]),
        (&json!(7), &json!(2))
    );
    let errors: Vec<(u64, &str, &str)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| {
            (
                error["index"].as_u64().unwrap(),
                error["field"].as_str().unwrap(),
                error["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (6, "message", "message must be at most 100 bytes"),
            (8, "service", "service must be at most 200 characters")
        ]
    );

    // The 200-character service went through the queue and the store and can be asked for.
    let found = stack
        .wait_for_logs(
            &format!("service={long_service}"),
            1,
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["message"], "a long service name");

    // Pages: at most 5, and 5 without a limit (the default of 100 is larger).
    let deadline = Instant::now() + Duration::from_secs(20);
    while stored(&stack, "limits").await < 6 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stored(&stack, "limits").await, 6);
    let (status, body) = stack.logs("service=limits").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["logs"].as_array().map(Vec::len), Some(5));
    let (status, body) = stack.logs("service=limits&limit=5").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["logs"].as_array().map(Vec::len), Some(5));
    assert!(body["next_cursor"].is_string(), "{body}");
    for path in ["/logs?limit=6", "/logs/stats?group_by=service&limit=6"] {
        let (status, error) = stack.query_get(path).await;
        assert_eq!(status, 400, "{path}: {error}");
        assert_eq!(
            (&error["code"], &error["field"], &error["reason"]),
            (
                &json!("invalid_parameter"),
                &json!("limit"),
                &json!("limit must be between 1 and 5")
            ),
            "{path}"
        );
    }
}

/// How many logs of `service` the query service counts.
async fn stored(stack: &Stack, service: &str) -> u64 {
    let (status, body) = stack
        .query_get(&format!("/logs/stats?group_by=service&service={service}"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["groups"][0]["count"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_limit_set_to_zero_or_above_its_ceiling_stops_the_service_with_exit_code_2() {
    let cases = [
        (Service::Ingestion, "INGEST_MAX_MESSAGE_BYTES", "0"),
        (Service::Ingestion, "INGEST_MAX_MESSAGE_BYTES", "1048577"),
        (Service::Ingestion, "INGEST_MAX_SERVICE_CHARS", "1025"),
        (Service::Ingestion, "INGEST_MAX_METADATA_ENTRIES", "0"),
        (Service::Ingestion, "INGEST_MAX_METADATA_KEY_CHARS", "1025"),
        (
            Service::Ingestion,
            "INGEST_MAX_METADATA_VALUE_BYTES",
            "65537",
        ),
        (Service::Ingestion, "INGEST_MAX_FUTURE_SKEW_SECONDS", "0"),
        (
            Service::Ingestion,
            "INGEST_MAX_FUTURE_SKEW_SECONDS",
            "604801",
        ),
        (Service::Ingestion, "INGEST_MAX_MESSAGE_BYTES", "lots"),
        (Service::Query, "QUERY_MAX_PAGE_LIMIT", "0"),
        (Service::Query, "QUERY_MAX_PAGE_LIMIT", "10001"),
        (Service::Query, "QUERY_MAX_PAGE_LIMIT", "-1"),
    ];
    for (service, variable, value) in cases {
        let output = service.exit_at_start(&[(variable, value)]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{service:?} {variable}={value}: {stderr}"
        );
        assert!(stderr.contains(variable), "{variable}={value}: {stderr}");
    }
    // The message says what is allowed.
    let output = Service::Query.exit_at_start(&[("QUERY_MAX_PAGE_LIMIT", "0")]);
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("QUERY_MAX_PAGE_LIMIT: must be between 1 and 10000, not 0"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
