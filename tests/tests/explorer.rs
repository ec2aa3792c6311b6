//! The log explorer page (`GET /` of the query service) in a real browser: Debian's chromium,
//! driven by the pinned playwright-core through tests/browser/explorer.mjs, against the real
//! stack with data seeded through ingestion. The script checks what the page shows against the
//! query API itself (rows, histogram total, cursor pages, export, the curl command, the live
//! tail) and fails on any console error or failed request; infra/test.sh installs what it needs
//! (`ensure_browser_test`) and exports where it is.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code fails loudly

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use e2e_tests::{Service, Stack, StackOptions};
use serde_json::{Value, json};

const STORED_WITHIN: Duration = Duration::from_secs(60);
const QUERY_KEY: &str = "explorer-query-key-0123456789";
const INGEST_KEY: &str = "explorer-ingest-key-0123456789";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// A message that would run script if the page ever parsed log text as HTML.
const PAYLOAD: &str = r#"<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">"#;

/// A variable infra/test.sh exports; missing is a failure, not a reason to skip.
fn required(variable: &str) -> String {
    let value = std::env::var(variable).unwrap_or_else(|_| {
        panic!(
            "{variable} is not set: run the tests through infra/test.sh, whose \
             ensure_browser_test installs chromium and tests/browser (npm ci) and exports it"
        )
    });
    assert!(
        PathBuf::from(&value).exists(),
        "{variable}={value} does not exist"
    );
    value
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Logs of several services, levels and metadata over the last two hours, a trace across three
/// services, the HTML payload, and 250 logs of `paging` sharing timestamps ten at a time (the
/// cursor must still neither repeat nor skip one). Returns how many were sent.
async fn seed(stack: &Stack) -> usize {
    let now = now_ms();
    let minute = 60_000;
    let levels = ["INFO", "WARN", "ERROR", "DEBUG", "INFO", "FATAL"];
    let mut events = Vec::new();
    for n in 0..30_u64 {
        let message = if n % 3 == 0 {
            format!("payment timeout for order {n}")
        } else {
            format!("payment accepted for order {n}")
        };
        events.push(json!({
            "service": "checkout", "level": levels[(n % 6) as usize], "message": message,
            "timestamp": now - (n * 4 + 1) * minute,
            "metadata": {"region": if n % 2 == 0 { "eu" } else { "us" }, "order": n.to_string()},
        }));
    }
    for n in 0..20_u64 {
        events.push(json!({
            "service": "auth", "level": levels[(n % 3) as usize],
            "message": if n % 4 == 0 { format!("token timeout for user {n}") } else { format!("login ok for user {n}") },
            "timestamp": now - (n * 5 + 2) * minute,
            "metadata": {"user_id": n.to_string()},
        }));
    }
    for (step, service) in ["gateway", "checkout", "billing"].iter().enumerate() {
        events.push(json!({
            "service": service, "level": "INFO", "message": format!("trace step {step}"),
            "timestamp": now - (30 - step as u64) * minute, "trace_id": TRACE,
            "metadata": {"step": step.to_string()},
        }));
    }
    events.push(json!({
        "service": "web", "level": "WARN", "message": PAYLOAD, "timestamp": now - 3 * minute,
        "metadata": {"html": "<b onmouseover=\"window.__xss = 3\">bold</b>"},
    }));
    for n in 0..250_u64 {
        events.push(json!({
            "service": "paging", "level": "DEBUG", "message": format!("paging row {n:03}"),
            "timestamp": now - 40 * minute + (n / 10) * 1000,
        }));
    }
    let (status, body) = stack.ingest(&Value::Array(events.clone())).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], events.len(), "{body}");
    events.len()
}

/// Runs tests/browser/explorer.mjs in `mode` against the stack; it prints what it checked and
/// exits non-zero on the first failed check.
async fn run_browser(stack: &Stack, mode: &str, extra: &[(&str, &str)]) {
    let mut command = tokio::process::Command::new(required("EXPLORER_TEST_NODE"));
    command
        .arg(required("EXPLORER_TEST_SCRIPT"))
        .env("EXPLORER_MODE", mode)
        .env("EXPLORER_CHROMIUM", required("EXPLORER_TEST_CHROMIUM"))
        .env("QUERY_URL", &stack.query_url)
        .env("INGESTION_URL", &stack.ingestion_url)
        .env("SEED_TRACE", TRACE)
        .env("SEED_PAYLOAD", PAYLOAD)
        .envs(extra.iter().copied())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(300), command.output())
        .await
        .expect("the browser test did not finish within 300 s")
        .expect("node could not be started");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser test failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("all checks passed"),
        "the browser test ended without its last check:\n{stdout}\n{stderr}"
    );
}

#[tokio::test]
async fn the_explorer_shows_filters_pages_tails_and_exports_exactly_what_the_api_returns() {
    let stack = Stack::start(StackOptions {
        poll_interval_ms: 200,
        ..StackOptions::default()
    })
    .await;
    let sent = seed(&stack).await;
    let stored = stack.wait_for_logs("limit=1000", sent, STORED_WITHIN).await;
    assert_eq!(stored.len(), sent);
    run_browser(&stack, "open", &[]).await;
}

#[tokio::test]
async fn with_api_keys_the_explorer_asks_for_a_key_shows_a_wrong_one_and_then_works() {
    let stack = Stack::start(StackOptions {
        poll_interval_ms: 200,
        extra_env: vec![
            (Service::Query, "QUERY_API_KEYS", QUERY_KEY.to_owned()),
            // Known to the query service, so that it answers 403 rather than 401 for it.
            (Service::Query, "INGEST_API_KEYS", INGEST_KEY.to_owned()),
        ],
        ..StackOptions::default()
    })
    .await;
    let now = now_ms();
    let events: Vec<Value> = (0..12_u64)
        .map(|n| {
            json!({"service": "locked", "level": "INFO", "message": format!("behind a key {n}"),
                   "timestamp": now - (n + 1) * 60_000})
        })
        .collect();
    let (status, body) = stack.ingest(&Value::Array(events)).await;
    assert_eq!(status, 202, "{body}");
    let response = stack
        .http
        .get(format!("{}/logs?service=locked", stack.query_url))
        .bearer_auth(QUERY_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let deadline = std::time::Instant::now() + STORED_WITHIN;
    loop {
        let body: Value = stack
            .http
            .get(format!("{}/logs?service=locked", stack.query_url))
            .bearer_auth(QUERY_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["count"] == 12 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not stored: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    run_browser(
        &stack,
        "keys",
        &[("QUERY_KEY", QUERY_KEY), ("INGEST_KEY", INGEST_KEY)],
    )
    .await;
}
