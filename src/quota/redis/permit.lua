-- permit: may one call go? All keys of the call at once, atomically.
-- KEYS: H1, L1, B1, ..., Hn, Ln, Bn, REGISTRY (B: the batch callers' log)
-- ARGV: n, target, ceiling, band, margin, probe_timeout, poll, scale,
--       then per key: id, cost, budget, budget_standard, standard_default, window, max_cost,
--       contended (0/1), reserve (share of the limit to leave free)
-- Returns {1, now} or {0, now, index, wait_ms, interval_us, reason, ...}.
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
return { 1, now }
