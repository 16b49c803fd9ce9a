"""The Lua scripts behind ``RedisPolicyState``: every transition of a route's shared state is one
atomic script (Redis 7 and Valkey alike: plain ``redis.call``, ``cjson``, no ``TIME``: callers pass
their own wall-clock milliseconds).

``ROUTE`` applies a replica's queued outcomes for one route in order, then (optionally) tries to
take the half-open probe, records the replica's in-flight count and latency samples, and returns
the route's shared view. Its keys share one hash tag (the route), so it runs on a Redis Cluster.

Breaker hash fields: ``st`` state (``c`` closed, ``o`` open, ``h`` half-open), ``oa`` opened at
(ms), ``cd`` cooldown (ms), ``cu`` Retry-After cooling until (ms), ``v`` version (bumped on every
change others must learn, to at least the writer's wall clock in ms, so versions issued after a
restart still order after those replicas remember), ``pr``/``pe`` the probe's owner token and expiry (ms), ``cf``
consecutive failures, ``rs``/``er`` the last transition's reason and error type, and a ring of
``buckets`` time buckets (``i<k>`` bucket id, ``o<k>`` successes, ``f<k>`` failures) for the
fleet's failure rate over the window. A change is published on the namespace's channel as JSON.

Ops (one ARGV each, ``|``-separated): ``S|ms|n`` n successes; ``P|ms|token`` a probe's success;
``F|ms|token`` a failure (``token``: the probe's, or empty); ``R|ms|token`` a probe released;
``L|ms|token|cooldown|error`` credentials rejected; ``C|ms|until`` Retry-After cooling until
``until``; ``O|ms|until|reason`` open until ``until`` unless already open (a replica's resync);
``A|ms|token`` take the half-open probe (last op only).
"""

from __future__ import annotations

