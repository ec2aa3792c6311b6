//! Scenarios 1 and 2: single-event `POST /ingest` at N connections for a fixed time, and batch
//! ingest of a fixed number of events, measured until ClickHouse counts them all.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};

use crate::baseline::StoredRows;
use crate::events::{batch_json, batch_ndjson, bulk_ndjson, event_json};
use crate::http::{Payload, Target};
use crate::loki;
use crate::stats::Latencies;
use crate::{LoadError, Options};

#[derive(Debug, Default)]
struct ConnectionResult {
    latencies: Latencies,
    accepted: u64,
    /// 202 answers during the warm-up (not in `latencies` nor `accepted`).
    warmup_accepted: u64,
    refused: u64,
    errors: u64,
    /// 429 answers (queue full), each followed by a pause and a retry.
    throttled: u64,
}

/// Pause before resending a batch refused with 429.
const THROTTLE_PAUSE: Duration = Duration::from_millis(200);

impl ConnectionResult {
    fn merge(&mut self, other: &ConnectionResult) {
        self.latencies.merge(&other.latencies);
        self.accepted += other.accepted;
        self.warmup_accepted += other.warmup_accepted;
        self.refused += other.refused;
        self.errors += other.errors;
        self.throttled += other.throttled;
    }
}

/// Scenario 1: `--connections` clients each POST one small event, wait for the answer and
/// repeat, for `--seconds` after `--warmup-seconds` (not counted). With `--clickhouse` and
/// `--database` it then waits until the logs table holds every accepted event, warm-up included
/// (so that the CPU the services spent on them can be divided by their number).
pub async fn single(options: &Options) -> Result<Value, LoadError> {
    let target = Target::parse(&options.text("url", None)?)?;
    let connections: usize = options.number("connections", Some(64))?;
    let seconds: f64 = options.number("seconds", Some(10.0))?;
    let warmup: f64 = options.number("warmup-seconds", Some(2.0))?;
    let store = StoredRows::from_options(options).await?;
    let mut body = String::new();
    event_json(1, &mut body);
    let payload = Arc::new(Payload {
        content_type: "application/json",
        header: None,
        body: Bytes::from(body),
    });
    let started = Instant::now();
    let measure_from = started + Duration::from_secs_f64(warmup);
    let deadline = measure_from + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let target = target.clone();
        let payload = Arc::clone(&payload);
        tasks.push(tokio::spawn(async move {
            let mut result = ConnectionResult::default();
            let mut connection = None;
            while Instant::now() < deadline {
                if connection.is_none() {
                    connection = target.connect().await.ok();
                    if connection.is_none() {
                        result.errors += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                }
                let Some(open) = connection.as_mut() else {
                    continue;
                };
                let sent = Instant::now();
                let answer = open.post("/ingest", &payload).await;
                let counted = sent >= measure_from;
                match answer {
                    Ok((status, _)) if counted => {
                        result.latencies.record(sent.elapsed());
                        if status == 202 {
                            result.accepted += 1;
                        } else {
                            result.refused += 1;
                        }
                    }
                    Ok((202, _)) => result.warmup_accepted += 1,
                    Ok(_) => {}
                    Err(_) => {
                        result.errors += 1;
                        connection = None;
                    }
                }
            }
            result
        }));
    }
    let mut total = ConnectionResult::default();
    for task in tasks {
        let result = task
            .await
            .map_err(|error| LoadError::Failed(error.to_string()))?;
        total.merge(&result);
    }
    let measured = seconds;
    let accepted_in_all = total.accepted + total.warmup_accepted;
    let stored_seconds = match &store {
        Some(store) => Some(store.seconds_until_stored(accepted_in_all, started).await?),
        None => None,
    };
    Ok(json!({
        "scenario": "single",
        "connections": connections,
        "seconds": measured,
        "requests": total.latencies.count(),
        "accepted": total.accepted,
        "accepted_including_warmup": accepted_in_all,
        "stored_seconds": stored_seconds,
        "refused": total.refused,
        "errors": total.errors,
        "requests_per_second": (total.latencies.count() as f64 / measured).round(),
        "latency": total.latencies.summary(),
    }))
}

