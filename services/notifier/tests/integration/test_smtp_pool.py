"""The notifier's SMTP pool against a real SMTP server (the sink, as a process of its
own so it can be restarted): connections are reused, opened up to the pool's size when
mails go out at once, and replaced when the server went away or a mail failed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosmtplib
import pytest

from crm_dev.servers import SmtpSink
from crm_dev.testing import Mailbox
from crm_notifier.smtp_pool import SmtpPool


async def test_connections_are_kept_open_reused_and_replaced(tmp_path: Path) -> None:
    sink = SmtpSink(tmp_path / "mail")
    sink.start()
    mailbox = Mailbox(sink.maildir)
    pool = SmtpPool(
        lambda: aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, timeout=5),
        size=2,
        check_after=0.0,  # ask every reused connection with RSET whether it still stands
    )

    async def send(n: int) -> None:
        async with pool.connection() as smtp:
            to = f"r{n}@example.com"
            await smtp.sendmail("crm@localhost", [to], f"To: {to}\r\nSubject: {n}\r\n\r\nHallo\r\n")

    try:
        for n in range(5):  # one after the other: one connection for all
            await send(n)
        assert pool.opened == 1
        await asyncio.gather(*(send(n) for n in range(5, 11)))  # at once: up to the size
        assert pool.opened == 2
        assert sorted(len(mailbox.wait_for(f"r{n}@example.com")) for n in range(11)) == [1] * 11

        sink.stop()  # the server goes away and comes back: its sessions are gone
        sink.start()
        await send(11)
        assert pool.opened == 3  # both kept connections failed RSET, a new one was opened
        assert len(mailbox.wait_for("r11@example.com")) == 1

        with pytest.raises(RuntimeError):  # a mail that failed half-way
            async with pool.connection():
                raise RuntimeError("the message could not be built")
        await send(12)
        assert pool.opened == 4  # its connection was closed, not given to the next mail
        assert len(mailbox.wait_for("r12@example.com")) == 1
    finally:
        await pool.close()
        sink.stop()
