"""Browser tests of the staff UI and the portal: Playwright (Python) driving Debian's
Chromium against the real stack (the session's ``stack`` fixture, on PostgreSQL).

One browser for the whole session; each test gets fresh browser contexts (cookies,
viewport, language) from ``browse``. Pages are found the way a person finds things: by
role and accessible name (the seeds' German labels, CONTRACT.md).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from crm_dev.stack import Stack

# the tests' helpers module, importable without making tests a package
sys.path.insert(0, str(Path(__file__).parent))

from ui_support import CHROMIUM_ARGS, DESKTOP, PHONE, Browse, StaffMember, chromium_path

expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def browse(browser: Browser, stack: Stack) -> AsyncIterator[Browse]:
    """``await browse(viewport=PHONE)``: a new page in a fresh browser context (no cookies)
    at the gateway (``script=False``: with JavaScript off); JavaScript errors on the page
    fail the test."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    async def new_page(
        viewport: dict[str, int] = DESKTOP, locale: str = "de-DE", script: bool = True
    ) -> Page:
        context = await browser.new_context(
            base_url=stack.gateway_url,
            viewport=viewport,
            locale=locale,
            java_script_enabled=script,
        )
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield new_page
    for context in contexts:
        await context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(params=["desktop", "phone"])
def viewport(request: pytest.FixtureRequest) -> dict[str, int]:
    """A test using it runs at a desktop size and at a 360 px wide phone."""
    return DESKTOP if request.param == "desktop" else PHONE


@pytest.fixture
def make_staff(api: httpx.AsyncClient) -> Callable[..., Awaitable[StaffMember]]:
    async def make(
        language: str = "de", email: str | None = "auto", roles: tuple[str, ...] = ("crm_user",)
    ) -> StaffMember:
        username = f"u{uuid.uuid4().hex[:10]}"
        address = f"{username}@example.com" if email == "auto" else email
        body = {
            "username": username,
            "password": "ein-gutes-passwort",
            "name": f"Mitarbeiterin {username[-4:]}",
            "initials": username[-3:].upper(),
            "email": address,
            "roles": list(roles),
            "language": language,
        }
        response = await api.post("/api/staff", json=body)
        assert response.status_code == 201, response.text
        made = response.json()
        return StaffMember(made["id"], username, body["password"], body["name"], address)

    return make
