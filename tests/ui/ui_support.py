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
            "(scripts/setup.sh --test-tools), or set CRM_CHROMIUM to a Chromium binary"
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


async def settled(page: Page) -> None:
    """Every part the page fetches after it arrived is there (the sections of a contact's
    page further down are ``aria-busy`` until then)."""
    await expect(page.locator("[aria-busy=true]")).to_have_count(0)


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


async def every_staff_page(api: httpx.AsyncClient) -> dict[str, str]:
    """Every staff page by what it shows, with data for the pages of one record (the
    budget, accessibility and phone tests visit them all)."""
    contact = await create_contact(api, kind="company")
    campaign = await api.post(
        "/api/campaigns",
        json={"name": f"Kampagne {tag()}", "starts_on": "2027-01-01", "ends_on": "2027-12-31"},
    )
    assert campaign.status_code == 201, campaign.text
    crm = (await api.get("/api/crm/settings")).json()
    opportunity = await api.post(
        "/api/opportunities",
        json={
            "contact_id": contact["id"],
            "title": f"Angebot {tag()}",
            "crm_status": crm["opportunity_statuses"][0],
            "closing_probability": 40,
            "revenue_potential": "12500.00",
            "products": crm["products"][:1],
        },
    )
    assert opportunity.status_code == 201, opportunity.text
    job = await api.post(
        "/api/history/bulk",
        json={"selection": {"contact_ids": [contact["id"]]}, "entry": {"text": "Seite"}},
    )
    assert job.status_code == 202, job.text
    one = f"scope=ids&contact_id={contact['id']}"
    return {
        "contacts": "/ui/contacts",
        "contacts, advanced filters": "/ui/contacts?advanced=1",
        "a contact": f"/ui/contacts/{contact['id']}",
        "notifications": "/ui/notifications",
        "reminders": "/ui/reminders",
        "campaigns": "/ui/campaigns",
        "a campaign": f"/ui/campaigns/{campaign.json()['id']}",
        "import": "/ui/contacts/import",
        "history entry for a selection": f"/ui/contacts/selection/history?{one}",
        "mailing for a selection": f"/ui/contacts/selection/mailing?{one}",
        "a job's progress": f"/ui/jobs/{job.json()['job_id']}",
        "settings": "/ui/settings",
        "dashboard": "/ui/dashboard?group_by=crm_status,product,assignee",
        "opportunities": "/ui/opportunities",
        "new opportunity": f"/ui/opportunities/new?contact_id={contact['id']}",
        "an opportunity": f"/ui/opportunities/{opportunity.json()['id']}",
    }


async def actions_off_the_screen(page: Page) -> list[str]:
    """The visible links, buttons and fields a person cannot reach without scrolling the
    page sideways (those in a box that scrolls itself, like a wide table, are reachable)."""
    found: list[str] = await page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          const scrolls = (el) => {
            for (let p = el.parentElement; p; p = p.parentElement) {
              const style = getComputedStyle(p);
              const scrolling = /(auto|scroll)/.test(style.overflowX);
              if (scrolling && p.scrollWidth > p.clientWidth) return true;
            }
            return false;
          };
          return Array.from(document.querySelectorAll("a[href], button, input, select, textarea"))
            .filter((el) => el.checkVisibility() && el.type !== "hidden")
            .filter((el) => { const r = el.getBoundingClientRect();
                              return r.width > 1 && (r.left < -1 || r.right > width + 1); })
            .filter((el) => !scrolls(el))
            .map((el) => el.tagName.toLowerCase() + " " +
                         JSON.stringify((el.innerText || el.name || el.id).trim()));
        }"""
    )
    return found
