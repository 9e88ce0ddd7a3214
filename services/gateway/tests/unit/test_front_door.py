"""The gateway's front door without the CRM's servers: the proxy over a stand-in service
on a local socket (paths with control characters, portal login links counted per
address), request body limits, the client's address, the headers of API answers,
/dev/mail only in dev."""

from __future__ import annotations

import mailbox
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from gateway_support import MemoryWindows, serve
from pydantic import BaseModel

from crm_gateway.headers import SecurityHeaders
from crm_gateway.limits import (
    DRAIN_BYTES,
    BodyLimits,
    ClientAddress,
    LoginLinkLimit,
    client_address,
)
from crm_gateway.main import create_app
from crm_gateway.proxy import router as proxy_router
from crm_gateway.settings import Settings
from crm_gateway.upstream import Upstream
from crm_shared.auth import StaffClaims, issue_token
from crm_shared.consistency import Token
from crm_shared.errors import PROBLEM_JSON, install_problem_handlers

SECRET = "test-secret-of-the-front-door-at-least-32-bytes"
TOKEN = issue_token(StaffClaims(staff_id="s1", username="admin", name="A", roles=["admin"]), SECRET)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class NoTokens:
    async def token_for(self, caller: str | None) -> Token:
        return Token()

    async def record(self, caller: str | None, token: Token) -> None:
        return None


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


@dataclass
class Seen:
    """A request as it reached the stand-in service."""

    raw_path: bytes
    content: bytes


