//! The Lua scripts that make each queue operation atomic in Redis.
//!
//! Layout: every list (the queue and each reserved batch) has its newest item on the left and its
//! oldest on the right; consumers take from the right. Scripts that walk a consumer's batches
//! name keys they are not passed (a consumer's batch lists): fine on a single server, and on a Redis
//! Cluster too because every key of a queue shard carries the shard's hash tag (one slot).
//!
//! Each script is hashed once per process (`Script::new` computes its SHA-1); a call sends
//! `EVALSHA` and, when the server answers `NOSCRIPT` (after a restart or `SCRIPT FLUSH`), loads the
//! script and sends the `EVALSHA` again (`Script::invoke_async`).

use std::sync::LazyLock;

use redis::Script;

/// KEYS: queue. ARGV: capacity (0: none), then the documents.
/// Pushes all documents unless that would take the queue past its capacity; answers the new
/// depth, or -(depth + 1) when it refused.
const PUSH_LUA: &str = r"
local capacity = tonumber(ARGV[1])
local depth = redis.call('LLEN', KEYS[1])
if capacity > 0 and depth + #ARGV - 1 > capacity then return -depth - 1 end
for i = 2, #ARGV, 1000 do
  depth = redis.call('LPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return depth
";

/// KEYS: queue, batch list, consumer's batch set, redelivered counter. ARGV: max.
/// Moves up to `max` of the oldest queued items into a new batch list and returns how many of
/// them were delivered before (the counter, taken down by as many), then the items, newest first.
/// Redelivered items wait at the consuming end, so the next batches reserved hold them, whichever
/// consumer reserves them.
const RESERVE_LUA: &str = r"
local max = tonumber(ARGV[1])
if max <= 0 then return {} end
local items = redis.call('LRANGE', KEYS[1], -max, -1)
if #items == 0 then return items end
redis.call('LTRIM', KEYS[1], 0, -#items - 1)
for i = 1, #items, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + 999, #items)))
end
redis.call('SADD', KEYS[3], KEYS[2])
local redelivered = math.min(tonumber(redis.call('GET', KEYS[4]) or '0'), #items)
if redelivered > 0 then redis.call('DECRBY', KEYS[4], redelivered) end
table.insert(items, 1, tostring(redelivered))
return items
";

/// KEYS: batch list, consumer's batch set.
/// Forgets an acknowledged batch.
const ACKNOWLEDGE_LUA: &str = r"
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], KEYS[1])
return 0
";

/// KEYS: batch list, queue, consumer's batch set, redelivered counter.
/// Returns one batch to the consuming end of the queue, in order, counted as delivered before;
/// answers how many items.
const RELEASE_LUA: &str = r"
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for i = 1, #items, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + 999, #items)))
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], KEYS[1])
if #items > 0 then redis.call('INCRBY', KEYS[4], #items) end
return #items
";

/// KEYS: consumer's lease, consumer's batch set, queue, consumer set, redelivered counter.
/// ARGV: consumer id, force.
/// Unless `force` is 1, does nothing (answers -1) while the consumer's lease lives. Otherwise
/// returns all of the consumer's batches to the consuming end of the queue, oldest batch last
/// (so it is taken first), counted as delivered before, forgets the consumer, and answers how
/// many items moved.
const RECLAIM_LUA: &str = r"
if ARGV[2] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local batches = redis.call('SMEMBERS', KEYS[2])
table.sort(batches)
local total = 0
for b = #batches, 1, -1 do
  local items = redis.call('LRANGE', batches[b], 0, -1)
  for i = 1, #items, 1000 do
    redis.call('RPUSH', KEYS[3], unpack(items, i, math.min(i + 999, #items)))
  end
  redis.call('DEL', batches[b])
  total = total + #items
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[4], ARGV[1])
if total > 0 then redis.call('INCRBY', KEYS[5], total) end
return total
";

/// KEYS: dead-letter list, queue. ARGV: most entries to move.
/// Puts the payloads of the oldest dead letters back on the queue as new arrivals; entries whose
/// payload cannot be read stay where they are. Answers how many moved.
const REQUEUE_DEAD_LUA: &str = r"
local moved = 0
local limit = tonumber(ARGV[1])
local length = redis.call('LLEN', KEYS[1])
for i = 1, math.min(limit, length) do
  local entry = redis.call('RPOP', KEYS[1])
  if not entry then break end
  local ok, letter = pcall(cjson.decode, entry)
  if ok and type(letter) == 'table' and type(letter.payload) == 'string' then
    redis.call('LPUSH', KEYS[2], letter.payload)
    moved = moved + 1
  else
    redis.call('LPUSH', KEYS[1], entry)
  end
end
return moved
";

/// KEYS: queue, consumer's batch set, dead-letter list, dropped dead-letter counter.
/// Answers {queued items, items in the consumer's batch lists, dead letters, dead letters dropped
/// past the cap since the counter was created}, read at one instant.
const SIZES_LUA: &str = r"
local processing = 0
for _, batch in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  processing = processing + redis.call('LLEN', batch)
end
local dropped = tonumber(redis.call('GET', KEYS[4]) or '0')
return {redis.call('LLEN', KEYS[1]), processing, redis.call('LLEN', KEYS[3]), dropped}
";

/// KEYS: dead-letter list, dropped dead-letter counter, and optionally a batch list. ARGV: cap
/// (0: none), the number n of batch items, n items to remove from the batch list, then the
/// entries. Removes the items from the batch (one occurrence each) and adds the entries as the
/// newest dead letters, at once; past the cap the oldest dead letters are removed and counted in
/// the counter. Answers how many were removed.
const APPEND_DEAD_LUA: &str = r"
local cap = tonumber(ARGV[1])
local removing = tonumber(ARGV[2])
for i = 3, 2 + removing do
  redis.call('LREM', KEYS[3], 1, ARGV[i])
end
local length = redis.call('LLEN', KEYS[1])
for i = 3 + removing, #ARGV, 1000 do
  length = redis.call('LPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if cap == 0 or length <= cap then return 0 end
redis.call('LTRIM', KEYS[1], 0, cap - 1)
redis.call('INCRBY', KEYS[2], length - cap)
return length - cap
";

// Hashed on first use, then shared by every call.
pub(crate) static PUSH: LazyLock<Script> = LazyLock::new(|| Script::new(PUSH_LUA));
pub(crate) static RESERVE: LazyLock<Script> = LazyLock::new(|| Script::new(RESERVE_LUA));
pub(crate) static ACKNOWLEDGE: LazyLock<Script> = LazyLock::new(|| Script::new(ACKNOWLEDGE_LUA));
pub(crate) static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(RELEASE_LUA));
pub(crate) static RECLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(RECLAIM_LUA));
pub(crate) static REQUEUE_DEAD: LazyLock<Script> = LazyLock::new(|| Script::new(REQUEUE_DEAD_LUA));
pub(crate) static SIZES: LazyLock<Script> = LazyLock::new(|| Script::new(SIZES_LUA));
pub(crate) static APPEND_DEAD: LazyLock<Script> = LazyLock::new(|| Script::new(APPEND_DEAD_LUA));
