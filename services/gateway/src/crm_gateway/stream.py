"""The live notification stream: ``GET /api/notifications/stream`` (server-sent events).

The notifier publishes every stored notification on the Redis channel
``crm:notifications:<staff_id>``. Each gateway replica holds one pattern subscription
(``crm:notifications:*``) and fans messages out to the streams of the staff members
connected to it, so any replica can serve any staff member with one Redis connection.
A comment line goes out every 15 s as a heartbeat. Missed messages are not replayed
(no Last-Event-ID): the list at ``GET /api/notifications`` is the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from redis.asyncio import Redis
from sse_starlette import EventSourceResponse, ServerSentEvent

from crm_gateway.sessions import browser_token
from crm_shared.auth import StaffClaims, decode_token, verified_staff
from crm_shared.errors import Problem

if TYPE_CHECKING:
    from crm_gateway.deps import GatewayDeps

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "crm:notifications:"
HEARTBEAT_SECONDS = 15
QUEUE_SIZE = 100

router = APIRouter(tags=["notifications"])


class NotificationHub:
    """One Redis pattern subscription per gateway, fanned out to connected streams."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._queues: dict[str, set[asyncio.Queue[str]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notification-hub")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), 10)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.contextmanager
    def listen(self, staff_id: str) -> Iterator[asyncio.Queue[str]]:
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self._queues.setdefault(staff_id, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._queues.get(staff_id, set())
            queues.discard(queue)
            if not queues:
                self._queues.pop(staff_id, None)

    async def _run(self) -> None:
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(CHANNEL_PREFIX + "*")
                self.subscribed.set()
                async for message in pubsub.listen():
                    if message.get("type") == "pmessage":
                        self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                self.subscribed.clear()
                log.exception("notification subscription lost; resubscribing in 1 s")
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _dispatch(self, channel: bytes | str, data: bytes | str) -> None:
        name = channel.decode() if isinstance(channel, bytes) else channel
        text = data.decode() if isinstance(data, bytes) else data
        for queue in self._queues.get(name.removeprefix(CHANNEL_PREFIX), ()):
            try:
                queue.put_nowait(text)
            except asyncio.QueueFull:
                log.warning("a slow notification stream dropped a message")


async def _stream_staff(request: Request, access_token: str | None) -> StaffClaims:
    """The bearer token, the browser's staff session (the pages' EventSource sends its
    cookie), or ``?access_token=`` (other browser clients: EventSource sends no header)."""
    if not request.headers.get("authorization") and not access_token:
        access_token = await browser_token(request)
    if request.headers.get("authorization") or not access_token:
        return verified_staff(request)
    claims = decode_token(access_token, request.app.state.settings.jwt_secret)
    if not claims.may_use_crm:
        raise Problem(403, "the CRM needs the role crm_user or admin")
    return claims


@router.get(
    "/api/notifications/stream",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "server-sent events: ``ready``, then ``notification``",
            "content": {
                "text/event-stream": {
                    "schema": {  # each event (schemathesis reads it so)
                        "type": "object",
                        "properties": {
                            "event": {"type": "string", "enum": ["ready", "notification"]},
                            "data": {"type": "string", "description": "JSON"},
                            "id": {"type": "string"},
                        },
                        "required": ["event", "data"],
                    }
                }
            },
        }
    },
)
async def notification_stream(
    request: Request, access_token: str | None = None
) -> EventSourceResponse:
    """Your notifications as they are stored, as server-sent events (``notification``)."""
    staff = await _stream_staff(request, access_token)
    deps: GatewayDeps = request.app.state.deps
    hub = deps.hub

    async def events() -> AsyncIterator[ServerSentEvent]:
        with hub.listen(staff.staff_id) as queue:
            yield ServerSentEvent(event="ready", data=json.dumps({"staff_id": staff.staff_id}))
            while True:
                data = await queue.get()
                try:
                    ident = str(json.loads(data).get("id") or "")
                except ValueError:
                    ident = ""
                yield ServerSentEvent(event="notification", data=data, id=ident or None)

    return EventSourceResponse(
        events(), ping=HEARTBEAT_SECONDS, headers={"Cache-Control": "no-cache"}
    )
