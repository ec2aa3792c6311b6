//! The queue on a Redis Cluster of three primaries on loopback (`infra/test-redis-cluster.sh`):
//! the shared queue contract holds on the cluster (one shard and three), and the real services
//! with `REDIS_CLUSTER_NODES` and `REDIS_QUEUE_SHARDS=3` store every event answered 202, also
//! across a worker SIGKILL (at least once), with an undecodable item dead-lettered in its shard.
//!
//! `infra/test.sh` starts the cluster and runs it as `cargo test -p e2e-tests --features
//! redis-cluster --test redis_cluster` (or alone: `infra/test.sh redis-cluster`).
#![allow(clippy::unwrap_used)] // test code fails loudly

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use e2e_tests::{Load, Service, Stack, StackOptions};
use redis_adapter::{RedisConfig, RedisLogQueue};

fn nodes() -> String {
    std::env::var("TEST_REDIS_CLUSTER_NODES").expect(
        "TEST_REDIS_CLUSTER_NODES is not set: run the test through infra/test.sh redis-cluster",
    )
}

fn unique_key(what: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "cluster:{}:{nanos}:{}:{what}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn cluster_queue(shards: u32) -> RedisLogQueue {
    RedisLogQueue::new(
        &RedisConfig {
            cluster_nodes: RedisConfig::parse_sentinels(&nodes()),
            queue_key: unique_key("contract"),
            queue_shards: shards,
            ..RedisConfig::default()
        },
        "worker-a",
    )
    .unwrap()
}

mod one_shard {
    //! The shared queue contract on the cluster, one shard (hash-tagged keys, one slot).
    application::queue_contract_tests!(
        setup = async { super::cluster_queue(1) },
        queue = |queue| queue,
    );
}

mod three_shards {
    //! The shared queue contract on the cluster, three shards (on different nodes, mostly).
    application::queue_contract_tests!(
        setup = async { super::cluster_queue(3) },
        queue = |queue| queue,
    );
}

/// `redis-cli -c` against the first node (follows redirections to the node of the key).
fn redis_cli(arguments: &[&str]) -> String {
    let nodes = nodes();
    let first = nodes.split(',').next().unwrap();
    let (host, port) = first.split_once(':').unwrap();
    let output = std::process::Command::new("redis-cli")
        .args(["-c", "-h", host, "-p", port])
        .args(arguments)
        .output()
        .unwrap();
    assert!(output.status.success(), "redis-cli {arguments:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn the_pipeline_on_a_redis_cluster_stores_every_accepted_event_through_a_worker_crash() {
    let started = Instant::now();
    let mut extra_env = Vec::new();
    for service in [Service::Ingestion, Service::Worker] {
        extra_env.push((service, "REDIS_CLUSTER_NODES", nodes()));
        extra_env.push((service, "REDIS_QUEUE_SHARDS", "3".to_owned()));
    }
    let mut stack = Stack::start(StackOptions {
        batch_size: 50,
        poll_interval_ms: 300,
        extra_env,
        ..StackOptions::default()
    })
    .await;
    // An item no worker can read, in shard 1: it goes to that shard's dead letters.
    let shard_one = format!("{{{}:1}}", stack.queue_key);
    redis_cli(&["LPUSH", &shard_one, "{not json"]);

    let load = Load::start(&stack, "redis-cluster", 4, Duration::from_millis(10));
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.kill(Service::Worker);
    tokio::time::sleep(Duration::from_secs(1)).await;
    stack.spawn(Service::Worker);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = load.finish().await;
    assert_eq!(report.accepted(), report.sent, "{:?}", report.statuses);

    let (stored, distinct, rows) = stack
        .wait_until_stored(&report.accepted_ids, Duration::from_secs(90))
        .await;
    println!(
        "| redis cluster, 3 primaries, 3 queue shards, worker SIGKILLed | {} sent | {} accepted \
         | {stored} stored | {} duplicate rows | {:.0} s |",
        report.sent,
        report.accepted(),
        rows - distinct,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(stored, report.accepted(), "every accepted event is stored");

    let dead = redis_cli(&["LRANGE", &format!("{shard_one}:dead"), "0", "-1"]);
    assert!(dead.contains("not json"), "{dead}");
    // Every shard's queue is drained.
    for shard in 0..3 {
        let key = format!("{{{}:{shard}}}", stack.queue_key);
        assert_eq!(redis_cli(&["LLEN", &key]), "0", "{key}");
    }
}
