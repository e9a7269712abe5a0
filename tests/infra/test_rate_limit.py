"""The shared token bucket in Redis, and a process's tokens taken ahead in blocks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import cast

import pytest
from redis.asyncio import Redis

from src.infra import rate_limit
from src.infra.rate_limit import Reserve, block_size, take_some
from tests.support.servers import Servers


@pytest.fixture
async def redis(servers: Servers) -> AsyncIterator[Redis]:
    client = Redis.from_url(servers.redis_url)
    yield client
    await client.aclose()


def _key() -> str:
    return f"test:api-rate:{uuid.uuid4().hex}"


async def _left(redis: Redis, key: str) -> float:
    value = await cast(Awaitable[bytes | None], redis.hget(key, "tokens"))
    return float(value or "nan")


def test_blocks_are_a_tenth_of_the_burst_at_most_ten_and_one_for_a_small_burst() -> None:
    assert [block_size(burst) for burst in (1, 3, 19, 20, 60, 100, 10_000)] == [
        1,
        1,
        1,
        2,
        6,
        10,
        10,
    ]


async def test_a_bucket_gives_what_it_has_then_says_how_long_to_wait(redis: Redis) -> None:
    key = _key()
    assert await take_some(redis, key, per_minute=60, burst=5, count=3) == (3, 0.0)
    assert await take_some(redis, key, per_minute=60, burst=5, count=3) == (2, 0.0)
    taken, wait = await take_some(redis, key, per_minute=60, burst=5, count=3)
    assert taken == 0
    assert 0.9 < wait <= 1.0  # one token a second


async def test_a_process_asks_redis_once_per_block(redis: Redis) -> None:
    key, reserve = _key(), Reserve()
    for _ in range(10):
        assert await reserve.take(redis, key, per_minute=6000, burst=100) == 0.0
    left = await _left(redis, key)
    assert 90 <= left < 91  # one block of 10 taken; the refill adds a little
    assert await reserve.take(redis, key, per_minute=6000, burst=100) == 0.0
    assert 80 <= await _left(redis, key) < 82  # the 11th took the next block


async def test_a_small_burst_is_counted_request_by_request(redis: Redis) -> None:
    key, reserve = _key(), Reserve()
    waits = [await reserve.take(redis, key, per_minute=1, burst=3) for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] > 50  # one a minute


async def test_tokens_held_past_their_lease_are_given_up(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rate_limit, "LEASE_SECONDS", 0.0)
    key, reserve = _key(), Reserve()
    await reserve.take(redis, key, per_minute=1, burst=100)
    await reserve.take(redis, key, per_minute=1, burst=100)
    # The 9 held from the first block had expired: the second request took a new block.
    assert 80 <= await _left(redis, key) < 81
