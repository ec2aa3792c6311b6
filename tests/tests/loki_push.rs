//! Loki's push API (`POST /loki/api/v1/push`) end to end, through the real binaries into
//! ClickHouse and back out of `GET /logs`, with clients nobody on the team wrote: npm
//! `winston-loki` (protobuf + snappy, and JSON; `tests/loki/send_winston.js`, run with the
//! packages that infra/test.sh installs into `LOKI_TEST_NODE_DIR`) and PyPI `python-logging-loki`
//! (JSON; `tests/loki/send_logging_loki.py`, run with `LOKI_TEST_PYTHON`). Every mapped field of
//! every record is checked. Plus API keys as Basic auth, and a push with a bad entry.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code fails loudly

use std::path::PathBuf;
use std::time::Duration;

use e2e_tests::{Service, Stack, StackOptions};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const STORED_WITHIN: Duration = Duration::from_secs(30);
const KEY: &str = "loki-e2e-ingest-key-0123456789";

/// A setting infra/test.sh exports; missing is a failure, not a reason to skip: these tests are
/// the proof that real Loki clients work.
fn setting(name: &str) -> PathBuf {
    let path = std::env::var_os(name)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "{name} is not set: run the tests through infra/test.sh, whose ensure_loki_clients \
             installs the Loki clients of tests/loki"
            )
        });
    assert!(path.exists(), "{name}={} does not exist", path.display());
    path
}

async fn run(mut command: tokio::process::Command, what: &str) -> Value {
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within 60 s"))
        .unwrap_or_else(|error| panic!("{what} could not start: {error}"));
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "{what} printed no JSON ({error}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// Runs winston + winston-loki in `mode` (`protobuf` or `json`); returns what it sent.
async fn send_with_winston(stack: &Stack, service: &str, mode: &str, key: Option<&str>) -> Value {
    let dir = setting("LOKI_TEST_NODE_DIR");
    let mut command = tokio::process::Command::new("node");
    command
        .current_dir(&dir)
        .arg(dir.join("send_winston.js"))
        .args([&stack.ingestion_url, service, mode]);
    if let Some(key) = key {
        command.arg(key);
    }
    run(command, "winston-loki").await
}

/// Runs python-logging-loki; returns what it sent.
async fn send_with_python(stack: &Stack, service: &str) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("loki/send_logging_loki.py");
    let mut command = tokio::process::Command::new(setting("LOKI_TEST_PYTHON"));
    command.arg(script).args([
        &format!("{}/loki/api/v1/push", stack.ingestion_url),
        service,
    ]);
    run(command, "python-logging-loki").await
}

/// The stored logs of `service`, once there are `count` of them.
async fn stored(stack: &Stack, service: &str, count: usize) -> Vec<Value> {
    let logs = stack
        .wait_for_logs(
            &format!("service={service}&limit=100"),
            count,
            STORED_WITHIN,
        )
        .await;
    assert_eq!(logs.len(), count, "{logs:?}");
    logs
}

fn find<'a>(logs: &'a [Value], message: &str) -> &'a Value {
    logs.iter()
        .find(|log| log["message"] == message)
        .unwrap_or_else(|| panic!("no stored log has the message {message:?}: {logs:?}"))
}

fn nanos(log: &Value) -> i128 {
    let text = log["timestamp"].as_str().unwrap();
    OffsetDateTime::parse(text, &Rfc3339)
        .unwrap()
        .unix_timestamp_nanos()
}

/// Checks every winston record: the service label, the level (winston's `verbose` is no level
/// of ours: INFO, with the label kept), the line, the millisecond timestamp, the other labels
/// and, in JSON, the structured metadata.
fn assert_winston_records(logs: &[Value], sent: &Value, service: &str, structured: bool) {
    let records = sent["records"].as_array().unwrap();
    assert_eq!(logs.len(), records.len());
    for record in records {
        let message = record["message"].as_str().unwrap();
        let log = find(logs, message);
        let winston_level = record["level"].as_str().unwrap();
        let (level, level_in_metadata) = match winston_level {
            "debug" => ("DEBUG", None),
            "info" => ("INFO", None),
            "warn" => ("WARN", None),
            "error" => ("ERROR", None),
            "verbose" => ("INFO", Some("verbose")),
            other => panic!("unexpected level {other}"),
        };
        assert_eq!(log["service"], service, "{message}");
        assert_eq!(log["level"], level, "{message}");
        assert_eq!(
            nanos(log),
            i128::from(record["timestamp_ms"].as_i64().unwrap()) * 1_000_000,
            "{message}: {log}"
        );
        let metadata = &log["metadata"];
        let mut expected = json!({"env": "e2e", "client": "winston-loki"});
        if let Some(level) = level_in_metadata {
            expected["level"] = json!(level);
        }
        if structured {
            expected["user_id"] = record["user_id"].clone();
        }
        assert_eq!(metadata, &expected, "{message}");
        assert_eq!(log["trace_id"].as_str().unwrap().len(), 32, "{message}");
    }
}

