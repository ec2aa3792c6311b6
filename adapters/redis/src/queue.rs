//! One shard of the queue: the queue ports (`QueueProducer`, `QueueConsumer`) on one Redis list
//! with the reliable-queue pattern. `sharded` puts one or more of them behind the ports.
//!
//! Keys, for shard name `Q` (the queue key, or `{<queue key>:<n>}` with several shards) and
//! consumer `C`: `Q` (the queue: elements of one or more events, see `codec`), `Q:events` (how
//! many events it holds), `Q:processing:C:<batch>` (one list
//! per reserved batch), `Q:batches:C` (the set of C's batch lists), `Q:lease:C` (C's lease, a key
//! that expires), `Q:consumers` (the set of consumers), `Q:dead` (dead letters).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use application::ports::{Backlog, QueueConsumer, QueueError, QueueProducer, Receipt, Reservation};
use async_trait::async_trait;
use domain::{LogEvent, Timestamp};
use redis::{AsyncCommands, RedisError};
use tracing::{info, warn};

use crate::breaker::Breaker;
use crate::codec::{decode, documents, encode, encode_elements, received_at};
use crate::config::RedisConfig;
use crate::connection::{Link, RedisConnection};
use crate::errors::classify;
use crate::scripts;

/// How often an open circuit probes Redis (see `breaker`).
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_millis(250);

/// How long a measured queue depth is trusted when deciding that the queue is full.
const DEPTH_RECHECK_AFTER: Duration = Duration::from_millis(250);

/// Failures of the Redis adapter itself, before any command was sent.
#[derive(Debug, thiserror::Error)]
pub enum RedisQueueError {
    #[error("invalid REDIS_URL {url:?}")]
    InvalidUrl {
        url: String,
        #[source]
        source: RedisError,
    },
    #[error("invalid REDIS_SENTINELS {sentinels:?} (comma-separated host:port)")]
    InvalidSentinels {
        sentinels: String,
        #[source]
        source: RedisError,
    },
    #[error("invalid REDIS_CLUSTER_NODES {nodes:?} (comma-separated host:port)")]
    InvalidClusterNodes {
        nodes: String,
        #[source]
        source: RedisError,
    },
    #[error("REDIS_SENTINELS and REDIS_CLUSTER_NODES exclude each other: set one")]
    SentinelsAndCluster,
    #[error("REDIS_QUEUE_SHARDS must be between 1 and 256, not {shards}")]
    InvalidShards { shards: u32 },
    #[error(
        "REDIS_WAIT_TIMEOUT_MS ({wait_timeout_ms}) must be shorter than \
         REDIS_RESPONSE_TIMEOUT_MS ({response_timeout_ms})"
    )]
    WaitLongerThanResponse {
        wait_timeout_ms: u64,
        response_timeout_ms: u64,
    },
    /// A recent call found Redis unavailable; calls fail at once until a probe gets an answer.
    #[error("redis unavailable (circuit open until a probe answers)")]
    CircuitOpen,
    /// The push reached the primary, but fewer replicas than `REDIS_WAIT_REPLICAS` confirmed it
    /// in time; it may still be delivered.
    #[error("{acknowledged} of {wanted} redis replicas confirmed the push within {timeout_ms} ms")]
    NotReplicated {
        wanted: u32,
        acknowledged: i64,
        timeout_ms: u64,
    },
}

/// How many items each list of a queue holds, for monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueSizes {
    /// Events queued and not yet reserved.
    pub queued: u64,
    /// Events reserved by this consumer and not yet acknowledged (its processing lists).
    pub processing: u64,
    /// In the dead-letter list.
    pub dead_letters: u64,
    /// Dead letters removed because the list was over its cap, ever (a counter kept in Redis,
    /// shared by every consumer).
    pub dead_letters_dropped: u64,
}

/// One entry of the dead-letter list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeadLetter {
    /// Why it was set aside.
    pub error: String,
    /// When, RFC 3339.
    pub dead_lettered_at: String,
    /// The queue it came from.
    pub source: String,
    /// The queue document (or the undecodable text) as it was queued.
    pub payload: String,
}

