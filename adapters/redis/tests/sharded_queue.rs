//! The queue spread over several shards (`REDIS_QUEUE_SHARDS`) against a real Redis server
//! (`TEST_REDIS_URL`): the shared queue contract holds, pushes spread over every shard, each
//! shard's keys share one hash tag, and capacity, dead letters and reclaiming follow the shards.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design
mod common;

use std::time::Duration;

use application::ports::{QueueConsumer, QueueError, QueueProducer};
use application::testing::sample_event;
use common::{redis_url, unique_key};
use domain::{Level, Timestamp};
use redis::AsyncCommands;
use redis_adapter::{RedisConfig, RedisLogQueue, shard_queue_key};

const SHARDS: u32 = 3;

fn config(queue_key: &str) -> RedisConfig {
    RedisConfig {
        url: redis_url(),
        queue_key: queue_key.into(),
        queue_shards: SHARDS,
        ..RedisConfig::default()
    }
}

fn fresh_queue() -> RedisLogQueue {
    RedisLogQueue::new(&config(&unique_key("sharded")), "worker-a").unwrap()
}

async fn raw_connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn events(count: usize, prefix: &str) -> Vec<domain::LogEvent> {
    (0..count)
        .map(|i| {
            sample_event(
                "svc",
                Level::Info,
                &format!("{prefix}{i}"),
                Timestamp::now(),
            )
        })
        .collect()
}

async fn shard_lengths(key: &str) -> Vec<usize> {
    let mut redis = raw_connection().await;
    let mut lengths = Vec::new();
    for shard in 0..SHARDS {
        lengths.push(
            redis
                .llen(shard_queue_key(key, shard, SHARDS))
                .await
                .unwrap(),
        );
    }
    lengths
}

mod contract {
    //! The shared queue contract (`application::testing::queue_contract`) on three shards.
    application::queue_contract_tests!(
        setup = async { super::fresh_queue() },
        queue = |queue| queue,
    );
}

#[tokio::test]
async fn pushes_spread_over_every_shard_and_a_worker_drains_them_all() {
    let key = unique_key("sharded");
    let queue = RedisLogQueue::new(&config(&key), "worker-a").unwrap();
    let pushed = events(6, "spread");
    for event in &pushed {
        queue.push(std::slice::from_ref(event)).await.unwrap();
    }
    assert_eq!(shard_lengths(&key).await, [2, 2, 2]);
    let mut redis = raw_connection().await;
    let plain: usize = redis.llen(&key).await.unwrap();
    assert_eq!(plain, 0, "several shards never use the plain key");

    let batch = queue.reserve(100).await.unwrap();
    let mut taken: Vec<_> = batch.events.iter().map(|event| event.id()).collect();
    let mut wanted: Vec<_> = pushed.iter().map(|event| event.id()).collect();
    taken.sort();
    wanted.sort();
    assert_eq!(taken, wanted, "one reservation takes from every shard");
    queue.acknowledge(batch.receipt).await.unwrap();
    assert_eq!(shard_lengths(&key).await, [0, 0, 0]);
    assert_eq!(queue.recover_unacknowledged().await.unwrap(), 0);
    let leftovers: Vec<String> = redis.keys(format!("{{{key}:*")).await.unwrap();
    assert!(
        leftovers.iter().all(|name| !name.contains(":processing:")),
        "{leftovers:?}"
    );
}

#[tokio::test]
async fn every_key_of_a_shard_carries_the_shards_hash_tag() {
    let key = unique_key("sharded");
    let queue = RedisLogQueue::new(&config(&key), "worker-a").unwrap();
    queue.heartbeat().await.unwrap();
    queue.push(&events(3, "tagged")).await.unwrap();
    let batch = queue.reserve(2).await.unwrap();
    let mut redis = raw_connection().await;
    let names: Vec<String> = redis.keys(format!("*{key}*")).await.unwrap();
    assert!(!names.is_empty());
    for name in &names {
        let tag = (0..SHARDS)
            .map(|shard| shard_queue_key(&key, shard, SHARDS))
            .find(|tag| name.starts_with(tag.as_str()));
        assert!(tag.is_some(), "{name} is in no shard's hash tag");
    }
    // The queue, a processing list, the batch set, the lease and the consumer set exist.
    assert!(
        names.iter().any(|name| name.contains(":processing:")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|name| name.contains(":lease:")),
        "{names:?}"
    );
    queue.acknowledge(batch.receipt).await.unwrap();
}

