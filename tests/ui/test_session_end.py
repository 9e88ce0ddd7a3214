"""A staff session ended on the server (its key deleted in Redis, as "Abmelden" elsewhere
or an expiry does): the next click leads to the sign-in page and, after signing in, back
to where the user was; a form sent meanwhile keeps what was typed (static/app.js)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import Page, expect
from redis.asyncio import Redis
from ui_support import ADMIN_PASSWORD, Browse, create_contact, settled, sign_in

from crm_gateway.sessions import COOKIE, SessionStore


async def end_session(page: Page, redis_url: str) -> None:
    """Delete the browser's session where the gateway keeps it; the cookie stays."""
    [session_id] = [c["value"] for c in await page.context.cookies() if c["name"] == COOKIE]
    redis = Redis.from_url(redis_url)
    try:
        store = SessionStore(redis)
        assert await store.get(session_id) is not None
        await store.delete(session_id)
        assert await store.get(session_id) is None
    finally:
        await redis.aclose()


async def sign_in_again(page: Page) -> None:
    """On the sign-in page the gateway led to (its ``next`` kept)."""
    await expect(page).to_have_url(re.compile(r"/ui/login\?next=.+&expired=1$"))
    await expect(page.get_by_text("Ihre Sitzung ist beendet.")).to_be_visible()
    await page.get_by_label("Benutzername").fill("admin")
    await page.get_by_label("Passwort").fill(ADMIN_PASSWORD)
    await page.get_by_role("button", name="Anmelden").click()
    await expect(page.get_by_role("button", name="Abmelden")).to_be_visible()


async def test_after_the_session_ended_the_next_click_signs_in_and_comes_back(
    browse: Browse, api: httpx.AsyncClient, redis_url: str
) -> None:
    contact = await create_contact(api)
    page = await browse()
    await sign_in(page)
    await page.goto(f"/ui/contacts/{contact['id']}")
    await settled(page)

    # a click htmx answers ("Neu" of a section): to the sign-in, then the page, form open
    await end_session(page, redis_url)
    await page.get_by_role("region", name="Interaktionen").get_by_role("button", name="Neu").click()
    await sign_in_again(page)
    await expect(page.get_by_role("heading", name=contact["name"], level=1)).to_be_visible()
    assert f"/ui/contacts/{contact['id']}" in page.url
    await expect(
        page.get_by_role("region", name="Interaktionen").get_by_label("Thema")
    ).to_be_visible()

    # a plain link: the page it leads to
    await end_session(page, redis_url)
    await (
        page.get_by_role("navigation", name="Hauptnavigation")
        .get_by_role("link", name="Erinnerungen")
        .click()
    )
    await sign_in_again(page)
    await expect(page.get_by_role("heading", name="Erinnerungen", level=1)).to_be_visible()


async def test_what_was_typed_when_the_session_ended_is_back_after_signing_in(
    browse: Browse, api: httpx.AsyncClient, redis_url: str
) -> None:
    contact = await create_contact(api)
    page = await browse()
    await sign_in(page)
    await page.goto(f"/ui/contacts/{contact['id']}")
    section = page.get_by_role("region", name="Interaktionen")
    await section.get_by_role("button", name="Neu").click()
    await section.get_by_label("Thema").fill("Rückruf vereinbart")
    await section.get_by_label("Verfolgen am").fill("2031-03-04")
    await section.get_by_label("Text", exact=True).fill("Kunde ruft Montag zurück.\nZweite Zeile.")
    await end_session(page, redis_url)
    await section.get_by_role("button", name="Speichern").click()

    # the sign-in page says the typing is not lost; after it, the form holds it again
    await expect(
        page.get_by_text("Was Sie zuletzt eingegeben haben, ist nicht verloren")
    ).to_be_visible()
    await sign_in_again(page)
    section = page.get_by_role("region", name="Interaktionen")
    await expect(section.get_by_label("Thema")).to_have_value("Rückruf vereinbart")
    await expect(section.get_by_label("Verfolgen am")).to_have_value("2031-03-04")
    await expect(section.get_by_label("Text", exact=True)).to_have_value(
        "Kunde ruft Montag zurück.\nZweite Zeile."
    )
    await expect(
        page.get_by_text("Ihre Eingaben von vorhin sind wieder im Formular.")
    ).to_be_visible()
    # nothing was sent by itself: the person sends it
    listed: dict[str, Any] = (
        await api.get("/api/interactions", params={"contact_id": contact["id"]})
    ).json()
    assert listed["items"] == []
    await section.get_by_role("button", name="Speichern").click()
    await expect(section.get_by_text("Interaktion gespeichert.")).to_be_visible()
    listed = (await api.get("/api/interactions", params={"contact_id": contact["id"]})).json()
    assert [i["topic"] for i in listed["items"]] == ["Rückruf vereinbart"]

    # a plain form (no htmx): the mailing of a selection, back on its page with its text
    mailing = f"/ui/contacts/selection/mailing?scope=ids&contact_id={contact['id']}"
    await page.goto(mailing)
    await page.get_by_label("Betreff").fill("Einladung zur Hausmesse")
    await page.get_by_label("Text der E-Mail").fill("Hallo {{ name }}, wir laden Sie ein.")
    await end_session(page, redis_url)
    await page.get_by_role("button", name="OK").click()
    await sign_in_again(page)
    await expect(page).to_have_url(re.compile(re.escape(mailing) + "$"))
    await expect(page.get_by_label("Betreff")).to_have_value("Einladung zur Hausmesse")
    await expect(page.get_by_label("Text der E-Mail")).to_have_value(
        "Hallo {{ name }}, wir laden Sie ein."
    )
    # once put back, it is gone from the tab's storage
    await page.reload()
    await expect(page.get_by_label("Betreff")).to_have_value("")
