//! The queue spread over `REDIS_QUEUE_SHARDS` shards: each shard is a complete queue of its own
//! (list, processing lists, leases, dead letters; see `queue`), and this handle spreads pushes
//! over them and drains, reclaims and counts every one.
//!
//! Key names: with one shard, today's names (`logs_queue`, `logs_queue:processing:...`), so an
//! existing deployment keeps its queue. With several, shard `i` of queue `Q` is named `{Q:i}`
//! and every key of it starts with that name: the braces are a Redis Cluster hash tag, so all
//! keys of a shard live in one slot (its scripts touch several of them at once) and different
//! shards spread over the cluster's nodes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use application::ports::{Backlog, QueueConsumer, QueueError, QueueProducer, Receipt, Reservation};
use async_trait::async_trait;
use domain::LogEvent;
use redis::aio::ConnectionManagerConfig;

use crate::breaker::Breaker;
use crate::config::RedisConfig;
use crate::connection::Link;
use crate::queue::{
    DeadLetter, Keys, PROBE_INTERVAL, PRODUCER, QueueSizes, RedisQueueError, ShardQueue,
};

/// A shard's index and the receipt of its part of a reservation.
type ShardReceipt = (usize, Receipt);

/// Most shards a queue may have.
pub const MAX_QUEUE_SHARDS: u32 = 256;

/// Both queue ports over one or more shards. Cheap to clone.
#[derive(Clone)]
pub struct RedisLogQueue {
    shards: Arc<[ShardQueue]>,
    next_push: Arc<AtomicUsize>,
    /// The shard batches behind each receipt handed out and not yet settled: a reservation
    /// may take from several shards. Lost with the process, like the batches' owner: they are
    /// recovered from Redis at its next start or reclaimed by another consumer.
    receipts: Arc<Mutex<HashMap<u64, Vec<ShardReceipt>>>>,
    next_receipt: Arc<AtomicU64>,
    /// How operators find the dead letters (a key, or a pattern over the shards).
    dead_letter_keys: String,
}

impl std::fmt::Debug for RedisLogQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLogQueue")
            .field("shards", &self.shards)
            .finish_non_exhaustive()
    }
}

/// The base name of shard `shard` of `shards` of queue `queue` (see the module header).
pub fn shard_queue_key(queue: &str, shard: u32, shards: u32) -> String {
    tagged_shard_key(queue, shard, shards, false)
}

/// As [`shard_queue_key`]; on a cluster (`always_tagged`) one shard is tagged too.
fn tagged_shard_key(queue: &str, shard: u32, shards: u32, always_tagged: bool) -> String {
    if shards <= 1 && !always_tagged {
        queue.to_owned()
    } else {
        format!("{{{queue}:{shard}}}")
    }
}

impl RedisLogQueue {
    /// A queue handle for `consumer` (the worker's id; its batches and lease are named after it).
    /// Connects lazily, so a service starts even while Redis is down.
    pub fn new(config: &RedisConfig, consumer: &str) -> Result<Self, RedisQueueError> {
        Self::connect(config, consumer)
    }

    /// A handle that only pushes (ingestion's): it reserves nothing, so it has no consumer
    /// name, lease or batches of its own. Connects lazily, like [`RedisLogQueue::new`].
    pub fn producer(config: &RedisConfig) -> Result<Self, RedisQueueError> {
        Self::connect(config, PRODUCER)
    }

