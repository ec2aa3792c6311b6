//! The Redis queue against a real Redis server (`TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`). Every test uses its own keys, so tests run in parallel.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design
mod common;

use std::time::{Duration, Instant};

use application::ports::{QueueConsumer, QueueError, QueueProducer};
use application::testing::sample_event;
use common::{redis_url, unique_key};
use domain::{Level, Timestamp};
use redis::AsyncCommands;
use redis_adapter::{QueueSizes, RedisConfig, RedisLogQueue};

fn config(queue_key: &str) -> RedisConfig {
    RedisConfig {
        url: redis_url(),
        queue_key: queue_key.into(),
        ..RedisConfig::default()
    }
}

fn fresh_queue() -> RedisLogQueue {
    RedisLogQueue::new(&config(&unique_key("logs_queue")), "worker-a").unwrap()
}

async fn raw_connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

mod contract {
    //! The shared queue contract (`application::testing::queue_contract`), one test per
    //! behaviour, each on fresh keys.
    application::queue_contract_tests!(
        setup = async { super::fresh_queue() },
        queue = |queue| queue,
    );
}

/// The documents in the queue list `key`, counted line by line (not from the queue's counter),
/// after checking that the counter says as many.
async fn queued_documents(key: &str) -> usize {
    let mut redis = raw_connection().await;
    let elements: Vec<String> = redis.lrange(key, 0, -1).await.unwrap();
    let documents = elements.iter().map(|element| element.lines().count()).sum();
    let counted: Option<usize> = redis.get(format!("{key}:events")).await.unwrap();
    assert_eq!(
        counted.unwrap_or(0),
        documents,
        "the event counter of {key}"
    );
    documents
}

