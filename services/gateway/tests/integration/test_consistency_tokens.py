"""The gateway keeps each caller's consistency token and sends it along (real Redis, real
sockets; the upstream is a stand-in that answers tokens and echoes what it got)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from gateway_support import proxy_app, serve
from redis.asyncio import Redis

from crm_gateway.proxy import send_upstream
from crm_gateway.settings import Settings
from crm_shared.auth import StaffClaims, issue_token

SECRET = "test-secret-of-the-consistency-tokens-32-bytes!"


def upstream_app() -> FastAPI:
    app = FastAPI()

    @app.post("/api/contacts")
    async def write(request: Request, response: Response) -> dict[str, Any]:
        response.headers["CRM-Consistency-Token"] = (await request.json())["answer"]
        return {}

    @app.get("/api/contacts")
    async def read(request: Request) -> dict[str, Any]:
        return {"got": request.headers.get("crm-consistency-token")}

    return app


@pytest.fixture
async def gateway(redis_url: str) -> AsyncIterator[tuple[str, Any]]:
    redis = Redis.from_url(redis_url)
    up, up_task, up_url = await serve(upstream_app())
    app, deps = proxy_app(Settings(contacts_url=up_url, jwt_secret=SECRET), redis)
    gw, gw_task, gw_url = await serve(app)
    try:
        yield gw_url, deps
    finally:
        for server in (gw, up):
            server.should_exit = True
        await asyncio.gather(gw_task, up_task)
        await deps.upstream.close()
        await redis.aclose()


def bearer() -> dict[str, str]:
    claims = StaffClaims(
        staff_id=str(uuid.uuid4()), username="anna", name="Anna", roles=["crm_user"]
    )
    return {"Authorization": f"Bearer {issue_token(claims, SECRET)}"}


async def test_a_callers_writes_travel_with_its_next_requests_only(
    gateway: tuple[str, Any],
) -> None:
    url, _ = gateway
    anna, ben = bearer(), bearer()
    async with httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/api/contacts", headers=anna)).json() == {"got": None}
        first = await client.post(
            "/api/contacts", headers=anna, json={"answer": "contacts/crm.contacts/1=5.10"}
        )
        assert first.headers["crm-consistency-token"] == "contacts/crm.contacts/1=5.10"
        await client.post(
            "/api/contacts",
            headers=anna,
            json={"answer": "contacts/crm.contacts/1=4.99,contacts/crm.contacts/2=6.11"},
        )
        got = (await client.get("/api/contacts", headers=anna)).json()["got"]
        # the newer position of each entry: an older answer never lowers one
        assert got == "contacts/crm.contacts/1=5.10,contacts/crm.contacts/2=6.11"
        assert (await client.get("/api/contacts", headers=ben)).json() == {"got": None}
        # a token the client sends itself is merged with the stored one
        mine = {**ben, "CRM-Consistency-Token": "gateway/crm.staff/0=1.2"}
        assert (await client.get("/api/contacts", headers=mine)).json() == {
            "got": "gateway/crm.staff/0=1.2"
        }


async def test_the_pages_call_the_same_function(gateway: tuple[str, Any]) -> None:
    _, deps = gateway
    caller = f"staff:{uuid.uuid4()}"
    written = await send_upstream(
        deps,
        caller=caller,
        method="POST",
        path="/api/contacts",
        headers={"content-type": "application/json"},
        content=b'{"answer": "contacts/crm.contacts/0=7.70"}',
    )
    await written.close()
    read = await send_upstream(deps, caller=caller, method="GET", path="/api/contacts")
    assert json.loads(await read.read()) == {"got": "contacts/crm.contacts/0=7.70"}
    await read.close()
