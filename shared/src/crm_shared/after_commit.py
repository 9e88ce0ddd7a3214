"""Actions that must follow a commit, never lead it: a Redis schedule, a live stream.

A unit of work queues them with :func:`after_commit`; they run once its transaction has
committed and are dropped if it rolls back, so Redis (or a subscriber) never learns of a
change the database does not hold. Each runs as a task of its own: the commit does not
wait for it. A lost action (a crash right after the commit) must be repairable from the
database; ``repaired_by`` says how, for the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

Action = Callable[[], Awaitable[None]]
_KEY = "crm_after_commit"
_TASKS: set[asyncio.Task[None]] = set()


def after_commit(session: AsyncSession, action: Action, *, repaired_by: str) -> None:
    """Run ``action`` once the session's transaction has committed (dropped on rollback);
    ``repaired_by`` names what repairs a lost or failed one (logged if it fails)."""
    actions: list[tuple[Action, str]] | None = session.info.get(_KEY)
    if actions is None:
        actions = session.info[_KEY] = []
        sync = session.sync_session

        def run(_: Any) -> None:
            for pending, repair in sync.info.pop(_KEY, []):
                task = asyncio.get_running_loop().create_task(_guarded(pending, repair))
                _TASKS.add(task)
                task.add_done_callback(_TASKS.discard)

        def drop(_: Any) -> None:
            sync.info.pop(_KEY, None)

        event.listen(sync, "after_commit", run, once=True)
        event.listen(sync, "after_rollback", drop, once=True)
    actions.append((action, repaired_by))


async def _guarded(action: Action, repaired_by: str) -> None:
    try:
        await action()
    except Exception:
        log.exception("after-commit action failed; %s repairs it", repaired_by)
