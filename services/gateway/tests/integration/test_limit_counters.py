"""The limits' sliding windows in the real Redis (one Lua script): counted once however
many replicas ask at the same moment, and freed as the oldest event leaves the window."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from crm_gateway.limits import LoginLimits, RedisWindows, TooManyRequests, limit_key


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_take_counts_up_to_the_limit_and_frees_with_the_oldest(redis: Redis) -> None:
    clock = Clock()
    windows = RedisWindows(redis, clock)
    key = limit_key("test", uuid.uuid4().hex)
    for _ in range(3):
        assert await windows.take(key, limit=3, window=60) == 0
        clock.now += 10
    assert await windows.take(key, limit=3, window=60) == 30  # the first leaves at +60
    assert await windows.check(key, limit=3, window=60) == 30
    clock.now += 30
    assert await windows.take(key, limit=3, window=60) == 0
    assert await windows.take(key, limit=3, window=60) == 10
    assert 0 < await redis.pttl(key) <= 60_000, "the key expires with the window"


async def test_concurrent_replicas_count_every_event_once(redis_url: str) -> None:
    """Twenty requests at once on five 'replicas' (clients): exactly the limit pass."""
    clients = [Redis.from_url(redis_url) for _ in range(5)]
    key = limit_key("test", uuid.uuid4().hex)
    windows = [RedisWindows(client) for client in clients]
    try:
        waits = await asyncio.gather(
            *(windows[n % 5].take(key, limit=5, window=60) for n in range(20))
        )
    finally:
        for client in clients:
            await client.aclose()
    assert sum(1 for wait in waits if wait == 0) == 5


async def test_failed_logins_in_redis(redis: Redis) -> None:
    clock = Clock()
    limits = LoginLimits(RedisWindows(redis, clock), per_username=3, window_seconds=900)
    name = f"user-{uuid.uuid4().hex[:8]}"
    for _ in range(3):
        await limits.refuse_when_blocked(name, "192.0.2.1")
        await limits.failed(name.upper(), "192.0.2.1")
        clock.now += 1
    with pytest.raises(TooManyRequests) as locked:
        await limits.refuse_when_blocked(name, "192.0.2.2")
    assert locked.value.headers == {"Retry-After": "897"}
    clock.now += 897
    await limits.refuse_when_blocked(name, "192.0.2.2")
    await limits.succeeded(name)
    assert not await redis.exists(limit_key("login-user", name.lower()))
