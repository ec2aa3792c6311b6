//! Fault injection: the real binaries under a steady load while workers are killed, ClickHouse
//! and Redis go away, poison arrives, the queue overflows and services are stopped. Every
//! scenario checks that each event answered 202 is stored, and prints a row of figures for
//! docs/RELIABILITY.md.
//!
//! Every scenario runs twice: `single::` with one process of each service, `doubled::` with two
//! of each, ingestion and query behind nginx with the reverse-proxy example of
//! `infra/nginx/logs-pipeline.conf` (a killed or stopped service then means both its processes).
//!
//! It stops and starts the test servers, so it runs on servers of its own, one scenario at a time:
//! `infra/test.sh` runs it as `cargo test -p e2e-tests --features fault-injection --test faults
//! -- --test-threads=1` after the other tests.
#![allow(clippy::unwrap_used)] // test code fails loudly

use std::time::{Duration, Instant};

use e2e_tests::{Frozen, Load, Service, Stack, StackOptions, Stopped, free_port, settle};
use serde_json::Value;

const SENDERS: usize = 4;
const PAUSE: Duration = Duration::from_millis(10);

async fn status_of(stack: &Stack, url: String) -> (u16, Value) {
    let response = stack.http.get(url).send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn scenario_1_worker_killed_every_two_seconds_under_load(doubled: bool) {
    let started = Instant::now();
    let mut stack = Stack::start(StackOptions {
        batch_size: 100,
        poll_interval_ms: 500,
        doubled,
        ..StackOptions::default()
    })
    .await;
    let load = Load::start(&stack, "kill", SENDERS, PAUSE);
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        stack.kill(Service::Worker);
        stack.spawn(Service::Worker);
    }
    let report = load.finish().await;
    assert!(report.accepted() > 0);
    let duplicates = settle(
        &stack,
        "1. worker SIGKILL every 2 s (4 kills)",
        &report,
        started,
    )
    .await;
    assert_eq!(
        duplicates, 0,
        "a restarted worker looks up the batches it recovers before inserting them"
    );
}

async fn scenario_2_clickhouse_down_for_twenty_seconds_under_load(doubled: bool) {
    let started = Instant::now();
    let stack = Stack::start(StackOptions {
        poll_interval_ms: 500,
        doubled,
        ..StackOptions::default()
    })
    .await;
    let load = Load::start(&stack, "clickhouse-down", SENDERS, PAUSE);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopped = Stopped::clickhouse();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (ready, body) = status_of(&stack, format!("{}/ready", stack.query_url)).await;
    assert_eq!(
        ready,
        503,
        "the query service says ClickHouse is down: {body}; query log:\n{}",
        stack.log_tail(Service::Query, 20)
    );
    assert_eq!(body["down"][0], "clickhouse");
    let (ingest_ready, _) = status_of(&stack, format!("{}/ready", stack.ingestion_url)).await;
    assert_eq!(
        ingest_ready, 200,
        "ingestion keeps accepting while ClickHouse is down"
    );
    tokio::time::sleep(Duration::from_secs(17)).await;
    stopped.start();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = load.finish().await;
    assert_eq!(
        report.count(503) + report.transport_errors,
        0,
        "no request failed during the outage: {:?}, transport errors {:?}; ingestion log:\n{}",
        report.statuses,
        report.transport_error_kinds,
        stack.log_tail(Service::Ingestion, 40)
    );
    settle(&stack, "2. ClickHouse stopped for 20 s", &report, started).await;
}

async fn scenario_3_redis_restarted_under_load(doubled: bool) {
    let started = Instant::now();
    let stack = Stack::start(StackOptions {
        poll_interval_ms: 500,
        doubled,
        ..StackOptions::default()
    })
    .await;
    let load = Load::start(&stack, "redis-restart", SENDERS, PAUSE);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopped = Stopped::redis();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (ready, body) = status_of(&stack, format!("{}/ready", stack.ingestion_url)).await;
    assert_eq!((ready, body["down"][0].as_str()), (503, Some("redis")));
    stopped.start();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (ready, _) = status_of(&stack, format!("{}/ready", stack.ingestion_url)).await;
    assert_eq!(
        ready, 200,
        "ingestion recovers by itself when Redis returns"
    );
    let report = load.finish().await;
    assert!(
        report.count(503) > 0,
        "requests while Redis was down were refused with 503"
    );
    settle(&stack, "3. Redis restarted (down 2 s)", &report, started).await;
}

