//! API keys and the worker token, end to end: the real binaries configured through environment
//! variables (and a key file), real Redis and ClickHouse.
#![allow(clippy::unwrap_used)] // test code fails loudly

use std::time::{Duration, Instant};

use e2e_tests::{Service, Stack, StackOptions};
use reqwest::RequestBuilder;
use serde_json::{Value, json};

const INGEST_KEY: &str = "e2e-ingest-key-0123456789abcdef";
const QUERY_KEY: &str = "e2e-query-key-0123456789abcdef";
const WORKER_TOKEN: &str = "e2e-worker-token-0123456789";

/// `sha256sum` of the two keys the key file admits; the file holds only these digests.
const FILE_INGEST_KEY: &str = "e2e-ingest-key-from-file-0123456789";
const FILE_INGEST_DIGEST: &str =
    "sha256:8a3f4ad2143190b8d34c2d6551da09803c0128ddc9facbd3317faa408652766d";
const FILE_QUERY_KEY: &str = "e2e-query-key-from-file-0123456789";
const FILE_QUERY_DIGEST: &str =
    "sha256:b38ccf2259853c3e8bf9810c78dada3c9da009f6276936be4ae934815dad0d54";

fn event(message: &str) -> Value {
    json!({"service": "auth-e2e", "level": "WARN", "message": message})
}

/// Status, `WWW-Authenticate` and JSON body of a request.
async fn send(request: RequestBuilder) -> (u16, Option<String>, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = response.json().await.unwrap_or(Value::Null);
    (status, challenge, body)
}

