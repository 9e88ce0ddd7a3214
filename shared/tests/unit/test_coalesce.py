"""Coalesced writes (:mod:`crm_shared.coalesce`): nobody hears "written" before their item
was, and callers that come while a write runs share the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from crm_shared.coalesce import Coalescer


class Store:
    """A store whose writes the test can hold open (``release`` cleared) and see start."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.writes: list[list[str]] = []
        self.fail_on = fail_on
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def write(self, items: Sequence[str]) -> None:
        self.started.set()
        await self.release.wait()
        if self.fail_on in items:
            raise ConnectionError("store down")
        self.writes.append(list(items))


async def test_each_caller_returns_after_its_own_item_was_written() -> None:
    store = Store()
    coalescer = Coalescer(store.write)

    async def caller(item: str) -> bool:
        await coalescer.add(item)
        return any(item in batch for batch in store.writes)

    results = await asyncio.gather(*(caller(f"k{i}") for i in range(20)))

    assert all(results)
    assert sorted(item for batch in store.writes for item in batch) == sorted(
        f"k{i}" for i in range(20)
    )
    assert len(store.writes) < 20  # callers shared round trips


async def test_callers_arriving_during_a_write_go_in_the_next_one() -> None:
    store = Store()
    store.release.clear()
    coalescer = Coalescer(store.write)
    first = asyncio.create_task(coalescer.add("a"))
    await store.started.wait()  # the write of "a" is under way
    later = [asyncio.create_task(coalescer.add(k)) for k in ("b", "c", "d")]
    store.release.set()
    await asyncio.gather(first, *later)

    assert store.writes == [["a"], ["b", "c", "d"]]


async def test_a_failed_write_fails_its_callers_only() -> None:
    store = Store(fail_on="bad")
    coalescer = Coalescer(store.write)
    doomed = [asyncio.create_task(coalescer.add(k)) for k in ("x", "bad")]
    for task in doomed:
        with pytest.raises(ConnectionError):
            await task
    await coalescer.add("after")  # the next batch is written

    assert store.writes == [["after"]]