ROUTE = r"""
local H, S, I = KEYS[1], KEYS[2], KEYS[3]
local channel, route = ARGV[1], ARGV[2]
local threshold, rate, min_calls = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local window, nb, cooldown = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local probe_ttl, ttl, alpha, stale = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local replica, now, inflight = ARGV[13], tonumber(ARGV[14]), ARGV[15]
local n_total, m_total, n_ttft, m_ttft = tonumber(ARGV[16]), tonumber(ARGV[17]), tonumber(ARGV[18]), tonumber(ARGV[19])

local b = {}
local raw = redis.call('HGETALL', H)
for i = 1, #raw, 2 do b[raw[i]] = raw[i + 1] end
local st = b.st or 'c'
local oa, cd, cu = tonumber(b.oa or '0'), tonumber(b.cd or cooldown), tonumber(b.cu or '0')
local v, pr, pe, cf = tonumber(b.v or '0'), b.pr or '', tonumber(b.pe or '0'), tonumber(b.cf or '0')
local rs, er = b.rs or '', b.er or ''
local w = {}        -- ring fields to write
local dirty = false -- anything to write
local changed = false -- anything other replicas must learn now
local width = window / nb

local function set(f, val) b[f] = val; w[f] = val end

local function count(ms, ok, n)
  local bucket = math.floor(ms / width)
  local k = bucket % nb
  if tonumber(b['i' .. k] or '-1') ~= bucket then
    set('i' .. k, tostring(bucket)); set('o' .. k, '0'); set('f' .. k, '0')
  end
  local f = (ok and 'o' or 'f') .. k
  set(f, tostring(tonumber(b[f]) + n))
end

local function totals(ms)
  local oldest = math.floor(ms / width) - nb + 1
  local ok, fail = 0, 0
  for k = 0, nb - 1 do
    if tonumber(b['i' .. k] or '-1') >= oldest then
      ok = ok + tonumber(b['o' .. k]); fail = fail + tonumber(b['f' .. k])
    end
  end
  return ok, fail
end

local function reset_window()
  for k = 0, nb - 1 do set('i' .. k, '-1') end
end

local function move(new, ms, why, err, cool)
  if new == 'o' then oa = ms; cd = cool or cooldown end
  st = new; rs = why; er = err or ''; changed = true
end

local function free_probe(token)
  if token ~= '' and token == pr then pr = ''; pe = 0; return true end
  return false
end

local granted = -1
for i = 20, #ARGV do
  local op = ARGV[i]
  local kind = string.sub(op, 1, 1)
  local rest = string.sub(op, 3)
  local sep = string.find(rest, '|', 1, true)
  local ms = tonumber(sep and string.sub(rest, 1, sep - 1) or rest)
  local arg = sep and string.sub(rest, sep + 1) or ''
  dirty = true
  if kind == 'S' then
    cf = 0; count(ms, true, tonumber(arg))
  elseif kind == 'P' then
    cf = 0; count(ms, true, 1)
    if free_probe(arg) then
      changed = true
      if st ~= 'c' then reset_window(); move('c', ms, 'probe succeeded') end
    end
  elseif kind == 'F' then
    cf = cf + 1
    local probe = free_probe(arg)
    if probe then changed = true end
    if st == 'h' then
      move('o', ms, probe and 'probe failed' or 'a call failed during the probe')
    elseif st == 'c' then
      count(ms, false, 1)
      local ok, fail = totals(ms)
      local total = ok + fail
      if cf >= threshold then
        move('o', ms, cf .. ' consecutive failures across the fleet')
      elseif total >= min_calls and fail >= rate * total then
        move('o', ms, 'failure rate ' .. fail .. '/' .. total .. ' across the fleet')
      end
    end
  elseif kind == 'R' then
    if free_probe(arg) then changed = true end
  elseif kind == 'L' then
    local token, lcd, err = string.match(arg, '^([^|]*)|([^|]*)|(.*)$')
    lcd = tonumber(lcd)
    free_probe(token)
    cf = cf + 1
    if st == 'o' then
      local finish = math.max(oa + cd, ms + lcd)
      oa = ms; cd = finish - ms
    else
      move('o', ms, 'credentials rejected (' .. err .. ')', err, lcd)
    end
    changed = true
  elseif kind == 'C' then
    local untl = tonumber(arg)
    if untl > cu then cu = untl; changed = true end
  elseif kind == 'O' then
    local untl, why = string.match(arg, '^([^|]*)|(.*)$')
    if st == 'c' then move('o', ms, why, '', tonumber(untl) - ms) end
  elseif kind == 'A' then
    if cu > ms then
      granted = 0
    elseif st == 'c' then
      granted = 2
    elseif st == 'o' and ms < oa + cd then
      granted = 0
    else
      if st == 'o' then move('h', ms, 'cooldown elapsed') end
      if pr ~= '' and pe > ms then
        granted = 0
      else
        pr = arg; pe = ms + probe_ttl; granted = 1; changed = true
      end
    end
  end
end

-- versions stay ahead of anything issued before a restart or expiry: at least the writer's clock
if changed then v = math.max(v + 1, now) end
if dirty then
  local fields = {'st', st, 'oa', tostring(oa), 'cd', tostring(cd), 'cu', tostring(cu), 'v', tostring(v),
                  'pr', pr, 'pe', tostring(pe), 'cf', tostring(cf), 'rs', rs, 'er', er}
  for f, val in pairs(w) do fields[#fields + 1] = f; fields[#fields + 1] = val end
  redis.call('HSET', H, unpack(fields))
  local keep = math.max(oa + cd - now, cu - now, pe - now, 0)
  redis.call('PEXPIRE', H, math.floor(ttl + keep))
end
if changed then
  redis.call('PUBLISH', channel, cjson.encode({r = route, v = v, st = st, oa = oa, cd = cd, cu = cu, pr = pr,
                                                pe = pe, rs = rs, er = er}))
end

-- this replica's in-flight count (stale replicas' counts are dropped) and the fleet's sum
local fleet = 0
if inflight == '0' then
  redis.call('HDEL', I, replica)
elseif inflight ~= '' then
  redis.call('HSET', I, replica, inflight .. ':' .. now)
  redis.call('PEXPIRE', I, stale * 2)
end
local counts = redis.call('HGETALL', I)
for i = 1, #counts, 2 do
  local c, at = string.match(counts[i + 1], '^(%-?%d+):(%d+)$')
  if at == nil or tonumber(at) < now - stale then
    redis.call('HDEL', I, counts[i])
  else
    fleet = fleet + tonumber(c)
  end
end

-- latency: exponentially weighted moving averages over the fleet's samples
local lat = redis.call('HMGET', S, 'tt', 'to', 'lm')
local tt, to, lm = lat[1] or '', lat[2] or '', lat[3] or ''
local function ewma(old, n, mean)
  if old == '' then return tostring(mean) end
  local keep = math.pow(1 - alpha, n)
  return tostring(tonumber(old) * keep + mean * (1 - keep))
end
if n_total > 0 or n_ttft > 0 then
  if n_total > 0 then to = ewma(to, n_total, m_total) end
  if n_ttft > 0 then tt = ewma(tt, n_ttft, m_ttft) end
  lm = tostring(now)
  redis.call('HSET', S, 'tt', tt, 'to', to, 'lm', lm)
  redis.call('PEXPIRE', S, ttl)
end

return {granted, st, tostring(oa), tostring(cd), tostring(cu), tostring(v), pr, tostring(pe), rs, er,
        tostring(fleet), tt, to, lm}
"""

BUDGET = r"""
local B = KEYS[1]
local now, width, nb, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local raw = redis.call('HGETALL', B)
local b = {}
for i = 1, #raw, 2 do b[raw[i]] = raw[i + 1] end
local w = {}
for i = 5, #ARGV, 3 do
  local bucket, q, r = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local k = bucket % nb
  local id = tonumber(b['i' .. k] or '-1')
  if id < bucket then
    b['i' .. k] = tostring(bucket); b['q' .. k] = '0'; b['r' .. k] = '0'
    id = bucket
  end
  if id == bucket then
    b['q' .. k] = tostring(tonumber(b['q' .. k]) + q); b['r' .. k] = tostring(tonumber(b['r' .. k]) + r)
    w['i' .. k] = true
  end
end
local fields = {}
for k = 0, nb - 1 do
  if w['i' .. k] then
    fields[#fields + 1] = 'i' .. k; fields[#fields + 1] = b['i' .. k]
    fields[#fields + 1] = 'q' .. k; fields[#fields + 1] = b['q' .. k]
    fields[#fields + 1] = 'r' .. k; fields[#fields + 1] = b['r' .. k]
  end
end
if #fields > 0 then
  redis.call('HSET', B, unpack(fields))
  redis.call('PEXPIRE', B, ttl)
end
local oldest = math.floor(now / width) - nb + 1
local out = {}
for k = 0, nb - 1 do
  local id = tonumber(b['i' .. k] or '-1')
  if id >= oldest then
    out[#out + 1] = id; out[#out + 1] = tonumber(b['q' .. k]); out[#out + 1] = tonumber(b['r' .. k])
  end
end
return out
"""
