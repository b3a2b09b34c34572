-- The shared quota engine's per-key arithmetic: the same steps as
-- src/quota/budget.rs (KeyState), on Redis time, milliseconds.
-- A key is a hash H (state) and a sorted set L (granted points: member
-- "<seq>:<points>", score = time granted).

local EPS = 1e-9

local function num(v, d)
  if v == false or v == nil or v == '' then return d end
  return tonumber(v) or d
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function load(h)
  local f = redis.call('HMGET', h, 'tat', 'used', 'since', 'hold', 'held', 'probe',
    'rpct', 'rat', 'untr', 'std', 'rhz', 'bused')
  return {
    tat = num(f[1], 0), used = num(f[2], 0), since = num(f[3], 0),
    hold = num(f[4], 0), held = num(f[5], 0) == 1, probe = num(f[6], -1),
    rpct = num(f[7], -1), rat = num(f[8], 0), untr = num(f[9], 0) == 1,
    std = f[10], rhz = num(f[11], -1), bused = num(f[12], 0),
  }
end

-- lim: b, bstd, stddef (bool), w, maxc
local function horizon(s, lim)
  if s.rhz > 0 then return s.rhz end
  return lim.w
end

local function budget(s, lim)
  local std = lim.stddef
  if s.std == '1' then std = true elseif s.std == '0' then std = false end
  if std then return lim.bstd end
  return lim.b
end

local function cost_of(member)
  return tonumber(string.match(member, ':([^:]+)$')) or 1
end

-- Drops log L's entries older than the window. Returns the points they
-- held, or nil when none went, and whether L is empty now.
local function expire(L, now, lim, margin)
  local cutoff = now - lim.w - margin
  local old = redis.call('ZRANGEBYSCORE', L, '-inf', cutoff)
  if #old == 0 then return nil, false end
  local freed = 0
  for _, m in ipairs(old) do freed = freed + cost_of(m) end
  redis.call('ZREMRANGEBYSCORE', L, '-inf', cutoff)
  return freed, redis.call('ZCARD', L) == 0
end

