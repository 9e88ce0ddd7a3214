"""What follows a transaction's end: actions after its commit, state kept until it ends.

A unit of work queues actions with :func:`after_commit` (a Redis schedule, a live
stream): they run once its transaction has committed and are dropped if it rolls back, so
Redis (or a subscriber) never learns of a change the database does not hold. Each runs as
a task of its own: the commit does not wait for it. A lost action (a crash right after
the commit) must be repairable from the database; ``repaired_by`` says how, for the log.

:func:`transaction_state` keeps what a transaction must remember about itself (e.g. rows
it created, which no other transaction may be told of before it commits) in the
session, and forgets it when the transaction commits or rolls back. Both rest on the
same listeners (:func:`_until_ended`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)

Action = Callable[[], Awaitable[None]]
State = TypeVar("State")
_KEY = "crm_after_commit"
_WATCHED = "crm_after_commit_watched"  # the keys whose listeners a session has
_TASKS: set[asyncio.Task[None]] = set()


def transaction_state(session: AsyncSession, key: str, factory: Callable[[], State]) -> State:
    """The state ``key`` of the session's current transaction: made by ``factory`` at its
    first use, the same object for the rest of the transaction, dropped when the
    transaction commits or rolls back (the next transaction starts from a new one).
    Begins the transaction if the session has none yet (as a statement would)."""
    state: State = _until_ended(session, key, factory)
    return state


def after_commit(session: AsyncSession, action: Action, *, repaired_by: str) -> None:
    """Run ``action`` once the session's transaction has committed (dropped on rollback);
    ``repaired_by`` names what repairs a lost or failed one (logged if it fails)."""
    actions: list[tuple[Action, str]] = _until_ended(session, _KEY, list, on_commit=_start)
    actions.append((action, repaired_by))


def _until_ended(
    session: AsyncSession,
    key: str,
    factory: Callable[[], Any],
    *,
    on_commit: Callable[[Any], None] | None = None,
) -> Any:
    """``session.info[key]``, made by ``factory`` when the transaction has none yet, and
    popped when the transaction ends: handed to ``on_commit`` after a commit, dropped
    after a rollback. A session without a transaction begins one, as its first statement
    would, so a rollback before any statement ends it too.

    The listeners stay on the session for its later transactions (registered once per
    key); the rollback of a savepoint ends nothing."""
    found = session.info.get(key)
    if found is not None:
        return found
    sync = session.sync_session
    if not sync.in_transaction():  # as its first statement would (no I/O until one runs)
        sync.begin()
    found = session.info[key] = factory()
    watched: set[str] = session.info.setdefault(_WATCHED, set())
    if key not in watched:
        watched.add(key)

        def committed(_: Session) -> None:
            state = sync.info.pop(key, None)
            if on_commit is not None and state is not None:
                on_commit(state)

        def rolled_back(_: Session, previous: SessionTransaction) -> None:
            if previous.parent is None:  # the outermost transaction, not a savepoint
                sync.info.pop(key, None)

        event.listen(sync, "after_commit", committed)
        event.listen(sync, "after_soft_rollback", rolled_back)
    return found


def _start(actions: list[tuple[Action, str]]) -> None:
    for action, repaired_by in actions:
        task = asyncio.get_running_loop().create_task(_guarded(action, repaired_by))
        _TASKS.add(task)
        task.add_done_callback(_TASKS.discard)


async def _guarded(action: Action, repaired_by: str) -> None:
    try:
        await action()
    except Exception:
        log.exception("after-commit action failed; %s repairs it", repaired_by)
