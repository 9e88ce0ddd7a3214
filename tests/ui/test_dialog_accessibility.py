"""axe-core over the states the page-by-page scan (test_accessibility.py) never sees:
every confirmation and form dialog of the contacts list and the contact's page open, an
inbox and an archived contact, forms showing field errors, the portal's "link sent" and
"link expired" answers; in German and English, no violation of impact "serious" or
"critical"."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect
from ui_support import Browse, create_contact, settled, sign_in, tag

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


async def with_dialog_open(page: Page, dialog_id: str, what: str) -> list[str]:
    """Open the dialog by its button, scan the page, close it with Escape."""
    await page.locator(f"[data-dialog='{dialog_id}']:visible").first.click()
    dialog = page.locator(f"dialog#{dialog_id}")
    await expect(dialog).to_be_visible()
    found = await violations(page, what)
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    return found


async def planned_procedure(api: httpx.AsyncClient, contact_id: str) -> dict[str, Any]:
    made = await api.post(
        "/api/procedures",
        json={
            "contact_id": contact_id,
            "type": "call",
            "direction": "outgoing",
            "state": "planned",
            "starts_at": "2031-01-10T09:00:00+01:00",
            "duration_minutes": 0,
            "reminder": False,
            "subject": "Nachfassen",
        },
    )
    assert made.status_code == 201, made.text
    procedure: dict[str, Any] = made.json()
    return procedure


@pytest.mark.parametrize("lang", ["de", "en"])
async def test_no_serious_violations_in_dialogs_and_states(
    browse: Browse, api: httpx.AsyncClient, lang: str
) -> None:
    word = tag()
    first = await create_contact(api, name=f"{word} Eins")
    await create_contact(api, name=f"{word} Zwei")
    group = await api.post(
        "/api/groups", json={"name": f"Gruppe {word}", "kind": "static", "contact_ids": []}
    )
    assert group.status_code == 201, group.text
    contact = await create_contact(api, email=f"a11y-{word}@example.com")
    cid = contact["id"]
    entry = await api.post(f"/api/contacts/{cid}/history", json={"text": "Erstgespräch"})
    assert entry.status_code == 201, entry.text
    procedure = await planned_procedure(api, cid)
    inbox = await create_contact(api, status="inbox")
    archived = await create_contact(api)
    moved = await api.post(f"/api/contacts/{archived['id']}/status", json={"status": "archived"})
    assert moved.status_code == 200, moved.text

    found: list[str] = []
    page = await browse()
    await page.goto(f"/ui/login?lang={lang}")
    await sign_in(page)

    # the contacts list: the action bar's dialogs (a static group open), the dynamic group
    await page.goto(f"/ui/contacts?q={word}&open_group={group.json()['id']}")
    await page.get_by_role("checkbox", name=first["name"]).check()
    for dialog_id in ("new-group", "confirm-add_to_group", "confirm-archive", "confirm-delete"):
        found += await with_dialog_open(page, dialog_id, f"contacts list, {dialog_id}")
    await page.goto(f"/ui/contacts?q={word}&advanced=1")
    found += await with_dialog_open(page, "dynamic-group", "contacts list, dynamic-group")

    # the contact's page: every dialog
    await page.goto(f"/ui/contacts/{cid}")
    await settled(page)
    for dialog_id in (
        "confirm-customer",
        "confirm-delete-contact",
        f"done-{procedure['id']}",
        f"not-done-{procedure['id']}",
        "confirm-delete-entry",
    ):
        found += await with_dialog_open(page, dialog_id, f"contact page, {dialog_id}")

    # forms showing their field errors: a completion's duration, the Stammdaten's email
    await page.locator(f"[data-dialog='done-{procedure['id']}']").click()
    dialog = page.locator(f"dialog#done-{procedure['id']}")
    duration = dialog.locator("input[name=duration]")
    await duration.evaluate("e => e.removeAttribute('pattern')")
    await duration.fill("0:7x")
    await dialog.locator("button[type=submit]").click()
    await expect(dialog.locator("[aria-invalid=true]")).to_be_visible()
    found += await violations(page, "completion dialog with a field error")
    await page.keyboard.press("Escape")
    email = page.locator("#master-email")
    await email.evaluate("e => e.type = 'text'")
    await email.fill("not-an-address")
    await page.locator("#stammdaten button[type=submit].primary").click()
    await expect(page.locator("#stammdaten [role=alert]")).to_be_visible()
    await expect(page.locator("#master-email")).to_have_attribute("aria-invalid", "true")
    found += await violations(page, "Stammdaten with a field error")

    # an inbox contact (why the rest waits, "Annehmen") and an archived one
    for what, other in (("inbox contact", inbox), ("archived contact", archived)):
        await page.goto(f"/ui/contacts/{other['id']}")
        await settled(page)
        await expect(page.locator("#contact-head .flash-warn")).to_be_visible()
        found += await violations(page, what)

    # the portal: "link sent", and a link expired or used
    portal = await browse()
    await portal.goto(f"/portal/?lang={lang}")
    await portal.locator("#portal-email").fill(f"niemand-{uuid.uuid4().hex[:8]}@example.com")
    await portal.locator("form[action='/portal/login-link'] button").click()
    await expect(portal.get_by_role("status").filter(has_text="15")).to_be_visible()
    found += await violations(portal, "portal, link sent")
    await portal.goto("/portal/login?token=abgelaufen")
    await expect(portal.get_by_role("alert")).to_be_visible()
    found += await violations(portal, "portal, link expired")
    assert not found, "\n".join(found)