async fn scenario_4_two_workers_one_killed_for_good(doubled: bool) {
    let started = Instant::now();
    let lease = [(Service::Worker, "WORKER_LEASE_MS", "3000".to_owned())];
    let mut stack = Stack::start(StackOptions {
        batch_size: 50,
        poll_interval_ms: 300,
        extra_env: lease.to_vec(),
        doubled,
        ..StackOptions::default()
    })
    .await;
    let second_port = free_port();
    let mut second = stack.spawn_extra(
        Service::Worker,
        &[
            ("WORKER_ID", format!("{}-second", stack.queue_key)),
            ("WORKER_GRPC_LISTEN", format!("127.0.0.1:{second_port}")),
            ("WORKER_METRICS_ADDR", "127.0.0.1:0".to_owned()),
        ],
    );
    let load = Load::start(&stack, "two-workers", SENDERS, PAUSE);
    tokio::time::sleep(Duration::from_secs(3)).await;
    stack.kill(Service::Worker);
    // The first worker never comes back: the second one must take over its batches.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let report = load.finish().await;
    settle(
        &stack,
        "4. two workers, one SIGKILLed for good",
        &report,
        started,
    )
    .await;
    let mut redis = stack.redis().await;
    let dead_worker_known: bool = redis::cmd("SISMEMBER")
        .arg(format!("{}:consumers", stack.queue_key))
        .arg(format!("{}-worker", stack.queue_key))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        !dead_worker_known,
        "the surviving worker reclaimed the dead one's lease and batches"
    );
    second.kill().unwrap();
    second.wait().unwrap();
}

async fn scenario_5_a_poison_event_in_the_middle_of_a_stream(doubled: bool) {
    let started = Instant::now();
    let stack = Stack::start(StackOptions {
        batch_size: 100,
        poll_interval_ms: 300,
        doubled,
        ..StackOptions::default()
    })
    .await;
    // A table check ClickHouse enforces on insert: any row whose message is POISON is refused.
    stack
        .clickhouse(
            "ALTER TABLE logs ADD COLUMN poison UInt8 MATERIALIZED throwIf(message = 'POISON')",
        )
        .await;
    let load = Load::start(&stack, "poison", SENDERS, PAUSE);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let poison = serde_json::json!({"service": "poison", "level": "ERROR", "message": "POISON"});
    let (status, accepted) = stack.ingest(&poison).await;
    assert_eq!(status, 202);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = load.finish().await;

    settle(&stack, "5. a poison event mid-stream", &report, started).await;
    let mut redis = stack.redis().await;
    let dead: Vec<String> = redis::cmd("LRANGE")
        .arg(format!("{}:dead", stack.queue_key))
        .arg(0)
        .arg(-1)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1, "exactly the poison event is dead-lettered");
    let letter: Value = serde_json::from_str(&dead[0]).unwrap();
    assert!(
        letter["payload"]
            .as_str()
            .unwrap()
            .contains(accepted["id"].as_str().unwrap())
    );
    assert!(
        letter["error"].as_str().unwrap().contains("395"),
        "{letter}"
    );
    assert_eq!(stack.queue_length().await, 0, "the queue is not blocked");
}

async fn scenario_6_queue_over_its_limit_then_recovery(doubled: bool) {
    let started = Instant::now();
    let mut stack = Stack::start(StackOptions {
        poll_interval_ms: 300,
        extra_env: vec![(Service::Ingestion, "QUEUE_MAX_EVENTS", "200".to_owned())],
        doubled,
        ..StackOptions::default()
    })
    .await;
    stack.kill(Service::Worker);
    let load = Load::start(&stack, "overflow", SENDERS, PAUSE);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        stack.queue_length().await <= 200,
        "the queue never exceeds its capacity"
    );
    stack.spawn(Service::Worker);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let report = load.finish().await;
    assert!(report.count(429) > 0, "the full queue answered 429");
    assert!(
        report.accepted() > 200,
        "accepted again once the worker drained the queue"
    );
    settle(
        &stack,
        "6. queue over its limit (200), then drained",
        &report,
        started,
    )
    .await;
}

