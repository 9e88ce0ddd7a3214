"""``python -m crm_notifier.replay crm.interactions.dlq [--dry-run]``: replay the notifier's
dead letters to their original topics (see :mod:`crm_shared.dlq`)."""

from __future__ import annotations

import sys

from crm_shared.dlq import main


def run() -> None:
    main(["replay", *sys.argv[1:]])


if __name__ == "__main__":
    run()