#[tokio::test]
async fn operators_see_queued_events_as_json_lines_with_lrange_and_their_count() {
    let key = unique_key("logs_queue");
    let queue = RedisLogQueue::new(&config(&key), "worker-a").unwrap();
    let event = sample_event(
        "auth-service",
        Level::Error,
        "DB connection failed\nsecond line",
        Timestamp::now(),
    );
    let together = events(3, "together");
    queue.push(&together).await.unwrap();
    queue.push(std::slice::from_ref(&event)).await.unwrap();

    let mut redis = raw_connection().await;
    let length: usize = redis.llen(&key).await.unwrap();
    let peek: Vec<String> = redis.lrange(&key, 0, 4).await.unwrap();
    let counted: String = redis.get(format!("{key}:events")).await.unwrap();

    assert_eq!(length, 2, "one element per push");
    assert_eq!(counted, "4", "GET <queue>:events counts events");
    // The newest element: one event, one JSON document (its message's newline escaped).
    let document: serde_json::Value = serde_json::from_str(&peek[0]).unwrap();
    assert_eq!(document["service"], "auth-service");
    assert_eq!(document["level"], "ERROR");
    assert_eq!(document["id"], event.id().to_string());
    assert_eq!(document["message"], "DB connection failed\nsecond line");
    // The older one: three documents, one per line, in the order they were pushed.
    let lines: Vec<serde_json::Value> = peek[1]
        .split('\n')
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let ids: Vec<String> = together.iter().map(|e| e.id().to_string()).collect();
    assert_eq!(
        lines
            .iter()
            .map(|line| line["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ids
    );
}

#[tokio::test]
async fn a_large_push_is_split_into_elements_of_at_most_a_thousand_events_and_drains_in_order() {
    let key = unique_key("logs_queue");
    let queue = RedisLogQueue::new(&config(&key), "worker-a").unwrap();
    let pushed = events(2_500, "many");
    queue.push(&pushed).await.unwrap();

    let mut redis = raw_connection().await;
    let elements: Vec<String> = redis.lrange(&key, 0, -1).await.unwrap();
    let sizes: Vec<usize> = elements.iter().map(|e| e.lines().count()).collect();
    assert_eq!(sizes, [500, 1_000, 1_000], "newest first");
    assert_eq!(queue.backlog().await.unwrap().depth, 2_500);

    let mut drained = Vec::new();
    loop {
        let batch = queue.reserve(700).await.unwrap();
        if batch.events.is_empty() {
            break;
        }
        assert!(batch.events.len() <= 700, "{}", batch.events.len());
        drained.extend(batch.events);
        queue.acknowledge(batch.receipt).await.unwrap();
    }
    assert_eq!(ids(&drained), ids(&pushed));
    assert_eq!(queued_documents(&key).await, 0);
}

#[tokio::test]
async fn a_batch_that_ends_inside_an_element_leaves_the_rest_of_it_queued_first() {
    let key = unique_key("logs_queue");
    let queue = RedisLogQueue::new(&config(&key), "worker-a").unwrap();
    let older = events(5, "older");
    let newer = events(2, "newer");
    queue.push(&older).await.unwrap();
    queue.push(&newer).await.unwrap();

    let first = queue.reserve(2).await.unwrap();
    assert_eq!(ids(&first.events), ids(&older[..2]));
    let mut redis = raw_connection().await;
    let elements: Vec<String> = redis.lrange(&key, 0, -1).await.unwrap();
    let sizes: Vec<usize> = elements.iter().map(|e| e.lines().count()).collect();
    assert_eq!(sizes, [2, 3], "the rest of the split element is the oldest");
    assert_eq!(queued_documents(&key).await, 5);

    let second = queue.reserve(4).await.unwrap();
    assert_eq!(
        ids(&second.events),
        [&ids(&older[2..])[..], &ids(&newer[..1])[..]].concat()
    );
    queue.release(first.receipt).await.unwrap();
    assert_eq!(queued_documents(&key).await, 3);
    let again = queue.reserve(10).await.unwrap();
    assert_eq!(again.redelivered, 2);
    assert_eq!(
        ids(&again.events),
        [&ids(&older[..2])[..], &ids(&newer[1..])[..]].concat()
    );
    queue.acknowledge(again.receipt).await.unwrap();
    queue.acknowledge(second.receipt).await.unwrap();
    assert_eq!(queued_documents(&key).await, 0);
    assert_eq!(queue.sizes().await.unwrap(), QueueSizes::default());
}

#[tokio::test]
async fn batches_are_exact_over_elements_of_one_event_and_of_hundreds() {
    let key = unique_key("logs_queue");
    let queue = RedisLogQueue::new(&config(&key), "worker-a").unwrap();
    let singles = events(200, "single");
    for event in &singles {
        queue.push(std::slice::from_ref(event)).await.unwrap();
    }
    let large = events(500, "large");
    queue.push(&large).await.unwrap();
    let pushed = [singles, large].concat();

    let mut drained = Vec::new();
    for (max, expected) in [(150, 150), (1_000, 550), (10, 0)] {
        let batch = queue.reserve(max).await.unwrap();
        assert_eq!(batch.events.len(), expected, "reserve({max})");
        drained.extend(batch.events);
        queue.acknowledge(batch.receipt).await.unwrap();
    }
    assert_eq!(ids(&drained), ids(&pushed));
    assert_eq!(queued_documents(&key).await, 0);
}

#[tokio::test]
async fn a_queue_left_by_the_version_with_one_event_per_element_drains_and_is_counted() {
    // That version pushed one document per element and kept no counter; during an upgrade it
    // may still push next to this one.
    let key = unique_key("logs_queue");
    let queue = RedisLogQueue::new(
        &RedisConfig {
            max_queue_events: 6,
            ..config(&key)
        },
        "worker-a",
    )
    .unwrap();
    let old = events(3, "old");
    let encoder = unique_key("encoder");
    RedisLogQueue::producer(&config(&encoder))
        .unwrap()
        .push(&old)
        .await
        .unwrap();
    let mut redis = raw_connection().await;
    let element: String = redis.lindex(&encoder, 0).await.unwrap();
    for document in element.lines() {
        let _: () = redis.lpush(&key, document).await.unwrap();
    }
    assert_eq!(
        queue.backlog().await.unwrap().depth,
        3,
        "counted by the list's length"
    );

    let new = events(2, "new");
    queue.push(&new).await.unwrap();
    let _: () = redis
        .lpush(&key, element.lines().next().unwrap())
        .await
        .unwrap();
    // Counted 3 + 2, and the list's five elements: the old version's last push is not seen
    // until the list is empty again (the count never falls below the list's length).
    assert_eq!(queue.backlog().await.unwrap().depth, 5);
    let extra = events(1, "extra");
    queue.push(&extra).await.unwrap();
    assert!(
        matches!(
            queue.push(&events(1, "over")).await,
            Err(QueueError::Full {
                depth: 6,
                capacity: 6
            })
        ),
        "the capacity holds for what this version counts"
    );

    let batch = queue.reserve(10).await.unwrap();
    let mut expected = ids(&old);
    expected.extend(ids(&new));
    expected.push(old[0].id());
    expected.extend(ids(&extra));
    assert_eq!(ids(&batch.events), expected);
    queue.acknowledge(batch.receipt).await.unwrap();
    assert_eq!(queue.backlog().await.unwrap().depth, 0);
}

#[tokio::test]
async fn an_undecodable_line_is_dead_lettered_alone_and_not_again_after_a_release() {
    let key = unique_key("logs_queue");
    let queue = RedisLogQueue::new(&config(&key), "worker-a").unwrap();
    let good = events(3, "good");
    queue.push(&good).await.unwrap();
    let mut redis = raw_connection().await;
    let element: String = redis.lindex(&key, 0).await.unwrap();
    let mut lines: Vec<&str> = element.lines().collect();
    lines.insert(1, "{not json");
    let _: () = redis.lset(&key, 0, lines.join("\n")).await.unwrap();
    let _: () = redis.set(format!("{key}:events"), 4).await.unwrap();

    let batch = queue.reserve(10).await.unwrap();
    assert_eq!(ids(&batch.events), ids(&good));
    let dead: Vec<String> = redis.lrange(queue.dead_letter_key(), 0, -1).await.unwrap();
    assert_eq!(dead.len(), 1);
    let entry: serde_json::Value = serde_json::from_str(&dead[0]).unwrap();
    assert_eq!(entry["payload"], "{not json");

    queue.release(batch.receipt).await.unwrap();
    assert_eq!(
        queued_documents(&key).await,
        3,
        "the batch went back without it"
    );
    let again = queue.reserve(10).await.unwrap();
    assert_eq!(ids(&again.events), ids(&good));
    assert_eq!(again.redelivered, 3);
    queue.acknowledge(again.receipt).await.unwrap();
    let dead: Vec<String> = redis.lrange(queue.dead_letter_key(), 0, -1).await.unwrap();
    assert_eq!(dead.len(), 1, "dead-lettered once");
}

#[tokio::test]
async fn a_restarted_worker_with_the_same_id_recovers_what_its_predecessor_reserved() {
    let key = unique_key("logs_queue");
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
    let key = unique_key("logs_queue");
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
    let key = unique_key("logs_queue");
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
    let leftovers: Vec<String> = redis.keys(format!("{key}:processing:*")).await.unwrap();
    assert!(
        leftovers.is_empty(),
        "nothing is left behind in processing lists: {leftovers:?}"
    );
}

#[tokio::test]
async fn an_unreachable_redis_is_reported_as_unavailable_within_the_timeouts() {
    let config = RedisConfig {
        url: "redis://127.0.0.1:1".into(),
        queue_key: unique_key("logs_queue"),
        response_timeout_ms: 500,
        connect_timeout_ms: 500,
        ..RedisConfig::default()
    };
    let queue = RedisLogQueue::new(&config, "worker-a").unwrap();
    let event = sample_event("svc", Level::Info, "lost?", Timestamp::now());

    let started = Instant::now();
    let pushed = queue.push(std::slice::from_ref(&event)).await;
    let health = QueueProducer::health(&queue).await;

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

fn ids(events: &[domain::LogEvent]) -> Vec<domain::EventId> {
    events.iter().map(|event| event.id()).collect()
}

#[tokio::test]
async fn the_batches_of_a_consumer_whose_lease_ran_out_are_reclaimed_by_another() {
    let key = unique_key("logs_queue");
    let short_lease = RedisConfig {
        lease_ms: 300,
        ..config(&key)
    };
    let dead = RedisLogQueue::new(&short_lease, "worker-dead").unwrap();
    let alive = RedisLogQueue::new(&short_lease, "worker-alive").unwrap();
    let queued = events(5, "e");
    dead.push(&queued).await.unwrap();
    dead.heartbeat().await.unwrap();
    alive.heartbeat().await.unwrap();
    let first = dead.reserve(2).await.unwrap();
    let second = dead.reserve(2).await.unwrap();
    assert_eq!(first.events.len() + second.events.len(), 4);

    assert_eq!(
        alive.reclaim_abandoned().await.unwrap(),
        0,
        "a live lease is respected"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    alive.heartbeat().await.unwrap();
    assert_eq!(
        alive.reclaim_abandoned().await.unwrap(),
        4,
        "an expired lease is reclaimed"
    );

    let everything = alive.reserve(10).await.unwrap();
    assert_eq!(
        ids(&everything.events),
        ids(&queued),
        "reclaimed events come first, in order"
    );
    alive.acknowledge(everything.receipt).await.unwrap();
    // The slow consumer's late acknowledgement touches nothing of anyone else's.
    dead.acknowledge(first.receipt).await.unwrap();
    assert_eq!(alive.recover_unacknowledged().await.unwrap(), 0);
    assert_eq!(dead.recover_unacknowledged().await.unwrap(), 0);
}

#[tokio::test]
async fn a_full_queue_refuses_pushes_without_adding_anything_and_accepts_again_once_drained() {
    let key = unique_key("logs_queue");
    let small = RedisConfig {
        max_queue_events: 3,
        ..config(&key)
    };
    let queue = RedisLogQueue::new(&small, "worker-a").unwrap();
    queue.push(&events(2, "a")).await.unwrap();

    let refused = queue.push(&events(2, "b")).await;
    assert!(
        matches!(
            refused,
            Err(QueueError::Full {
                depth: 2,
                capacity: 3
            })
        ),
        "{refused:?}"
    );
    assert_eq!(
        queue.backlog().await.unwrap().depth,
        2,
        "nothing of a refused push is queued"
    );
    queue.push(&events(1, "c")).await.unwrap();

    let batch = queue.reserve(3).await.unwrap();
    queue.acknowledge(batch.receipt).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    queue
        .push(&events(3, "d"))
        .await
        .expect("room again after draining");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_never_take_the_queue_past_its_capacity() {
    let key = unique_key("logs_queue");
    let small = RedisConfig {
        max_queue_events: 50,
        ..config(&key)
    };
    let producers: Vec<_> = (0..8)
        .map(|_| {
            let queue = RedisLogQueue::new(&small, "ingestion").unwrap();
            tokio::spawn(async move {
                let mut accepted = 0;
                for _ in 0..20 {
                    if queue.push(&events(1, "p")).await.is_ok() {
                        accepted += 1;
                    }
                }
                accepted
            })
        })
        .collect();
    let mut accepted = 0;
    for producer in producers {
        accepted += producer.await.unwrap();
    }

    assert_eq!(accepted, 50, "exactly the capacity was accepted");
    let queue = RedisLogQueue::new(&small, "ingestion").unwrap();
    assert_eq!(queue.backlog().await.unwrap().depth, 50);
}

#[tokio::test]
async fn dead_letters_can_be_listed_and_put_back_on_the_queue() {
    let key = unique_key("logs_queue");
    let queue = RedisLogQueue::new(&config(&key), "worker-a").unwrap();
    let poison = events(2, "poison");
    queue.push(&poison).await.unwrap();
    let batch = queue.reserve(2).await.unwrap();
    queue
        .dead_letter(&batch.events, "Code: 395 refused")
        .await
        .unwrap();
    queue.acknowledge(batch.receipt).await.unwrap();

    let letters = queue.list_dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0].error, "Code: 395 refused");
    assert!(letters[0].dead_lettered_at.ends_with('Z'));
    assert_eq!(letters[0].source, key);

    assert_eq!(queue.requeue_dead_letters(10).await.unwrap(), 2);
    assert!(queue.list_dead_letters(10).await.unwrap().is_empty());
    let again = queue.reserve(10).await.unwrap();
    assert_eq!(
        ids(&again.events),
        ids(&poison),
        "requeued dead letters are whole events again, in order"
    );
}

#[tokio::test]
async fn sizes_count_the_queue_this_consumers_batches_and_the_dead_letters() {
    let key = unique_key("logs_queue");
    let queue = RedisLogQueue::new(&config(&key), "worker-a").unwrap();
    let other = RedisLogQueue::new(&config(&key), "worker-b").unwrap();
    assert_eq!(queue.sizes().await.unwrap(), QueueSizes::default());

    queue.push(&events(10, "e")).await.unwrap();
    let first = queue.reserve(3).await.unwrap();
    let _second = queue.reserve(2).await.unwrap();
    let _others = other.reserve(1).await.unwrap();
    queue
        .dead_letter(&first.events[..1], "refused")
        .await
        .unwrap();

    assert_eq!(
        queue.sizes().await.unwrap(),
        QueueSizes {
            queued: 4,
            processing: 5,
            dead_letters: 1,
            dead_letters_dropped: 0,
        }
    );
    assert_eq!(other.sizes().await.unwrap().processing, 1);
    queue.acknowledge(first.receipt).await.unwrap();
    assert_eq!(queue.sizes().await.unwrap().processing, 2);
}

#[tokio::test]
async fn past_its_cap_the_dead_letter_list_loses_its_oldest_entries_and_counts_them() {
    let key = unique_key("logs_queue");
    let queue = RedisLogQueue::new(
        &RedisConfig {
            max_dead_letters: 3,
            max_queue_events: 5,
            ..config(&key)
        },
        "worker-a",
    )
    .unwrap();
    let poison = events(5, "poison");
    queue.push(&poison).await.unwrap();
    let batch = queue.reserve(5).await.unwrap();
    queue
        .dead_letter(&batch.events[..2], "refused")
        .await
        .unwrap();
    queue
        .dead_letter(&batch.events[2..], "refused")
        .await
        .unwrap();
    queue.acknowledge(batch.receipt).await.unwrap();

    let letters = queue.list_dead_letters(10).await.unwrap();
    let kept: Vec<String> = letters
        .iter()
        .map(|letter| letter.payload.clone())
        .collect();
    assert_eq!(kept.len(), 3, "the cap holds");
    for (letter, event) in kept.iter().zip(poison.iter().rev()) {
        assert!(
            letter.contains(&event.id().to_string()),
            "the newest are kept, newest first"
        );
    }
    let sizes = queue.sizes().await.unwrap();
    assert_eq!((sizes.dead_letters, sizes.dead_letters_dropped), (3, 2));
    // A new handle: this one remembers the depth of its last push for a moment.
    let producer = RedisLogQueue::new(
        &RedisConfig {
            max_queue_events: 5,
            ..config(&key)
        },
        "ingestion",
    )
    .unwrap();
    producer
        .push(&events(5, "more"))
        .await
        .expect("dead letters do not count against the queue's capacity");
}

#[tokio::test]
async fn undecodable_items_past_the_cap_are_counted_too() {
    let key = unique_key("logs_queue");
    let queue = RedisLogQueue::new(
        &RedisConfig {
            max_dead_letters: 1,
            ..config(&key)
        },
        "worker-a",
    )
    .unwrap();
    let mut redis = raw_connection().await;
    let _: () = redis
        .lpush(&key, &["{not json 1", "{not json 2", "{not json 3"])
        .await
        .unwrap();

    let batch = queue.reserve(10).await.unwrap();
    assert!(batch.events.is_empty());
    queue.acknowledge(batch.receipt).await.unwrap();

    let letters = queue.list_dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].payload, "{not json 3", "the newest is kept");
    assert_eq!(queue.sizes().await.unwrap().dead_letters_dropped, 2);
    let leftovers: Vec<String> = redis.keys(format!("{key}:processing:*")).await.unwrap();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn scripts_flushed_from_redis_are_loaded_again_on_their_next_call() {
    let queue = fresh_queue();
    queue.push(&events(2, "before")).await.unwrap();
    let mut redis = raw_connection().await;
    // What a restarted Redis looks like to a client: no script is known.
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut redis)
        .await
        .unwrap();

    queue.push(&events(2, "after")).await.unwrap();
    let batch = queue.reserve(10).await.unwrap();
    assert_eq!(batch.events.len(), 4);
}

/// An error with its sources, for messages that name a cause.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn a_push_no_replica_confirms_in_time_is_unavailable_but_may_still_be_delivered() {
    // The test Redis has no replica: WAIT 1 answers 0 after its timeout.
    let key = unique_key("logs_queue");
    let queue = RedisLogQueue::producer(&RedisConfig {
        wait_replicas: 1,
        wait_timeout_ms: 100,
        ..config(&key)
    })
    .unwrap();
    let error = queue.push(&events(3, "unreplicated")).await.unwrap_err();

    assert!(matches!(error, QueueError::Unavailable(_)), "{error:?}");
    assert!(chain(&error).contains("0 of 1 redis replicas"), "{error:?}");
    // At-least-once: the primary holds the events; a consumer may still deliver them.
    assert_eq!(queued_documents(&key).await, 3);
    // Too few replicas is not an outage: the next push is tried, not refused by the breaker.
    let error = queue.push(&events(1, "again")).await.unwrap_err();
    assert!(chain(&error).contains("0 of 1"), "{error:?}");
    assert_eq!(queued_documents(&key).await, 4);
}

