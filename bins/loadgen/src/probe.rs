//! Scenarios 3 and 4: freshness (from the `202` to the event coming back from `GET /logs`) and
//! query latency.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};

use crate::baseline::encode;
use crate::http::{Payload, Target};
use crate::stats::Latencies;
use crate::{LoadError, Options};

/// Longest a probe waits for its event before it counts as lost.
const FRESHNESS_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between two `GET /logs` of one probe.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Scenario 3: `--samples` probes started `--rate` per second. Each POSTs one event with a
/// service name of its own, then polls `GET /logs?service=<it>` until the event is returned.
pub async fn freshness(options: &Options) -> Result<Value, LoadError> {
    let ingest = Target::parse(&options.text("url", None)?)?;
    let query = Target::parse(&options.text("query-url", None)?)?;
    let samples: u32 = options.number("samples", Some(200))?;
    let rate: f64 = options.number("rate", Some(20.0))?;
    let run = format!("{:x}", crate::events::now_nanos() % 0xffff_ffff);
    let started = Instant::now();
    let mut probes = Vec::new();
    for sample in 0..samples {
        tokio::time::sleep_until(
            (started + Duration::from_secs_f64(f64::from(sample) / rate)).into(),
        )
        .await;
        let (ingest, query) = (ingest.clone(), query.clone());
        let service = format!("fresh-{run}-{sample}");
        probes.push(tokio::spawn(async move {
            probe(&ingest, &query, &service).await
        }));
    }
    let mut latencies = Latencies::default();
    let mut lost = 0u64;
    for probe in probes {
        match probe
            .await
            .map_err(|error| LoadError::Failed(error.to_string()))??
        {
            Some(elapsed) => latencies.record(elapsed),
            None => lost += 1,
        }
    }
    Ok(json!({
        "scenario": "freshness",
        "samples": samples,
        "rate_per_second": rate,
        "lost": lost,
        "freshness": latencies.summary(),
    }))
}

/// One freshness sample; `None` when the event did not come back within the timeout.
async fn probe(
    ingest: &Target,
    query: &Target,
    service: &str,
) -> Result<Option<Duration>, LoadError> {
    let mut ingest_connection = ingest.connect().await?;
    let mut query_connection = query.connect().await?;
    let payload = Payload {
        content_type: "application/json",
        header: None,
        body: Bytes::from(format!(
            r#"{{"service":"{service}","level":"INFO","message":"freshness probe"}}"#
        )),
    };
    let (status, body) = ingest_connection.post("/ingest", &payload).await?;
    if status != 202 {
        return Err(LoadError::Status {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    let accepted = Instant::now();
    let path = format!("/logs?service={}&limit=1", encode(service));
    while accepted.elapsed() < FRESHNESS_TIMEOUT {
        let (status, body) = query_connection.get(&path).await?;
        if status == 200 && !body.windows(10).any(|window| window == b"\"count\":0") {
            return Ok(Some(accepted.elapsed()));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    Ok(None)
}

/// Scenario 4: `--requests` GETs of the `--path`s in turn over `--connections` connections.
pub async fn query(options: &Options) -> Result<Value, LoadError> {
    let target = Target::parse(&options.text("url", None)?)?;
    let paths = options.all("path");
    if paths.is_empty() {
        return Err(LoadError::Usage("--path is required".into()));
    }
    let requests: usize = options.number("requests", Some(200))?;
    let connections: usize = options.number("connections", Some(1))?;
    let mut tasks = Vec::new();
    for connection_number in 0..connections {
        let target = target.clone();
        let paths = paths.clone();
        tasks.push(tokio::spawn(async move {
            let mut connection = target.connect().await?;
            let mut latencies = Latencies::default();
            let mut returned = 0u64;
            for request in (connection_number..requests).step_by(connections) {
                let path = &paths[request % paths.len()];
                let sent = Instant::now();
                let (status, body) = connection.get(path).await?;
                latencies.record(sent.elapsed());
                if status != 200 {
                    return Err(LoadError::Status {
                        status,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                }
                let page: Value = serde_json::from_slice(&body)
                    .map_err(|error| LoadError::Failed(format!("logs answer: {error}")))?;
                returned += page["count"].as_u64().unwrap_or(0);
            }
            Ok::<_, LoadError>((latencies, returned))
        }));
    }
    let mut latencies = Latencies::default();
    let mut returned = 0;
    for task in tasks {
        let (task_latencies, task_returned) = task
            .await
            .map_err(|error| LoadError::Failed(error.to_string()))??;
        latencies.merge(&task_latencies);
        returned += task_returned;
    }
    Ok(json!({
        "scenario": "query",
        "paths": paths,
        "requests": requests,
        "connections": connections,
        "logs_per_answer": returned as f64 / requests.max(1) as f64,
        "latency": latencies.summary(),
    }))
}
