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

/// Functions the scripts below share (prepended to each that uses them).
///
/// A queue element holds one or more events, one JSON document per line (see `codec`); elements
/// queued by a version with one event per element are simply one line. The queue's event count is
/// kept in a counter key beside the list (`<queue>:events`), set by every script that moves
/// elements in or out of the list; where the counter is missing (a queue filled by that older
/// version) or below the element count (pushes of that version during an upgrade), the list's
/// length stands in for it, and an empty list counts 0 whatever the counter says.
const SHARED_LUA: &str = r"
local function events_in(item)
  local count, at = 1, 1
  while true do
    at = string.find(item, '\n', at, true)
    if not at then return count end
    count, at = count + 1, at + 1
  end
end
local function queued_events(queue, counter)
  local length = redis.call('LLEN', queue)
  if length == 0 then return 0 end
  return math.max(tonumber(redis.call('GET', counter) or '0'), length)
end
local function events_of_list(list)
  local count = 0
  for _, item in ipairs(redis.call('LRANGE', list, 0, -1)) do
    count = count + events_in(item)
  end
  return count
end
";

/// KEYS: queue, event counter. ARGV: capacity in events (0: none), the number of events, then
/// the elements holding them. Pushes all elements unless their events would take the queue past
/// its capacity; answers the new event count, or -(count + 1) when it refused.
const PUSH_LUA: &str = r"
local capacity, adding = tonumber(ARGV[1]), tonumber(ARGV[2])
local queued = queued_events(KEYS[1], KEYS[2])
if capacity > 0 and queued + adding > capacity then return -queued - 1 end
for i = 3, #ARGV, 1000 do
  redis.call('LPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
queued = queued + adding
redis.call('SET', KEYS[2], queued)
return queued
";

/// KEYS: queue, batch list, consumer's batch set, redelivered counter, event counter. ARGV: max.
/// Moves up to `max` of the oldest queued events into a new batch list and returns how many of
/// them were delivered before (the redelivered counter, taken down by as many), then the batch's
/// elements, newest first. An element holding more events than the batch has room for is split:
/// its oldest documents stay in the batch, the rest goes back to the queue as its oldest element.
/// Redelivered events wait at the consuming end, so the next batches reserved hold them,
/// whichever consumer reserves them. Elements move one at a time with `LMOVE`, so that the
/// append-only file (which records a script's write commands) gets the command, not the events'
/// bytes a second time, and the element `LMOVE` answers is the one counted and returned: Redis 7
/// hashes every byte of each string it hands to Lua, so each element taken is read into Lua
/// once, and no element past the batch is read at all.
const RESERVE_LUA: &str = r"
local max = tonumber(ARGV[1])
if max <= 0 then return {} end
local queued = queued_events(KEYS[1], KEYS[5])
local newest_last, taken = {}, 0
while taken < max do
  local item = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not item then break end
  local events = events_in(item)
  if taken + events > max then
    local cut = 0
    for _ = 1, max - taken do cut = string.find(item, '\n', cut + 1, true) end
    local rest = string.sub(item, cut + 1)
    item, events = string.sub(item, 1, cut - 1), max - taken
    redis.call('LSET', KEYS[2], 0, item)
    redis.call('RPUSH', KEYS[1], rest)
  end
  newest_last[#newest_last + 1] = item
  taken = taken + events
end
if taken == 0 then return {} end
redis.call('SET', KEYS[5], math.max(queued - taken, 0))
local items = {}
for i = #newest_last, 1, -1 do items[#items + 1] = newest_last[i] end
redis.call('SADD', KEYS[3], KEYS[2])
local redelivered = math.min(tonumber(redis.call('GET', KEYS[4]) or '0'), taken)
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

/// KEYS: batch list, queue, consumer's batch set, redelivered counter, event counter.
/// Returns one batch to the consuming end of the queue, in order (element by element with
/// `LMOVE`, as the reserve took them), counted as delivered before; answers how many events.
const RELEASE_LUA: &str = r"
local queued = queued_events(KEYS[2], KEYS[5])
local items = redis.call('LRANGE', KEYS[1], 0, -1)
local events = 0
for i = 1, #items do events = events + events_in(items[i]) end
for _ = 1, #items do redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], KEYS[1])
if events > 0 then
  redis.call('INCRBY', KEYS[4], events)
  redis.call('SET', KEYS[5], queued + events)
end
return events
";

/// KEYS: consumer's lease, consumer's batch set, queue, consumer set, redelivered counter, event
/// counter. ARGV: consumer id, force.
/// Unless `force` is 1, does nothing (answers -1) while the consumer's lease lives. Otherwise
/// returns all of the consumer's batches to the consuming end of the queue, oldest batch last
/// (so it is taken first), counted as delivered before, forgets the consumer, and answers how
/// many events moved.
const RECLAIM_LUA: &str = r"
if ARGV[2] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local queued = queued_events(KEYS[3], KEYS[6])
local batches = redis.call('SMEMBERS', KEYS[2])
table.sort(batches)
local total = 0
for b = #batches, 1, -1 do
  local items = redis.call('LRANGE', batches[b], 0, -1)
  for i = 1, #items do total = total + events_in(items[i]) end
  for _ = 1, #items do redis.call('LMOVE', batches[b], KEYS[3], 'LEFT', 'RIGHT') end
  redis.call('DEL', batches[b])
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[4], ARGV[1])
if total > 0 then
  redis.call('INCRBY', KEYS[5], total)
  redis.call('SET', KEYS[6], queued + total)
end
return total
";

/// KEYS: dead-letter list, queue, event counter. ARGV: most entries to move.
/// Puts the payloads of the oldest dead letters back on the queue as new arrivals; entries whose
/// payload cannot be read stay where they are. Answers how many moved.
const REQUEUE_DEAD_LUA: &str = r"
local queued = queued_events(KEYS[2], KEYS[3])
local moved = 0
local limit = tonumber(ARGV[1])
local length = redis.call('LLEN', KEYS[1])
for i = 1, math.min(limit, length) do
  local entry = redis.call('RPOP', KEYS[1])
  if not entry then break end
  local ok, letter = pcall(cjson.decode, entry)
  if ok and type(letter) == 'table' and type(letter.payload) == 'string' then
    redis.call('LPUSH', KEYS[2], letter.payload)
    queued = queued + events_in(letter.payload)
    moved = moved + 1
  else
    redis.call('LPUSH', KEYS[1], entry)
  end
end
if moved > 0 then redis.call('SET', KEYS[3], queued) end
return moved
";

/// KEYS: queue, consumer's batch set, dead-letter list, dropped dead-letter counter, event
/// counter. Answers {queued events, events in the consumer's batch lists, dead letters, dead
/// letters dropped past the cap since the counter was created}, read at one instant.
const SIZES_LUA: &str = r"
local processing = 0
for _, batch in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  processing = processing + events_of_list(batch)
end
local dropped = tonumber(redis.call('GET', KEYS[4]) or '0')
return {queued_events(KEYS[1], KEYS[5]), processing, redis.call('LLEN', KEYS[3]), dropped}
";

/// KEYS: dead-letter list, dropped dead-letter counter, and optionally a batch list. ARGV: cap
/// (0: none), the number n of batch elements to remove, those n elements, the number m of
/// elements to add to the batch in their place, those m elements, then the entries. Replaces the
/// elements in the batch (removing one occurrence of each) and adds the entries as the newest
/// dead letters, at once; past the cap the oldest dead letters are removed and counted in the
/// counter. Answers how many were removed.
const APPEND_DEAD_LUA: &str = r"
local cap = tonumber(ARGV[1])
local removing = tonumber(ARGV[2])
for i = 3, 2 + removing do
  redis.call('LREM', KEYS[3], 1, ARGV[i])
end
local adding = tonumber(ARGV[3 + removing])
local first_entry = 4 + removing + adding
if adding > 0 then
  redis.call('RPUSH', KEYS[3], unpack(ARGV, 4 + removing, first_entry - 1))
end
local length = redis.call('LLEN', KEYS[1])
for i = first_entry, #ARGV, 1000 do
  length = redis.call('LPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if cap == 0 or length <= cap then return 0 end
redis.call('LTRIM', KEYS[1], 0, cap - 1)
redis.call('INCRBY', KEYS[2], length - cap)
return length - cap
";

/// A script that uses the shared functions.
fn with_shared(body: &str) -> Script {
    Script::new(&format!("{SHARED_LUA}{body}"))
}

// Hashed on first use, then shared by every call.
pub(crate) static PUSH: LazyLock<Script> = LazyLock::new(|| with_shared(PUSH_LUA));
pub(crate) static RESERVE: LazyLock<Script> = LazyLock::new(|| with_shared(RESERVE_LUA));
pub(crate) static ACKNOWLEDGE: LazyLock<Script> = LazyLock::new(|| Script::new(ACKNOWLEDGE_LUA));
pub(crate) static RELEASE: LazyLock<Script> = LazyLock::new(|| with_shared(RELEASE_LUA));
pub(crate) static RECLAIM: LazyLock<Script> = LazyLock::new(|| with_shared(RECLAIM_LUA));
pub(crate) static REQUEUE_DEAD: LazyLock<Script> = LazyLock::new(|| with_shared(REQUEUE_DEAD_LUA));
pub(crate) static SIZES: LazyLock<Script> = LazyLock::new(|| with_shared(SIZES_LUA));
pub(crate) static APPEND_DEAD: LazyLock<Script> = LazyLock::new(|| Script::new(APPEND_DEAD_LUA));