/// Elements to take out of a batch list, and elements to put in their place.
#[derive(Debug, Default)]
struct BatchRepair {
    removed: Vec<String>,
    replacements: Vec<String>,
}

/// The events a queue holds, from its length in elements and its event counter, as the scripts
/// count them (`queued_events` in `scripts`).
fn queued_events(length: u64, counted: Option<u64>) -> u64 {
    if length == 0 {
        0
    } else {
        counted.unwrap_or(0).max(length)
    }
}

/// The consumer name of a handle that only pushes; its consumer keys are never used.
pub(crate) const PRODUCER: &str = "-producer-";

#[derive(Clone)]
pub(crate) struct Keys {
    queue: String,
    /// How many events the queue holds (a counter; see `scripts`).
    events: String,
    consumer: String,
    consumers: String,
    batches: String,
    lease: String,
    dead: String,
    /// How many dead letters were removed past the cap (a counter).
    dead_dropped: String,
    /// How many of the items at the consuming end of the queue were delivered before (released,
    /// recovered or reclaimed; a counter shared by every consumer).
    redelivered: String,
    /// Prefix of this process's batch lists; unique per process start, so a restarted consumer
    /// never reuses the name of a batch its predecessor left behind.
    batch_prefix: String,
}

impl Keys {
    pub(crate) fn new(queue: &str, consumer: &str) -> Self {
        let started_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Self {
            queue: queue.to_owned(),
            events: format!("{queue}:events"),
            consumer: consumer.to_owned(),
            consumers: format!("{queue}:consumers"),
            batches: format!("{queue}:batches:{consumer}"),
            lease: format!("{queue}:lease:{consumer}"),
            dead: format!("{queue}:dead"),
            dead_dropped: format!("{queue}:dead:dropped"),
            redelivered: format!("{queue}:redelivered"),
            batch_prefix: format!("{queue}:processing:{consumer}:{started_ms:013}"),
        }
    }

    /// Batch list names sort in reservation order.
    fn batch(&self, number: u64) -> String {
        format!("{}-{number:012}", self.batch_prefix)
    }

    fn batches_of(&self, consumer: &str) -> String {
        format!("{}:batches:{consumer}", self.queue)
    }

    fn lease_of(&self, consumer: &str) -> String {
        format!("{}:lease:{consumer}", self.queue)
    }
}

/// Both queue ports on one Redis list (one shard of the queue). Cheap to clone; the connection
/// manager reconnects by itself.
#[derive(Clone)]
pub(crate) struct ShardQueue {
    link: Link,
    /// Replicas that must hold a push before it counts (`WAIT`); 0: none.
    wait_replicas: u32,
    wait_timeout_ms: u64,
    keys: Keys,
    capacity: u64,
    dead_letter_cap: u64,
    lease: Duration,
    next_batch: Arc<AtomicU64>,
    depth: Arc<DepthEstimate>,
    /// Fails pushes and health checks at once while Redis is known to be unavailable.
    breaker: Breaker,
}