#[tokio::test]
async fn winston_loki_over_protobuf_and_snappy_is_stored_with_every_mapped_field() {
    let stack = Stack::start(StackOptions::default()).await;

    let sent = send_with_winston(&stack, "winston-protobuf", "protobuf", None).await;

    assert_eq!(sent["content_type"], "application/x-protobuf");
    let logs = stored(&stack, "winston-protobuf", 5).await;
    assert_winston_records(&logs, &sent, "winston-protobuf", false);
}

#[tokio::test]
async fn winston_loki_over_json_is_stored_with_its_structured_metadata() {
    let stack = Stack::start(StackOptions::default()).await;

    let sent = send_with_winston(&stack, "winston-json", "json", None).await;

    assert_eq!(sent["content_type"], "application/json");
    let logs = stored(&stack, "winston-json", 5).await;
    assert_winston_records(&logs, &sent, "winston-json", true);
}

#[tokio::test]
async fn python_logging_loki_is_stored_with_every_mapped_field() {
    let stack = Stack::start(StackOptions::default()).await;

    let sent = send_with_python(&stack, "python-loki").await;

    let records = sent["records"].as_array().unwrap();
    let logs = stored(&stack, "python-loki", records.len()).await;
    for record in records {
        let message = record["message"].as_str().unwrap();
        let log = find(&logs, message);
        let level = match record["level_name"].as_str().unwrap() {
            "debug" => "DEBUG",
            "info" => "INFO",
            "warning" => "WARN",
            "error" => "ERROR",
            "critical" => "FATAL",
            other => panic!("unexpected level {other}"),
        };
        assert_eq!(log["service"], "python-loki", "{message}");
        assert_eq!(log["level"], level, "{message}");
        // The handler stamps the time of sending (a float of seconds times 1e9): between the
        // clock readings around the call, give or take the float's rounding.
        let stamped = nanos(log);
        let after = i128::from(record["sent_after_ns"].as_i64().unwrap());
        let before = i128::from(record["sent_before_ns"].as_i64().unwrap());
        assert!(
            stamped >= after - 1_000 && stamped <= before + 1_000,
            "{message}: {stamped} not within {after}..{before}"
        );
        assert_eq!(
            log["metadata"],
            json!({
                "env": "e2e",
                "client": "python-logging-loki",
                "logger": "loki-e2e",
                "request_id": record["request_id"],
            }),
            "{message}"
        );
    }
}

#[tokio::test]
async fn with_api_keys_a_loki_client_sends_its_key_as_basic_auth_and_others_are_refused() {
    let keys = || ("INGEST_API_KEYS", KEY.to_owned());
    let stack = Stack::start(StackOptions {
        extra_env: vec![
            (Service::Ingestion, keys().0, keys().1),
            (Service::Query, keys().0, keys().1),
        ],
        ..StackOptions::default()
    })
    .await;

    let sent = send_with_winston(&stack, "winston-keyed", "protobuf", Some(KEY)).await;
    let logs = stored(&stack, "winston-keyed", 5).await;
    assert_winston_records(&logs, &sent, "winston-keyed", false);

    let push = json!({"streams": [{"stream": {"job": "intruder"},
        "values": [["1777975200000000000", "should not be stored"]]}]});
    for credentials in [None, Some(("promtail", "not-the-key-0123456789"))] {
        let mut request = stack
            .http
            .post(format!("{}/loki/api/v1/push", stack.ingestion_url))
            .json(&push);
        if let Some((user, password)) = credentials {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{credentials:?}");
        assert!(response.headers().contains_key("www-authenticate"));
    }
    let (status, body) = stack.logs("service=intruder").await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], 0, "{body}");
}

#[tokio::test]
async fn a_push_with_a_bad_entry_is_400_naming_it_and_its_valid_entries_are_stored() {
    let stack = Stack::start(StackOptions::default()).await;
    let push = json!({"streams": [{
        "stream": {"service_name": "loki-partial", "level": "error"},
        "values": [
            ["1777975200000000001", "the good line"],
            ["not-a-number", "the line with a bad timestamp"],
            ["1777975200000000002", ""]
        ]
    }]});

    let response = stack
        .http
        .post(format!("{}/loki/api/v1/push", stack.ingestion_url))
        .json(&push)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 400);
    let text = response.text().await.unwrap();
    assert!(
        text.starts_with("2 of 3 entries rejected (the other 1 were accepted)"),
        "{text}"
    );
    assert!(text.contains("streams[0].values[1]: timestamp"), "{text}");
    assert!(text.contains("streams[0].values[2]: message"), "{text}");
    let logs = stored(&stack, "loki-partial", 1).await;
    assert_eq!(logs[0]["message"], "the good line");
    assert_eq!(logs[0]["level"], "ERROR");
    assert_eq!(nanos(&logs[0]), 1_777_975_200_000_000_001);
    assert_eq!(logs[0]["metadata"], json!({}));
}
