-- permit: may one call go? All keys of the call at once, atomically.
-- KEYS: H1, L1, B1, ..., Hn, Ln, Bn, REGISTRY, W (B: the batch callers'
--       log; W: who waits for key n, the call's most specific one)
-- ARGV: n, target, ceiling, band, margin, probe_timeout, poll, scale,
--       then per key: id, cost, budget, budget_standard, standard_default, window, max_cost,
--       contended (0/1), reserve (share of the limit to leave free),
--       then the turn: caller, batch (0/1), weight, replica, m, and m pairs
--       (caller, batch) of this replica's other waiting calls on key n
-- Returns {1, now} or {0, now, index, wait_ms, interval_us, reason, ...}
-- (reason 5: another caller comes first on key n).
local n = tonumber(ARGV[1])
local p = {
  target = tonumber(ARGV[2]), ceiling = tonumber(ARGV[3]), band = tonumber(ARGV[4]),
  margin = tonumber(ARGV[5]), probe_timeout = tonumber(ARGV[6]), poll = tonumber(ARGV[7]),
  scale = tonumber(ARGV[8]),
}
local now = now_ms()
local keys, blocked = {}, {}
for i = 1, n do
  local a = 9 + (i - 1) * 9
  local lim = {
    id = ARGV[a], cost = tonumber(ARGV[a + 1]), b = tonumber(ARGV[a + 2]),
    bstd = tonumber(ARGV[a + 3]), stddef = ARGV[a + 4] == '1', w = tonumber(ARGV[a + 5]),
    maxc = tonumber(ARGV[a + 6]), contended = ARGV[a + 7] == '1',
    reserve = tonumber(ARGV[a + 8]),
  }
  local H, L, B = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local s = load(H)
  prune(s, L, now, lim, p.margin)
  prune_sum(s, 'bused', B, now, lim, p.margin)
  local r = check(s, L, now, lim.cost, lim.contended, lim, p, B)
  keys[i] = { H = H, L = L, B = B, s = s, lim = lim, r = r }
  if not r.grant then
    table.insert(blocked, i)
    table.insert(blocked, math.ceil(r.wait))
    table.insert(blocked, math.ceil(r.interval * 1000))
    table.insert(blocked, r.reason)
  end
end
-- The turn: one fair order on key n among the callers of every replica.
local t0 = 9 + n * 9
local turn = {
  caller = ARGV[t0], batch = ARGV[t0 + 1] == '1', weight = math.max(tonumber(ARGV[t0 + 2]) or 1, 1),
  replica = ARGV[t0 + 3], m = tonumber(ARGV[t0 + 4]) or 0,
}
local P = keys[n]
local W = KEYS[3 * n + 2]
local vt = num(redis.call('HGET', P.H, 'vt'), 0)
local waiters, lapse = live_waiters(W, now)
local mine = {}
for j = 1, turn.m do
  local c, b = ARGV[t0 + 3 + 2 * j], ARGV[t0 + 4 + 2 * j]
  mine[b .. '|' .. c] = true
  table.insert(waiters, { caller = c, batch = b == '1' })
end
-- The wait on key n itself: a call held up by another key only (its
-- business use case, say) does not compete for key n now.
local wait_n, on_n = 0, false
for j = 1, #blocked, 4 do
  if blocked[j] == n then wait_n, on_n = blocked[j + 1], true end
end
if #blocked == 0 and first_ahead(P.H, vt, turn, waiters) then
  wait_n, on_n = math.max(1, math.min(P.r.interval, BEHIND_POLL_MS)), true
  table.insert(blocked, n); table.insert(blocked, wait_n)
  table.insert(blocked, math.ceil(P.r.interval * 1000)); table.insert(blocked, 5)
end
-- Who waits here: this replica's waiting callers, and the turn's own
-- while it waits for key n, or when it was just granted while others
-- wait (a caller granted one call is about to ask again: it keeps its
-- place for a grace period).
if on_n or (#blocked == 0 and #waiters > 0) then
  mine[(turn.batch and '1' or '0') .. '|' .. turn.caller] = true
end
local until_ms = now + wait_n + GRACE_MS + math.min(2 * P.r.interval, GRACE_MAX_MS)
for cb, _ in pairs(mine) do
  local f = turn.replica .. '|' .. cb
  redis.call('HSET', W, f, math.max(until_ms, lapse[f] or 0))
end
-- (The hash outlives its longest entry.)
local keep = math.ceil(until_ms - now + 1000)
if next(mine) ~= nil and redis.call('PTTL', W) < keep then redis.call('PEXPIRE', W, keep) end
if #blocked > 0 then
  for i = 1, n do
    local k = keys[i]
    if redis.call('EXISTS', k.H) == 1 then
      redis.call('HSET', k.H, 'used', k.s.used, 'bused', k.s.bused)
    end
  end
  local out = { 0, now }
  for _, v in ipairs(blocked) do table.insert(out, v) end
  return out
end
for i = 1, n do
  local k = keys[i]
  add_points(k.s, k.H, k.L, now, k.lim.cost, k.lim.w)
  if (k.lim.reserve or 0) > 0 then add_batch(k.s, k.H, k.B, now, k.lim.cost, k.lim.w) end
  local f = { 'tat', k.r.tat, 'used', k.s.used, 'since', k.s.since, 'last', now,
    'bused', k.s.bused }
  if k.r.probe then
    table.insert(f, 'probe'); table.insert(f, now)
  end
  redis.call('HSET', k.H, unpack(f))
  local t = ttl(k.s, now, k.lim, p.margin)
  redis.call('PEXPIRE', k.H, t)
  redis.call('PEXPIRE', k.L, t)
  if redis.call('EXISTS', k.B) == 1 then redis.call('PEXPIRE', k.B, t) end
  redis.call('ZADD', KEYS[3 * n + 1], now, k.lim.id)
end
-- The caller's place: start tag max(vt, its finish), finish += cost / weight.
local start = math.max(vt, num(redis.call('HGET', P.H, 'f:' .. turn.caller), 0))
redis.call('HSET', P.H, 'vt', start, 'f:' .. turn.caller, start + P.lim.cost / turn.weight)
return { 1, now }