/// Polls `GET /logs?<query>` with `key` until it lists `count` logs.
async fn wait_for_logs(stack: &Stack, query: &str, key: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let request = stack
            .http
            .get(format!("{}/logs?{query}", stack.query_url))
            .bearer_auth(key);
        let (status, _, body) = send(request).await;
        assert_eq!(status, 200, "{body}");
        let logs = body["logs"].as_array().cloned().unwrap_or_default();
        if logs.len() >= count {
            return logs;
        }
        assert!(Instant::now() < deadline, "not stored in time: {query}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn keys_from_the_environment_guard_ingestion_and_query_and_the_worker_token_passes() {
    let keys = [
        ("INGEST_API_KEYS", INGEST_KEY.to_owned()),
        ("QUERY_API_KEYS", QUERY_KEY.to_owned()),
        ("WORKER_GRPC_TOKEN", WORKER_TOKEN.to_owned()),
    ];
    let mut extra_env = Vec::new();
    for service in [Service::Ingestion, Service::Query] {
        for (name, value) in &keys {
            extra_env.push((service, *name, value.clone()));
        }
    }
    extra_env.push((
        Service::Worker,
        "WORKER_GRPC_TOKEN",
        WORKER_TOKEN.to_owned(),
    ));
    // A 60 s poll interval: only a drain signal the worker accepted delivers the event quickly.
    let stack = Stack::start(StackOptions {
        poll_interval_ms: 60_000,
        extra_env,
        ..StackOptions::default()
    })
    .await;
    let ingest = || {
        stack
            .http
            .post(format!("{}/ingest", stack.ingestion_url))
            .json(&event("guarded"))
    };

    let (status, challenge, body) = send(ingest()).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(challenge.as_deref(), Some("Bearer realm=\"ingest\""));
    assert_eq!(body["code"], "missing_api_key");

    let (status, challenge, body) = send(ingest().bearer_auth("not-a-key-0123456789")).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        challenge.as_deref(),
        Some("Bearer realm=\"ingest\", error=\"invalid_token\"")
    );
    assert_eq!(body["code"], "invalid_api_key");

    let (status, _, body) = send(ingest().header("X-API-Key", QUERY_KEY)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "insufficient_scope");

    let (status, _, accepted) = send(ingest().bearer_auth(INGEST_KEY)).await;
    assert_eq!(status, 202, "{accepted}");

    let logs_url = format!("{}/logs?service=auth-e2e", stack.query_url);
    let (status, challenge, body) = send(stack.http.get(&logs_url)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(challenge.as_deref(), Some("Bearer realm=\"query\""));
    let (status, _, body) = send(stack.http.get(&logs_url).bearer_auth(INGEST_KEY)).await;
    assert_eq!(status, 403, "{body}");

    let logs = wait_for_logs(&stack, "service=auth-e2e", QUERY_KEY, 1).await;
    assert_eq!(logs[0]["id"], accepted["id"]);
    let (status, _, body) = send(stack.http.get(&logs_url).header("X-API-Key", QUERY_KEY)).await;
    assert_eq!((status, body["count"].as_u64()), (200, Some(1)));

    // The open endpoints stay open, and the documents offer both ways to send a key.
    for base in [&stack.ingestion_url, &stack.query_url] {
        for path in ["/health", "/ready", "/docs"] {
            let response = stack
                .http
                .get(format!("{base}{path}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200, "{base}{path}");
        }
        let (status, _, document) = send(stack.http.get(format!("{base}/openapi.json"))).await;
        assert_eq!(status, 200);
        let schemes = &document["components"]["securitySchemes"];
        assert_eq!(schemes["bearer"]["scheme"], "bearer", "{base}");
        assert_eq!(schemes["api_key"]["name"], "X-API-Key", "{base}");
    }
}

#[tokio::test]
async fn a_key_file_of_digests_admits_the_keys_they_were_made_from() {
    let file = std::env::temp_dir().join(format!("e2e-api-keys-{}.txt", std::process::id()));
    std::fs::write(
        &file,
        format!(
            "# digests only: the keys themselves live elsewhere\n\
             ingest:{FILE_INGEST_DIGEST}\n\
             query:{FILE_QUERY_DIGEST}\n"
        ),
    )
    .unwrap();
    let path = file.display().to_string();
    let stack = Stack::start(StackOptions {
        extra_env: vec![
            (Service::Ingestion, "API_KEYS_FILE", path.clone()),
            (Service::Query, "API_KEYS_FILE", path),
        ],
        ..StackOptions::default()
    })
    .await;
    let post = |key: &str| {
        stack
            .http
            .post(format!("{}/ingest", stack.ingestion_url))
            .header("X-API-Key", key)
            .json(&event("from a key file"))
    };

    assert_eq!(send(post(FILE_QUERY_KEY)).await.0, 403);
    // The digest written in the file is not itself a key.
    assert_eq!(send(post(FILE_INGEST_DIGEST)).await.0, 401);
    let (status, _, accepted) = send(post(FILE_INGEST_KEY)).await;
    assert_eq!(status, 202, "{accepted}");

    let logs = wait_for_logs(&stack, "service=auth-e2e", FILE_QUERY_KEY, 1).await;
    assert_eq!(logs[0]["id"], accepted["id"]);
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn a_bad_key_or_token_stops_the_service_at_start_with_exit_code_2_naming_the_variable() {
    let cases = [
        (
            Service::Ingestion,
            "INGEST_API_KEYS",
            "a-good-key-0123456789,short-key",
        ),
        (Service::Query, "QUERY_API_KEYS", "sha256:not-hex"),
        (
            Service::Query,
            "API_KEYS_FILE",
            "/nonexistent/e2e-api-keys.txt",
        ),
        (Service::Worker, "WORKER_GRPC_TOKEN", "short-token"),
        // Digits only: the environment layer reads a number, which is refused, not echoed.
        (
            Service::Ingestion,
            "INGEST_API_KEYS",
            "12345678901234567890",
        ),
        (Service::Worker, "WORKER_GRPC_TOKEN", "1234567890123456789"),
    ];
    for (service, variable, value) in cases {
        let output = service.exit_at_start(&[(variable, value)]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{service:?} {variable}: {stderr}"
        );
        assert!(stderr.contains(variable), "{service:?}: {stderr}");
        // The message names where the bad key is, never the key (a file is named by its path).
        if variable != "API_KEYS_FILE" {
            assert!(!stderr.contains(value), "{stderr}");
        }
    }
}
