//! The queue ports (`QueueProducer`, `QueueConsumer`) on a Redis list, with the reliable-queue pattern.
//!
//! Producers `LPUSH` one element per push onto the queue key (default `logs_queue`): the JSON
//! documents of its events, one per line, so the operator command `LRANGE logs_queue 0 4` shows
//! what is waiting, and `GET logs_queue:events` how many events (a counter every script keeps in
//! step with the list, see `scripts`). A consumer moves batches of events from the other end,
//! atomically, into processing lists of its own
//! (`logs_queue:processing:<consumer>:<batch>`) and removes them only when told they are stored.
//! Each consumer holds a lease (`logs_queue:lease:<consumer>`, renewed by heartbeats): what a
//! consumer left behind is put back at its own next start, or by any other consumer once its lease
//! ran out. Items that cannot be decoded, and events the store refused, go to the dead-letter list
//! `logs_queue:dead` with the reason and the time. A queue over its capacity refuses pushes.
//!
//! With `REDIS_QUEUE_SHARDS` above 1 the queue is that many such queues (shards) named
//! `{logs_queue:0}`, `{logs_queue:1}`, ...: pushes go to them in turn and consumers drain all of
//! them (`sharded`).

mod breaker;
mod codec;
mod config;
mod connection;
mod errors;
mod json_text;
mod queue;
mod scripts;
mod sharded;

pub use config::RedisConfig;
pub use connection::LinkError;
pub use queue::{DeadLetter, QueueSizes, RedisQueueError};
pub use sharded::{MAX_QUEUE_SHARDS, RedisLogQueue, shard_queue_key};