/// The last known queue depth, so that a full queue is noticed without a round trip per push.
#[derive(Default)]
struct DepthEstimate {
    depth: AtomicU64,
    measured_at: std::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for ShardQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardQueue")
            .field("queue", &self.keys.queue)
            .field("consumer", &self.keys.consumer)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl ShardQueue {
    /// One shard named by `keys`, on `link`, behind `breaker` (shared by the shards of a
    /// server), with its part of the capacity and of the dead-letter cap.
    pub(crate) fn new(
        keys: Keys,
        link: Link,
        breaker: Breaker,
        config: &RedisConfig,
        capacity: u64,
        dead_letter_cap: u64,
    ) -> Self {
        Self {
            link,
            wait_replicas: config.wait_replicas,
            wait_timeout_ms: config.wait_timeout_ms,
            keys,
            capacity,
            dead_letter_cap,
            lease: Duration::from_millis(config.lease_ms.max(1)),
            next_batch: Arc::new(AtomicU64::new(0)),
            depth: Arc::new(DepthEstimate::default()),
            breaker,
        }
    }

    /// The newest `limit` dead letters, newest first.
    pub(crate) async fn list_dead_letters(
        &self,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, QueueError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut connection = self.connection().await?;
        let raw: Vec<String> = connection
            .lrange(&self.keys.dead, 0, limit as isize - 1)
            .await
            .map_err(|error| self.fail(error))?;
        Ok(raw
            .into_iter()
            .map(|entry| {
                serde_json::from_str(&entry).unwrap_or_else(|_| DeadLetter {
                    error: "unreadable dead-letter entry".into(),
                    dead_lettered_at: String::new(),
                    source: self.keys.queue.clone(),
                    payload: entry,
                })
            })
            .collect())
    }

    /// The sizes of the queue, of this consumer's processing lists and of the dead-letter list,
    /// in one round trip.
    pub(crate) async fn sizes(&self) -> Result<QueueSizes, QueueError> {
        let mut connection = self.connection().await?;
        let (queued, processing, dead_letters, dead_letters_dropped): (u64, u64, u64, u64) =
            scripts::SIZES
                .key(&self.keys.queue)
                .key(&self.keys.batches)
                .key(&self.keys.dead)
                .key(&self.keys.dead_dropped)
                .key(&self.keys.events)
                .invoke_async(&mut connection)
                .await
                .map_err(|error| self.fail(error))?;
        Ok(QueueSizes {
            queued,
            processing,
            dead_letters,
            dead_letters_dropped,
        })
    }

    /// Puts up to `limit` of the oldest dead letters back on the queue; answers how many.
    pub(crate) async fn requeue_dead_letters(&self, limit: u64) -> Result<u64, QueueError> {
        let mut connection = self.connection().await?;
        scripts::REQUEUE_DEAD
            .key(&self.keys.dead)
            .key(&self.keys.queue)
            .key(&self.keys.events)
            .arg(limit)
            .invoke_async(&mut connection)
            .await
            .map_err(|error| self.fail(error))
    }

    /// Adds dead letters, replacing elements of a batch list in the same step. Past the cap the
    /// oldest dead letters go: logged, and counted in Redis for the metrics.
    async fn append_dead_letters(
        &self,
        letters: &[DeadLetter],
        in_batch: Option<(&str, BatchRepair)>,
    ) -> Result<(), QueueError> {
        if letters.is_empty() {
            return Ok(());
        }
        let documents = letters
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| QueueError::Failed(Box::new(error)))?;
        let mut invocation = scripts::APPEND_DEAD.prepare_invoke();
        invocation
            .key(&self.keys.dead)
            .key(&self.keys.dead_dropped)
            .arg(self.dead_letter_cap);
        match in_batch {
            Some((batch, repair)) => {
                invocation
                    .key(batch)
                    .arg(repair.removed.len())
                    .arg(repair.removed)
                    .arg(repair.replacements.len())
                    .arg(repair.replacements);
            }
            None => {
                invocation.arg(0).arg(0);
            }
        }
        invocation.arg(documents);
        let mut connection = self.connection().await?;
        let dropped: u64 = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|error| self.fail(error))?;
        if dropped > 0 {
            warn!(
                dropped,
                cap = self.dead_letter_cap,
                dead_letter = %self.keys.dead,
                "dead-letter list over its cap: the oldest dead letters were deleted"
            );
        }
        Ok(())
    }

    fn letter(&self, payload: String, error: &str) -> DeadLetter {
        DeadLetter {
            error: error.to_owned(),
            dead_lettered_at: Timestamp::now().to_rfc3339(),
            source: self.keys.queue.clone(),
            payload,
        }
    }

    /// Answers `Full` at once, without asking Redis, while the depth last seen (by a push or a
    /// check at most `DEPTH_RECHECK_AFTER` ago) leaves no room for `adding` events; a full queue
    /// then costs Redis at most a few reads of its count a second, whatever the request rate. The push itself
    /// checks the capacity exactly.
    async fn ensure_room(&self, adding: u64) -> Result<(), QueueError> {
        if self.capacity == 0 || self.depth.depth.load(Ordering::Relaxed) + adding <= self.capacity
        {
            return Ok(());
        }
        let stale = {
            let measured_at = self
                .depth
                .measured_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            measured_at.is_none_or(|at| at.elapsed() >= DEPTH_RECHECK_AFTER)
        };
        if stale {
            let mut connection = self.connection().await?;
            let (length, counted): (u64, Option<u64>) = redis::pipe()
                .llen(&self.keys.queue)
                .get(&self.keys.events)
                .query_async(&mut connection)
                .await
                .map_err(|error| self.fail(error))?;
            self.record_depth(queued_events(length, counted));
        }
        let depth = self.depth.depth.load(Ordering::Relaxed);
        if depth + adding > self.capacity {
            return Err(QueueError::Full {
                depth,
                capacity: self.capacity,
            });
        }
        Ok(())
    }

    fn record_depth(&self, depth: u64) {
        self.depth.depth.store(depth, Ordering::Relaxed);
        *self
            .depth
            .measured_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
    }

    /// The connection to the server in use now (with Sentinel, the primary).
    async fn connection(&self) -> Result<RedisConnection, QueueError> {
        self.link
            .get()
            .await
            .map_err(|error| QueueError::Unavailable(Box::new(error)))
    }

    /// The port's error for a failed call; tells the link, which may look for a new primary.
    fn fail(&self, error: RedisError) -> QueueError {
        self.link.failed(&error);
        classify(error)
    }

    async fn ping(&self) -> Result<(), QueueError> {
        let mut connection = self.connection().await?;
        redis::cmd("PING")
            .exec_async(&mut connection)
            .await
            .map_err(|error| self.fail(error))
    }

    async fn reclaim(&self, consumer: &str, force: bool) -> Result<i64, QueueError> {
        let mut connection = self.connection().await?;
        scripts::RECLAIM
            .key(self.keys.lease_of(consumer))
            .key(self.keys.batches_of(consumer))
            .key(&self.keys.queue)
            .key(&self.keys.consumers)
            .key(&self.keys.redelivered)
            .key(&self.keys.events)
            .arg(consumer)
            .arg(if force { "1" } else { "0" })
            .invoke_async(&mut connection)
            .await
            .map_err(|error| self.fail(error))
    }

    /// Runs a producer call unless the circuit is open; a call that finds Redis unavailable
    /// opens it (and starts the probe).
    async fn through_breaker<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, QueueError>>,
    ) -> Result<T, QueueError> {
        if !self.breaker.admits() {
            return Err(QueueError::Unavailable(Box::new(
                RedisQueueError::CircuitOpen,
            )));
        }
        let result = call.await;
        if let Err(QueueError::Unavailable(error)) = &result
            && !matches!(
                error.downcast_ref::<RedisQueueError>(),
                Some(RedisQueueError::NotReplicated { .. })
            )
        {
            // Too few replicas says nothing about the primary: no need to stop calls.
            let link = self.link.clone();
            self.breaker.failed(move || {
                let link = link.clone();
                async move {
                    let Ok(mut connection) = link.get().await else {
                        return false;
                    };
                    match redis::cmd("PING").exec_async(&mut connection).await {
                        Ok(()) => true,
                        Err(error) => {
                            link.failed(&error);
                            false
                        }
                    }
                }
            });
        }
        result
    }

    async fn push_now(&self, events: &[LogEvent]) -> Result<(), QueueError> {
        if events.is_empty() {
            return Ok(());
        }
        self.ensure_room(events.len() as u64).await?;
        let elements = encode_elements(events);
        let mut connection = self.connection().await?;
        // One script: capacity check and multi-value LPUSH in one atomic round trip, so
        // concurrent pushes cannot overshoot the capacity. It answers the new depth.
        let mut invocation = scripts::PUSH.prepare_invoke();
        invocation
            .key(&self.keys.queue)
            .key(&self.keys.events)
            .arg(self.capacity)
            .arg(events.len())
            .arg(elements);
        let answer: i64 = if self.wait_replicas == 0 {
            invocation
                .invoke_async(&mut connection)
                .await
                .map_err(|error| self.fail(error))?
        } else {
            self.push_and_wait(&mut connection, &invocation).await?
        };
        if answer < 0 {
            let depth = (-answer - 1).unsigned_abs();
            self.record_depth(depth);
            return Err(QueueError::Full {
                depth,
                capacity: self.capacity,
            });
        }
        self.record_depth(answer.unsigned_abs());
        Ok(())
    }
}

