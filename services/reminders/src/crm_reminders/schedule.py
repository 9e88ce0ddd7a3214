"""The reminder schedule in Redis: a sorted set of (reminder, stage) by fire time.

``claim`` moves due entries atomically (one Lua script) into a processing set whose score
is a lease deadline, so with several replicas each entry is handed to exactly one of
them. The replica fires it in the database and then removes it (``done``). A replica
that crashes in between leaves the entry in the processing set; once the lease runs out
the next ``claim`` (on any replica) hands it out again, and the database's fired marks
make sure it is not sent twice. Entries whose time passed while everything was down are
simply due at the first claim after start.

Why not ``faststream-redis-timers``: it keeps the payload in Redis and fires into a
FastStream handler, but here the database is the source of truth (a reminder fires by
writing its fired mark and its ReminderDue event in one transaction), Redis must be
rebuildable from the database at any time, and we need to remove entries when a
reminder is cleared; a 20-line claim script gives exactly that with nothing to adapt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from redis.asyncio import Redis

log = logging.getLogger(__name__)

Stage = Literal["email", "due"]
STAGES: tuple[Stage, ...] = ("email", "due")

_CLAIM = """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[3])
-- entries claimed by a replica that crashed (lease over) are due again
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)
for _, member in ipairs(expired) do
  redis.call('ZREM', KEYS[2], member)
  redis.call('ZADD', KEYS[1], now, member)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
local members = {}
for i = 1, #due, 2 do
  members[#members + 1] = due[i]
  redis.call('ZADD', KEYS[2], ARGV[2], due[i])
end
if #members > 0 then
  redis.call('ZREM', KEYS[1], unpack(members))
end
return due
"""


@dataclass(frozen=True)
class Claim:
    """One stage of one reminder, handed to this replica to fire."""

    reminder_id: str
    stage: Stage
    due: float
    """The scheduled time (epoch seconds)."""

    @property
    def member(self) -> str:
        return member(self.reminder_id, self.stage)


def member(reminder_id: str, stage: Stage) -> str:
    return f"{reminder_id}|{stage}"


class ReminderSchedule:
    """The Redis side of the scheduler (no business rules)."""

    def __init__(self, redis: Redis, *, prefix: str = "crm:reminders", lease_seconds: float = 30.0):
        self._redis = redis
        self.schedule_key = f"{prefix}:schedule"
        self.processing_key = f"{prefix}:processing"
        self._lease = lease_seconds
        self._claim = redis.register_script(_CLAIM)
        self.added = asyncio.Event()

    async def add(
        self, entries: Iterable[tuple[str, Stage, datetime]], *, only_new: bool = False
    ) -> None:
        """Schedule stages (reminder id, stage, fire time); ``only_new`` keeps existing scores."""
        mapping = {member(rid, stage): at.timestamp() for rid, stage, at in entries}
        if not mapping:
            return
        await self._redis.zadd(self.schedule_key, mapping, nx=only_new)
        self.added.set()

    async def remove(self, reminder_ids: Sequence[str]) -> None:
        """Forget every stage of these reminders (they were cleared)."""
        members = [member(rid, stage) for rid in reminder_ids for stage in STAGES]
        if not members:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrem(self.schedule_key, *members)
            pipe.zrem(self.processing_key, *members)
            await pipe.execute()

    async def claim(self, limit: int, now: float | None = None) -> list[Claim]:
        """Atomically take up to ``limit`` due entries for this replica."""
        now = time.time() if now is None else now
        raw = await self._claim(
            keys=[self.schedule_key, self.processing_key], args=[now, now + self._lease, limit]
        )
        claims = []
        for i in range(0, len(raw), 2):
            name = raw[i].decode() if isinstance(raw[i], bytes) else str(raw[i])
            rid, _, stage = name.rpartition("|")
            if stage in STAGES:
                claims.append(Claim(rid, stage, float(raw[i + 1])))
        return claims

    async def done(self, claims: Sequence[Claim]) -> None:
        """The claimed entries are fired (or found obsolete): drop them."""
        if claims:
            await self._redis.zrem(self.processing_key, *[c.member for c in claims])

    async def next_due(self) -> float | None:
        """Epoch seconds of the earliest scheduled entry, or None."""
        first = await self._redis.zrange(self.schedule_key, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def size(self) -> int:
        return int(await self._redis.zcard(self.schedule_key))


FireBatch = Callable[[list[Claim]], Awaitable[None]]


class Scheduler:
    """Claims due entries and hands them to ``fire``; marks them done after it returns."""

    def __init__(
        self,
        schedule: ReminderSchedule,
        fire: FireBatch,
        *,
        poll_seconds: float = 0.2,
        batch: int = 500,
    ) -> None:
        self._schedule = schedule
        self._fire = fire
        self._poll = poll_seconds
        self._batch = batch
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reminder-scheduler")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> int:
        """Claim and fire one batch; returns how many entries were claimed."""
        claims = await self._schedule.claim(self._batch)
        if claims:
            await self._fire(claims)  # on error the lease runs out and they come back
            await self._schedule.done(claims)
        return len(claims)

    async def _run(self) -> None:
        while True:
            try:
                if await self.run_once():
                    continue
                self._schedule.added.clear()
                next_due = await self._schedule.next_due()
                delay = self._poll
                if next_due is not None:
                    delay = max(0.0, min(delay, next_due - time.time()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._schedule.added.wait(), delay)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reminder scheduler failed; retrying in 1 s")
                await asyncio.sleep(1.0)
