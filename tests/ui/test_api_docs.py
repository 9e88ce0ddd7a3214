"""The API's page (``/api/docs``): Swagger UI shows the whole API's document in a real
browser, under the pages' Content-Security-Policy (no inline script or style)."""

from __future__ import annotations

import re

from playwright.async_api import ConsoleMessage, expect
from ui_support import Browse


async def test_the_api_page_shows_every_service_without_csp_violations(browse: Browse) -> None:
    page = await browse()
    refused: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            refused.append(message.text)

    page.on("console", on_console)
    await page.goto("/api/docs")
    await expect(page.get_by_role("heading", name=re.compile("^CRM API"))).to_be_visible()
    # an operation of the gateway and of a service behind it, and the portal's
    for path in ("/api/staff", "/api/contacts/{contact_id}", "/portal/api/messages"):
        await expect(page.get_by_text(path, exact=True).first).to_be_visible()
    await expect(page.get_by_role("button", name=re.compile("Authorize"))).to_be_visible()
    assert not refused, refused
