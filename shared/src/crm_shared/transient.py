"""Failures of a backing store rather than of the work: a database, Redis or a peer that
cannot be reached right now. A consumer waits them out (no dead letter); an API answers
them 503 with ``Retry-After`` (the caller tries again), never 500."""

from __future__ import annotations

from redis import exceptions as redis_exc
from sqlalchemy import exc as sa_exc

_TRANSIENT: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    redis_exc.ConnectionError,
    redis_exc.TimeoutError,
)


class DeadLetter(Exception):
    """Raised by a handler that knows retrying is pointless: dead-letter at once."""


# PostgreSQL's SQLSTATEs of a server that is away: class 08 (connection exceptions), the
# shutdowns and "cannot connect now" (57P01-57P03, a restart), too many connections
_AWAY_STATES = ("08", "57P01", "57P02", "57P03", "53300")


def is_transient(exc: BaseException) -> bool:
    """Whether something failed because a backing store is unreachable (retry it),
    rather than because of what was asked (a handler: a few retries, then a dead letter)."""
    if isinstance(exc, DeadLetter):
        return False
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        state = getattr(exc.orig, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_AWAY_STATES):
            return True
    return isinstance(exc, _TRANSIENT)
