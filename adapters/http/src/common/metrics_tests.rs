//! The metrics of the real ingestion and query apps, recorded by a Prometheus recorder installed
//! for the test's thread only: what each answer counts, and the route labels of the latency
//! histogram.

use std::sync::Arc;

use application::ports::{MockDrainSignal, MockQueueProducer, QueueError};
use application::testing::InMemoryLogStore;
use application::{IngestUseCase, QueryUseCase};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use poem::http::StatusCode;
use poem::test::TestClient;
use tokio_util::sync::CancellationToken;

use crate::app::{ingestion_app, query_app};
use crate::common::config::IngestHttpConfig;
use crate::common::keys::ApiKeys;
use crate::common::metrics::{RenderMetrics, with_metrics};

fn recorder() -> (PrometheusRecorder, RenderMetrics) {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &[0.1, 1.0])
        .unwrap()
        .build_recorder();
    let handle = recorder.handle();
    (recorder, Arc::new(move || handle.render()))
}

/// A queue that takes the first `accepting` pushes and then is full.
fn queue(accepting: usize) -> MockQueueProducer {
    let mut queue = MockQueueProducer::new();
    let mut pushes = 0;
    queue.expect_push().returning(move |_| {
        pushes += 1;
        if pushes <= accepting {
            Ok(())
        } else {
            Err(QueueError::Full {
                depth: 10,
                capacity: 10,
            })
        }
    });
    queue
}

fn ingestion(queue: MockQueueProducer, render: RenderMetrics) -> impl poem::Endpoint {
    let mut signal = MockDrainSignal::new();
    signal.expect_request_drain().returning(|| Ok(()));
    with_metrics(
        ingestion_app(
            IngestUseCase::new(Arc::new(queue), Arc::new(signal)),
            IngestHttpConfig {
                max_batch_events: 10,
                ..IngestHttpConfig::default()
            },
            ApiKeys::none(),
        ),
        render,
    )
}

/// The value of the sample line that starts with `series ` (name and labels as rendered).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

const GOOD: &str = r#"{"service":"api","level":"INFO","message":"ok"}"#;
const BAD_LEVEL: &str = r#"{"service":"api","level":"LOUD","message":"no"}"#;

#[tokio::test]
async fn ingest_answers_count_accepted_and_rejected_events_by_reason() {
    let (recorder, render) = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    // Two pushes succeed (a single event, then a batch), the third finds the queue full.
    let client = TestClient::new(ingestion(queue(2), render));
    let post = |content_type: &'static str, body: String| {
        client.post("/ingest").content_type(content_type).body(body)
    };

    post("application/json", GOOD.into())
        .send()
        .await
        .assert_status(StatusCode::ACCEPTED);
    post(
        "application/x-ndjson",
        format!("{GOOD}\n{GOOD}\n{BAD_LEVEL}\nnot json\n{GOOD}\n"),
    )
    .send()
    .await
    .assert_status(StatusCode::ACCEPTED);
    post("application/json", BAD_LEVEL.into())
        .send()
        .await
        .assert_status(StatusCode::BAD_REQUEST);
    post("application/json", "{".into())
        .send()
        .await
        .assert_status(StatusCode::BAD_REQUEST);
    post("text/plain", GOOD.into())
        .send()
        .await
        .assert_status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    post("application/json", format!("[{GOOD},{GOOD}]"))
        .send()
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);

    let response = client.get("/metrics").send().await;
    response.assert_status_is_ok();
    let text = response.0.into_body().into_string().await.unwrap();
    let counted = |series: &str| sample(&text, series);
    assert_eq!(
        counted(r#"logpipeline_ingest_events_accepted_total{source="ingest"}"#),
        Some(4.0),
        "{text}"
    );
    for (reason, events) in [
        ("invalid_field", 2.0),
        ("malformed_json", 1.0),
        ("queue_full", 2.0),
    ] {
        assert_eq!(
            counted(&format!(
                r#"logpipeline_ingest_events_rejected_total{{source="ingest",reason="{reason}"}}"#
            )),
            Some(events),
            "{reason}: {text}"
        );
    }
    for reason in ["malformed_json", "unsupported_media_type"] {
        assert_eq!(
            counted(&format!(
                r#"logpipeline_ingest_requests_rejected_total{{source="ingest",reason="{reason}"}}"#
            )),
            Some(1.0),
            "{reason}: {text}"
        );
    }
    assert_eq!(
        counted(
            r#"logpipeline_http_request_duration_seconds_count{route="/ingest",method="POST",status="2xx"}"#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        counted(
            r#"logpipeline_http_request_duration_seconds_count{route="/ingest",method="POST",status="4xx"}"#
        ),
        Some(4.0),
        "{text}"
    );
}

