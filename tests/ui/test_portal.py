"""The customer portal (seed 001): sign in by the emailed link, read, write a message that
staff see."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.async_api import expect
from ui_support import Browse, create_contact, fits_the_screen, sign_in

from crm_dev.stack import Stack
from crm_dev.testing import Mailbox
from crm_dev.testkit import eventually


async def test_portal_sign_in_by_link_read_and_write(
    browse: Browse,
    api: httpx.AsyncClient,
    mail: Mailbox,
    stack: Stack,
    viewport: dict[str, int],
) -> None:
    email = f"portal-{uuid.uuid4().hex[:10]}@example.com"
    contact = await create_contact(api, email=email, name="Paula Portal")
    for kind, topic in (("outgoing", "Ihr Angebot"), ("internal", "Nur für uns")):
        logged = await api.post(
            "/api/interactions",
            json={"contact_id": contact["id"], "topic": topic, "kind": kind, "text": topic},
        )
        assert logged.status_code == 201, logged.text
    mail.wait_for(email, timeout=10)  # the outgoing interaction's mail

    page = await browse(viewport=viewport)
    await page.goto("/portal/")
    await expect(page.get_by_role("heading", name="Kundenportal")).to_be_visible()
    await fits_the_screen(page)
    await page.get_by_label("E-Mail").fill(email)
    await page.get_by_role("button", name="Anmeldelink senden").click()
    await expect(page.get_by_text("ist ein Anmeldelink unterwegs")).to_be_visible()

    async def link_mail() -> str | None:
        for message in mail.messages(email):
            body = message.get_payload(decode=True).decode()
            found = re.search(r"https?://\S+/portal/login\?token=\S+", body)
            if found:
                return found.group(0)
        return None

    link = await eventually(link_mail, "the mail with the portal's sign-in link")
    assert link.startswith(stack.gateway_url + "/portal/login?token=")  # CRM_PUBLIC_URL
    await page.goto(link)
    await expect(page).to_have_url(re.compile(r"/portal/$"))
    await expect(page.get_by_text("Willkommen, Paula Portal.")).to_be_visible()
    messages = page.get_by_role("region", name="Ihre Nachrichten")
    await expect(messages).to_contain_text("Ihr Angebot")
    await expect(messages).not_to_contain_text("Nur für uns")  # internal stays internal
    await fits_the_screen(page)

    # the link works once
    again = await browse(viewport=viewport)
    await again.goto(link)
    await expect(again.get_by_role("alert")).to_contain_text("abgelaufen oder wurde schon benutzt")
    # and the session is this browser's alone: another visitor is not signed in
    await again.goto("/portal/")
    await expect(again.get_by_role("button", name="Anmeldelink senden")).to_be_visible()
    await expect(again.get_by_text("Paula Portal")).to_have_count(0)

    write = page.get_by_role("region", name="Nachricht schreiben")
    await write.get_by_role("button", name="Senden").click()  # empty: the browser asks first
    await write.get_by_label("Thema").fill("Lieferung")
    await write.get_by_label("Nachricht").fill("Wann kommt die Ware?")
    await write.get_by_role("button", name="Senden").click()
    await expect(page.get_by_text("Danke, Ihre Nachricht ist angekommen.")).to_be_visible()
    await expect(messages).to_contain_text("Wann kommt die Ware?")

    listed = (await api.get("/api/interactions", params={"contact_id": contact["id"]})).json()
    from_portal = [i for i in listed["items"] if i["topic"] == "Lieferung"]
    assert [i["kind"] for i in from_portal] == ["incoming"]

    # and staff see it on the contact's page
    staff_page = await browse()
    await sign_in(staff_page)
    await staff_page.goto(f"/ui/contacts/{contact['id']}")
    section = staff_page.get_by_role("region", name="Interaktionen")
    await expect(section).to_contain_text("Wann kommt die Ware?")

    await page.get_by_role("button", name="Abmelden").click()
    await expect(page.get_by_role("button", name="Anmeldelink senden")).to_be_visible()
    await page.goto("/portal/")
    await expect(page.get_by_role("button", name="Anmeldelink senden")).to_be_visible()
