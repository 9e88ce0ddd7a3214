"""Run an action after the unit of work commits (the live stream follows the database)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

_KEY = "crm_after_commit"
_TASKS: set[asyncio.Task[None]] = set()


def after_commit(session: AsyncSession, action: Callable[[], Awaitable[None]]) -> None:
    """Run ``action`` once the session's transaction has committed (dropped on rollback).

    A lost action (crash right after the commit) only misses the live stream; the list has it.
    """
    actions: list[Callable[[], Awaitable[None]]] | None = session.info.get(_KEY)
    if actions is None:
        actions = session.info[_KEY] = []
        sync = session.sync_session

        def run(_: Any) -> None:
            pending = sync.info.pop(_KEY, [])
            for pending_action in pending:
                task = asyncio.get_running_loop().create_task(_guarded(pending_action))
                _TASKS.add(task)
                task.add_done_callback(_TASKS.discard)

        def drop(_: Any) -> None:
            sync.info.pop(_KEY, None)

        event.listen(sync, "after_commit", run, once=True)
        event.listen(sync, "after_rollback", drop, once=True)
    actions.append(action)


async def _guarded(action: Callable[[], Awaitable[None]]) -> None:
    try:
        await action()
    except Exception:
        log.exception("after-commit action failed; the stored notification stays in the list")