impl ShardQueue {
    /// The push script and `WAIT` in one pipeline, so that both go over the same connection
    /// (`WAIT` waits for the writes of its own connection; on a fresh one it would wait for
    /// nothing). Answers the script's answer once enough replicas hold the push.
    async fn push_and_wait(
        &self,
        connection: &mut RedisConnection,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<i64, QueueError> {
        let pipeline = || {
            let mut pipeline = redis::pipe();
            pipeline
                .invoke_script(invocation)
                .cmd("WAIT")
                .arg(self.wait_replicas)
                .arg(self.wait_timeout_ms);
            pipeline
        };
        let mut answer = pipeline().query_async::<(i64, i64)>(connection).await;
        if let Err(error) = &answer
            && error.code() == Some("NOSCRIPT")
        {
            // A pipeline does not load scripts by itself (after a restart or a failover).
            invocation
                .load_async(connection)
                .await
                .map_err(|error| self.fail(error))?;
            answer = pipeline().query_async::<(i64, i64)>(connection).await;
        }
        let (answer, acknowledged) = answer.map_err(|error| self.fail(error))?;
        if answer >= 0 && acknowledged < i64::from(self.wait_replicas) {
            warn!(
                acknowledged,
                wanted = self.wait_replicas,
                "too few redis replicas confirmed a push in time: answered unavailable"
            );
            return Err(QueueError::Unavailable(Box::new(
                RedisQueueError::NotReplicated {
                    wanted: self.wait_replicas,
                    acknowledged,
                    timeout_ms: self.wait_timeout_ms,
                },
            )));
        }
        Ok(answer)
    }
}

#[async_trait]
impl QueueProducer for ShardQueue {
    async fn push(&self, events: &[LogEvent]) -> Result<(), QueueError> {
        self.through_breaker(self.push_now(events)).await
    }

