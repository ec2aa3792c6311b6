//! `GET /metrics` of the three real services: after good and bad events through `/ingest` and
//! OTLP `/v1/logs`, the counters moved by exactly what was sent, the worker counted what it
//! stored, the query service timed its reads by route, and every scrape is valid Prometheus text.
#![allow(clippy::unwrap_used)] // test code fails loudly

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use e2e_tests::{Service, Stack, StackOptions};
use serde_json::{Value, json};

/// One sample line: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A scrape, parsed: its samples and the declared type of each metric family.
#[derive(Debug, Default)]
struct Exposition {
    samples: Vec<Sample>,
    types: HashMap<String, String>,
}

impl Exposition {
    /// The value of the series with exactly these labels, if it exists.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|sample| sample.name == name && sample.labels == wanted)
            .map(|sample| sample.value)
    }

    /// The value of a counter's series; 0 when it was never incremented.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_' || first == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text
            .parse::<f64>()
            .map_err(|_| format!("not a sample value: {text:?}")),
    }
}

/// Reads `name="value",...}` (after the opening brace); answers the labels and the rest of
/// the line after the closing brace.
fn parse_labels(mut rest: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (name, after_name) = rest
            .split_once("=\"")
            .ok_or_else(|| format!("label without =\": {rest:?}"))?;
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        let mut value = String::new();
        let mut chars = after_name.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape in label {name}: {other:?}")),
                },
                Some((index, '"')) => break index,
                Some((_, c)) => value.push(c),
                None => return Err(format!("unterminated value of label {name}")),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &after_name[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Parses the text exposition format strictly: every line is a `# HELP`, a `# TYPE` or a
/// sample of a declared family; histograms have cumulative buckets ending in `+Inf` = `_count`.
fn parse_exposition(text: &str) -> Result<Exposition, String> {
    let mut exposition = Exposition::default();
    for (number, line) in text.lines().enumerate() {
        let at = |error: String| format!("line {}: {error}: {line:?}", number + 1);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("HELP"), Some(name), _) if is_metric_name(name) => {}
                (Some("TYPE"), Some(name), Some(kind)) if is_metric_name(name) => {
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(at(format!("unknown type {kind}")));
                    }
                    if exposition
                        .types
                        .insert(name.to_owned(), kind.to_owned())
                        .is_some()
                    {
                        return Err(at("family declared twice".into()));
                    }
                }
                _ => return Err(at("not a HELP or TYPE line".into())),
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        if !is_metric_name(name) {
            return Err(at(format!("bad metric name {name:?}")));
        }
        let (labels, rest) = match line[name_end..].strip_prefix('{') {
            Some(labelled) => parse_labels(labelled).map_err(at)?,
            None => (BTreeMap::new(), &line[name_end..]),
        };
        let mut fields = rest
            .strip_prefix(' ')
            .ok_or_else(|| at("no space before the value".into()))?
            .split(' ');
        let value = parse_value(fields.next().unwrap_or_default()).map_err(at)?;
        if let Some(timestamp) = fields.next() {
            timestamp
                .parse::<i64>()
                .map_err(|_| at(format!("bad timestamp {timestamp:?}")))?;
        }
        if fields.next().is_some() {
            return Err(at("trailing fields".into()));
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|family| exposition.types.contains_key(*family))
            .unwrap_or(name);
        if !exposition.types.contains_key(family) {
            return Err(at(format!("sample of undeclared family {family}")));
        }
        exposition.samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    check_histograms(&exposition)?;
    Ok(exposition)
}

/// A histogram series' buckets: (upper bound, cumulative count), in exposition order.
type Buckets = Vec<(f64, f64)>;

