"""The mail server's rate limit: a token bucket over all of the pool's connections."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from crm_notifier.smtp_pool import RateLimit


class Clock:
    """A clock that moves only when the limiter sleeps (asyncio.sleep is patched)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_sends_keep_to_the_rate_after_a_burst_of_one_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        clock.now += seconds
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    limit = RateLimit(10, clock=clock)
    times = []
    for _ in range(40):
        await limit.wait()
        times.append(clock.now)
    assert times[:10] == [0.0] * 10  # one second's worth at once
    # then one every 0.1 s: 30 more take 3 s
    assert times[-1] == pytest.approx(3.0, abs=1e-6)
    assert all(b - a == pytest.approx(0.1, abs=1e-6) for a, b in itertools.pairwise(times[10:]))


async def test_concurrent_senders_share_one_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        clock.now += seconds
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    limit = RateLimit(5, burst=1, clock=clock)
    done: list[float] = []

    async def sender() -> None:
        for _ in range(5):
            await limit.wait()
            done.append(clock.now)

    await asyncio.gather(*(sender() for _ in range(4)))
    assert len(done) == 20
    assert max(done) == pytest.approx(19 / 5, abs=1e-6)  # 20 mails at 5 a second: 3.8 s


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimit(0)
