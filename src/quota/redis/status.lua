-- status: every listed key's state, after pruning its window.
-- KEYS: H1, L1, ..., Hn, Ln
-- ARGV: n, margin, then per key: id, window
-- Returns {now, {id, field, value, ...}, ...}.
local n = tonumber(ARGV[1])
local margin = tonumber(ARGV[2])
local now = now_ms()
local out = { tostring(now) }
for i = 1, n do
  local id, w = ARGV[1 + 2 * i], tonumber(ARGV[2 + 2 * i])
  local H, L = KEYS[2 * i - 1], KEYS[2 * i]
  if redis.call('EXISTS', H) == 1 then
    local s = load(H)
    prune(s, L, now, { w = w }, margin)
    redis.call('HSET', H, 'used', s.used)
    local row = { id }
    local all = redis.call('HGETALL', H)
    for _, v in ipairs(all) do table.insert(row, tostring(v)) end
    table.insert(out, row)
  end
end
return out
