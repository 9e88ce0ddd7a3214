"""The contact's page (seeds 000, 001, 002, 004): status, number, history pager,
interactions and procedures, as staff click through them."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from playwright.async_api import Page, expect
from ui_support import Browse, create_contact, fits_the_screen, sign_in, tag

from crm_dev.testing import Mailbox
from crm_dev.testkit import eventually
from crm_notifier.handlers import MAIL_GROUP
from crm_shared.events import Topic
from crm_shared.lag import consumer_lag


async def open_contact(browse: Browse, contact: dict[str, Any], **options: Any) -> Page:
    page = await browse(**options)
    await sign_in(page)
    await page.goto(f"/ui/contacts/{contact['id']}")
    await expect(page.get_by_role("heading", name=contact["name"], level=1)).to_be_visible()
    return page


async def status_of(api: httpx.AsyncClient, contact: dict[str, Any]) -> str:
    status: str = (await api.get(f"/api/contacts/{contact['id']}")).json()["status"]
    return status


async def test_generate_a_customer_number_from_the_chosen_range(
    browse: Browse, api: httpx.AsyncClient
) -> None:
    word = tag().upper()
    for name, prefix in (("Privat", f"P{word}-"), ("Gewerbe", f"G{word}-")):
        made = await api.post(
            "/api/number-ranges",
            json={"name": f"{name} {word}", "prefix": prefix, "next_value": 7, "width": 4},
        )
        assert made.status_code == 201, made.text
    contact = await create_contact(api)
    page = await open_contact(browse, contact)
    await page.get_by_label("Nummernkreis").select_option(label=f"Gewerbe {word} (G{word}-…)")
    await page.get_by_role("button", name="Nummer erzeugen").click()
    await expect(
        page.get_by_role("main").get_by_text(f"Kundennummer G{word}-0007 vergeben.")
    ).to_be_visible()
    await expect(page.locator("#customer-number")).to_have_text(f"G{word}-0007")
    await expect(page.get_by_role("button", name="Nummer erzeugen")).to_be_disabled()
    stored = (await api.get(f"/api/contacts/{contact['id']}")).json()
    assert stored["customer_number"] == f"G{word}-0007"
    # the search box finds it by its number too
    await page.goto(f"/ui/contacts?customer_number=G{word}-0007")
    await expect(page.get_by_role("checkbox", name=contact["name"])).to_be_visible()


async def test_a_prospect_becomes_a_customer_only_after_confirming(
    browse: Browse, api: httpx.AsyncClient, viewport: dict[str, int]
) -> None:
    contact = await create_contact(api)
    page = await open_contact(browse, contact, viewport=viewport)
    await fits_the_screen(page)
    await page.get_by_role("button", name="Kunde", exact=True).click()
    dialog = page.get_by_role("dialog", name="Zum Kunden machen?")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Abbrechen").click()
    await expect(dialog).to_be_hidden()
    assert await status_of(api, contact) == "prospect"

    await page.get_by_role("button", name="Kunde", exact=True).click()
    await page.keyboard.press("Escape")  # Escape closes the dialog too
    await expect(dialog).to_be_hidden()
    assert await status_of(api, contact) == "prospect"

    await page.get_by_role("button", name="Kunde", exact=True).click()
    await dialog.get_by_role("button", name="Bestätigen").click()
    await expect(page.get_by_role("main").get_by_text("Status geändert. Kunde")).to_be_visible()
    await expect(page.get_by_role("button", name="Kunde", exact=True)).to_be_disabled()
    assert await status_of(api, contact) == "customer"


async def test_archive_and_restore(browse: Browse, api: httpx.AsyncClient) -> None:
    contact = await create_contact(api)
    page = await open_contact(browse, contact)
    await page.get_by_role("button", name="Archivieren").click()
    await expect(page.get_by_text("Dieser Kontakt ist archiviert")).to_be_visible()
    assert await status_of(api, contact) == "archived"
    # limited functions: the sections say why instead of offering "Neu"
    await page.reload()
    history = page.get_by_role("region", name="Kundenhistory")
    await expect(history.get_by_text("erst möglich, wenn der Kontakt angenommen")).to_be_visible()
    await expect(history.get_by_role("button", name="Neu")).to_have_count(0)

    await page.get_by_role("button", name="Wiederherstellen").click()
    await expect(
        page.get_by_role("main").get_by_text("Status geändert. Interessent")
    ).to_be_visible()
    assert await status_of(api, contact) == "prospect"


async def test_history_one_entry_at_a_time(
    browse: Browse, api: httpx.AsyncClient, viewport: dict[str, int]
) -> None:
    word = tag()
    settings = (await api.get("/api/history/settings")).json()
    actions = sorted({*settings["actions"], "Beschwerde", f"Anruf {word}"})
    labels = {**settings["field_labels"], "field5": "Geschenk erhalten"}
    saved = await api.put(
        "/api/history/settings",
        json={"actions": actions, "infos": settings["infos"], "field_labels": labels},
    )
    assert saved.status_code == 200, saved.text
    contact = await create_contact(api)
    for n, action in enumerate(("Beschwerde", "Beschwerde")):
        made = await api.post(
            f"/api/contacts/{contact['id']}/history",
            json={"date": f"2026-0{n + 1}-15", "action": action, "text": f"Eintrag {n + 1}"},
        )
        assert made.status_code == 201, made.text

    page = await open_contact(browse, contact, viewport=viewport)
    history = page.get_by_role("region", name="Kundenhistory")
    await expect(history.get_by_text("1 von 2")).to_be_visible()
    await expect(history).to_contain_text("Eintrag 2")  # newest first
    await history.get_by_role("button", name="Nächster Eintrag").click()
    await expect(history.get_by_text("2 von 2")).to_be_visible()
    await expect(history).to_contain_text("Eintrag 1")
    await expect(history.get_by_role("button", name="Nächster Eintrag")).to_be_disabled()
    await history.get_by_role("button", name="Vorheriger Eintrag").click()
    await expect(history.get_by_text("1 von 2")).to_be_visible()

    await history.get_by_role("button", name="Neu").click()
    await history.get_by_label("Aktion").select_option(f"Anruf {word}")
    await history.get_by_label("Geschenk erhalten").check()
    await history.get_by_label("History").fill("Rabatt 5 % gewährt")
    await fits_the_screen(page)
    await history.get_by_role("button", name="OK").click()
    await expect(history.get_by_text("1 von 3")).to_be_visible()
    await expect(history).to_contain_text("Rabatt 5 % gewährt")
    entries = (await api.get(f"/api/contacts/{contact['id']}/history")).json()
    newest = entries["items"][0]
    assert (entries["total"], newest["action"], newest["field5"]) == (3, f"Anruf {word}", True)

    await history.get_by_role("button", name="Ändern").click()
    await history.get_by_label("History").fill("Rabatt 10 % gewährt")
    await history.get_by_role("button", name="OK").click()
    await expect(history).to_contain_text("Rabatt 10 % gewährt")
    await history.get_by_role("button", name="Löschen").click()
    await (
        page.get_by_role("dialog", name="Historieneintrag löschen?")
        .get_by_role("button", name="Bestätigen")
        .click()
    )
    await expect(history.get_by_text("1 von 2")).to_be_visible()
    assert (await api.get(f"/api/contacts/{contact['id']}/history")).json()["total"] == 2


async def notifier_has_mailed_for(kafka_bootstrap: str) -> None:
    """Wait until the notifier's mail group has committed past every event on
    crm.interactions written so far (it commits after sending a batch's mails)."""
    reads = {MAIL_GROUP: [Topic.INTERACTIONS.value]}
    written = {
        (p.topic, p.partition): p.end for p in await consumer_lag(kafka_bootstrap, reads=reads)
    }
    assert written, "no partition of crm.interactions found"

    async def committed() -> bool:
        lags = await consumer_lag(kafka_bootstrap, reads=reads)
        return all(p.committed >= written[(p.topic, p.partition)] for p in lags)

    await eventually(committed, "the notifier's mail group committed every interaction event")


async def test_an_incoming_interaction_mails_the_customer_once(
    browse: Browse, api: httpx.AsyncClient, mail: Mailbox, kafka_bootstrap: str
) -> None:
    email = f"kunde-{uuid.uuid4().hex[:10]}@example.com"
    contact = await create_contact(api, email=email, credit_hold=True)
    page = await open_contact(browse, contact)
    await expect(page.get_by_role("img", name="Kreditsperre")).to_be_visible()
    section = page.get_by_role("region", name="Interaktionen")
    await section.get_by_role("button", name="Neu").click()
    await section.get_by_label("Thema").fill("Lieferung")
    await section.get_by_label("Eingehend").check()
    await section.get_by_label("Text", exact=True).fill("Kunde fragt nach dem Liefertermin.")
    await expect(section.get_by_label("Erfasser")).to_have_value(
        (await api.get("/api/me")).json()["id"]
    )
    await expect(section.get_by_label("Kontaktname")).to_have_value(contact["name"])
    await section.get_by_role("button", name="Speichern").click()

    await expect(section.get_by_text("Interaktion gespeichert.")).to_be_visible()
    await expect(section.get_by_role("listitem").filter(has_text="Lieferung")).to_contain_text(
        "Eingehend"
    )
    mails = mail.wait_for(email, timeout=10)
    assert len(mails) == 1 and "Lieferung" in mails[0]["Subject"]
    # exactly one: once the notifier's mail group has committed every interaction event
    # there is now (this one's among them), none of them can bring a second mail
    await notifier_has_mailed_for(kafka_bootstrap)
    assert len(mail.messages(email)) == 1
    [stored] = (await api.get("/api/interactions", params={"contact_id": contact["id"]})).json()[
        "items"
    ]
    assert (stored["kind"], stored["contact"]["credit_hold"]) == ("incoming", True)


async def test_staff_without_email_see_why_they_cannot_send(
    browse: Browse, api: httpx.AsyncClient, make_staff: Any
) -> None:
    quiet = await make_staff(email=None)
    contact = await create_contact(api)
    page = await browse()
    await sign_in(page, quiet.username, quiet.password)
    await page.goto(f"/ui/contacts/{contact['id']}")
    section = page.get_by_role("region", name="Interaktionen")
    await section.get_by_role("button", name="Neu").click()
    await expect(section.get_by_text("Sie haben keine E-Mail-Adresse hinterlegt")).to_be_visible()
    await section.get_by_label("Thema").fill("Versuch")
    await section.get_by_label("Ausgehend").check()
    await section.get_by_label("Text", exact=True).fill("Hallo")
    await section.get_by_role("button", name="Speichern").click()
    await expect(section.get_by_role("alert")).to_contain_text("Ohne eigene E-Mail-Adresse")
    # what was typed is still there
    await expect(section.get_by_label("Thema")).to_have_value("Versuch")
    await expect(section.get_by_label("Text", exact=True)).to_have_value("Hallo")
    listed = (await api.get("/api/interactions", params={"contact_id": contact["id"]})).json()
    assert listed["items"] == []


async def test_plan_a_procedure_with_a_reminder_and_complete_it(
    browse: Browse, api: httpx.AsyncClient, make_staff: Any
) -> None:
    contact = await create_contact(api)
    colleague = await make_staff()
    page = await open_contact(browse, contact)
    section = page.get_by_role("region", name="Kontaktvorgänge")
    await section.get_by_role("button", name="Kontaktvorgang anlegen").click()
    # the contact autocomplete: two terms, the contact of this page chosen already
    await expect(section.get_by_role("radio", name=contact["name"])).to_be_checked()
    await section.get_by_label("Kontakt suchen").fill(contact["name"])
    await expect(section.get_by_role("radio", name=contact["name"])).to_be_visible()
    await section.get_by_label("Typ").select_option("call")
    await section.get_by_label("Ausgehend").check()
    await section.get_by_label("Geplant").check()
    await section.get_by_label("Beginn").fill("2031-05-04T10:30")
    await section.get_by_label("Erinnerung").check()
    await section.get_by_label("Intern verantwortlich").select_option(colleague.id)
    await section.get_by_label("Betreff").fill("Rückruf wegen Angebot")
    await section.get_by_role("button", name="Kontaktvorgang anlegen").click()
    await expect(section.get_by_text("Kontaktvorgang angelegt.")).to_be_visible()

    [procedure] = (await api.get("/api/procedures", params={"contact_id": contact["id"]})).json()[
        "items"
    ]
    assert (procedure["state"], procedure["reminder"], procedure["duration_minutes"]) == (
        "planned",
        True,
        0,
    )
    assert procedure["starts_at"].startswith("2031-05-04T08:30")  # 10:30 in Berlin, summer

    async def reminded() -> list[dict[str, Any]]:
        params = {"staff_id": colleague.id}
        items = (await api.get("/api/reminders", params=params)).json()["items"]
        return [r for r in items if r.get("procedure_id") == procedure["id"]]

    await eventually(reminded, "a reminder for the planned procedure")

    await section.get_by_role("button", name="Durchgeführt", exact=True).click()
    dialog = page.get_by_role("dialog", name="„Rückruf wegen Angebot“ durchgeführt")
    await dialog.get_by_label("Dauer (hh:mm)").fill("0:7x")
    await dialog.get_by_label("Dauer (hh:mm)").evaluate("e => e.removeAttribute('pattern')")
    await dialog.get_by_role("button", name="Bestätigen").click()
    dialog = page.get_by_role("dialog", name="„Rückruf wegen Angebot“ durchgeführt")
    await expect(dialog.get_by_text("Stunden:Minuten").first).to_be_visible()
    await dialog.get_by_label("Dauer (hh:mm)").fill("0:25")
    await dialog.get_by_label("Infotext").fill("Angebot angenommen")
    await dialog.get_by_role("button", name="Bestätigen").click()
    await expect(section.get_by_text("Kontaktvorgang abgeschlossen.")).to_be_visible()
    await expect(section.get_by_role("button", name="Durchgeführt", exact=True)).to_have_count(0)

    done = (await api.get(f"/api/procedures/{procedure['id']}")).json()
    assert (done["state"], done["duration_minutes"], done["note"]) == (
        "done",
        25,
        "Angebot angenommen",
    )

    async def cleared() -> bool:
        return not await reminded()

    await eventually(cleared, "the reminder cleared on completion")


async def test_the_sections_further_down_follow_the_page_and_come_at_once_without_script(
    browse: Browse, api: httpx.AsyncClient
) -> None:
    contact = await create_contact(api)
    text = f"Eintrag {tag()}"
    made = await api.post(f"/api/contacts/{contact['id']}/history", json={"text": text})
    assert made.status_code == 201, made.text

    page = await browse()
    await sign_in(page)
    # the first answer alone holds the top of the page, the sections below wait for theirs
    first = await (await page.request.get(f"/ui/contacts/{contact['id']}")).text()
    assert 'id="stammdaten"' in first and 'id="crm"' in first
    assert "Wird geladen" in first and text not in first
    await page.goto(f"/ui/contacts/{contact['id']}")
    history = page.get_by_role("region", name="Kundenhistory")
    await expect(history).to_contain_text(text)
    await expect(page.get_by_text("Wird geladen")).to_have_count(0)
    for name in ("Interaktionen", "Kontaktvorgänge", "Kampagnen", "Verlauf"):
        section = page.get_by_role("region", name=name)
        await expect(section).not_to_have_attribute("aria-busy", "true")

    # without JavaScript: led to the whole page, which a change returns to as well
    plain = await browse(script=False)
    await sign_in(plain)
    await plain.goto(f"/ui/contacts/{contact['id']}")
    await expect(plain).to_have_url(re.compile(r"\?all=1$"))
    history = plain.get_by_role("region", name="Kundenhistory")
    await expect(history).to_contain_text(text)
    await expect(plain.get_by_text("Wird geladen")).to_have_count(0)
    await plain.get_by_role("button", name="Archivieren").click()
    await expect(plain.get_by_role("button", name="Wiederherstellen")).to_be_visible()
    await expect(plain).to_have_url(re.compile(r"\?all=1$"))
    await expect(plain.get_by_role("region", name="Kundenhistory")).to_contain_text(text)
    assert await status_of(api, contact) == "archived"