fn check_histograms(exposition: &Exposition) -> Result<(), String> {
    for (family, _) in exposition
        .types
        .iter()
        .filter(|(_, kind)| *kind == "histogram")
    {
        let bucket_name = format!("{family}_bucket");
        // Per series (its labels but `le`): (bound, cumulative count) in order.
        let mut series: BTreeMap<Vec<(String, String)>, Buckets> = BTreeMap::new();
        for sample in exposition.samples.iter().filter(|s| s.name == bucket_name) {
            let mut labels = sample.labels.clone();
            let bound = labels
                .remove("le")
                .ok_or_else(|| format!("{bucket_name} without le"))?;
            series
                .entry(labels.into_iter().collect())
                .or_default()
                .push((parse_value(&bound)?, sample.value));
        }
        for (labels, buckets) in series {
            let mut previous = (f64::NEG_INFINITY, 0.0);
            for &(bound, count) in &buckets {
                if bound <= previous.0 || count < previous.1 {
                    return Err(format!("{family}{labels:?}: buckets not cumulative"));
                }
                previous = (bound, count);
            }
            let count = exposition.value(
                &format!("{family}_count"),
                &labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect::<Vec<_>>(),
            );
            if previous.0 != f64::INFINITY || previous.1 != count {
                return Err(format!(
                    "{family}{labels:?}: the +Inf bucket must hold _count ({count})"
                ));
            }
        }
    }
    Ok(())
}

async fn scrape(stack: &Stack, service: Service) -> Exposition {
    let text = stack.metrics(service).await;
    parse_exposition(&text).unwrap_or_else(|error| panic!("{service:?}: {error}\n{text}"))
}

/// Scrapes `service` until `ready` holds (the worker counts after the fact, and samples its
/// gauges every few seconds); fails after `within`.
async fn scrape_until(
    stack: &Stack,
    service: Service,
    within: Duration,
    ready: impl Fn(&Exposition) -> bool,
) -> Exposition {
    let deadline = Instant::now() + within;
    loop {
        let exposition = scrape(stack, service).await;
        if ready(&exposition) {
            return exposition;
        }
        assert!(
            Instant::now() < deadline,
            "{service:?} metrics never got there: {:#?}",
            exposition.samples
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const SERVICE: &str = "metrics-e2e";

fn event(level: &str, message: &str) -> String {
    json!({"service": SERVICE, "level": level, "message": message}).to_string()
}

/// OTLP/JSON with two valid records and one stamped in 2100 (over 24 h ahead: refused).
fn otlp_export() -> Value {
    let record = |time: &str, message: &str| json!({"timeUnixNano": time, "severityNumber": 9, "body": {"stringValue": message}});
    json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": SERVICE}}]},
        "scopeLogs": [{"logRecords": [
            record("1777975200000000000", "otlp one"),
            record("4102444800000000000", "otlp from the future"),
            record("1777975201000000000", "otlp two"),
        ]}]
    }]})
}

