"""The dev and test SMTP sink: a real SMTP server (aiosmtpd) storing mail in a Maildir.

Run: ``python -m crm_dev.smtp_sink --port 1025 --maildir .crm/mail``. The gateway shows
the Maildir at ``/dev/mail`` in dev; tests read it to count what arrived.

``--record FILE`` keeps no mail but a line per accepted message instead (the wall-clock
time it was accepted, its subject, its recipients, tab-separated): the benchmarks read it,
at rates where writing a Maildir file per mail would be the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from email.parser import BytesHeaderParser
from typing import Any, TextIO

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


class Recorder:
    """aiosmtpd handler: one line per accepted message (time, subject, recipients)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._headers = BytesHeaderParser()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        accepted = time.time()
        headers = self._headers.parsebytes(envelope.original_content or envelope.content)
        subject = str(headers.get("Subject", "")).replace("\t", " ").replace("\n", " ")
        self._out.write(f"{accepted:.6f}\t{subject}\t{','.join(envelope.rcpt_tos)}\n")
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--maildir")
    where.add_argument("--record", help="a line per mail to this file, no mail kept")
    args = parser.parse_args()
    handler: Any
    if args.record:
        record = open(args.record, "a", buffering=1)  # noqa: SIM115 - open until the end
        handler = Recorder(record)
    else:
        for sub in ("tmp", "new", "cur"):  # a Maildir, also when the folder already exists
            os.makedirs(os.path.join(args.maildir, sub), exist_ok=True)
        handler = Mailbox(args.maildir)
    controller = Controller(handler, hostname=args.host, port=args.port)
    controller.start()
    print(f"SMTP sink on {args.host}:{args.port}, {args.record or args.maildir}", flush=True)

    async def wait_for_signal() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    try:
        asyncio.run(wait_for_signal())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