#[tokio::test]
async fn otlp_exports_count_records_by_outcome_under_their_own_source_and_route() {
    let (recorder, render) = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let client = TestClient::new(ingestion(queue(1), render));
    let record = |time: &str| serde_json::json!({"timeUnixNano": time, "severityNumber": 9, "body": {"stringValue": "m"}});
    // Two records queued; one stamped in 2100 refused.
    let export = serde_json::json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        record("1777975200000000000"),
        record("4102444800000000000"),
        record("1777975201000000000"),
    ]}]}]});

    client
        .post("/v1/logs")
        .content_type("application/json")
        .body(export.to_string())
        .send()
        .await
        .assert_status_is_ok();
    client
        .post("/v1/logs")
        .content_type("text/plain")
        .body("x")
        .send()
        .await
        .assert_status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    client
        .post("/v1/logs")
        .content_type("application/x-protobuf")
        .body("not protobuf")
        .send()
        .await
        .assert_status(StatusCode::BAD_REQUEST);

    let text = client
        .get("/metrics")
        .send()
        .await
        .0
        .into_body()
        .into_string()
        .await
        .unwrap();
    let counted = |series: &str| sample(&text, series);
    assert_eq!(
        counted(r#"logpipeline_ingest_events_accepted_total{source="otlp"}"#),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        counted(
            r#"logpipeline_ingest_events_rejected_total{source="otlp",reason="invalid_field"}"#
        ),
        Some(1.0),
        "{text}"
    );
    for reason in ["unsupported_media_type", "malformed_body"] {
        assert_eq!(
            counted(&format!(
                r#"logpipeline_ingest_requests_rejected_total{{source="otlp",reason="{reason}"}}"#
            )),
            Some(1.0),
            "{reason}: {text}"
        );
    }
    assert_eq!(
        counted(
            r#"logpipeline_http_request_duration_seconds_count{route="/v1/logs",method="POST",status="2xx"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        counted(
            r#"logpipeline_http_request_duration_seconds_count{route="/v1/logs",method="POST",status="4xx"}"#
        ),
        Some(2.0),
        "{text}"
    );
}

#[tokio::test]
async fn requests_refused_for_their_key_count_as_rejected_requests_by_code() {
    const INGEST_KEY: &str = "metrics-ingest-key-0123456789";
    const QUERY_KEY: &str = "metrics-query-key-0123456789";
    let (recorder, render) = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut queue = MockQueueProducer::new();
    queue.expect_push().times(1).returning(|_| Ok(()));
    let mut signal = MockDrainSignal::new();
    signal.expect_request_drain().returning(|| Ok(()));
    let app = with_metrics(
        ingestion_app(
            IngestUseCase::new(Arc::new(queue), Arc::new(signal)),
            IngestHttpConfig::default(),
            ApiKeys::from_config(INGEST_KEY, QUERY_KEY, "").unwrap(),
        ),
        render,
    );
    let client = TestClient::new(app);
    let post = |path: &'static str, key: Option<&'static str>| {
        let request = client
            .post(path)
            .content_type("application/json")
            .body(GOOD);
        match key {
            Some(key) => request.header("Authorization", format!("Bearer {key}")),
            None => request,
        }
    };
    post("/ingest", None)
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    post("/ingest", Some("not-a-configured-key-0123"))
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    post("/ingest", Some(QUERY_KEY))
        .send()
        .await
        .assert_status(StatusCode::FORBIDDEN);
    post("/v1/logs", None)
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    post("/ingest", Some(INGEST_KEY))
        .send()
        .await
        .assert_status(StatusCode::ACCEPTED);

    let text = client
        .get("/metrics")
        .send()
        .await
        .0
        .into_body()
        .into_string()
        .await
        .unwrap();
    let refused = |source: &str, reason: &str| {
        sample(
            &text,
            &format!(
                r#"logpipeline_ingest_requests_rejected_total{{source="{source}",reason="{reason}"}}"#
            ),
        )
    };
    assert_eq!(refused("ingest", "missing_api_key"), Some(1.0), "{text}");
    assert_eq!(refused("ingest", "invalid_api_key"), Some(1.0), "{text}");
    assert_eq!(refused("ingest", "insufficient_scope"), Some(1.0), "{text}");
    assert_eq!(refused("otlp", "missing_api_key"), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            r#"logpipeline_ingest_events_accepted_total{source="ingest"}"#
        ),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test]
async fn query_requests_are_timed_by_route_pattern_and_unknown_paths_share_one_label() {
    let (recorder, render) = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let query = QueryUseCase::with_settings(
        Arc::new(InMemoryLogStore::default()),
        application::QuerySettings::default(),
        CancellationToken::new(),
    );
    let client = TestClient::new(with_metrics(query_app(query, ApiKeys::none()), render));

    client.get("/logs").send().await.assert_status_is_ok();
    client.get("/logs").send().await.assert_status_is_ok();
    client
        .get("/logs/stats?group_by=level")
        .send()
        .await
        .assert_status_is_ok();
    client
        .get("/logs?limit=0")
        .send()
        .await
        .assert_status(StatusCode::BAD_REQUEST);
    client
        .get("/no/such/path")
        .send()
        .await
        .assert_status(StatusCode::NOT_FOUND);

    let text = client
        .get("/metrics")
        .send()
        .await
        .0
        .into_body()
        .into_string()
        .await
        .unwrap();
    let count = |labels: &str| {
        sample(
            &text,
            &format!("logpipeline_http_request_duration_seconds_count{{{labels}}}"),
        )
    };
    assert_eq!(
        count(r#"route="/logs",method="GET",status="2xx""#),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        count(r#"route="/logs",method="GET",status="4xx""#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count(r#"route="/logs/stats",method="GET",status="2xx""#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count(r#"route="unmatched",method="GET",status="4xx""#),
        Some(1.0),
        "{text}"
    );
    assert!(
        !text.contains("/no/such/path"),
        "raw paths must not become labels: {text}"
    );
    assert!(
        !text.contains(r#"route="/metrics""#),
        "scrapes are not timed: {text}"
    );
}
