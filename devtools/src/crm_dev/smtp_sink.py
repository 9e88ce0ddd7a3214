"""The dev and test SMTP sink: a real SMTP server (aiosmtpd) storing mail in a Maildir.

Run: ``python -m crm_dev.smtp_sink --port 1025 --maildir .crm/mail``. The gateway shows
the Maildir at ``/dev/mail`` in dev; tests read it to count what arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--maildir", required=True)
    args = parser.parse_args()
    for sub in ("tmp", "new", "cur"):  # a Maildir, also when the folder already exists
        os.makedirs(os.path.join(args.maildir, sub), exist_ok=True)
    controller = Controller(Mailbox(args.maildir), hostname=args.host, port=args.port)
    controller.start()
    print(f"SMTP sink on {args.host}:{args.port}, mail in {args.maildir}", flush=True)

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