    fn connect(config: &RedisConfig, consumer: &str) -> Result<Self, RedisQueueError> {
        let invalid = |source| RedisQueueError::InvalidUrl {
            url: config.url.clone(),
            source,
        };
        if config.wait_replicas > 0 && config.wait_timeout_ms >= config.response_timeout_ms {
            return Err(RedisQueueError::WaitLongerThanResponse {
                wait_timeout_ms: config.wait_timeout_ms,
                response_timeout_ms: config.response_timeout_ms,
            });
        }
        if config.queue_shards == 0 || config.queue_shards > MAX_QUEUE_SHARDS {
            return Err(RedisQueueError::InvalidShards {
                shards: config.queue_shards,
            });
        }
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout()))
            .set_response_timeout(Some(config.response_timeout()))
            .set_number_of_retries(1)
            .set_max_delay(config.connect_timeout());
        if !config.sentinels.is_empty() && !config.cluster_nodes.is_empty() {
            return Err(RedisQueueError::SentinelsAndCluster);
        }
        let cluster = !config.cluster_nodes.is_empty();
        let link = if cluster {
            Link::cluster(
                &config.cluster_nodes,
                &config.url,
                manager_config,
                config.connect_timeout(),
                config.response_timeout(),
            )
            .map_err(|source| RedisQueueError::InvalidClusterNodes {
                nodes: config.cluster_nodes.join(","),
                source,
            })?
        } else if config.sentinels.is_empty() {
            let client = redis::Client::open(config.url.as_str()).map_err(invalid)?;
            Link::fixed(client, manager_config).map_err(invalid)?
        } else {
            Link::sentinel(
                &config.sentinels,
                &config.sentinel_master,
                &config.url,
                manager_config,
                config.connect_timeout() + config.response_timeout(),
            )
            .map_err(|source| RedisQueueError::InvalidSentinels {
                sentinels: config.sentinels.join(","),
                source,
            })?
        };
        // One server: one breaker for every shard (they fail together).
        let breaker = Breaker::new(PROBE_INTERVAL);
        let shards = config.queue_shards;
        let per_shard = |total: u64| total.div_ceil(u64::from(shards));
        let shard_queues: Vec<ShardQueue> = (0..shards)
            .map(|shard| {
                ShardQueue::new(
                    Keys::new(
                        &tagged_shard_key(&config.queue_key, shard, shards, cluster),
                        consumer,
                    ),
                    link.clone(),
                    breaker.clone(),
                    config,
                    per_shard(config.max_queue_events),
                    per_shard(config.max_dead_letters),
                )
            })
            .collect();
        let dead_letter_keys = if shards == 1 && !cluster {
            format!("{}:dead", config.queue_key)
        } else {
            format!("{{{}:0..{}}}:dead", config.queue_key, shards - 1)
        };
        Ok(Self {
            shards: shard_queues.into(),
            next_push: Arc::new(AtomicUsize::new(0)),
            receipts: Arc::new(Mutex::new(HashMap::new())),
            next_receipt: Arc::new(AtomicU64::new(0)),
            dead_letter_keys,
        })
    }

    /// The key of the dead-letter list (with several shards, `{Q:0..n-1}:dead`: one per shard).
    pub fn dead_letter_key(&self) -> &str {
        &self.dead_letter_keys
    }

    /// The shards in the order to try them, starting at the next one of `counter`.
    fn rotation(&self, counter: &AtomicUsize) -> impl Iterator<Item = (usize, &ShardQueue)> {
        let count = self.shards.len();
        let start = counter.fetch_add(1, Ordering::Relaxed) % count;
        (0..count).map(move |offset| {
            let index = (start + offset) % count;
            (index, &self.shards[index])
        })
    }

    /// The newest `limit` dead letters of every shard, newest first.
    pub async fn list_dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let mut letters = Vec::new();
        for shard in self.shards.iter() {
            letters.extend(shard.list_dead_letters(limit).await?);
        }
        // RFC 3339 in UTC with a fixed width sorts as text.
        letters.sort_by(|a, b| b.dead_lettered_at.cmp(&a.dead_lettered_at));
        letters.truncate(limit);
        Ok(letters)
    }

    /// The sizes of every shard added up.
    pub async fn sizes(&self) -> Result<QueueSizes, QueueError> {
        let mut total = QueueSizes::default();
        for shard in self.shards.iter() {
            let sizes = shard.sizes().await?;
            total.queued += sizes.queued;
            total.processing += sizes.processing;
            total.dead_letters += sizes.dead_letters;
            total.dead_letters_dropped += sizes.dead_letters_dropped;
        }
        Ok(total)
    }

    /// Puts up to `limit` of the oldest dead letters back on their shard's queue; answers how
    /// many.
    pub async fn requeue_dead_letters(&self, limit: u64) -> Result<u64, QueueError> {
        let mut moved = 0;
        for shard in self.shards.iter() {
            if moved >= limit {
                break;
            }
            moved += shard.requeue_dead_letters(limit - moved).await?;
        }
        Ok(moved)
    }
}

impl RedisLogQueue {
    /// The shards holding queued events, the one with the oldest first (one LLEN and LINDEX
    /// each); with one shard, that shard without asking.
    async fn shards_by_age(&self) -> Result<Vec<usize>, QueueError> {
        if self.shards.len() == 1 {
            return Ok(vec![0]);
        }
        let mut waiting = Vec::new();
        for (index, shard) in self.shards.iter().enumerate() {
            let backlog = shard.backlog().await?;
            if backlog.depth > 0 {
                waiting.push((backlog.oldest_received_at, index));
            }
        }
        // Undatable items (None) sort first: they are dead-lettered at reservation.
        waiting.sort();
        Ok(waiting.into_iter().map(|(_, index)| index).collect())
    }

    fn settle(&self, receipt: Receipt) -> Vec<ShardReceipt> {
        self.receipts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&receipt.token())
            .unwrap_or_default()
    }

    /// Puts back what could not be settled, so that the call can be repeated.
    fn unsettled(&self, receipt: Receipt, parts: Vec<ShardReceipt>) {
        if !parts.is_empty() {
            self.receipts
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(receipt.token(), parts);
        }
    }
}

