//! Elasticsearch's bulk API (`POST /_bulk`) end to end, through the real binaries into
//! ClickHouse and back out of `GET /logs`, sent by clients nobody on the team wrote: the official
//! Python client's `helpers.bulk` (tests/elasticsearch/send_bulk.py, run with `ES_TEST_PYTHON`,
//! with an Elasticsearch API key and with gzip), and rsyslog's `omelasticsearch` in bulk mode
//! forwarding lines written with `logger`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code fails loudly

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use e2e_tests::rsyslog::{Rsyslog, program};
use e2e_tests::{Service, Stack, StackOptions, nanos_of_timestamp};
use serde_json::{Value, json};

const STORED_WITHIN: Duration = Duration::from_secs(30);
const INGEST_KEY: &str = "e2e-elasticsearch-ingest-key-0123456789";

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

async fn stack(keys: bool) -> Stack {
    let mut extra_env = Vec::new();
    if keys {
        extra_env.push((Service::Ingestion, "INGEST_API_KEYS", INGEST_KEY.to_owned()));
    }
    Stack::start(StackOptions {
        poll_interval_ms: 200,
        extra_env,
        ..StackOptions::default()
    })
    .await
}

async fn send_with_python_client(
    stack: &Stack,
    service: &str,
    index: &str,
    extra: &[&str],
) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("elasticsearch/send_bulk.py");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(program("ES_TEST_PYTHON"))
            .arg(&script)
            .args(["--url", &stack.ingestion_url])
            .args(["--service", service])
            .args(["--index", index])
            .args(extra)
            .output(),
    )
    .await
    .expect("the Elasticsearch Python client did not finish within 60 s")
    .expect("the Elasticsearch Python client could not be started");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "send_bulk.py failed ({}): {stderr}",
        output.status
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "send_bulk.py printed no JSON ({error}): {}\n{stderr}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

async fn the_log(stack: &Stack, service: &str) -> Value {
    let logs = stack
        .wait_for_logs(&format!("service={service}"), 1, STORED_WITHIN)
        .await;
    assert_eq!(logs.len(), 1, "{service}: {logs:#?}");
    logs[0].clone()
}

/// Every document send_bulk.py sends, found with every mapped field.
async fn assert_python_documents_stored(stack: &Stack, service: &str, index: &str) {
    let logs = stack
        .wait_for_logs(&format!("service={service}&order=asc"), 2, STORED_WITHIN)
        .await;
    assert_eq!(logs.len(), 2, "{logs:#?}");
    let ecs = &logs[0];
    assert_eq!(ecs["message"], "ecs document");
    assert_eq!(ecs["level"], "WARN");
    assert_eq!(ecs["timestamp"], "2026-12-04T10:00:00.250000000Z");
    assert_eq!(
        ecs["metadata"],
        json!({
            "_id": "doc-ecs",
            "_index": index,
            "http.response.status_code": "502",
            "log.logger": "payments",
            "service.version": "1.2.3",
            "user.id": "42",
            "user.roles": "[\"admin\",\"ops\"]",
        })
    );
    let plain = &logs[1];
    assert_eq!(plain["message"], "plain document");
    assert_eq!(plain["level"], "ERROR");
    assert_eq!(plain["timestamp"], "2026-12-04T10:00:01.000000000Z");
    assert_eq!(
        plain["metadata"],
        json!({"_index": index, "host": "web-1", "ok": "true"})
    );
    let by_index = the_log(stack, &format!("{index}-noservice")).await;
    assert_eq!(by_index["message"], "indexed by name only");
    assert_eq!(by_index["level"], "DEBUG");
    assert_eq!(by_index["timestamp"], "2026-12-04T10:00:02.000000000Z");
    assert_eq!(
        by_index["metadata"],
        json!({"_index": format!("{index}-noservice")})
    );
}

#[tokio::test]
async fn the_official_python_client_bulk_indexes_with_an_api_key_and_every_field_is_stored() {
    let stack = stack(true).await;
    let service = unique("es-python");
    let index = unique("es-index");

    let sent = send_with_python_client(&stack, &service, &index, &["--api-key", INGEST_KEY]).await;

    assert_eq!(sent["version"], "8.11.0", "{sent}");
    assert_eq!(sent["success"], 3, "{sent}");
    assert_eq!(sent["errors"], json!([]), "{sent}");
    assert_python_documents_stored(&stack, &service, &index).await;
}

