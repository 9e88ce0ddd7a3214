"""Consistency tokens: a caller never gets an answer from a copy older than what it saw.

Every service keeps local copies of other services' data, fed by their events. A copy is
*eventually* current; a user who changes a contact and logs an interaction at once must
not get the old address. So (ARCHITECTURE.md, "How a change travels", point 5):

- **Positions.** Each service numbers its event-writing commits in commit order (its
  *commit clock*, :mod:`crm_shared.outbox`); an event's position is ``(clock, seq)``,
  carried in the Kafka header ``crm-position``. The relay publishes in position order,
  so on every partition one owner's positions grow in log order, whatever the partition.
- **Writes answer a token.** A commit knows the position of the last event it wrote on
  each (owner, topic, partition); the response carries them in the header
  ``CRM-Consistency-Token`` (:class:`ConsistencyMiddleware`).
- **Callers send the newest token they have seen** (the gateway keeps one per staff
  member, merged entry by entry).
- **Consumers record how far they got**: per (consumer group, owner, topic, partition)
  the highest position processed, in the same transaction as the effects
  (:class:`crm_shared.copies.CopyPositions`).
- **Readers wait**: :func:`crm_shared.copies.wait_for_copy` waits until the copy has
  reached the token on the partitions the read concerns (those of the keys it reads, or
  all), for a bounded time, then answers 503 with ``Retry-After`` (:class:`CopyBehind`).

This is the session token of Azure Cosmos DB (one LSN per partition key range, waited
for by the replica that serves the read) and MongoDB's ``afterClusterTime``, with the
commit clock as the LSN; Kafka offsets would do too, but only the relay learns them, so
every write would wait for its publication.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from crm_shared.errors import Problem

HEADER = "crm-consistency-token"
"""Request and response header (case-insensitive) that carries a token."""
POSITION_HEADER = "crm-position"
"""Kafka header of every relayed event: ``<owner>/<clock>.<seq>``."""

Position = tuple[int, int]
"""``(commit clock, outbox seq)`` of an event, ordered as the owner published it."""
Entry = tuple[str, str, int]
"""``(owner service, topic, partition)``: one stream of an owner's positions."""

_ENTRY = re.compile(r"^([a-z][a-z0-9_-]*)/([A-Za-z0-9._-]+)/(\d+)=(\d+)\.(\d+)$")
MAX_ENTRIES = 256  # a token names at most this many streams; more is not ours


class Token(dict[Entry, Position]):
    """A set of positions, at most one per (owner, topic, partition)."""

    @classmethod
    def parse(cls, header: str | None) -> Token:
        """Read a header value; malformed entries are ignored (a stale read is then
        possible, never an error for the caller)."""
        token = cls()
        if not header:
            return token
        for part in header.split(",")[:MAX_ENTRIES]:
            match = _ENTRY.match(part.strip())
            if match:
                owner, topic, partition, clock, seq = match.groups()
                token.merge({(owner, topic, int(partition)): (int(clock), int(seq))})
        return token

    def merge(self, other: Mapping[Entry, Position]) -> Token:
        """Keep the newer position of each entry (in place); returns self."""
        for entry, position in other.items():
            old = self.get(entry)
            if old is None or position > old:
                self[entry] = position
        return self

    def header(self) -> str:
        """The header value, entries sorted."""
        return ",".join(
            f"{owner}/{topic}/{partition}={clock}.{seq}"
            for (owner, topic, partition), (clock, seq) in sorted(self.items())
        )

    def on(
        self, topic: str, partitions: Iterable[int] | None = None
    ) -> Iterator[tuple[Entry, Position]]:
        """The entries of ``topic`` (on ``partitions`` only, when given)."""
        wanted = None if partitions is None else set(partitions)
        for entry, position in self.items():
            if entry[1] == topic and (wanted is None or entry[2] in wanted):
                yield entry, position


def parse_position(value: bytes | str) -> tuple[str, Position] | None:
    """A record's ``crm-position`` header (``<owner>/<clock>.<seq>``) as ``(owner,
    position)``, or None when it is broken."""
    text = value.decode() if isinstance(value, bytes) else value
    owner, _, rest = text.partition("/")
    clock, _, seq = rest.partition(".")
    if not (owner and clock.isdigit() and seq.isdigit()):
        return None
    return owner, (int(clock), int(seq))


def format_position(owner: str, position: Position) -> bytes:
    """The ``crm-position`` header value of an event of ``owner``."""
    return f"{owner}/{position[0]}.{position[1]}".encode()


# --- the request's token ------------------------------------------------------------


@dataclass
class RequestTokens:
    """What one HTTP request brought (``seen``) and what its commits wrote."""

    seen: Token = field(default_factory=Token)
    written: Token = field(default_factory=Token)


_request: ContextVar[RequestTokens | None] = ContextVar("crm_request_tokens", default=None)


def seen() -> Token:
    """The token the current request brought (empty outside a request)."""
    current = _request.get()
    return current.seen if current is not None else Token()


def note_written(positions: Mapping[Entry, Position]) -> None:
    """Called after a commit of the current request wrote events (no-op elsewhere)."""
    current = _request.get()
    if current is not None:
        current.written.merge(positions)


Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]
WrittenHook = Callable[[Scope, Token], Awaitable[None]]


class ConsistencyMiddleware:
    """Reads the request's token and answers what its commits wrote.

    Pure ASGI, so the request's :class:`RequestTokens` is the one the endpoint and its
    dependencies see (the unit of work commits before the response starts). ``on_written``
    lets the gateway remember the positions of its own writes for the caller.
    """

    def __init__(self, app: ASGIApp, on_written: WrittenHook | None = None) -> None:
        self.app = app
        self.on_written = on_written

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = _header(scope, HEADER.encode())
        tokens = RequestTokens(seen=Token.parse(header.decode() if header else None))
        reset = _request.set(tokens)

        async def send_with_token(message: Message) -> None:
            if message["type"] == "http.response.start" and tokens.written:
                if self.on_written is not None:
                    await self.on_written(scope, tokens.written)
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        (HEADER.encode(), tokens.written.header().encode()),
                    ],
                }
            await send(message)

        try:
            await self.app(scope, receive, send_with_token)
        finally:
            _request.reset(reset)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value)
    return None


class CopyBehind(Problem):
    """503: a copy has not caught up with what the caller has seen; retry shortly."""

    def __init__(
        self, service: str, lagging: list[tuple[Entry, Position | None, Position]]
    ) -> None:
        entry, reached, needed = lagging[0]
        owner, topic, partition = entry
        got = f"{reached[0]}.{reached[1]}" if reached else "nothing"
        super().__init__(
            503,
            f"the {service} service's copy of the {owner} service's data ({topic}, "
            f"partition {partition}) is behind what you have seen (at {got}, needs "
            f"{needed[0]}.{needed[1]}); try again in a moment",
            title="Copy not current yet",
            headers={"Retry-After": "1"},
            copy=topic,
        )
