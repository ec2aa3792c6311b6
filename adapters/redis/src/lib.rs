//! `LogQueue` on a Redis list, with the reliable-queue pattern.
//!
//! Producers `LPUSH` one JSON document per event onto the queue key (default `logs_queue`), so the
//! operator commands `LLEN logs_queue` and `LRANGE logs_queue 0 4` show what is waiting. A consumer
//! moves batches from the other end, atomically, into a processing list of its own
//! (`logs_queue:processing:<consumer>`) and removes them only when told they are stored. What a
//! consumer left there (a crash) is put back at its next start. Items that cannot be decoded go to
//! the dead-letter list `logs_queue:dead` with the reason and the time.

mod codec;
mod config;
mod queue;

pub use config::RedisConfig;
pub use queue::{RedisLogQueue, RedisQueueError};
