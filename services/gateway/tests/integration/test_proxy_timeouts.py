"""The proxy's upstream timeouts, over real sockets (and the real Redis of the callers'
tokens): a long upload (a CSV import) or a bulk action may wait for its answer far longer
than the usual timeout; other requests get 504, not 503."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from gateway_support import proxy_app, serve
from redis.asyncio import Redis

from crm_gateway.proxy import upstream_timeout
from crm_gateway.settings import Settings
from crm_shared.auth import StaffClaims, issue_token

SECRET = "test-secret-of-the-proxy-timeouts-at-least-32-bytes"
ANSWER_AFTER = 1.5  # seconds the upstream thinks after reading the whole upload


def upstream_app() -> FastAPI:
    app = FastAPI()

    @app.post("/api/contacts/import")
    @app.post("/api/contacts/groups")
    async def slow(request: Request) -> dict[str, Any]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            await asyncio.sleep(0.01)  # reads slower than the client sends
        await asyncio.sleep(ANSWER_AFTER)
        return {"bytes": size, "prefer": request.headers.get("prefer")}

    return app


def gateway_app(upstream: str, redis: Redis) -> FastAPI:
    settings = Settings(
        contacts_url=upstream,
        proxy_timeout_seconds=0.5,
        proxy_long_timeout_seconds=30,
        jwt_secret=SECRET,
    )
    return proxy_app(settings, redis)[0]


@pytest.fixture
async def gateway(redis_url: str) -> AsyncIterator[str]:
    redis = Redis.from_url(redis_url)
    up, up_task, up_url = await serve(upstream_app())
    gw, gw_task, gw_url = await serve(gateway_app(up_url, redis))
    try:
        yield gw_url
    finally:
        for server in (gw, up):
            server.should_exit = True
        await asyncio.gather(gw_task, up_task)
        await redis.aclose()


def token() -> str:
    claims = StaffClaims(staff_id="s1", username="admin", name="Admin", roles=["admin"])
    return issue_token(claims, SECRET)


async def upload(gateway: str, path: str) -> httpx.Response:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(64):  # 4 MiB: much of it fits into the sockets' buffers at once
            yield b"x" * 65536

    async with httpx.AsyncClient(timeout=60) as client:
        return await client.post(
            f"{gateway}{path}",
            content=body(),
            headers={
                "Authorization": f"Bearer {token()}",
                "Content-Type": "text/csv",
                "Prefer": "respond-async",
            },
        )


async def test_a_long_import_upload_gets_its_answer(gateway: str) -> None:
    response = await upload(gateway, "/api/contacts/import")
    assert response.status_code == 200, response.text
    assert response.json() == {"bytes": 64 * 65536, "prefer": "respond-async"}


async def test_other_requests_time_out_with_504(gateway: str) -> None:
    response = await upload(gateway, "/api/contacts/groups")
    assert response.status_code == 504, response.text
    assert "did not answer in time" in response.json()["detail"]


def test_only_the_import_upload_and_bulk_actions_get_the_long_timeout() -> None:
    settings = Settings(proxy_timeout_seconds=30, proxy_long_timeout_seconds=900)
    assert upstream_timeout("POST", "/api/contacts/import", settings).read == 900
    assert upstream_timeout("POST", "/api/contacts/bulk", settings).read == 900
    assert upstream_timeout("GET", "/api/contacts/import/j1", settings).read == 30
    assert upstream_timeout("POST", "/api/contacts/search", settings).read == 30