    async fn health(&self) -> Result<(), QueueError> {
        self.through_breaker(self.ping()).await
    }
}

#[async_trait]
impl QueueConsumer for ShardQueue {
    async fn reserve(&self, max: usize) -> Result<Reservation, QueueError> {
        let number = self.next_batch.fetch_add(1, Ordering::Relaxed) + 1;
        let batch = self.keys.batch(number);
        let mut connection = self.connection().await?;
        let mut raw: Vec<String> = scripts::RESERVE
            .key(&self.keys.queue)
            .key(&batch)
            .key(&self.keys.batches)
            .key(&self.keys.redelivered)
            .key(&self.keys.events)
            .arg(max)
            .invoke_async(&mut connection)
            .await
            .map_err(|error| self.fail(error))?;
        if raw.is_empty() {
            return Ok(Reservation::default());
        }
        let redelivered: usize = raw.remove(0).parse().unwrap_or(0);
        raw.reverse();
        let mut events = Vec::with_capacity(raw.len());
        let mut letters = Vec::new();
        let mut repair = BatchRepair::default();
        for element in raw {
            let mut kept: Option<Vec<&str>> = None;
            for (index, document) in documents(&element).enumerate() {
                match decode(document) {
                    Ok(event) => {
                        events.push(event);
                        if let Some(kept) = &mut kept {
                            kept.push(document);
                        }
                    }
                    Err(error) => {
                        warn!(error = %error, dead_letter = %self.keys.dead, "undecodable queue item dead-lettered");
                        letters.push(self.letter(document.to_owned(), &error.to_string()));
                        // The documents before this one are kept; from now on each is noted.
                        kept.get_or_insert_with(|| documents(&element).take(index).collect());
                    }
                }
            }
            if let Some(kept) = kept {
                if !kept.is_empty() {
                    repair.replacements.push(kept.join("\n"));
                }
                repair.removed.push(element);
            }
        }
        if !letters.is_empty() {
            // The element leaves the batch with its undecodable documents, and what decoded
            // takes its place: a redelivered batch does not dead-letter them again.
            self.append_dead_letters(&letters, Some((&batch, repair)))
                .await?;
        }
        Ok(Reservation {
            redelivered: redelivered.min(events.len()),
            events,
            receipt: Receipt::new(number),
        })
    }