#[tokio::test]
async fn the_official_python_client_with_gzip_is_stored_alike_and_a_wrong_key_is_refused() {
    let stack = stack(true).await;
    let service = unique("es-gzip");
    let index = unique("es-gzip-index");

    let sent = send_with_python_client(
        &stack,
        &service,
        &index,
        &["--api-key", INGEST_KEY, "--gzip"],
    )
    .await;

    assert_eq!(sent["success"], 3, "{sent}");
    assert_python_documents_stored(&stack, &service, &index).await;

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("elasticsearch/send_bulk.py");
    let refused = tokio::process::Command::new(program("ES_TEST_PYTHON"))
        .arg(&script)
        .args([
            "--url",
            &stack.ingestion_url,
            "--service",
            "x",
            "--index",
            "x",
        ])
        .args(["--api-key", "not-the-configured-key-000"])
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("AuthenticationException"), "{stderr}");
}

#[tokio::test]
async fn rsyslog_omelasticsearch_in_bulk_mode_forwards_logger_lines() {
    let stack = stack(false).await;
    let port = stack.ingestion_url.rsplit(':').next().unwrap().to_owned();
    let service = unique("rsyslog-es");
    let index = "rsyslog-logs";
    let rsyslog = Rsyslog::start(
        "es-e2e",
        &format!(
            "module(load=\"omelasticsearch\")\n\
             template(name=\"es-doc\" type=\"list\" option.jsonf=\"on\") {{\n\
               property(outname=\"@timestamp\" name=\"timereported\" dateFormat=\"rfc3339\" format=\"jsonf\")\n\
               property(outname=\"message\" name=\"$.msg\" format=\"jsonf\")\n\
               property(outname=\"service\" name=\"programname\" format=\"jsonf\")\n\
               property(outname=\"level\" name=\"syslogseverity-text\" format=\"jsonf\")\n\
               property(outname=\"host\" name=\"hostname\" format=\"jsonf\")\n\
               property(outname=\"facility\" name=\"syslogfacility-text\" format=\"jsonf\")\n\
             }}\n\
             set $.msg = ltrim($msg);\n\
             action(type=\"omelasticsearch\" server=\"127.0.0.1\" serverport=\"{port}\" \
                    template=\"es-doc\" searchIndex=\"{index}\" bulkmode=\"on\" \
                    errorfile=\"RSYSLOG_DIR/omelasticsearch-errors.json\" \
                    action.resumeRetryCount=\"-1\")"
        ),
    );
    let before = now_nanos();
    rsyslog.log(&[
        "-t",
        &service,
        "-p",
        "local2.warning",
        "first line through rsyslog",
    ]);
    rsyslog.log(&[
        "-t",
        &service,
        "-p",
        "local2.err",
        "second line through rsyslog",
    ]);

    let after = now_nanos();
    let logs = stack
        .wait_for_logs(&format!("service={service}&order=asc"), 2, STORED_WITHIN)
        .await;

    let errors = std::fs::read_to_string(rsyslog.dir().join("omelasticsearch-errors.json"))
        .unwrap_or_default();
    assert_eq!(logs.len(), 2, "{logs:#?}; omelasticsearch errors: {errors}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for (log, level, message) in [
        (&logs[0], "WARN", "first line through rsyslog"),
        (&logs[1], "ERROR", "second line through rsyslog"),
    ] {
        assert_eq!(log["level"], level);
        assert_eq!(log["message"], message);
        assert_eq!(
            log["metadata"],
            json!({"_index": index, "facility": "local2", "host": host.trim()})
        );
        // rsyslog's RFC 3339 receive time (imuxsock), with microseconds.
        let stamped = nanos_of_timestamp(log["timestamp"].as_str().unwrap());
        assert!((before..=after).contains(&stamped), "{}", log["timestamp"]);
    }
    drop(rsyslog);
}