#[tokio::test]
async fn a_waiting_push_loads_a_script_redis_forgot() {
    // After a restart or a failover the server knows no script; the pipeline of push and WAIT
    // loads it and pushes (the test Redis has no replica, so the answer is still too few).
    let key = unique_key("logs_queue");
    let queue = RedisLogQueue::producer(&RedisConfig {
        wait_replicas: 1,
        wait_timeout_ms: 10,
        ..config(&key)
    })
    .unwrap();
    let mut redis = raw_connection().await;
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .exec_async(&mut redis)
        .await
        .unwrap();
    let error = queue.push(&events(2, "flushed")).await.unwrap_err();
    assert!(chain(&error).contains("0 of 1"), "{error:?}");
    assert_eq!(queued_documents(&key).await, 2);
}

#[test]
fn a_replica_wait_as_long_as_the_response_timeout_is_rejected_at_construction() {
    let error = RedisLogQueue::producer(&RedisConfig {
        wait_replicas: 1,
        wait_timeout_ms: 2_000,
        response_timeout_ms: 2_000,
        ..config(&unique_key("logs_queue"))
    })
    .unwrap_err();
    assert!(
        error.to_string().contains("REDIS_WAIT_TIMEOUT_MS"),
        "{error}"
    );
}

#[tokio::test]
async fn sentinels_that_cannot_be_reached_make_calls_unavailable_not_failed() {
    let queue = RedisLogQueue::producer(&RedisConfig {
        sentinels: vec!["127.0.0.1:1".into()],
        ..config(&unique_key("logs_queue"))
    })
    .unwrap();
    let error = queue.push(&events(1, "nowhere")).await.unwrap_err();
    assert!(matches!(error, QueueError::Unavailable(_)), "{error:?}");
}
