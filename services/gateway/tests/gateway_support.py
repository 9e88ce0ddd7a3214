"""Helpers of the gateway's tests: a real uvicorn server per app, and the gateway's proxy
over a stand-in upstream with the real Redis of the callers' tokens."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis

from crm_dev.servers import free_port
from crm_dev.testkit import eventually
from crm_gateway.consistency import CallerTokens
from crm_gateway.proxy import router as proxy_router
from crm_gateway.settings import Settings
from crm_shared.errors import install_problem_handlers


async def serve(
    app: FastAPI, port: int | None = None
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
        services=httpx.AsyncClient(),
        tokens=CallerTokens(redis, ttl_seconds=60),
    )
    app.state.deps = deps
    return app, deps
