"""Helpers of the page tests (imported by the tests; fixtures are in conftest.py)."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from playwright.async_api import Page, expect

# Debian's Chromium as root in a sandbox-less container, with nothing calling home (the
# machine has no internet; background requests would only fail, many at a time).
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}
ADMIN_PASSWORD = "admin-test-pw"  # the test stack's admin (crm_dev.testing)


def chromium_path() -> str:
    found = os.environ.get("CRM_CHROMIUM") or shutil.which("chromium")
    if not found:
        raise RuntimeError(
            "the page tests need Chromium: `make test` installs Debian's package "
            "(scripts/setup.sh --tests), or set CRM_CHROMIUM to a Chromium binary"
        )
    return found


Browse = Callable[..., Awaitable[Page]]


async def sign_in(page: Page, username: str = "admin", password: str = ADMIN_PASSWORD) -> None:
    await page.goto("/ui/login")
    await page.get_by_label(re.compile("^(Benutzername|Username)$")).fill(username)
    await page.get_by_label(re.compile("^(Passwort|Password)$")).fill(password)
    await page.get_by_role("button", name=re.compile("^(Anmelden|Sign in)$")).click()
    # signed in: the page offers to sign out (in the staff member's language)
    await expect(
        page.get_by_role("button", name=re.compile("^(Abmelden|Sign out)$"))
    ).to_be_visible()


async def signed_in(browse: Browse, **options: Any) -> Page:
    """A page signed in as the admin."""
    page = await browse(**options)
    await sign_in(page)
    return page


async def fits_the_screen(page: Page) -> None:
    """Nothing is cut off: the page does not scroll sideways."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    inner = await page.evaluate("window.innerWidth")
    assert width <= inner, f"the page is {width}px wide on a {inner}px screen"


def tag() -> str:
    """A word no other test's data contains (tests share one stack)."""
    return "t" + uuid.uuid4().hex[:8]


async def create_contact(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"kind": "person", "name": f"Kontakt {tag()}", **fields}
    response = await api.post("/api/contacts", json=body)
    assert response.status_code == 201, response.text
    contact: dict[str, Any] = response.json()
    return contact


@dataclass
class StaffMember:
    id: str
    username: str
    password: str
    name: str
    email: str | None
