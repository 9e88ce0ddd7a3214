"""Benachrichtigungen: the count follows the live stream, without reloading the page."""

from __future__ import annotations

import time
from typing import Any

import httpx
from playwright.async_api import expect
from ui_support import Browse, create_contact, sign_in


async def test_an_assignment_shows_live_and_can_be_read(
    browse: Browse, api: httpx.AsyncClient, make_staff: Any
) -> None:
    colleague = await make_staff()
    page = await browse()
    await sign_in(page, colleague.username, colleague.password)
    link = page.get_by_role("link", name="Benachrichtigungen")
    await expect(link).to_have_text("Benachrichtigungen 0")
    # the page is subscribed once the stream said "ready"
    await expect(page.locator("body")).to_have_attribute("data-stream-ready", "true")
    marker = await page.evaluate("window.crmMarker = Math.random()")

    # the admin assigns a contact to the colleague on the contact's page ("Zuweisung")
    contact = await create_contact(api)
    admin = await browse()
    await sign_in(admin)
    await admin.goto(f"/ui/contacts/{contact['id']}")
    assignment = admin.get_by_role("group", name="Zuweisung")
    await assignment.get_by_role("radio", name="Mitarbeiter").check()
    await assignment.get_by_label("Mitarbeiter auswählen").select_option(colleague.id)
    started = time.monotonic()
    await assignment.get_by_role("button", name="Zuweisung speichern").click()
    await expect(link).to_have_text("Benachrichtigungen 1")
    elapsed = time.monotonic() - started
    assert await page.evaluate("window.crmMarker") == marker, "the page was reloaded"
    # the goal is a second; the test allows for a loaded CI machine (bench/ui_pages.py measures)
    assert elapsed < 5, f"the count changed after {elapsed:.1f} s"
    await expect(page.locator("#announcer")).to_contain_text("Neue Benachrichtigung")
    await expect(admin.get_by_role("main").get_by_text("Zuweisung gespeichert.")).to_be_visible()
    stored = (await api.get(f"/api/contacts/{contact['id']}")).json()["assignment"]
    assert (stored["mode"], stored["staff_id"]) == ("staff", colleague.id)

    await link.click()
    item = page.get_by_role("listitem").filter(has_text=contact["name"])
    await expect(item).to_contain_text("zugewiesen")
    await item.get_by_role(
        "link", name=f"Ihnen wurde der Kontakt {contact['name']} zugewiesen"
    ).click()
    await expect(page.get_by_role("heading", name=contact["name"], level=1)).to_be_visible()
    await page.go_back()
    await page.get_by_role("button", name="Alle als gelesen markieren").click()
    await expect(page.get_by_role("link", name="Benachrichtigungen")).to_have_text(
        "Benachrichtigungen 0"
    )
