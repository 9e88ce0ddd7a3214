"""Writes of many concurrent callers taken together, each caller still waiting for its own.

The notifier sends several mails at once, and after each it writes a send-once guard to
Redis and publishes an ``EmailSent``: a round trip each, per mail. A :class:`Coalescer`
lets each caller wait until its own item is written, so nothing counts as done before it
is (the guard's window for a duplicate stays one mail per SMTP connection), while the
items that arrive during one write go out together in the next: at a few hundred mails a
second, one round trip carries several.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalescer(Generic[T]):
    """Hands items to ``write`` in batches: what arrived while the last write ran."""

    def __init__(self, write: Callable[[Sequence[T]], Awaitable[None]]) -> None:
        self._write = write
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, item: T) -> None:
        """Return once ``item`` was written; raise what its batch's write raised."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="coalesced-writes")
        await done

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await self._write([item for item, _ in batch])
            except Exception as exc:  # each caller learns its batch failed
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