#[tokio::test]
async fn metrics_of_the_three_services_count_what_was_ingested_stored_and_queried() {
    let stack = Stack::start(StackOptions {
        poll_interval_ms: 200,
        ..StackOptions::default()
    })
    .await;
    let post = |path: &str, content_type: &str, body: String| {
        stack
            .http
            .post(format!("{}{path}", stack.ingestion_url))
            .header("content-type", content_type)
            .body(body)
    };
    let status = |response: reqwest::Response| response.status().as_u16();

    // /ingest: one good event; an NDJSON batch of 3 good, 1 invalid level and 1 line that is not
    // JSON; a single event with an invalid level; a body of an unsupported type.
    let good = event("INFO", "single");
    assert_eq!(
        status(
            post("/ingest", "application/json", good)
                .send()
                .await
                .unwrap()
        ),
        202
    );
    let ndjson = [
        event("INFO", "batch 1"),
        event("WARN", "batch 2"),
        event("LOUD", "invalid level"),
        "not json".to_owned(),
        event("ERROR", "batch 3"),
    ]
    .join("\n");
    assert_eq!(
        status(
            post("/ingest", "application/x-ndjson", ndjson)
                .send()
                .await
                .unwrap()
        ),
        202
    );
    let bad = event("LOUD", "invalid level");
    assert_eq!(
        status(
            post("/ingest", "application/json", bad)
                .send()
                .await
                .unwrap()
        ),
        400
    );
    let plain = event("INFO", "as text");
    assert_eq!(
        status(post("/ingest", "text/plain", plain).send().await.unwrap()),
        415
    );
    // OTLP: 2 records queued, 1 refused.
    let response = post("/v1/logs", "application/json", otlp_export().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer["partialSuccess"]["rejectedLogRecords"], "1",
        "{answer}"
    );

    let ingestion = scrape(&stack, Service::Ingestion).await;
    let accepted = |source| {
        ingestion.value(
            "logpipeline_ingest_events_accepted_total",
            &[("source", source)],
        )
    };
    let rejected = |source, reason| {
        ingestion.value(
            "logpipeline_ingest_events_rejected_total",
            &[("source", source), ("reason", reason)],
        )
    };
    assert_eq!(accepted("ingest"), 4.0);
    assert_eq!(accepted("otlp"), 2.0);
    assert_eq!(rejected("ingest", "invalid_field"), 2.0);
    assert_eq!(rejected("ingest", "malformed_json"), 1.0);
    assert_eq!(rejected("otlp", "invalid_field"), 1.0);
    assert_eq!(
        ingestion.value(
            "logpipeline_ingest_requests_rejected_total",
            &[("source", "ingest"), ("reason", "unsupported_media_type")]
        ),
        1.0
    );
    let requests = |route, status| {
        ingestion.value(
            "logpipeline_http_request_duration_seconds_count",
            &[("route", route), ("method", "POST"), ("status", status)],
        )
    };
    assert_eq!(requests("/ingest", "2xx"), 2.0);
    assert_eq!(requests("/ingest", "4xx"), 2.0);
    assert_eq!(requests("/v1/logs", "2xx"), 1.0);

    // The worker stores the 6 accepted events, in batches it counts.
    let logs = stack
        .wait_for_logs(&format!("service={SERVICE}"), 6, Duration::from_secs(30))
        .await;
    assert_eq!(logs.len(), 6, "{logs:#?}");
    let worker = scrape_until(&stack, Service::Worker, Duration::from_secs(30), |worker| {
        worker.value("logpipeline_worker_events_stored_total", &[]) >= 6.0
            && worker.value(
                "logpipeline_worker_dependency_up",
                &[("dependency", "clickhouse")],
            ) == 1.0
    })
    .await;
    assert_eq!(
        worker.value("logpipeline_worker_events_stored_total", &[]),
        6.0
    );
    assert_eq!(
        worker.value("logpipeline_worker_batch_events_sum", &[]),
        6.0
    );
    let batches = worker.value("logpipeline_worker_batch_events_count", &[]);
    assert!((1.0..=6.0).contains(&batches), "{batches} batches");
    assert!(worker.value("logpipeline_worker_insert_duration_seconds_count", &[]) >= batches);
    assert_eq!(
        worker.value(
            "logpipeline_worker_dependency_up",
            &[("dependency", "redis")]
        ),
        1.0
    );
    for kind in ["retryable", "permanent"] {
        assert_eq!(
            worker.value("logpipeline_worker_insert_errors_total", &[("kind", kind)]),
            0.0
        );
    }
    for gauge in [
        "logpipeline_queue_depth_events",
        "logpipeline_queue_processing_events",
        "logpipeline_queue_dead_letter_events",
        "logpipeline_queue_oldest_event_age_seconds",
    ] {
        assert_eq!(worker.types[gauge], "gauge");
        assert_eq!(worker.get(gauge, &[]), Some(0.0), "{gauge}");
    }
    // The gauges follow the lists in Redis: an entry put into the dead-letter list by hand shows
    // at the next sample.
    let mut redis = stack.redis().await;
    let _: i64 = redis::cmd("LPUSH")
        .arg(format!("{}:dead", stack.queue_key))
        .arg("set aside by the test")
        .query_async(&mut redis)
        .await
        .unwrap();
    scrape_until(&stack, Service::Worker, Duration::from_secs(30), |worker| {
        worker.get("logpipeline_queue_dead_letter_events", &[]) == Some(1.0)
    })
    .await;
    // Dead letters deleted past DEAD_LETTER_MAX_EVENTS are counted in Redis, by whichever
    // worker trimmed the list; the counter reports that total.
    assert_eq!(
        worker.types["logpipeline_queue_dead_letters_dropped_total"],
        "counter"
    );
    assert_eq!(
        worker.get("logpipeline_queue_dead_letters_dropped_total", &[]),
        Some(0.0)
    );
    let _: i64 = redis::cmd("INCRBY")
        .arg(format!("{}:dead:dropped", stack.queue_key))
        .arg(3)
        .query_async(&mut redis)
        .await
        .unwrap();
    scrape_until(&stack, Service::Worker, Duration::from_secs(30), |worker| {
        worker.get("logpipeline_queue_dead_letters_dropped_total", &[]) == Some(3.0)
    })
    .await;

    // The query service times its reads by route: exactly the reads made from here on.
    let route_count = |query: &Exposition, route| {
        query.value(
            "logpipeline_http_request_duration_seconds_count",
            &[("route", route), ("method", "GET"), ("status", "2xx")],
        )
    };
    let before = scrape(&stack, Service::Query).await;
    for _ in 0..3 {
        assert_eq!(stack.logs(&format!("service={SERVICE}")).await.0, 200);
    }
    assert_eq!(stack.query_get("/logs/stats?group_by=level").await.0, 200);
    assert_eq!(stack.logs("limit=0").await.0, 400);
    let after = scrape(&stack, Service::Query).await;
    assert_eq!(
        route_count(&after, "/logs") - route_count(&before, "/logs"),
        3.0
    );
    assert_eq!(
        route_count(&after, "/logs/stats") - route_count(&before, "/logs/stats"),
        1.0
    );
    assert_eq!(
        after.value(
            "logpipeline_http_request_duration_seconds_count",
            &[("route", "/logs"), ("method", "GET"), ("status", "4xx")]
        ),
        1.0
    );
    assert_eq!(
        after.types["logpipeline_http_request_duration_seconds"],
        "histogram"
    );
}

