"""A token bucket in Redis: one per key (an API token), shared by every process that talks
to the same Redis, so running the API in several processes or machines does not multiply
anyone's allowance. The bucket holds `burst` requests and refills at `per_minute`; one Lua
script reads, refills and takes in one step (atomic), on Redis' own clock.

A process takes tokens in small blocks (`Reserve`): a tenth of the burst, at most 10, one
when the burst is under 20. What it took and has not used is spent within `LEASE_SECONDS`
or given up (never returned: the bucket's allowance is only ever smaller for it). So a busy
API asks Redis once per ten requests, not once per request, and a small allowance is
counted request by request as before."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

# KEYS[1]: the bucket. ARGV: refill per second, capacity, how many tokens to take at most.
# Returns "<taken> <wait>": the tokens taken (at least 1 when any request is allowed), and
# the seconds to wait before one would be (when none was), as a string (Lua numbers become
# integers on the way out).
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local taken = 0
local wait = 0
if tokens >= 1 then
  taken = math.min(want, math.floor(tokens))
  tokens = tokens - taken
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(taken) .. ' ' .. tostring(wait)
"""

_TAKE_SHA = hashlib.sha1(_TAKE.encode()).hexdigest()  # noqa: S324 - Redis names scripts so

# How long tokens taken ahead may wait in a process before they are given up.
LEASE_SECONDS = 1.0


def block_size(burst: int) -> int:
    """How many tokens a process takes at once from a bucket of `burst`."""
    return max(1, min(10, burst // 10))


async def take_some(
    redis: Redis, key: str, *, per_minute: int, burst: int, count: int = 1
) -> tuple[int, float]:
    """Take `count` requests' tokens (as many as the bucket has, when it has fewer) from the
    bucket at `key`: (tokens taken, seconds to wait), (k ≥ 1, 0.0) when allowed, (0, s) when
    a request would have to wait s seconds for its token. The
    script is sent by its SHA-1 (EVALSHA), and whole only when Redis does not know it yet
    (after a restart or SCRIPT FLUSH)."""
    arguments = (key, str(per_minute / 60), str(burst), str(count))
    try:
        pending = redis.evalsha(_TAKE_SHA, 1, *arguments)
        answer = await cast(Awaitable[object], pending)
    except NoScriptError:
        answer = await cast(Awaitable[object], redis.eval(_TAKE, 1, *arguments))
    text = answer.decode() if isinstance(answer, bytes) else str(answer)
    taken, _, wait = text.partition(" ")
    return int(float(taken)), max(0.0, float(wait or 0))


@dataclass
class Reserve:
    """One process's tokens taken ahead, per bucket: (how many are left, until when)."""

    held: dict[str, tuple[int, float]] = field(default_factory=dict)

    async def take(self, redis: Redis, key: str, *, per_minute: int, burst: int) -> float:
        """One request's token: 0.0 when allowed, else the seconds to wait. From what this
        process holds when it can, else from the bucket (with a block to hold)."""
        now = time.monotonic()
        left, until = self.held.get(key, (0, 0.0))
        if left > 0 and now < until:
            self.held[key] = (left - 1, until)
            return 0.0
        taken, wait = await take_some(
            redis, key, per_minute=per_minute, burst=burst, count=block_size(burst)
        )
        if taken > 1:
            self.held[key] = (taken - 1, time.monotonic() + LEASE_SECONDS)
        else:
            self.held.pop(key, None)
        return wait