def recording_service(seen: list[Seen]) -> Any:
    """A service that records each request's raw path and body, and answers 202 for a
    login link and 404 for anything else (a plain ASGI app: FastAPI would route by the
    decoded path)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append(Seen(scope["raw_path"], body))
        status = 202 if scope["path"] == "/portal/api/login-link" else 404
        headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


@pytest.fixture
async def proxied() -> AsyncIterator[tuple[httpx.AsyncClient, list[Seen]]]:
    """The proxy route over a service on a local socket that records what reaches it."""
    seen: list[Seen] = []
    service, service_task, service_url = await serve(recording_service(seen))
    settings = Settings(jwt_secret=SECRET, contacts_url=service_url, interactions_url=service_url)
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(proxy_router)
    app.state.settings = settings
    windows = MemoryWindows()
    upstream = Upstream()
    app.state.deps = SimpleNamespace(
        settings=settings,
        upstream=upstream,
        tokens=NoTokens(),
        login_link_limit=LoginLinkLimit(windows, per_email=5, window_seconds=3600),
        windows=windows,
    )
    try:
        async with client(app) as gateway:
            yield gateway, seen
    finally:
        await upstream.close()
        service.should_exit = True
        await service_task


async def test_a_control_character_in_a_path_reaches_the_service_escaped(
    proxied: tuple[httpx.AsyncClient, list[Seen]],
) -> None:
    """Fuzzer: ``/api/contacts/%00`` was a 500 at the gateway (the decoded NUL is no
    valid URL upstream); the service's answer (404) is the gateway's."""
    gateway, seen = proxied
    for raw in ("%00", "%01", "%7F", "%25", "a%09b"):
        answer = await gateway.get(f"/api/contacts/{raw}", headers=AUTH)
        assert answer.status_code == 404, (raw, answer.text)
        assert seen[-1].raw_path == f"/api/contacts/{raw}".encode()
    line_break = await gateway.get("/api/contacts/a%0Ab", headers=AUTH)  # matches no route
    assert line_break.status_code == 404
    assert line_break.headers["content-type"] == PROBLEM_JSON
    await gateway.get("/api/contacts/J%C3%B6rg%20M", headers=AUTH)
    assert seen[-1].raw_path == b"/api/contacts/J%C3%B6rg%20M"


async def test_login_links_are_counted_per_address(
    proxied: tuple[httpx.AsyncClient, list[Seen]],
) -> None:
    gateway, seen = proxied
    for n in range(5):
        email = "Kunde@Firma.example" if n % 2 else " kunde@firma.example"
        sent = await gateway.post("/portal/api/login-link", json={"email": email})
        assert sent.status_code == 202, sent.text
    assert len(seen) == 5 and seen[-1].content == b'{"email":" kunde@firma.example"}'  # as sent
    refused = await gateway.post("/portal/api/login-link", json={"email": "KUNDE@firma.example"})
    assert refused.status_code == 429
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert refused.headers["retry-after"] == "3600"
    assert len(seen) == 5, "a refused request never reaches the service"
    other = await gateway.post("/portal/api/login-link", json={"email": "andere@firma.example"})
    assert other.status_code == 202
    for broken in (b"{", b"[" * 100_000, b"\xff"):  # the service's to refuse
        forwarded = await gateway.post("/portal/api/login-link", content=broken)
        assert forwarded.status_code == 202 and seen[-1].content == broken


class Item(BaseModel):
    text: str


def body_app() -> tuple[Any, list[int]]:
    """A small app behind BodyLimits; the list holds the sizes the routes read."""
    app = FastAPI()
    install_problem_handlers(app)
    read: list[int] = []

    @app.post("/api/items")
    async def create(item: Item) -> dict[str, int]:
        read.append(len(item.text))
        return {"length": len(item.text)}

    @app.post("/api/contacts/import")
    async def upload(request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        read.append(size)
        return {"length": size}

    async def signed_in(scope: Any) -> bool:
        return dict(scope["headers"]).get(b"authorization") == AUTH["Authorization"].encode()

    limited = BodyLimits(app, max_public=100, max_body=1000, max_import=5000, signed_in=signed_in)
    return limited, read


async def test_a_declared_body_over_the_limit_is_refused_before_it_is_read() -> None:
    """The route never sees a byte; the door reads and discards what the client sends
    (so it gets the 413 instead of a reset connection), but never more than
    ``DRAIN_BYTES``."""
    app, read = body_app()
    receives = 0

    async def receive() -> dict[str, Any]:  # a client that never stops sending
        nonlocal receives
        receives += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/contacts/import",
        "headers": [(b"content-length", str(300 << 20).encode())],
        "query_string": b"",
    }
    await app(scope, receive, send)
    assert read == [], "the route read nothing"
    assert receives * 65536 <= DRAIN_BYTES + 65536, "discarded up to DRAIN_BYTES, then cut"
    assert sent[0]["status"] == 413
    assert (b"content-type", PROBLEM_JSON.encode()) in sent[0]["headers"]
    assert (b"connection", b"close") in sent[0]["headers"]


async def test_bodies_are_limited_by_route_kind_and_sign_in() -> None:
    app, read = body_app()  # 100 bytes anonymous, 1000 signed in, 5000 an import

    async def chunks(count: int) -> AsyncIterator[bytes]:  # no Content-Length
        for _ in range(count):
            yield b"x" * 40

    async with client(app) as gateway:
        ok = await gateway.post("/api/items", json={"text": "x" * 50})
        assert ok.status_code == 200
        anonymous = await gateway.post("/api/items", json={"text": "x" * 200})
        assert anonymous.status_code == 413 and anonymous.json()["max_bytes"] == 100
        assert anonymous.headers["content-type"] == PROBLEM_JSON
        streamed = await gateway.post("/api/items", content=chunks(10))
        assert streamed.status_code == 413, streamed.text
        staff = await gateway.post("/api/items", json={"text": "x" * 200}, headers=AUTH)
        assert staff.status_code == 200
        staff_streamed = await gateway.post("/api/items", content=chunks(5), headers=AUTH)
        assert staff_streamed.status_code == 422  # read whole (200 bytes), then not JSON
        too_big = await gateway.post("/api/items", json={"text": "x" * 2000}, headers=AUTH)
        assert too_big.status_code == 413 and too_big.json()["max_bytes"] == 1000
        csv = await gateway.post("/api/contacts/import", content=b"x" * 3000, headers=AUTH)
        assert csv.status_code == 200 and csv.json() == {"length": 3000}
        csv_streamed = await gateway.post("/api/contacts/import", content=chunks(100), headers=AUTH)
        assert csv_streamed.status_code == 200 and csv_streamed.json() == {"length": 4000}
        anonymous_csv = await gateway.post("/api/contacts/import", content=b"x" * 800)
        assert anonymous_csv.status_code == 413, "an anonymous request gets the small limit"
        csv_too_big = await gateway.post("/api/contacts/import", content=chunks(200), headers=AUTH)
        assert csv_too_big.status_code == 413 and csv_too_big.json()["max_bytes"] == 5000
    assert read == [50, 200, 3000, 4000]


def address_app(header: str | None) -> Any:
    app = FastAPI()

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        return {"address": client_address(request)}

    @app.get("/page")
    async def page(request: Request) -> dict[str, Any]:
        """Like the pages: a call to the API in-process, a forged header on it."""
        async with client(request.app) as inner:
            answer = await inner.get("/whoami", headers={"X-Forwarded-For": "6.6.6.6"})
        return {"outer": client_address(request), "inner": answer.json()["address"]}

    return ClientAddress(app, header=header)


async def test_the_client_address_is_the_peer_unless_a_proxy_header_is_trusted() -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.9, 198.51.100.4"}
    async with client(address_app(None)) as gateway:
        answer = await gateway.get("/whoami", headers=forwarded)
        assert answer.json() == {"address": "127.0.0.1"}, "no header trusted by default"
    async with client(address_app("X-Forwarded-For")) as gateway:
        answer = await gateway.get("/whoami", headers=forwarded)
        assert answer.json() == {"address": "198.51.100.4"}, "the one the nearest proxy wrote"
        assert (await gateway.get("/whoami")).json() == {"address": "127.0.0.1"}
        nested = await gateway.get("/page", headers={"X-Forwarded-For": "192.0.2.1"})
        assert nested.json() == {"outer": "192.0.2.1", "inner": "192.0.2.1"}


async def test_api_answers_carry_the_security_headers() -> None:
    app = FastAPI()

    @app.get("/api/thing")
    async def thing() -> dict[str, str]:
        return {}

    @app.get("/api/stream")
    async def stream() -> Any:
        from fastapi.responses import PlainTextResponse

        return PlainTextResponse("", headers={"Cache-Control": "no-cache"})

    async with client(SecurityHeaders(app)) as gateway:
        answer = await gateway.get("/api/thing")
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"
        assert (await gateway.get("/api/stream")).headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("env", ["test", "prod"])
async def test_dev_mail_exists_only_in_dev(env: str, tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "mail", create=True)
    message = EmailMessage()
    message["To"], message["Subject"] = "kunde@firma.example", "Ihr Anmeldelink"
    message.set_content("https://crm.example/portal/login?token=geheim")
    box.add(message)
    secrets = {"jwt_secret": SECRET, "admin_password": "not-the-dev-one"}
    dev = create_app(Settings(env="dev", dev_maildir=tmp_path / "mail", **secrets))
    async with client(dev) as gateway:
        shown = await gateway.get("/dev/mail", params={"format": "json"})
        assert shown.status_code == 200 and "token=geheim" in shown.text
    other = create_app(Settings(env=env, dev_maildir=tmp_path / "mail", **secrets))
    async with client(other) as gateway:
        for path in ("/dev/mail", "/dev/mail?format=json"):
            hidden = await gateway.get(path)
            assert hidden.status_code == 404, (env, hidden.text)
            assert "geheim" not in hidden.text
    assert "/dev/mail" not in other.openapi()["paths"]
