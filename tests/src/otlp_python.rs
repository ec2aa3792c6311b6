//! The official OpenTelemetry Python SDK as the client of the OTLP end-to-end tests
//! (tests/tests/otlp.rs for OTLP/HTTP, tests/tests/otlp_grpc.rs for OTLP/gRPC): running
//! tests/otlp/send_logs.py, and checking every record it reports through `GET /logs`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::Stack;

/// How long the records of one run may take to be stored.
pub const STORED_WITHIN: Duration = Duration::from_secs(30);

/// The Python interpreter with tests/otlp/requirements.txt installed. Missing is a failure, not a
/// reason to skip: this test is the proof that a real OpenTelemetry client works.
pub fn python() -> PathBuf {
    let python = std::env::var_os("OTLP_TEST_PYTHON")
        .map(PathBuf::from)
        .expect(
            "OTLP_TEST_PYTHON is not set: run the tests through infra/test.sh, which creates \
         .test-servers/venv with tests/otlp/requirements.txt, or point it at a Python with them",
        );
    assert!(
        python.exists(),
        "OTLP_TEST_PYTHON={} does not exist",
        python.display()
    );
    python
}

/// Which of the SDK's OTLP exporters sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP/HTTP protobuf to `POST /v1/logs`.
    Http,
    /// OTLP/gRPC to `LogsService/Export` on `OTLP_GRPC_ADDR`.
    Grpc,
}

/// Runs tests/otlp/send_logs.py against the stack's ingestion service; returns what it sent.
pub async fn send_with_python_sdk(
    stack: &Stack,
    protocol: OtlpProtocol,
    service: &str,
    gzip: bool,
) -> Value {
    let (protocol, endpoint) = match protocol {
        OtlpProtocol::Http => ("http", format!("{}/v1/logs", stack.ingestion_url)),
        OtlpProtocol::Grpc => ("grpc", stack.otlp_grpc_url.clone()),
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("otlp/send_logs.py");
    let mut command = tokio::process::Command::new(python());
    command
        .arg(&script)
        .args(["--protocol", protocol])
        .args(["--endpoint", &endpoint])
        .args(["--service", service])
        // The SDK must not pick up an exporter configuration from the environment.
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_HEADERS");
    if gzip {
        command.arg("--gzip");
    }
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the Python OpenTelemetry client did not finish within 60 s")
        .expect("the Python OpenTelemetry client could not be started");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "send_logs.py failed ({}): {stderr}",
        output.status
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "send_logs.py printed no JSON ({error}): {}\n{stderr}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// The stored log with `message`, among `logs`.
pub fn find<'a>(logs: &'a [Value], message: &str) -> &'a Value {
    logs.iter()
        .find(|log| log["message"] == message)
        .unwrap_or_else(|| panic!("no stored log has the message {message:?}: {logs:#?}"))
}

/// Checks every record the Python client reports having sent against what `GET /logs` returns.
pub async fn assert_python_records_stored(stack: &Stack, sent: &Value) {
    let service = sent["service"].as_str().unwrap();
    let records = sent["records"].as_array().unwrap();
    let logs = stack
        .wait_for_logs(
            &format!("service={service}&limit=100"),
            records.len(),
            STORED_WITHIN,
        )
        .await;
    assert_eq!(logs.len(), records.len(), "{logs:#?}");

    let span_trace = sent["trace_id"].as_str().unwrap();
    let span_id = sent["span_id"].as_str().unwrap();
    for record in records {
        let message = record["message"].as_str().unwrap();
        let log = find(&logs, message);
        assert_eq!(log["service"], service, "{message}");
        assert_eq!(log["level"], record["level"], "{message}");
        assert_eq!(log["timestamp"], record["timestamp"], "{message}");
        let metadata = &log["metadata"];
        for (key, value) in record["attributes"].as_object().unwrap() {
            assert_eq!(&metadata[key], value, "{message}: attribute {key}");
        }
        assert_eq!(metadata["otel.scope.name"], sent["scope"], "{message}");
        assert_eq!(metadata["resource.service.name"], service, "{message}");
        assert_eq!(metadata["resource.deployment.environment"], "e2e");
        assert_eq!(metadata["resource.telemetry.sdk.language"], "python");
        if record["in_span"] == true {
            assert_eq!(log["trace_id"], span_trace, "{message}");
            assert_eq!(log["span_id"], span_id, "{message}");
        } else {
            let trace = log["trace_id"].as_str().unwrap();
            assert_eq!(trace.len(), 32, "{message}: a generated trace id");
            assert_ne!(trace, span_trace, "{message}");
            assert!(log.get("span_id").is_none(), "{message}: {log}");
        }
    }
}
