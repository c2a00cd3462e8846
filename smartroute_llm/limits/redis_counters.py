"""The counters on Redis: a reservation is one Lua script (one round trip), atomic across every
process sharing the server, timed by the server's clock so hosts need not agree on the time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from smartroute_llm.limits.counters import Item, RateItem, Reply

# KEYS: one per item. ARGV: per item, a kind then its numbers:
#   "r", window_ms, bucket_ms, rpm, tpm, tokens    |    "b", limit, cost, ttl_ms
# Rate hash fields: "r<bucket>" requests, "t<bucket>" tokens. Budget hash: "res", "spent".
# Returns {ok, now_ms, failed_index, frees_in_ms, s1a, s1b, s1c, s2a, ...} (numbers as strings).
RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
local a = 1
local plan = {}
for i = 1, #KEYS do
  local kind = ARGV[a]
  if kind == 'r' then
    local win, bm = tonumber(ARGV[a+1]), tonumber(ARGV[a+2])
    local rpm, tpm, tok = tonumber(ARGV[a+3]), tonumber(ARGV[a+4]), tonumber(ARGV[a+5])
    a = a + 6
    local f = redis.call('HGETALL', KEYS[i])
    local req, used, live, stale = 0, 0, {}, {}
    for j = 1, #f, 2 do
      local b = tonumber(string.sub(f[j], 2))
      if (b + 1) * bm + win <= now then
        stale[#stale+1] = f[j]
      else
        local n = tonumber(f[j+1])
        local cell = live[b] or {0, 0}
        if string.sub(f[j], 1, 1) == 'r' then cell[1] = n; req = req + n
        else cell[2] = n; used = used + n end
        live[b] = cell
      end
    end
    if #stale > 0 then redis.call('HDEL', KEYS[i], unpack(stale)) end
    local dim, over = 0, 0
    if rpm > 0 and req + 1 > rpm then dim, over = 1, req + 1 - rpm
    elseif tpm > 0 and used + tok > tpm then dim, over = 2, used + tok - tpm end
    if dim > 0 then
      local order = {}
      for b, _ in pairs(live) do order[#order+1] = b end
      table.sort(order)
      local freed, wait = 0, win
      for _, b in ipairs(order) do
        freed = freed + live[b][dim]
        if freed >= over then wait = math.max(0, (b + 1) * bm + win - now); break end
      end
      return {0, now, i - 1, wait, tostring(req), tostring(used), tostring(wait)}
    end
    local first = math.floor(now / bm)
    for b, _ in pairs(live) do if b < first then first = b end end
    out[#out+1] = tostring(req + 1); out[#out+1] = tostring(used + tok)
    out[#out+1] = tostring((first + 1) * bm + win - now)
    plan[#plan+1] = {'r', KEYS[i], math.floor(now / bm), tok, win + 2 * bm}
  else
    local limit, cost, ttl = tonumber(ARGV[a+1]), tonumber(ARGV[a+2]), tonumber(ARGV[a+3])
    a = a + 4
    local v = redis.call('HMGET', KEYS[i], 'res', 'spent')
    local used = (tonumber(v[1]) or 0) + (tonumber(v[2]) or 0)
    if used + cost > limit then
      return {0, now, i - 1, 0, tostring(used), '0', '0'}
    end
    out[#out+1] = tostring(used + cost); out[#out+1] = '0'; out[#out+1] = '0'
    plan[#plan+1] = {'b', KEYS[i], cost, ttl}
  end
end
for _, p in ipairs(plan) do
  if p[1] == 'r' then
    redis.call('HINCRBY', p[2], 'r' .. p[3], 1)
    if p[4] > 0 then redis.call('HINCRBY', p[2], 't' .. p[3], p[4]) end
    redis.call('PEXPIRE', p[2], p[5])
  else
    redis.call('HINCRBYFLOAT', p[2], 'res', p[3])
    if redis.call('PTTL', p[2]) < p[4] then redis.call('PEXPIRE', p[2], p[4]) end
  end
end
local head = {1, now, -1, 0}
for _, x in ipairs(out) do head[#head+1] = x end
return head
"""


class RedisCounters:
    """``client`` is a sync ``redis.Redis``; ``prefix`` namespaces the keys (versioned)."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._script = client.register_script(RESERVE)

    def reserve(self, items: Sequence[Item]) -> Reply:
        keys: list[str] = []
        argv: list[Any] = []
        for it in items:
            keys.append(self.prefix + it.key)
            if isinstance(it, RateItem):
                argv += ["r", it.window_ms, it.bucket_ms, it.rpm, it.tpm, it.tokens]
            else:
                argv += ["b", repr(it.limit), repr(it.cost), it.ttl_ms]
        raw = self._script(keys=keys, args=argv)
        ok, now, failed, wait = (int(x) for x in raw[:4])
        vals = [float(x) for x in raw[4:]]
        states = [(vals[i], vals[i + 1], vals[i + 2] / 1000) for i in range(0, len(vals), 3)]
        return Reply(bool(ok), now, states, failed=failed, frees_in_s=wait / 1000)

    def settle(
        self, rates: Sequence[tuple[str, int, int, int, int]],
        budgets: Sequence[tuple[str, float, float, int]],
    ) -> list[float]:
        pipe = self.client.pipeline(transaction=False)
        for key, bucket, dreq, dtok, ttl in rates:
            pipe.hincrby(self.prefix + key, f"r{bucket}", dreq)
            pipe.hincrby(self.prefix + key, f"t{bucket}", dtok)
            pipe.pexpire(self.prefix + key, ttl, nx=True)
        for key, reserved, actual, ttl in budgets:
            pipe.hincrbyfloat(self.prefix + key, "res", -reserved)
            pipe.hincrbyfloat(self.prefix + key, "spent", actual)
            pipe.pexpire(self.prefix + key, ttl, nx=True)
        res = pipe.execute()[3 * len(rates):]
        return [float(res[i]) + float(res[i + 1]) for i in range(0, len(res), 3)]