#[async_trait]
impl QueueProducer for RedisLogQueue {
    /// Pushes to the next shard in turn; a shard that is full or unavailable passes the push to
    /// the next one, so one shard's trouble costs no 503 while another has room.
    async fn push(&self, events: &[LogEvent]) -> Result<(), QueueError> {
        let mut last_error = None;
        for (_, shard) in self.rotation(&self.next_push) {
            match shard.push(events).await {
                Ok(()) => return Ok(()),
                // A push that may have landed (a timeout, too few replicas) is not repeated
                // elsewhere: it would queue the events twice.
                Err(QueueError::Full { depth, capacity }) => {
                    last_error = Some(QueueError::Full { depth, capacity });
                }
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or(QueueError::Full {
            depth: 0,
            capacity: 0,
        }))
    }

    async fn health(&self) -> Result<(), QueueError> {
        for shard in self.shards.iter() {
            QueueProducer::health(shard).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl QueueConsumer for RedisLogQueue {
    /// Up to `max` of the oldest events: from the shard whose oldest event is the oldest, then
    /// the next oldest shard while room is left, so that no shard is starved and order holds
    /// within each shard.
    async fn reserve(&self, max: usize) -> Result<Reservation, QueueError> {
        let mut events = Vec::new();
        let mut redelivered = 0;
        let mut parts = Vec::new();
        for index in self.shards_by_age().await? {
            if events.len() >= max {
                break;
            }
            match self.shards[index].reserve(max - events.len()).await {
                Ok(reservation) => {
                    if reservation.receipt.token() != 0 {
                        parts.push((index, reservation.receipt));
                    }
                    redelivered += reservation.redelivered;
                    events.extend(reservation.events);
                }
                Err(error) if parts.is_empty() => return Err(error),
                // What was taken already is handed out; the rest waits for the next call.
                Err(_) => break,
            }
        }
        if parts.is_empty() {
            return Ok(Reservation::default());
        }
        let token = self.next_receipt.fetch_add(1, Ordering::Relaxed) + 1;
        self.receipts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token, parts);
        Ok(Reservation {
            events,
            receipt: Receipt::new(token),
            redelivered,
        })
    }

    async fn acknowledge(&self, receipt: Receipt) -> Result<(), QueueError> {
        let mut parts = self.settle(receipt);
        while let Some((index, part)) = parts.pop() {
            if let Err(error) = self.shards[index].acknowledge(part).await {
                parts.push((index, part));
                self.unsettled(receipt, parts);
                return Err(error);
            }
        }
        Ok(())
    }

    async fn release(&self, receipt: Receipt) -> Result<(), QueueError> {
        let mut parts = self.settle(receipt);
        while let Some((index, part)) = parts.pop() {
            if let Err(error) = self.shards[index].release(part).await {
                parts.push((index, part));
                self.unsettled(receipt, parts);
                return Err(error);
            }
        }
        Ok(())
    }

    async fn recover_unacknowledged(&self) -> Result<u64, QueueError> {
        let mut recovered = 0;
        for shard in self.shards.iter() {
            recovered += shard.recover_unacknowledged().await?;
        }
        Ok(recovered)
    }

    async fn backlog(&self) -> Result<Backlog, QueueError> {
        let mut total = Backlog::default();
        for shard in self.shards.iter() {
            let backlog = shard.backlog().await?;
            total.depth += backlog.depth;
            total.oldest_received_at = match (total.oldest_received_at, backlog.oldest_received_at)
            {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(total)
    }

    async fn heartbeat(&self) -> Result<(), QueueError> {
        for shard in self.shards.iter() {
            shard.heartbeat().await?;
        }
        Ok(())
    }

    async fn reclaim_abandoned(&self) -> Result<u64, QueueError> {
        let mut reclaimed = 0;
        for shard in self.shards.iter() {
            reclaimed += shard.reclaim_abandoned().await?;
        }
        Ok(reclaimed)
    }

    /// Refused events go to the dead-letter list of the next shard in turn.
    async fn dead_letter(&self, events: &[LogEvent], reason: &str) -> Result<(), QueueError> {
        match self.rotation(&self.next_push).next() {
            Some((_, shard)) => shard.dead_letter(events, reason).await,
            None => Ok(()),
        }
    }

    async fn health(&self) -> Result<(), QueueError> {
        for shard in self.shards.iter() {
            QueueConsumer::health(shard).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shard_keeps_the_queue_key_and_several_get_a_hash_tag_each() {
        assert_eq!(shard_queue_key("logs_queue", 0, 1), "logs_queue");
        assert_eq!(shard_queue_key("logs_queue", 0, 3), "{logs_queue:0}");
        assert_eq!(shard_queue_key("logs_queue", 2, 3), "{logs_queue:2}");
    }
}
