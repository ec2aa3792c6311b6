//! The Redis implementation of the `LogQueue` port.

use std::time::{SystemTime, UNIX_EPOCH};

use application::ports::{LogQueue, QueueError, Receipt, Reservation};
use async_trait::async_trait;
use domain::LogEvent;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, RedisError, Script};
use tracing::{info, warn};

use crate::codec::{decode, encode};
use crate::config::RedisConfig;

/// Moves up to ARGV[1] of the oldest items (right end) of the queue onto the left of the
/// processing list, keeping their order (oldest rightmost), and returns them newest first.
const RESERVE: &str = r"
local max = tonumber(ARGV[1])
if max <= 0 then return {} end
local items = redis.call('LRANGE', KEYS[1], -max, -1)
if #items == 0 then return items end
redis.call('LTRIM', KEYS[1], 0, -#items - 1)
for i = #items, 1, -1 do redis.call('LPUSH', KEYS[2], items[i]) end
return items
";

/// Moves the ARGV[1] oldest items of the processing list (all of them when negative) back to the
/// consuming end of the queue, oldest last so it is taken first; returns how many.
const RETURN_TO_QUEUE: &str = r"
local count = tonumber(ARGV[1])
if count < 0 then count = redis.call('LLEN', KEYS[1]) end
if count == 0 then return 0 end
local items = redis.call('LRANGE', KEYS[1], -count, -1)
if #items == 0 then return 0 end
redis.call('LTRIM', KEYS[1], 0, -#items - 1)
for i = 1, #items do redis.call('RPUSH', KEYS[2], items[i]) end
return #items
";

/// Failures of the Redis adapter itself, before any command was sent.
#[derive(Debug, thiserror::Error)]
pub enum RedisQueueError {
    #[error("invalid REDIS_URL {url:?}")]
    InvalidUrl {
        url: String,
        #[source]
        source: RedisError,
    },
}

/// A `LogQueue` on a Redis list. Cheap to clone; the connection manager reconnects by itself.
#[derive(Clone)]
pub struct RedisLogQueue {
    connection: ConnectionManager,
    queue_key: String,
    processing_key: String,
    dead_key: String,
    reserve: Script,
    return_to_queue: Script,
}

impl std::fmt::Debug for RedisLogQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLogQueue")
            .field("queue_key", &self.queue_key)
            .field("processing_key", &self.processing_key)
            .finish_non_exhaustive()
    }
}

impl RedisLogQueue {
    /// A queue handle for `consumer` (the worker's id; its processing list is named after it).
    /// Connects lazily, so a service starts even while Redis is down.
    pub fn new(config: &RedisConfig, consumer: &str) -> Result<Self, RedisQueueError> {
        let invalid = |source| RedisQueueError::InvalidUrl {
            url: config.url.clone(),
            source,
        };
        let client = redis::Client::open(config.url.as_str()).map_err(invalid)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout()))
            .set_response_timeout(Some(config.response_timeout()))
            .set_number_of_retries(1)
            .set_max_delay(config.connect_timeout());
        let connection =
            ConnectionManager::new_lazy_with_config(client, manager_config).map_err(invalid)?;
        Ok(Self {
            connection,
            queue_key: config.queue_key.clone(),
            processing_key: format!("{}:processing:{consumer}", config.queue_key),
            dead_key: format!("{}:dead", config.queue_key),
            reserve: Script::new(RESERVE),
            return_to_queue: Script::new(RETURN_TO_QUEUE),
        })
    }

    /// The key of this consumer's processing list.
    pub fn processing_key(&self) -> &str {
        &self.processing_key
    }

    /// The key of the dead-letter list.
    pub fn dead_letter_key(&self) -> &str {
        &self.dead_key
    }

    /// Moves an undecodable item from the processing list to the dead-letter list, with the reason
    /// and the time, in one transaction.
    async fn dead_letter(&self, raw: &str, reason: &str) -> Result<(), QueueError> {
        let entry = serde_json::json!({
            "error": reason,
            "dead_lettered_at_ms": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0),
            "source": self.queue_key,
            "payload": raw,
        });
        let mut connection = self.connection.clone();
        redis::pipe()
            .atomic()
            .lrem(&self.processing_key, 1, raw)
            .ignore()
            .lpush(&self.dead_key, entry.to_string())
            .ignore()
            .exec_async(&mut connection)
            .await
            .map_err(classify)
    }
}

/// Connection trouble and timeouts may pass; anything Redis itself refused will not.
fn classify(error: RedisError) -> QueueError {
    if error.is_io_error()
        || error.is_timeout()
        || error.is_connection_refusal()
        || error.is_connection_dropped()
    {
        QueueError::Unavailable(Box::new(error))
    } else {
        QueueError::Failed(Box::new(error))
    }
}

fn receipt_count(receipt: Receipt) -> i64 {
    i64::try_from(receipt.token()).unwrap_or(i64::MAX)
}

#[async_trait]
impl LogQueue for RedisLogQueue {
    async fn push(&self, events: &[LogEvent]) -> Result<(), QueueError> {
        if events.is_empty() {
            return Ok(());
        }
        let documents = events
            .iter()
            .map(encode)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| QueueError::Failed(Box::new(error)))?;
        let mut connection = self.connection.clone();
        // One multi-value LPUSH: all or nothing, one round trip.
        let _: i64 = connection
            .lpush(&self.queue_key, documents)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn reserve(&self, max: usize) -> Result<Reservation, QueueError> {
        let mut connection = self.connection.clone();
        let mut raw: Vec<String> = self
            .reserve
            .key(&self.queue_key)
            .key(&self.processing_key)
            .arg(max)
            .invoke_async(&mut connection)
            .await
            .map_err(classify)?;
        raw.reverse();
        let mut events = Vec::with_capacity(raw.len());
        for item in raw {
            match decode(&item) {
                Ok(event) => events.push(event),
                Err(error) => {
                    warn!(error = %error, dead_letter = %self.dead_key, "undecodable queue item dead-lettered");
                    self.dead_letter(&item, &error.to_string()).await?;
                }
            }
        }
        let receipt = Receipt::new(events.len() as u64);
        Ok(Reservation { events, receipt })
    }

    async fn acknowledge(&self, receipt: Receipt) -> Result<(), QueueError> {
        let count = receipt_count(receipt);
        if count == 0 {
            return Ok(());
        }
        let mut connection = self.connection.clone();
        // The acknowledged batch is the oldest one reserved: the right end of the processing list.
        connection
            .ltrim(&self.processing_key, 0, -(count as isize) - 1)
            .await
            .map_err(classify)
    }

    async fn release(&self, receipt: Receipt) -> Result<(), QueueError> {
        let count = receipt_count(receipt);
        if count == 0 {
            return Ok(());
        }
        let mut connection = self.connection.clone();
        let _: i64 = self
            .return_to_queue
            .key(&self.processing_key)
            .key(&self.queue_key)
            .arg(count)
            .invoke_async(&mut connection)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn recover_unacknowledged(&self) -> Result<u64, QueueError> {
        let mut connection = self.connection.clone();
        let recovered: u64 = self
            .return_to_queue
            .key(&self.processing_key)
            .key(&self.queue_key)
            .arg(-1)
            .invoke_async(&mut connection)
            .await
            .map_err(classify)?;
        if recovered > 0 {
            info!(recovered, processing = %self.processing_key, "requeued unacknowledged events");
        }
        Ok(recovered)
    }

    async fn health(&self) -> Result<(), QueueError> {
        let mut connection = self.connection.clone();
        redis::cmd("PING")
            .exec_async(&mut connection)
            .await
            .map_err(classify)
    }
}
