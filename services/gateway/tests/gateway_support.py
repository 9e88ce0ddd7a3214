"""Helpers of the gateway's tests: a real uvicorn server per app, and the gateway's proxy
over a stand-in upstream with the real Redis of the callers' tokens."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis
from starlette.types import ASGIApp

from crm_dev.servers import free_port
from crm_dev.testkit import eventually
from crm_gateway.consistency import CallerTokens
from crm_gateway.proxy import router as proxy_router
from crm_gateway.settings import Settings
from crm_gateway.upstream import Upstream
from crm_shared.errors import install_problem_handlers


async def serve(
    app: ASGIApp, port: int | None = None
) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    """``app`` on ``port`` (a free one by default); the server, its task and its URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, f"a test server on port {port}", every=0.02)
    return server, task, f"http://127.0.0.1:{port}"


def proxy_app(settings: Settings, redis: Redis) -> tuple[FastAPI, Any]:
    """The gateway's proxy alone, with the dependencies it needs; returns the app and
    them."""
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(proxy_router)
    app.state.settings = settings
    deps = SimpleNamespace(
        settings=settings,
        upstream=Upstream(),
        tokens=CallerTokens(redis, ttl_seconds=60),
    )
    app.state.deps = deps
    return app, deps


class MemoryWindows:
    """:class:`crm_gateway.limits.Windows` in memory, with a clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.events: dict[str, list[float]] = {}

    def _live(self, key: str, window: float) -> list[float]:
        live = [t for t in self.events.get(key, []) if t > self.now - window]
        self.events[key] = live
        return live

    def _wait(self, live: list[float], limit: int, window: float) -> float:
        return 0 if len(live) < limit else live[len(live) - limit] + window - self.now

    async def check(self, key: str, *, limit: int, window: float) -> float:
        return self._wait(self._live(key, window), limit, window)

    async def take(self, key: str, *, limit: int, window: float) -> float:
        live = self._live(key, window)
        if (wait := self._wait(live, limit, window)) > 0:
            return wait
        live.append(self.now)
        return 0

    async def hit(self, key: str, *, limit: int, window: float) -> float:
        live = self._live(key, window)
        live.append(self.now)
        return self._wait(live, limit, window)

    async def clear(self, key: str) -> None:
        self.events.pop(key, None)
