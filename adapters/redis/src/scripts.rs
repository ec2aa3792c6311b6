//! The Lua scripts that make each queue operation atomic in Redis.
//!
//! Layout: every list (the queue and each reserved batch) has its newest item on the left and its
//! oldest on the right; consumers take from the right. Scripts that walk a consumer's batches
//! name keys they are not passed, which is fine on a single Redis server (not on Redis Cluster).

/// KEYS: queue. ARGV: capacity (0: none), then the documents.
/// Pushes all documents unless that would take the queue past its capacity; answers the new
/// depth, or -(depth + 1) when it refused.
pub(crate) const PUSH: &str = r"
local capacity = tonumber(ARGV[1])
local depth = redis.call('LLEN', KEYS[1])
if capacity > 0 and depth + #ARGV - 1 > capacity then return -depth - 1 end
for i = 2, #ARGV, 1000 do
  depth = redis.call('LPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return depth
";

/// KEYS: queue, batch list, consumer's batch set. ARGV: max.
/// Moves up to `max` of the oldest queued items into a new batch list and returns them, newest
/// first.
pub(crate) const RESERVE: &str = r"
local max = tonumber(ARGV[1])
if max <= 0 then return {} end
local items = redis.call('LRANGE', KEYS[1], -max, -1)
if #items == 0 then return items end
redis.call('LTRIM', KEYS[1], 0, -#items - 1)
for i = 1, #items, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + 999, #items)))
end
redis.call('SADD', KEYS[3], KEYS[2])
return items
";

/// KEYS: batch list, queue, consumer's batch set.
/// Returns one batch to the consuming end of the queue, in order; answers how many items.
pub(crate) const RELEASE: &str = r"
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for i = 1, #items, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + 999, #items)))
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], KEYS[1])
return #items
";

/// KEYS: consumer's lease, consumer's batch set, queue, consumer set. ARGV: consumer id, force.
/// Unless `force` is 1, does nothing (answers -1) while the consumer's lease lives. Otherwise
/// returns all of the consumer's batches to the consuming end of the queue, oldest batch last
/// (so it is taken first), forgets the consumer, and answers how many items moved.
pub(crate) const RECLAIM: &str = r"
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
return total
";

/// KEYS: dead-letter list, queue. ARGV: most entries to move.
/// Puts the payloads of the oldest dead letters back on the queue as new arrivals; entries whose
/// payload cannot be read stay where they are. Answers how many moved.
pub(crate) const REQUEUE_DEAD: &str = r"
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

/// KEYS: queue, consumer's batch set, dead-letter list.
/// Answers {queued items, items in the consumer's batch lists, dead letters}, read at one instant.
pub(crate) const SIZES: &str = r"
local processing = 0
for _, batch in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  processing = processing + redis.call('LLEN', batch)
end
return {redis.call('LLEN', KEYS[1]), processing, redis.call('LLEN', KEYS[3])}
";
