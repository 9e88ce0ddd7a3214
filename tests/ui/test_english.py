"""The same pages in English, for a staff member whose language is ``en``, and through
the language switch."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import expect
from ui_support import Browse, create_contact, sign_in


async def test_pages_in_english_for_an_english_speaker(
    browse: Browse, api: httpx.AsyncClient, make_staff: Any
) -> None:
    english = await make_staff(language="en")
    contact = await create_contact(api)
    page = await browse()
    await sign_in(page, english.username, english.password)  # the login page is German
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("heading", name="Contacts", level=1)).to_be_visible()
    await expect(page.get_by_label("Search")).to_be_visible()
    await page.get_by_role("button", name="Create").click()
    await expect(page.get_by_role("dialog", name="Create contact")).to_be_visible()
    await page.keyboard.press("Escape")

    await page.goto(f"/ui/contacts/{contact['id']}")
    for region in ("Master data", "Customer history", "Interactions", "Procedures", "Timeline"):
        await expect(page.get_by_role("region", name=region)).to_be_visible()
    await expect(page.get_by_role("button", name="Generate number")).to_have_count(
        1 if (await api.get("/api/number-ranges")).json()["items"] else 0
    )
    await expect(page.get_by_role("button", name="Customer", exact=True)).to_be_visible()
    history = page.get_by_role("region", name="Customer history")
    await history.get_by_role("button", name="New").click()
    await history.get_by_role("button", name="OK").click()
    await expect(history.get_by_text("History entry saved.")).to_be_visible()
    await expect(history.get_by_text("1 of 1")).to_be_visible()

    # the switch wins over the staff member's language, and is remembered
    await page.get_by_role("link", name="Deutsch").click()
    await expect(page.locator("html")).to_have_attribute("lang", "de")
    await page.goto("/ui/contacts")
    await expect(page.get_by_role("heading", name="Kontakte", level=1)).to_be_visible()


async def test_the_portal_in_english(browse: Browse) -> None:
    page = await browse()
    await page.goto("/portal/?lang=en")
    await expect(page.get_by_role("heading", name="Customer portal")).to_be_visible()
    await expect(page.get_by_role("button", name="Send sign-in link")).to_be_visible()
