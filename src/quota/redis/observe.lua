-- observe: what Graph answers said about keys (reports, holds, probe
-- answers), and points carried over from the local fallback.
-- KEYS: H1, L1, ..., Hn, Ln, REGISTRY
-- ARGV: n, tolerance, margin, reset_margin, then per key: id, budget, budget_standard,
--       standard_default, window, has_report, pct, call_count, cputime, time,
--       acc_util, reset_secs, regain_mins, tier ('' | '0' | '1'), hold_ms (-1: none),
--       answered (0/1), carry
local n = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local margin = tonumber(ARGV[3])
local reset_margin = tonumber(ARGV[4])
local now = now_ms()
for i = 1, n do
  local a = 5 + (i - 1) * 17
  local lim = {
    id = ARGV[a], b = tonumber(ARGV[a + 1]), bstd = tonumber(ARGV[a + 2]),
    stddef = ARGV[a + 3] == '1', w = tonumber(ARGV[a + 4]),
  }
  local H, L = KEYS[2 * i - 1], KEYS[2 * i]
  local s = load(H)
  prune(s, L, now, lim, margin)
  local f = { 'last', now }
  local tier = ARGV[a + 13]
  if tier ~= '' then
    s.std = tier
    table.insert(f, 'std'); table.insert(f, tier)
  end
  local carry = tonumber(ARGV[a + 16])
  if carry > 0 then add_points(s, H, L, now, carry, lim.w) end
  if ARGV[a + 5] == '1' then
    local pct = tonumber(ARGV[a + 6])
    local full = math.max(budget(s, lim), EPS)
    -- A report that comes with a hold is the block, not usage: the
    -- ceiling flag stays as it was (budget.rs, KeyState::report).
    local blocked = tonumber(ARGV[a + 14]) >= 0
    local untr = 0
    if pct / 100 > s.used / full + tolerance + EPS then untr = 1 end
    if blocked then untr = s.untr and 1 or 0 end
    s.since = 0
    -- Decays over the time Meta names plus the margin (Meta rounds down to
    -- seconds; 0: less than a second left), else over the window.
    local hz = lim.w
    local reset = tonumber(ARGV[a + 11])
    if reset ~= nil then hz = math.min(math.max(reset, 0) * 1000 + reset_margin, lim.w) end
    for _, kv in ipairs({ { 'rpct', pct }, { 'rat', now }, { 'untr', untr }, { 'rhz', hz },
      { 'd_cc', ARGV[a + 7] }, { 'd_cpu', ARGV[a + 8] }, { 'd_tt', ARGV[a + 9] },
      { 'd_acc', ARGV[a + 10] }, { 'd_reset', ARGV[a + 11] }, { 'd_regain', ARGV[a + 12] } }) do
      table.insert(f, kv[1]); table.insert(f, kv[2])
    end
    table.insert(f, 'd_tier'); table.insert(f, tier)
  end
  local hold_ms = tonumber(ARGV[a + 14])
  if hold_ms >= 0 then
    s.hold = math.max(s.hold, now + hold_ms)
    table.insert(f, 'hold'); table.insert(f, s.hold)
    table.insert(f, 'held'); table.insert(f, 1)
    redis.call('HDEL', H, 'probe')
  elseif ARGV[a + 15] == '1' and s.held and now >= s.hold and s.probe >= 0 then
    table.insert(f, 'held'); table.insert(f, 0)
    redis.call('HDEL', H, 'probe')
  end
  table.insert(f, 'used'); table.insert(f, s.used)
  table.insert(f, 'since'); table.insert(f, s.since)
  redis.call('HSET', H, unpack(f))
  local t = ttl(s, now, lim, margin)
  redis.call('PEXPIRE', H, t)
  redis.call('PEXPIRE', L, t)
  redis.call('ZADD', KEYS[2 * n + 1], now, lim.id)
end
return now