/// Scenario 2: `--events` events in requests of `--batch`, over `--connections` clients, then
/// (with `--clickhouse` and `--database`) waits until the logs table holds them all.
pub async fn batch(options: &Options) -> Result<Value, LoadError> {
    let target = Target::parse(&options.text("url", None)?)?;
    let connections: u64 = options.number("connections", Some(4))?;
    let events: u64 = options.number("events", Some(2_000_000))?;
    let batch: u64 = options.number("batch", Some(1000))?;
    let format = BatchFormat::parse(&options.text("format", Some("json"))?)?;
    let store = StoredRows::from_options(options).await?;
    let requests = events.div_ceil(batch);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let target = target.clone();
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            let mut result = ConnectionResult::default();
            let mut connection = target.connect().await?;
            loop {
                let request = next.fetch_add(1, Ordering::Relaxed);
                if request >= requests {
                    return Ok::<_, LoadError>(result);
                }
                let first = request * batch;
                let count = batch.min(events - first);
                let payload = format.payload(first, count)?;
                let sent = Instant::now();
                let (mut status, mut body) = connection.post(format.path(), &payload).await?;
                result.latencies.record(sent.elapsed());
                // Backpressure: a full queue answers 429; wait as a well-behaved client would,
                // then send the same batch again.
                while status == 429 {
                    result.throttled += 1;
                    tokio::time::sleep(THROTTLE_PAUSE).await;
                    (status, body) = connection.post(format.path(), &payload).await?;
                }
                if format.is_loki() && status == 204 {
                    // Loki answers 204 with no body only when every entry was queued.
                    result.accepted += count;
                    continue;
                }
                if status != format.success() {
                    return Err(LoadError::Status {
                        status,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                }
                let answer: Value = serde_json::from_slice(&body)
                    .map_err(|error| LoadError::Failed(format!("batch answer: {error}")))?;
                let (accepted, refused) = format.counts(&answer);
                result.accepted += accepted;
                result.refused += refused;
            }
        }));
    }
    let mut total = ConnectionResult::default();
    for task in tasks {
        let result = task
            .await
            .map_err(|error| LoadError::Failed(error.to_string()))??;
        total.merge(&result);
    }
    let http_seconds = started.elapsed().as_secs_f64();
    let stored_seconds = match &store {
        Some(store) => Some(store.seconds_until_stored(total.accepted, started).await?),
        None => None,
    };
    Ok(json!({
        "scenario": "batch",
        "connections": connections,
        "batch": batch,
        "format": format.name(),
        "events": events,
        "accepted": total.accepted,
        "rejected": total.refused,
        "throttled_429": total.throttled,
        "http_seconds": http_seconds,
        "http_events_per_second": (total.accepted as f64 / http_seconds).round(),
        "stored_seconds": stored_seconds,
        "end_to_end_events_per_second": stored_seconds.map(|seconds| (total.accepted as f64 / seconds).round()),
        "request_latency": total.latencies.summary(),
    }))
}

/// What a batch request holds and where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchFormat {
    /// `POST /ingest`, a JSON array.
    Json,
    /// `POST /ingest`, NDJSON.
    Ndjson,
    /// `POST /_bulk`, Elasticsearch's bulk NDJSON (`create` actions).
    Bulk,
    /// `POST /loki/api/v1/push`, Loki's JSON.
    LokiJson,
    /// `POST /loki/api/v1/push`, Loki's snappy-compressed protobuf.
    LokiProtobuf,
}

impl BatchFormat {
    fn parse(text: &str) -> Result<Self, LoadError> {
        match text {
            "json" => Ok(Self::Json),
            "ndjson" => Ok(Self::Ndjson),
            "bulk" => Ok(Self::Bulk),
            "loki-json" => Ok(Self::LokiJson),
            "loki-protobuf" => Ok(Self::LokiProtobuf),
            other => Err(LoadError::Usage(format!(
                "--format {other}: json, ndjson, bulk, loki-json or loki-protobuf"
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Ndjson => "ndjson",
            Self::Bulk => "bulk",
            Self::LokiJson => "loki-json",
            Self::LokiProtobuf => "loki-protobuf",
        }
    }

    fn is_loki(self) -> bool {
        matches!(self, Self::LokiJson | Self::LokiProtobuf)
    }

    fn path(self) -> &'static str {
        match self {
            Self::Json | Self::Ndjson => "/ingest",
            Self::Bulk => "/_bulk",
            Self::LokiJson | Self::LokiProtobuf => "/loki/api/v1/push",
        }
    }

    fn success(self) -> u16 {
        match self {
            Self::Json | Self::Ndjson => 202,
            Self::Bulk => 200,
            Self::LokiJson | Self::LokiProtobuf => 204,
        }
    }

    fn payload(self, first: u64, count: u64) -> Result<Payload, LoadError> {
        let (content_type, body) = match self {
            Self::Json => ("application/json", batch_json(first, count)),
            Self::Ndjson => ("application/x-ndjson", batch_ndjson(first, count)),
            Self::Bulk => ("application/x-ndjson", bulk_ndjson(first, count)),
            Self::LokiJson => ("application/json", loki::push_json(first, count)),
            Self::LokiProtobuf => (
                "application/x-protobuf",
                loki::push_protobuf(first, count)
                    .map_err(|error| LoadError::Failed(format!("snappy: {error}")))?,
            ),
        };
        Ok(Payload {
            content_type,
            header: None,
            body,
        })
    }

    /// Accepted and refused events of an answer (Loki's 204 has none: every entry was queued).
    fn counts(self, answer: &Value) -> (u64, u64) {
        match self {
            Self::Json | Self::Ndjson | Self::LokiJson | Self::LokiProtobuf => (
                answer["accepted"].as_u64().unwrap_or(0),
                answer["rejected"].as_u64().unwrap_or(0),
            ),
            Self::Bulk => {
                let items = answer["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                let created = items
                    .iter()
                    .filter(|item| item["create"]["status"] == 201)
                    .count() as u64;
                (created, items.len() as u64 - created)
            }
        }
    }
}