#[tokio::test]
async fn the_capacity_is_shared_by_the_shards() {
    let key = unique_key("sharded");
    let queue = RedisLogQueue::producer(&RedisConfig {
        max_queue_events: 6,
        ..config(&key)
    })
    .unwrap();
    for event in events(6, "room") {
        queue.push(std::slice::from_ref(&event)).await.unwrap();
    }
    let full = queue.push(&events(1, "no room")).await.unwrap_err();
    assert!(matches!(full, QueueError::Full { .. }), "{full:?}");
    assert_eq!(shard_lengths(&key).await, [2, 2, 2]);
}

#[tokio::test]
async fn a_full_shard_passes_the_push_to_one_with_room() {
    let key = unique_key("sharded");
    let queue = RedisLogQueue::producer(&RedisConfig {
        max_queue_events: 6,
        ..config(&key)
    })
    .unwrap();
    // Shard 0 is filled behind the queue's back: pushes still find room elsewhere.
    let mut redis = raw_connection().await;
    let _: () = redis
        .lpush(shard_queue_key(&key, 0, SHARDS), vec!["x", "y"])
        .await
        .unwrap();
    for event in events(4, "elsewhere") {
        queue.push(std::slice::from_ref(&event)).await.unwrap();
    }
    assert_eq!(shard_lengths(&key).await, [2, 2, 2]);
}

#[tokio::test]
async fn dead_letters_stay_in_their_shard_and_operators_see_them_all() {
    let key = unique_key("sharded");
    let queue = RedisLogQueue::new(&config(&key), "worker-a").unwrap();
    let mut redis = raw_connection().await;
    let _: () = redis
        .lpush(shard_queue_key(&key, 1, SHARDS), "{not json")
        .await
        .unwrap();
    queue.push(&events(2, "fine")).await.unwrap();
    let batch = queue.reserve(10).await.unwrap();
    assert_eq!(batch.events.len(), 2);
    queue
        .dead_letter(&batch.events[..1], "refused by the store")
        .await
        .unwrap();
    queue.acknowledge(batch.receipt).await.unwrap();

    let undecodable: usize = redis
        .llen(format!("{}:dead", shard_queue_key(&key, 1, SHARDS)))
        .await
        .unwrap();
    assert!(
        undecodable >= 1,
        "the undecodable item is dead-lettered in its shard"
    );
    let letters = queue.list_dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert_eq!(queue.sizes().await.unwrap().dead_letters, 2);
    assert_eq!(queue.requeue_dead_letters(10).await.unwrap(), 2);
    assert_eq!(queue.sizes().await.unwrap().queued, 2);
}

#[tokio::test]
async fn an_abandoned_consumers_batches_are_reclaimed_on_every_shard() {
    let key = unique_key("sharded");
    let short_lease = RedisConfig {
        lease_ms: 300,
        ..config(&key)
    };
    let dead = RedisLogQueue::new(&short_lease, "worker-dead").unwrap();
    let alive = RedisLogQueue::new(&short_lease, "worker-alive").unwrap();
    for event in events(6, "held") {
        dead.push(std::slice::from_ref(&event)).await.unwrap();
    }
    dead.heartbeat().await.unwrap();
    alive.heartbeat().await.unwrap();
    let held = dead.reserve(10).await.unwrap();
    assert_eq!(held.events.len(), 6);
    assert_eq!(alive.reclaim_abandoned().await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(400)).await;
    alive.heartbeat().await.unwrap();
    assert_eq!(alive.reclaim_abandoned().await.unwrap(), 6);
    assert_eq!(shard_lengths(&key).await, [2, 2, 2]);
}

#[test]
fn a_queue_of_no_shards_or_too_many_is_refused_at_construction() {
    for shards in [0, 257] {
        let error = RedisLogQueue::producer(&RedisConfig {
            queue_shards: shards,
            ..config(&unique_key("sharded"))
        })
        .unwrap_err();
        assert!(error.to_string().contains("REDIS_QUEUE_SHARDS"), "{error}");
    }
}