-- Prunes log L and the sum s[field] it keeps ('used' for L, 'bused' for
-- the batch callers' log B).
local function prune_sum(s, field, L, now, lim, margin)
  local freed, empty = expire(L, now, lim, margin)
  if freed then
    s[field] = s[field] - freed
    if empty or s[field] < 0 then s[field] = 0 end
  end
end

local function prune(s, L, now, lim, margin)
  prune_sum(s, 'used', L, now, lim, margin)
end

-- p: target, ceiling, band, margin, probe_timeout, poll, scale
local function pace(s, now, lim, p)
  local full = math.max(budget(s, lim), EPS)
  local cap = math.max(p.target * full * p.scale, EPS)
  local lf = p.target
  if s.untr then lf = p.ceiling end
  local rep = 0
  local hz = horizon(s, lim)
  if s.rpct >= 0 and now < s.rat + hz then
    rep = s.rpct / 100 * (1 - (now - s.rat) / hz) + s.since / full
  end
  local x = math.max(s.used / cap, rep / lf)
  local slow
  if p.band <= 0 then
    if x >= 1 then slow = 1 else slow = 0 end
  else
    slow = math.min(1, math.max(0, (x - (1 - p.band)) / p.band))
  end
  local sustainable = math.max(math.min(cap, lf * full), EPS)
  return { full = full, cap = cap, lf = lf, rep = rep, slow = slow,
    interval = lim.w / sustainable }
end

-- { grant = true, tat, probe, interval } or { wait, interval, reason }
-- reasons: 1 hold, 2 probe, 3 budget, 4 pace (permit.lua adds 5: behind)
-- When enough of log L's oldest entries to free `need` points age out.
local function ages_out(L, need, lim, p)
  local freed, at, start = 0, 0, 0
  while freed < need - EPS do
    local batch = redis.call('ZRANGE', L, start, start + 63, 'WITHSCORES')
    if #batch == 0 then break end
    for i = 1, #batch, 2 do
      freed = freed + cost_of(batch[i])
      at = tonumber(batch[i + 1]) + lim.w + p.margin
      if freed >= need - EPS then break end
    end
    start = start + 64
  end
  return at
end

-- B: the batch callers' log (nil where no batch share is checked).
local function check(s, L, now, cost, contended, lim, p, B)
  local pc = pace(s, now, lim, p)
  if now < s.hold then
    return { wait = s.hold - now, interval = pc.interval, reason = 1 }
  end
  local probe = s.held
  if s.held and s.probe >= 0 then
    local left = s.probe + p.probe_timeout - now
    if left > 0 then
      return { wait = math.min(left, p.poll), interval = pc.interval, reason = 2 }
    end
  end
  local ms = 0
  if s.used > 0 and s.used + cost > pc.cap + EPS then
    ms = math.max(ms, ages_out(L, s.used + cost - pc.cap, lim, p) - now)
  end
  -- A batch call: the batch callers' points (log B) stay under their part.
  local reserve = math.min(math.max(lim.reserve or 0, 0), 1)
  local bcap = pc.cap * (1 - reserve)
  if reserve > 0 and B and s.bused > 0 and s.bused + cost > bcap + EPS then
    ms = math.max(ms, ages_out(B, s.bused + cost - bcap, lim, p) - now)
  end
  local hz = horizon(s, lim)
  if s.rpct >= 0 and now < s.rat + hz then
    local over = pc.rep + cost / pc.full - pc.lf
    if over > EPS then
      local gone = s.rat + hz - now
      local rate = s.rpct / 100 / hz
      local w = gone
      if rate > 0 then w = math.min(over / rate, gone) end
      ms = math.max(ms, w)
    end
  end
  if ms > 0 then return { wait = ms, interval = pc.interval, reason = 3 } end
  local tat = math.max(s.tat, now)
  local tau = pc.interval * lim.maxc
  if tat - now > tau + EPS then
    return { wait = tat - now - tau, interval = pc.interval, reason = 4 }
  end
  local slow = pc.slow
  if contended then slow = 1 end
  return { grant = true, tat = tat + pc.interval * slow * cost, probe = probe,
    interval = pc.interval }
end

local function ttl(s, now, lim, margin)
  return math.ceil(math.max(2 * lim.w + margin, s.hold - now + lim.w))
end

-- Spends within window / 1000 of the last one join its entry, which then
-- counts from now (as budget.rs does): about 1000 entries per window. Each
-- log numbers its entries with its own counter (field seq_field of H).
local function append(H, L, seq_field, now, points, w)
  local last = redis.call('ZRANGE', L, -1, -1, 'WITHSCORES')
  local total = points
  if #last == 2 and now - tonumber(last[2]) <= w / 1000 then
    total = total + cost_of(last[1])
    redis.call('ZREM', L, last[1])
  end
  local seq = redis.call('HINCRBY', H, seq_field, 1)
  redis.call('ZADD', L, now, seq .. ':' .. total)
end

local function add_points(s, H, L, now, points, w)
  append(H, L, 'seq', now, points, w)
  s.used = s.used + points
  s.since = s.since + points
end

-- A batch caller's grant also goes in B.
local function add_batch(s, H, B, now, points, w)
  append(H, B, 'bseq', now, points, w)
  s.bused = s.bused + points
end

-- The fair order across replicas (permit.lua's turn). W: a hash of who
-- waits for a key, field "<replica>|<batch 0/1>|<caller>", value the time
-- the entry lapses; each permit renews its replica's entries, so those of
-- callers that stopped asking, or of a replica that went away, lapse by
-- themselves: GRACE_MS plus two points' worth of the key's sustainable
-- rate (at most GRACE_MAX_MS) after the wait the permit answered.
local GRACE_MS = 100
local GRACE_MAX_MS = 1000
local BEHIND_POLL_MS = 50

-- Every caller waiting for the key, and when each entry lapses (by field);
-- drops lapsed entries.
local function live_waiters(W, now)
  local all = redis.call('HGETALL', W)
  local out, lapse = {}, {}
  for i = 1, #all, 2 do
    local f, exp = all[i], tonumber(all[i + 1]) or 0
    local _, b, c = string.match(f, '^([^|]*)|([01])|(.*)$')
    if c == nil or exp <= now then
      redis.call('HDEL', W, f)
    else
      table.insert(out, { caller = c, batch = b == '1' })
      lapse[f] = exp
    end
  end
  return out, lapse
end

-- The first waiting caller that comes before the turn's on key H: an
-- interactive one before a batch one; within a priority, the lower start
-- tag max(vt, finish) (start-time fair queuing across replicas).
local function first_ahead(H, vt, turn, waiters)
  local function tag(c) return math.max(vt, num(redis.call('HGET', H, 'f:' .. c), 0)) end
  local mine = tag(turn.caller)
  for _, w in ipairs(waiters) do
    if w.caller ~= turn.caller then
      if turn.batch and not w.batch then return w.caller end
      if w.batch == turn.batch and tag(w.caller) < mine - EPS then return w.caller end
    end
  end
  return nil
end
