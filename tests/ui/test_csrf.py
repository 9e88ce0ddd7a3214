"""Every POST route of the staff pages and the portal refuses a request without this
browser's CSRF token (403), and nothing changes; htmx's header is checked the same way,
and a request from another site is refused even with the token.

The routes are read from the gateway's page routers (``crm_gateway.ui.ROUTERS``, which
``install_ui`` mounts), so a new form route is checked without touching this file."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from ui_support import ADMIN_PASSWORD, tag

from crm_dev.stack import Stack
from crm_gateway.sessions import COOKIE
from crm_gateway.ui import ROUTERS
from crm_gateway.ui.security import CSRF_COOKIE


def _routes(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        if hasattr(route, "original_router"):  # an included router (FastAPI >= 0.16x)
            yield from _routes(route.original_router.routes)
        elif hasattr(route, "routes"):
            yield from _routes(route.routes)
        else:
            yield route


POST_ROUTES = sorted(
    {r.path for router in ROUTERS for r in _routes(router.routes) if "POST" in r.methods}
)
REFUSED = "Das Formular ist veraltet"


def test_the_routes_are_found() -> None:
    """The walk above finds the routes (so the test below cannot pass on none)."""
    assert len(POST_ROUTES) >= 40
    for known in ("/ui/login", "/ui/contacts/bulk", "/ui/contacts/{contact_id}/status"):
        assert known in POST_ROUTES


@pytest.fixture(scope="module")
async def browser_session(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A signed-in staff session as a browser holds it: the session and CSRF cookies."""
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        login = await client.get("/ui/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert token, login.text
        signed = await client.post(
            "/ui/login",
            data={"csrf_token": token.group(1), "username": "admin", "password": ADMIN_PASSWORD},
        )
        assert signed.status_code == 303 and COOKIE in client.cookies, signed.text
        yield client


@pytest.fixture(scope="module")
async def data(stack: Stack, admin_token: str) -> AsyncIterator[dict[str, str]]:
    """A contact with history, an interaction, a procedure and a campaign membership: what
    the routes would change if they let a request through."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=30) as api:

        async def made(path: str, body: dict[str, Any]) -> dict[str, Any]:
            answer = await api.post(path, json=body)
            assert answer.status_code in (200, 201), answer.text
            result: dict[str, Any] = answer.json()
            return result

        contact = await made("/api/contacts", {"kind": "person", "name": f"CSRF {tag()}"})
        cid = contact["id"]
        campaign = await made(
            "/api/campaigns",
            {"name": f"CSRF {tag()}", "starts_on": "2027-01-01", "ends_on": "2027-12-31"},
        )
        await made(f"/api/campaigns/{campaign['id']}/members", {"contact_ids": [cid]})
        entry = await made(f"/api/contacts/{cid}/history", {"text": "bleibt"})
        interaction = await made(
            "/api/interactions",
            {"contact_id": cid, "topic": "bleibt", "kind": "internal", "text": "bleibt"},
        )
        procedure = await made(
            "/api/procedures",
            {
                "contact_id": cid,
                "type": "call",
                "direction": "outgoing",
                "state": "planned",
                "starts_at": "2031-01-10T09:00:00+01:00",
                "duration_minutes": 0,
                "reminder": False,
                "subject": "bleibt",
            },
        )
        me = (await api.get("/api/me")).json()
        yield {
            "contact_id": cid,
            "campaign_id": campaign["id"],
            "entry_id": entry["id"],
            "interaction_id": interaction["id"],
            "procedure_id": procedure["id"],
            "staff_id": me["id"],
            "kind": "history",
        }


async def state(api: httpx.AsyncClient, data: dict[str, str]) -> list[Any]:
    """What the routes could change, read through the API."""
    cid, campaign = data["contact_id"], data["campaign_id"]
    reads = [
        (f"/api/contacts/{cid}", {}),
        (f"/api/contacts/{cid}/history", {}),
        ("/api/interactions", {"contact_id": cid}),
        ("/api/procedures", {"contact_id": cid}),
        (f"/api/campaigns/{campaign}", {}),
        (f"/api/campaigns/{campaign}/members", {}),
        ("/api/contacts", {"q": "CSRF geändert"}),
        ("/api/groups", {"limit": 500}),
        ("/api/staff", {"limit": 500}),
        ("/api/history/settings", {}),
        ("/api/crm/settings", {}),
        ("/api/number-ranges", {"limit": 500}),
    ]
    answers = await asyncio.gather(*(api.get(path, params=params) for path, params in reads))
    return [
        (path, answer.status_code, answer.json())
        for (path, _), answer in zip(reads, answers, strict=True)
    ]


def _filled(path: str, data: dict[str, str]) -> str:
    """The route with its ids: the data's where it names one, else an unknown id."""
    return re.sub(r"\{(\w+)\}", lambda m: data.get(m.group(1), str(uuid.uuid4())), path)


def _form(data: dict[str, str]) -> dict[str, str]:
    """A form that would change something on any of the routes, were it let through."""
    return {
        "status": "archived",
        "confirm": "true",
        "name": "CSRF geändert",
        "email": "csrf@example.com",
        "action": "delete",
        "scope": "ids",
        "contact_id": data["contact_id"],
        "campaign_id": data["campaign_id"],
        "group_id": str(uuid.uuid4()),
        "kind": "internal",
        "topic": "CSRF geändert",
        "text": "CSRF geändert",
        "subject": "CSRF geändert",
        "body": "CSRF geändert",
        "type": "call",
        "direction": "outgoing",
        "state": "planned",
        "starts_at": "2031-02-01T10:00",
        "duration": "0:00",
        "outcome": "not_done",
        "mode": "all",
        "username": "admin",
        "password": ADMIN_PASSWORD,
        "roles": "admin",
        "title": "CSRF geändert",
    }


@pytest.mark.parametrize("route", POST_ROUTES)
async def test_a_form_without_the_token_is_refused_and_changes_nothing(
    route: str,
    browser_session: httpx.AsyncClient,
    data: dict[str, str],
    api: httpx.AsyncClient,
) -> None:
    before = await state(api, data)
    path = _filled(route, data)
    for headers in ({}, {"HX-Request": "true"}):  # a plain form, and htmx without its header
        answer = await browser_session.post(path, data=_form(data), headers=headers)
        assert answer.status_code == 403, (path, headers, answer.status_code, answer.text[:300])
        assert REFUSED in answer.text
        new_cookies = answer.headers.get_list("set-cookie")
        assert not any(c.startswith(f"{COOKIE}=") for c in new_cookies), new_cookies
    assert await state(api, data) == before, path
    # still signed in ("Abmelden" without the token ends nothing either)
    still = await browser_session.get("/ui/contacts")
    assert still.status_code == 200, still.headers.get("location")


async def test_htmx_header_token_must_match_and_come_from_this_site(
    browser_session: httpx.AsyncClient, data: dict[str, str], api: httpx.AsyncClient
) -> None:
    path = f"/ui/contacts/{data['contact_id']}/status"
    token = browser_session.cookies[CSRF_COOKIE]
    before = await state(api, data)
    htmx = {"HX-Request": "true", "HX-Current-URL": f"{browser_session.base_url}{path}"}
    for what, headers in (
        ("another token", {**htmx, "X-CSRF-Token": "nicht-das-richtige"}),
        ("from another site", {**htmx, "X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"}),
        ("another origin", {**htmx, "X-CSRF-Token": token, "Origin": "https://evil.example"}),
    ):
        answer = await browser_session.post(path, data={"status": "archived"}, headers=headers)
        assert answer.status_code == 403, (what, answer.status_code)
        assert answer.headers.get("hx-retarget") == "#flash", what  # said where messages go
        assert REFUSED in answer.text, what
    assert await state(api, data) == before

    # with its own token, from this site, the same request goes through
    headers = {**htmx, "X-CSRF-Token": token, "Sec-Fetch-Site": "same-origin"}
    answer = await browser_session.post(path, data={"status": "archived"}, headers=headers)
    assert answer.status_code == 200, answer.text[:300]
    contact = (await api.get(f"/api/contacts/{data['contact_id']}")).json()
    assert contact["status"] == "archived"
