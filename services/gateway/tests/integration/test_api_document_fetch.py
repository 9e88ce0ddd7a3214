"""How the gateway gets the services' documents for ``/api/openapi.json``: over HTTP from
real servers, kept for a while, the last one kept when a service stops answering, 503
while a service never answered."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
import uvicorn
from fastapi import FastAPI
from gateway_support import serve

from crm_dev.servers import free_port
from crm_gateway.openapi import ApiDocument
from crm_gateway.upstream import Upstream
from crm_shared.errors import Problem


def contacts_app(version: int) -> FastAPI:
    app = FastAPI()

    @app.get("/api/contacts")
    async def contacts() -> dict[str, int]:
        return {"version": version}

    @app.get(f"/api/number-ranges/v{version}")
    async def ranges() -> dict[str, int]:
        return {"version": version}

    return app


@contextlib.asynccontextmanager
async def upstream_session() -> AsyncIterator[Upstream]:
    upstream = Upstream()
    try:
        yield upstream
    finally:
        await upstream.close()


def paths(body: bytes) -> list[str]:
    return sorted(json.loads(body)["paths"])


async def test_fetched_kept_and_fetched_again() -> None:
    gateway = FastAPI()  # the gateway's own routes: none here
    port = free_port()
    async with upstream_session() as client:
        first, task, url = await serve(contacts_app(1), port)
        document = ApiDocument(ttl=0.5)
        urls = {"contacts": url}
        assert paths(await document.body(gateway, client, urls)) == [
            "/api/contacts",
            "/api/number-ranges/v1",
        ]
        await stop(first, task)
        # the service is away: its last document is still served, after the ttl too (the
        # time is what this checks: past the 0.5 s ttl, a fetch is due and fails)
        await asyncio.sleep(0.6)
        assert "/api/number-ranges/v1" in paths(await document.body(gateway, client, urls))
        # a new version of it comes up on the same address: seen once the ttl has passed
        second, task, _ = await serve(contacts_app(2), port)
        try:
            assert "/api/number-ranges/v2" in paths(await document.body(gateway, client, urls))
        finally:
            await stop(second, task)


async def test_a_service_that_never_answered_is_a_503() -> None:
    async with upstream_session() as client:
        document = ApiDocument()
        urls = {"contacts": f"http://127.0.0.1:{free_port()}"}
        with pytest.raises(Problem) as refused:
            await document.body(FastAPI(), client, urls)
    assert refused.value.status == 503
    assert refused.value.headers == {"Retry-After": "2"}
    assert "contacts" in refused.value.detail


async def stop(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    await task
