"""The Redis schedule on a real Redis: atomic claims, crashed claims come back, removal."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from crm_reminders.schedule import ReminderSchedule


async def test_concurrent_claims_hand_each_entry_to_one_claimer(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    schedule = ReminderSchedule(redis, prefix=f"t:{uuid.uuid4().hex[:8]}", lease_seconds=30)
    past = datetime.now(UTC) - timedelta(seconds=1)
    await schedule.add([(f"r{i}", "due", past) for i in range(1000)])
    claims = await asyncio.gather(*[schedule.claim(50) for _ in range(40)])
    members = [c.member for batch in claims for c in batch]
    assert len(members) == 1000 and len(set(members)) == 1000
    await redis.aclose()


async def test_a_claim_not_finished_comes_back_after_its_lease(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    schedule = ReminderSchedule(redis, prefix=f"t:{uuid.uuid4().hex[:8]}", lease_seconds=0.5)
    await schedule.add([("r1", "due", datetime.now(UTC))])
    [first] = await schedule.claim(10)
    assert await schedule.claim(10) == []  # leased to the first claimer
    await asyncio.sleep(0.6)  # that replica "crashed": no done()
    [again] = await schedule.claim(10)
    assert again.member == first.member
    await schedule.done([again])
    await asyncio.sleep(0.6)
    assert await schedule.claim(10) == []
    await redis.aclose()


async def test_future_entries_wait_and_removed_ones_never_come(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    schedule = ReminderSchedule(redis, prefix=f"t:{uuid.uuid4().hex[:8]}")
    soon = datetime.now(UTC) + timedelta(seconds=0.5)
    await schedule.add([("keep", "due", soon), ("gone", "due", soon), ("gone", "email", soon)])
    assert await schedule.claim(10) == []
    next_due = await schedule.next_due()
    assert next_due is not None and abs(next_due - soon.timestamp()) < 0.001
    await schedule.remove(["gone"])
    await asyncio.sleep(max(0.0, soon.timestamp() - time.time()) + 0.05)
    assert [c.member for c in await schedule.claim(10)] == ["keep|due"]
    await redis.aclose()
