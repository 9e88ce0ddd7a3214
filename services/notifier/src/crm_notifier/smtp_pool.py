"""Open SMTP connections, reused from one mail to the next.

A new connection per mail (TCP, greeting, EHLO, STARTTLS and AUTH where configured, then
QUIT) costs several round trips and most of the notifier's CPU per mail; mass-mail tools
keep a few connections open instead. The pool holds up to ``size`` of them: a mail takes
one, sends over it and gives it back. One that sat unused for ``check_after`` seconds is
asked with ``RSET`` first whether it is still there (servers close idle sessions); one that
failed in any way is closed and the next mail opens a new one, so an error never leaves a
half-finished SMTP transaction behind for the next mail.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import aiosmtplib


class SmtpPool:
    """At most ``size`` SMTP connections, opened when first needed and kept open."""

    def __init__(
        self,
        connect: Callable[[], aiosmtplib.SMTP],
        *,
        size: int,
        check_after: float = 1.0,
    ) -> None:
        if size < 1:
            raise ValueError("an SMTP pool needs at least one connection")
        self._connect = connect
        self.size = size
        self._slots = asyncio.Semaphore(size)
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._check_after = check_after
        self.opened = 0
        """How many connections the pool has opened (for tests and metrics)."""

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[aiosmtplib.SMTP]:
        """A connected session for one mail; given back if all went well, else closed."""
        async with self._slots:
            smtp = await self._take()
            healthy = False
            try:
                yield smtp
                healthy = True
            finally:
                if healthy and smtp.is_connected:
                    self._idle.append((smtp, time.monotonic()))
                else:
                    await _close(smtp)

    async def _take(self) -> aiosmtplib.SMTP:
        while self._idle:
            smtp, since = self._idle.pop()
            if not smtp.is_connected:
                continue
            if time.monotonic() - since < self._check_after:
                return smtp
            try:
                await smtp.rset()
                return smtp
            except (aiosmtplib.SMTPException, OSError):
                await _close(smtp)
        smtp = self._connect()
        await smtp.connect()
        self.opened += 1
        return smtp

    async def close(self) -> None:
        """Say QUIT on every idle connection (at the notifier's stop)."""
        idle, self._idle = self._idle, []
        for smtp, _ in idle:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit()


async def _close(smtp: aiosmtplib.SMTP) -> None:
    """Drop a connection that may be broken: QUIT if it still answers, else just close."""
    if smtp.is_connected:
        try:
            await asyncio.wait_for(smtp.quit(), 1.0)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            smtp.close()
