"""axe-core over every page of the staff UI and the portal, in German and English: no
violation of impact "serious" or "critical" (axe-playwright-python ships axe-core)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect
from ui_support import Browse, create_contact, every_staff_page, settled, sign_in

from crm_dev.testing import Mailbox
from crm_dev.testkit import eventually

BLOCKING = {"serious", "critical"}
axe = Axe()


async def violations(page: Page, what: str) -> list[str]:
    results = await axe.run(page)
    found = [v for v in results.response["violations"] if v.get("impact") in BLOCKING]
    return [
        f"{what}: {v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(n["target"][0] if n["target"] else "?" for n in v["nodes"][:3])
        for v in found
    ]


@pytest.fixture
async def rich_contact(api: httpx.AsyncClient) -> dict[str, Any]:
    """A company with a contact person, history, an interaction and a planned procedure."""
    company = await create_contact(api, kind="company", name=f"Firma {uuid.uuid4().hex[:6]}")
    await create_contact(api, company_id=company["id"], email="ap@example.com")
    cid = company["id"]
    for body in ({"action": None, "text": "Erster Eintrag"}, {"text": "Zweiter Eintrag"}):
        made = await api.post(f"/api/contacts/{cid}/history", json=body)
        assert made.status_code == 201, made.text
    logged = await api.post(
        "/api/interactions",
        json={"contact_id": cid, "topic": "Notiz", "kind": "internal", "text": "intern"},
    )
    assert logged.status_code == 201, logged.text
    planned = await api.post(
        "/api/procedures",
        json={
            "contact_id": cid,
            "type": "call",
            "direction": "outgoing",
            "state": "planned",
            "starts_at": "2031-01-10T09:00:00+01:00",
            "duration_minutes": 0,
            "reminder": False,
            "subject": "Nachfassen",
        },
    )
    assert planned.status_code == 201, planned.text
    return company


async def portal_page(browse: Browse, api: httpx.AsyncClient, mail: Mailbox, lang: str) -> Page:
    email = f"a11y-{uuid.uuid4().hex[:8]}@example.com"
    contact = await create_contact(api, email=email)
    await api.post(
        "/api/interactions",
        json={"contact_id": contact["id"], "topic": "Hallo", "kind": "outgoing", "text": "Hi"},
    )
    assert (await api.post("/portal/api/login-link", json={"email": email})).status_code == 202

    async def link() -> str | None:
        for message in mail.messages(email):
            found = re.search(
                r"https?://\S+/portal/login\?token=\S+", message.get_payload(decode=True).decode()
            )
            if found:
                return found.group(0)
        return None

    page = await browse()
    await page.goto(await eventually(link, "the portal sign-in mail") + f"&lang={lang}")
    await expect(
        page.get_by_role("heading", name=re.compile("Kundenportal|Customer portal"))
    ).to_be_visible()
    return page


@pytest.mark.parametrize("lang", ["de", "en"])
async def test_no_serious_accessibility_violations(
    browse: Browse,
    api: httpx.AsyncClient,
    mail: Mailbox,
    rich_contact: dict[str, Any],
    lang: str,
) -> None:
    found: list[str] = []
    page = await browse()
    await page.goto(f"/ui/login?lang={lang}")
    found += await violations(page, "login")
    await sign_in(page)

    await page.goto(f"/ui/contacts?advanced=1&lang={lang}")
    found += await violations(page, "contacts list with the advanced filters")
    await page.get_by_role("checkbox").nth(1).check()
    found += await violations(page, "contacts list with the action bar")
    await page.locator("[data-dialog=create-contact]").click()
    found += await violations(page, "the create dialog")

    await page.goto(f"/ui/contacts/{rich_contact['id']}")
    await settled(page)
    found += await violations(page, "contact page")
    new = {"de": "Neu", "en": "New"}[lang]
    create = {"de": "Kontaktvorgang anlegen", "en": "Create procedure"}[lang]
    for region, opener in (
        ("kundenhistory", new),
        ("interaktionen", new),
        ("kontaktvorgaenge", create),
    ):
        section = page.locator(f"#{region}")
        await section.get_by_role("button", name=opener, exact=True).click()
        await expect(section.locator("form[method=post]").first).to_be_visible()
        found += await violations(page, f"contact page, form of #{region}")

    await page.goto("/ui/notifications")
    found += await violations(page, "notifications")

    portal = await browse()
    await portal.goto(f"/portal/?lang={lang}")
    found += await violations(portal, "portal sign-in")
    found += await violations(await portal_page(browse, api, mail, lang), "portal, signed in")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("lang", ["de", "en"])
async def test_no_serious_accessibility_violations_on_the_lists_and_settings(
    browse: Browse, api: httpx.AsyncClient, lang: str
) -> None:
    visits = await every_staff_page(api)
    for part_one in ("contacts", "contacts, advanced filters", "a contact", "notifications"):
        del visits[part_one]  # the test above visits them, with more opened on them
    found: list[str] = []
    page = await browse()
    await page.goto(f"/ui/login?lang={lang}")
    await sign_in(page)
    for what, path in visits.items():
        answer = await page.goto(path)
        assert answer is not None and answer.status == 200, (what, answer and answer.status)
        await settled(page)
        found += await violations(page, what)
    # on the settings: a staff member's "Ändern" opens the dialog
    await page.goto(visits["settings"])
    await (
        page.locator("#staff")
        .get_by_role("button", name=re.compile("^(Ändern|Change) "))
        .first.click()
    )
    await expect(page.get_by_role("dialog")).to_be_visible()
    found += await violations(page, "a staff member's edit dialog")
    await page.goto("/ui/campaigns")
    await page.locator("[data-dialog=new-campaign]").click()
    found += await violations(page, "the new campaign dialog")
    await page.goto(visits["an opportunity"])
    await page.get_by_role("button", name=re.compile("^(Löschen|Delete)$")).click()
    found += await violations(page, "the delete opportunity dialog")
    assert not found, "\n".join(found)