async fn scenario_7_sigterm_of_each_service_under_load(doubled: bool) {
    let started = Instant::now();
    let mut stack = Stack::start(StackOptions {
        batch_size: 100,
        poll_interval_ms: 300,
        doubled,
        ..StackOptions::default()
    })
    .await;
    let load = Load::start(&stack, "sigterm", SENDERS, PAUSE);
    for service in [Service::Worker, Service::Ingestion, Service::Query] {
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            stack.terminate(service),
            "{service:?} exits cleanly on SIGTERM"
        );
        stack.spawn(service);
        if service == Service::Worker {
            stack.wait_for_worker().await;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = load.finish().await;
    settle(
        &stack,
        "7. SIGTERM of worker, ingestion, query",
        &report,
        started,
    )
    .await;
}

async fn scenario_8_clickhouse_hangs_longer_than_the_insert_timeout(doubled: bool) {
    let started = Instant::now();
    let stack = Stack::start(StackOptions {
        batch_size: 100,
        poll_interval_ms: 300,
        extra_env: vec![
            (
                Service::Worker,
                "CLICKHOUSE_INSERT_TIMEOUT_MS",
                "2000".to_owned(),
            ),
            (
                Service::Query,
                "CLICKHOUSE_QUERY_TIMEOUT_MS",
                "4000".to_owned(),
            ),
            (
                Service::Query,
                "CLICKHOUSE_HEALTH_TIMEOUT_MS",
                "1000".to_owned(),
            ),
        ],
        doubled,
        ..StackOptions::default()
    })
    .await;
    let load = Load::start(&stack, "clickhouse-hangs", SENDERS, PAUSE);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let frozen = Frozen::clickhouse();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let asked = Instant::now();
    let (ready, body) = status_of(&stack, format!("{}/ready", stack.query_url)).await;
    let ready_took = asked.elapsed();
    assert_eq!((ready, body["down"][0].as_str()), (503, Some("clickhouse")));
    // The health check's own 1 s limit, not the 4 s query timeout, decides how long it takes.
    assert!(
        ready_took < Duration::from_millis(3000),
        "/ready answered after {ready_took:?}"
    );
    let asked = Instant::now();
    let (status, body) = stack.logs("service=clickhouse-hangs").await;
    let query_took = asked.elapsed();
    assert_eq!(
        (status, body["code"].as_str()),
        (504, Some("query_timeout"))
    );
    assert!(
        query_took >= Duration::from_millis(3900) && query_took < Duration::from_millis(7000),
        "a query of a hung ClickHouse ends at its 4 s deadline, it took {query_took:?}"
    );
    println!(
        "while ClickHouse hung: /ready answered in {ready_took:?}, GET /logs in {query_took:?}"
    );

    // Several insert timeouts (2 s) pass while ClickHouse holds the batches it was sent.
    tokio::time::sleep(Duration::from_secs(8)).await;
    drop(frozen);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let report = load.finish().await;
    assert_eq!(
        report.count(503) + report.transport_errors,
        0,
        "ingestion kept accepting while ClickHouse hung: {:?}, transport errors {:?}",
        report.statuses,
        report.transport_error_kinds
    );
    let duplicates = settle(
        &stack,
        "8. ClickHouse hung (SIGSTOP) 13 s, insert timeout 2 s",
        &report,
        started,
    )
    .await;
    assert_eq!(
        duplicates, 0,
        "inserts that timed out but were stored once ClickHouse resumed are not stored again"
    );
    let metrics = reqwest::get(&stack.worker_metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let already: Vec<&str> = metrics
        .lines()
        .filter(|line| line.starts_with("logpipeline_worker_events_already_stored_total"))
        .collect();
    println!("worker metrics after the stall: {already:?}");
}

/// Each scenario as a test with one process of each service and as one with two of each. On a
/// runtime of several threads: stopping or starting a server blocks the test's own thread for as
/// long as the server takes (seconds for ClickHouse under load), and the load's senders and their
/// timeouts must run on meanwhile, or their requests in flight would seem to time out.
macro_rules! single_and_doubled {
    ($($scenario:ident),* $(,)?) => {
        mod single {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                super::$scenario(false).await;
            })*
        }
        mod doubled {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                super::$scenario(true).await;
            })*
        }
    };
}

single_and_doubled!(
    scenario_1_worker_killed_every_two_seconds_under_load,
    scenario_2_clickhouse_down_for_twenty_seconds_under_load,
    scenario_3_redis_restarted_under_load,
    scenario_4_two_workers_one_killed_for_good,
    scenario_5_a_poison_event_in_the_middle_of_a_stream,
    scenario_6_queue_over_its_limit_then_recovery,
    scenario_7_sigterm_of_each_service_under_load,
    scenario_8_clickhouse_hangs_longer_than_the_insert_timeout,
);
