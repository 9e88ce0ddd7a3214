"""Open SMTP connections, reused from one mail to the next.

A new connection per mail (TCP, greeting, EHLO, STARTTLS and AUTH where configured, then
QUIT) costs several round trips and most of the notifier's CPU per mail; mass-mail tools
keep a few connections open instead. The pool holds up to ``size`` of them: a mail takes
one, sends over it and gives it back. One that sat unused for ``check_after`` seconds is
asked with ``RSET`` first whether it is still there (servers close idle sessions); one that
failed in any way is closed and the next mail opens a new one, so an error never leaves a
half-finished SMTP transaction behind for the next mail.

A mail server (or the provider in front of it) may only take so many mails a second from
us: with ``rate`` set, the pool hands out a connection for at most that many mails a
second, across all its connections (a token bucket: a burst of up to one second's worth,
then the steady rate), so a mailing to 100,000 contacts keeps to it however many
connections send at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import aiosmtplib


class RateLimit:
    """A token bucket: :meth:`wait` returns at most ``per_second`` times a second on
    average, with bursts of up to ``burst`` (default: one second's worth)."""

    def __init__(
        self,
        per_second: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_second <= 0:
            raise ValueError("a rate limit needs a positive rate")
        self.per_second = per_second
        self.burst = max(1.0, burst if burst is not None else per_second)
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:  # one waiter at a time: the order of the callers holds
            while True:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_second)
                self._at = now
                if self._tokens >= 1 - 1e-9:  # a float a hair short of 1 after the wait
                    self._tokens = max(0.0, self._tokens - 1)
                    return
                await asyncio.sleep((1 - self._tokens) / self.per_second)


class SmtpPool:
    """At most ``size`` SMTP connections, opened when first needed and kept open; with
    ``rate``, at most that many mails a second over all of them."""

    def __init__(
        self,
        connect: Callable[[], aiosmtplib.SMTP],
        *,
        size: int,
        check_after: float = 1.0,
        rate: float | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("an SMTP pool needs at least one connection")
        self._rate = RateLimit(rate) if rate else None
        self._connect = connect
        self.size = size
        self._slots = asyncio.Semaphore(size)
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._check_after = check_after
        self.opened = 0
        """How many connections the pool has opened (for tests and metrics)."""

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[aiosmtplib.SMTP]:
        """A connected session for one mail (after the rate limit let it through); given
        back if all went well, else closed."""
        if self._rate is not None:
            await self._rate.wait()
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
