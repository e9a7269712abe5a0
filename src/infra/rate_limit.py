"""A token bucket in Redis: one per key (an API token), shared by every process that talks
to the same Redis, so running the API in several processes or machines does not multiply
anyone's allowance. The bucket holds `burst` requests and refills at `per_minute`; one Lua
script reads, refills and takes in one step (atomic), on Redis' own clock."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

# KEYS[1]: the bucket. ARGV: refill per second, capacity. Returns the seconds to wait before
# a request would be allowed, as a string (Lua numbers become integers on the way out):
# "0" when this request is allowed (and has taken its token).
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""


_TAKE_SHA = hashlib.sha1(_TAKE.encode()).hexdigest()  # noqa: S324 - Redis names scripts so


async def take(redis: Redis, key: str, *, per_minute: int, burst: int) -> float:
    """Take one request from the bucket at `key`: 0.0 when allowed, else the seconds until
    one would be. The script is sent by its SHA-1 (EVALSHA), and whole only when Redis does
    not know it yet (after a restart or SCRIPT FLUSH)."""
    arguments = (key, str(per_minute / 60), str(burst))
    try:
        pending = redis.evalsha(_TAKE_SHA, 1, *arguments)
        waited = await cast(Awaitable[object], pending)
    except NoScriptError:
        waited = await cast(Awaitable[object], redis.eval(_TAKE, 1, *arguments))
    text = waited.decode() if isinstance(waited, bytes) else str(waited)
    return max(0.0, float(text))