#[tokio::test]
async fn metrics_need_no_api_key_where_the_api_does_and_retention_rounds_are_counted() {
    let stack = Stack::start(StackOptions {
        extra_env: vec![
            (
                Service::Ingestion,
                "INGEST_API_KEYS",
                "metrics-ingest-key".to_owned(),
            ),
            (
                Service::Query,
                "QUERY_API_KEYS",
                "metrics-query-key".to_owned(),
            ),
            (Service::Worker, "LOG_RETENTION_DAYS", "7".to_owned()),
        ],
        ..StackOptions::default()
    })
    .await;
    let (status, _) = stack
        .ingest(&json!({"service": SERVICE, "level": "INFO", "message": "m"}))
        .await;
    assert_eq!(status, 401, "the API itself is guarded");
    assert_eq!(stack.logs("").await.0, 401, "the API itself is guarded");

    // Stack::metrics asserts a 2xx answer, sent without any key.
    let ingestion = scrape(&stack, Service::Ingestion).await;
    assert_eq!(
        ingestion.value(
            "logpipeline_http_request_duration_seconds_count",
            &[("route", "/ingest"), ("method", "POST"), ("status", "4xx")]
        ),
        1.0
    );
    scrape(&stack, Service::Query).await;
    // The worker runs a retention round at start, then hourly.
    let worker = scrape_until(&stack, Service::Worker, Duration::from_secs(30), |worker| {
        worker.value("logpipeline_retention_runs_total", &[]) >= 1.0
    })
    .await;
    assert_eq!(worker.value("logpipeline_retention_errors_total", &[]), 0.0);
    assert_eq!(
        worker.types["logpipeline_retention_partitions_dropped_total"],
        "counter"
    );
}

#[test]
fn the_exposition_parser_accepts_valid_text_and_refuses_broken_lines() {
    let valid = "# HELP up whether it is up\n# TYPE up gauge\nup{job=\"a\\\"b\"} 1\n\
                 # TYPE t histogram\nt_bucket{le=\"1\"} 1\nt_bucket{le=\"+Inf\"} 2\nt_sum 3.5\n\
                 t_count 2\n";
    let parsed = parse_exposition(valid).unwrap();
    assert_eq!(parsed.value("up", &[("job", "a\"b")]), 1.0);
    assert_eq!(parsed.value("t_count", &[]), 2.0);

    for broken in [
        "# TYPE up gauge\nup{job=\"a} 1\n",
        "# TYPE up gauge\nup 1 2 3\n",
        "# TYPE up gauge\nup{job=\"a\"}1\n",
        "# TYPE up gauge\nup one\n",
        "down 1\n",
        "# TYPE 1up gauge\n1up 1\n",
        "# TYPE up wobbly\nup 1\n",
        "# TYPE t histogram\nt_bucket{le=\"1\"} 2\nt_bucket{le=\"+Inf\"} 1\nt_count 1\n",
        "# TYPE t histogram\nt_bucket{le=\"+Inf\"} 1\nt_count 2\n",
    ] {
        assert!(parse_exposition(broken).is_err(), "accepted: {broken:?}");
    }
}
