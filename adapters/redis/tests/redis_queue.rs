//! The Redis queue against a real Redis server (`TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`). Every test uses its own keys, so tests run in parallel.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use application::ports::{LogQueue, QueueError};
use application::testing::{queue_contract, sample_event};
use domain::{Level, Timestamp};
use redis::AsyncCommands;
use redis_adapter::{RedisConfig, RedisLogQueue};

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn unique_key() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "test:{}:{nanos}:{}:logs_queue",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn config(queue_key: &str) -> RedisConfig {
    RedisConfig {
        url: redis_url(),
        queue_key: queue_key.into(),
        ..RedisConfig::default()
    }
}

fn fresh_queue() -> RedisLogQueue {
    RedisLogQueue::new(&config(&unique_key()), "worker-a").unwrap()
}

async fn raw_connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_redis_queue_reserves_oldest_first_in_batches() {
    queue_contract::events_are_reserved_oldest_first_in_batches(&fresh_queue()).await;
}

#[tokio::test]
async fn the_redis_queue_delivers_released_events_again_first() {
    queue_contract::released_events_are_delivered_again_first(&fresh_queue()).await;
}

#[tokio::test]
async fn the_redis_queue_recovers_unacknowledged_events() {
    queue_contract::unacknowledged_events_are_recovered(&fresh_queue()).await;
}

#[tokio::test]
async fn the_redis_queue_forgets_acknowledged_events() {
    queue_contract::acknowledged_events_are_gone(&fresh_queue()).await;
}

#[tokio::test]
async fn operators_see_queued_events_as_json_with_llen_and_lrange() {
    let key = unique_key();
    let queue = RedisLogQueue::new(&config(&key), "worker-a").unwrap();
    let event = sample_event(
        "auth-service",
        Level::Error,
        "DB connection failed",
        Timestamp::now(),
    );
    queue.push(std::slice::from_ref(&event)).await.unwrap();

    let mut redis = raw_connection().await;
    let length: usize = redis.llen(&key).await.unwrap();
    let peek: Vec<String> = redis.lrange(&key, 0, 4).await.unwrap();

    assert_eq!(length, 1);
    let document: serde_json::Value = serde_json::from_str(&peek[0]).unwrap();
    assert_eq!(document["service"], "auth-service");
    assert_eq!(document["level"], "ERROR");
    assert_eq!(document["id"], event.id().to_string());
}

#[tokio::test]
async fn a_restarted_worker_with_the_same_id_recovers_what_its_predecessor_reserved() {
    let key = unique_key();
    let crashed = RedisLogQueue::new(&config(&key), "worker-a").unwrap();
    let events: Vec<_> = (0..3)
        .map(|i| sample_event("svc", Level::Info, &format!("e{i}"), Timestamp::now()))
        .collect();
    crashed.push(&events).await.unwrap();
    let lost = crashed.reserve(2).await.unwrap();
    assert_eq!(lost.events.len(), 2);
    drop(crashed);

    let restarted = RedisLogQueue::new(&config(&key), "worker-a").unwrap();
    assert_eq!(restarted.recover_unacknowledged().await.unwrap(), 2);
    let everything = restarted.reserve(10).await.unwrap();

    let ids: Vec<_> = everything.events.iter().map(|event| event.id()).collect();
    assert_eq!(
        ids,
        events.iter().map(|event| event.id()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn two_consumers_never_receive_the_same_event() {
    let key = unique_key();
    let first = RedisLogQueue::new(&config(&key), "worker-a").unwrap();
    let second = RedisLogQueue::new(&config(&key), "worker-b").unwrap();
    let events: Vec<_> = (0..200)
        .map(|i| sample_event("svc", Level::Info, &format!("e{i}"), Timestamp::now()))
        .collect();
    first.push(&events).await.unwrap();

    let (a, b) = tokio::join!(
        async {
            let mut got = Vec::new();
            loop {
                let batch = first.reserve(7).await.unwrap();
                if batch.events.is_empty() {
                    return got;
                }
                got.extend(batch.events.iter().map(|event| event.id()));
                first.acknowledge(batch.receipt).await.unwrap();
            }
        },
        async {
            let mut got = Vec::new();
            loop {
                let batch = second.reserve(7).await.unwrap();
                if batch.events.is_empty() {
                    return got;
                }
                got.extend(batch.events.iter().map(|event| event.id()));
                second.acknowledge(batch.receipt).await.unwrap();
            }
        }
    );

    let mut all: Vec<_> = a.into_iter().chain(b).collect();
    assert_eq!(all.len(), 200);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 200, "no event was delivered twice");
}

#[tokio::test]
async fn an_undecodable_item_is_dead_lettered_and_does_not_block_the_queue() {
    let key = unique_key();
    let queue = RedisLogQueue::new(&config(&key), "worker-a").unwrap();
    let before = sample_event("svc", Level::Info, "before", Timestamp::now());
    let after = sample_event("svc", Level::Info, "after", Timestamp::now());
    queue.push(std::slice::from_ref(&before)).await.unwrap();
    let mut redis = raw_connection().await;
    let _: () = redis.lpush(&key, "{not json").await.unwrap();
    queue.push(std::slice::from_ref(&after)).await.unwrap();

    let batch = queue.reserve(10).await.unwrap();
    let ids: Vec<_> = batch.events.iter().map(|event| event.id()).collect();
    assert_eq!(ids, [before.id(), after.id()]);
    queue.acknowledge(batch.receipt).await.unwrap();

    let dead: Vec<String> = redis.lrange(queue.dead_letter_key(), 0, -1).await.unwrap();
    assert_eq!(dead.len(), 1);
    let entry: serde_json::Value = serde_json::from_str(&dead[0]).unwrap();
    assert_eq!(entry["payload"], "{not json");
    assert!(
        entry["error"]
            .as_str()
            .unwrap()
            .contains("not a queued event")
    );
    let processing: usize = redis.llen(queue.processing_key()).await.unwrap();
    assert_eq!(
        processing, 0,
        "nothing is left behind in the processing list"
    );
}

#[tokio::test]
async fn an_unreachable_redis_is_reported_as_unavailable_within_the_timeouts() {
    let config = RedisConfig {
        url: "redis://127.0.0.1:1".into(),
        queue_key: unique_key(),
        response_timeout_ms: 500,
        connect_timeout_ms: 500,
    };
    let queue = RedisLogQueue::new(&config, "worker-a").unwrap();
    let event = sample_event("svc", Level::Info, "lost?", Timestamp::now());

    let started = Instant::now();
    let pushed = queue.push(std::slice::from_ref(&event)).await;
    let health = queue.health().await;

    assert!(
        matches!(pushed, Err(QueueError::Unavailable(_))),
        "{pushed:?}"
    );
    assert!(
        matches!(health, Err(QueueError::Unavailable(_))),
        "{health:?}"
    );
    // Generous bound: the point is that it does not hang.
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_malformed_url_is_rejected_at_construction() {
    let config = RedisConfig {
        url: "not a url".into(),
        ..RedisConfig::default()
    };
    let error = RedisLogQueue::new(&config, "worker-a").unwrap_err();
    assert!(error.to_string().contains("REDIS_URL"));
}
