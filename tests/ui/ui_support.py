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

from crm_dev.testkit import eventually

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
    imported = await import_job_with_a_row_error(api)
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
        "an import job with row errors": f"/ui/contacts/import/{imported}",
        "history entry for a selection": f"/ui/contacts/selection/history?{one}",
        "mailing for a selection": f"/ui/contacts/selection/mailing?{one}",
        "a job's progress": f"/ui/jobs/{job.json()['job_id']}",
        "settings": "/ui/settings",
        "dashboard": "/ui/dashboard?group_by=crm_status,product,assignee",
        "opportunities": "/ui/opportunities",
        "new opportunity": f"/ui/opportunities/new?contact_id={contact['id']}",
        "an opportunity": f"/ui/opportunities/{opportunity.json()['id']}",
    }


async def import_job_with_a_row_error(api: httpx.AsyncClient) -> str:
    """The id of a finished import job that refused a row (its page shows the table)."""
    word = tag()
    started = await api.post(
        "/api/contacts/import",
        content=f"kind,name,email\nperson,Import {word},\nperson,Fehler {word},keine-adresse\n",
        headers={"content-type": "text/csv", "prefer": "respond-async"},
    )
    assert started.status_code == 202, started.text
    job_id: str = started.json()["job_id"]

    async def finished() -> bool:
        job = (await api.get(f"/api/contacts/import/{job_id}")).json()
        return bool(job["state"] == "done" and job["errors"])

    await eventually(finished, "the import job with a row error")
    return job_id


_PROGRESS_WATCH = """
(() => {
  const seen = [];
  window.crmProgressSeen = seen;
  const note = () => {
    const state = document.querySelector("#job-state, #import-state");
    if (!state) return;
    const bar = document.querySelector("main progress");
    const count = document.querySelector("#job-count, #import-count");
    const entry = {
      state: state.textContent.trim(),
      done: bar ? Number(bar.getAttribute("value")) : null,
      total: bar ? Number(bar.getAttribute("max")) : null,
      text: count ? count.textContent.trim() : "",
    };
    const last = seen[seen.length - 1];
    const same = last && ["state", "done", "total", "text"].every((k) => last[k] === entry[k]);
    if (!same) seen.push({...entry, at: performance.now()});
  };
  new MutationObserver(note).observe(document, {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
})();
"""


async def watch_progress(page: Page) -> None:
    """From the next page on, note every state a job's progress (``/ui/jobs/…``,
    ``/ui/contacts/import/…``) shows, as the page changes (a MutationObserver)."""
    await page.add_init_script(_PROGRESS_WATCH)


async def progress_seen(page: Page) -> list[dict[str, Any]]:
    """The states the progress showed, in order: ``state`` (its heading), ``done`` and
    ``total`` (the progress bar), ``text`` (the count under it), ``at`` (ms since the
    page began)."""
    seen: list[dict[str, Any]] = await page.evaluate("window.crmProgressSeen || []")
    return seen


def progress_was_shown(seen: list[dict[str, Any]], poll_seconds: float = 1) -> str:
    """Check what a job's page showed (``progress_seen``): a state not done came first,
    the count never went back, "Fertig" at the end with all done; and when the page
    polled at least twice while the job ran, a count between 0 and all. Returns the
    counts shown, for the test's output."""
    assert seen, "the page showed no progress"
    first, last = seen[0], seen[-1]
    assert first["state"] != "Fertig" and first["done"] < first["total"], (
        f"the first state shown was already done: {seen}"
    )
    assert (last["state"], last["done"]) == ("Fertig", last["total"]), seen
    counts = [state["done"] for state in seen]
    assert counts == sorted(counts), f"the count went back: {seen}"
    if last["at"] - first["at"] > 3.5 * poll_seconds * 1000:
        # the job ran past two polls (each batch commits well within one): one of them
        # showed it between 0 and all
        assert any(0 < state["done"] < state["total"] for state in seen), seen
    return " → ".join(f"{state['done']} ({state['at'] / 1000:.1f} s)" for state in seen)


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