    async fn acknowledge(&self, receipt: Receipt) -> Result<(), QueueError> {
        if receipt.token() == 0 {
            return Ok(());
        }
        let batch = self.keys.batch(receipt.token());
        let mut connection = self.connection().await?;
        // A script rather than MULTI/EXEC: the same on one server and on a Redis Cluster.
        scripts::ACKNOWLEDGE
            .key(&batch)
            .key(&self.keys.batches)
            .invoke_async(&mut connection)
            .await
            .map_err(|error| self.fail(error))
    }

    async fn release(&self, receipt: Receipt) -> Result<(), QueueError> {
        if receipt.token() == 0 {
            return Ok(());
        }
        let mut connection = self.connection().await?;
        let _: i64 = scripts::RELEASE
            .key(self.keys.batch(receipt.token()))
            .key(&self.keys.queue)
            .key(&self.keys.batches)
            .key(&self.keys.redelivered)
            .key(&self.keys.events)
            .invoke_async(&mut connection)
            .await
            .map_err(|error| self.fail(error))?;
        Ok(())
    }

    async fn recover_unacknowledged(&self) -> Result<u64, QueueError> {
        let recovered = u64::try_from(self.reclaim(&self.keys.consumer, true).await?).unwrap_or(0);
        if recovered > 0 {
            info!(recovered, consumer = %self.keys.consumer, "requeued unacknowledged events");
        }
        Ok(recovered)
    }

    async fn backlog(&self) -> Result<Backlog, QueueError> {
        let mut connection = self.connection().await?;
        let (length, counted, oldest): (u64, Option<u64>, Option<String>) = redis::pipe()
            .llen(&self.keys.queue)
            .get(&self.keys.events)
            .lindex(&self.keys.queue, -1)
            .query_async(&mut connection)
            .await
            .map_err(|error| self.fail(error))?;
        Ok(Backlog {
            depth: queued_events(length, counted),
            oldest_received_at: oldest.as_deref().and_then(received_at),
        })
    }

    async fn heartbeat(&self) -> Result<(), QueueError> {
        let lease_ms = u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX);
        let mut connection = self.connection().await?;
        redis::pipe()
            .cmd("SET")
            .arg(&self.keys.lease)
            .arg(1)
            .arg("PX")
            .arg(lease_ms)
            .ignore()
            .sadd(&self.keys.consumers, &self.keys.consumer)
            .ignore()
            .exec_async(&mut connection)
            .await
            .map_err(|error| self.fail(error))
    }

    async fn reclaim_abandoned(&self) -> Result<u64, QueueError> {
        let mut connection = self.connection().await?;
        let consumers: Vec<String> = connection
            .smembers(&self.keys.consumers)
            .await
            .map_err(|error| self.fail(error))?;
        let mut reclaimed = 0;
        for consumer in consumers
            .iter()
            .filter(|consumer| **consumer != self.keys.consumer)
        {
            let moved = self.reclaim(consumer, false).await?;
            if moved >= 0 {
                let moved = moved.unsigned_abs();
                info!(consumer = %consumer, events = moved, "reclaimed the batches of a consumer whose lease ran out");
                reclaimed += moved;
            }
        }
        Ok(reclaimed)
    }

    async fn dead_letter(&self, events: &[LogEvent], reason: &str) -> Result<(), QueueError> {
        let letters: Vec<_> = events
            .iter()
            .map(|event| self.letter(encode(event), reason))
            .collect();
        self.append_dead_letters(&letters, None).await
    }

    async fn health(&self) -> Result<(), QueueError> {
        self.ping().await
    }
}
