-- Compare-and-set one feature-view row (see docs/online.md).
-- KEYS[1]: the row's hash.
-- ARGV: version, event_us, created_us, expire_at_ms ("0": no ttl), then field, value pairs.
-- Returns 1 when written, 0 when the stored row is newer, 2 when the row has already expired.
-- Timestamps are decimal microseconds; below 2^53 they are exact as Lua numbers.
local key = KEYS[1]
local expire_at = tonumber(ARGV[4])
if expire_at > 0 then
  local now = redis.call('TIME')
  if expire_at <= tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) then
    return 2
  end
end
local stored = redis.call('HMGET', key, '_v', '_e', '_c')
if stored[1] then
  if stored[1] == ARGV[1] then
    local stored_e, new_e = tonumber(stored[2]), tonumber(ARGV[2])
    if new_e < stored_e or (new_e == stored_e and tonumber(ARGV[3]) < tonumber(stored[3])) then
      return 0
    end
  else
    -- Another version wrote this row: the new definition is authoritative, and its fields
    -- may differ, so start from an empty hash.
    redis.call('DEL', key)
  end
end
redis.call('HSET', key, '_v', ARGV[1], '_e', ARGV[2], '_c', ARGV[3], unpack(ARGV, 5))
if expire_at > 0 then
  redis.call('PEXPIREAT', key, expire_at)
end
return 1
