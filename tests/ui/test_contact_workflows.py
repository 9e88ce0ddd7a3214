"""Workflows of the contact's page and list beyond the first ones (seeds 002, 003, 004):
the service's rules at their field in the reader's language, an inbox contact accepted,
procedures not done, campaign membership, groups and bulk delete, Stammdaten with the
company chooser, the CRM properties. Each checks what the user sees and what the API
holds behind it."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Locator, Page, expect
from ui_support import Browse, create_contact, sign_in, tag

from crm_dev.testkit import allow_crm_values, eventually

WORDS = {
    "de": {
        "procedures": "Kontaktvorgänge",
        "create": "Kontaktvorgang anlegen",
        "type": "Typ",
        "subject": "Betreff",
        "created": "Kontaktvorgang angelegt.",
        "done": "Durchgeführt",
        "not done": "Nicht durchgeführt",
        "confirm": "Bestätigen",
        "duration": "Dauer (hh:mm)",
        "campaign": "Kampagne",
        "reason": "Grund",
        "completed": "Kontaktvorgang abgeschlossen.",
        "done dialog": "„{}“ durchgeführt",
        "not done dialog": "„{}“ nicht durchgeführt",
        "needs a campaign": "Eine Maßnahme gehört zu einer Kampagne: bitte wählen Sie eine.",
        "retired": "Die Kampagne ist beendet und kann nicht mehr gewählt werden.",
        "check": "Bitte prüfen Sie Ihre Angaben",
    },
    "en": {
        "procedures": "Procedures",
        "create": "Create procedure",
        "type": "Type",
        "subject": "Subject",
        "created": "Procedure created.",
        "done": "Done",
        "not done": "Not done",
        "confirm": "Confirm",
        "duration": "Duration (hh:mm)",
        "campaign": "Campaign",
        "reason": "Reason",
        "completed": "Procedure completed.",
        "done dialog": "“{}” done",
        "not done dialog": "“{}” not done",
        "needs a campaign": "A measure belongs to a campaign: please choose one.",
        "retired": "The campaign has ended and can no longer be chosen.",
        "check": "Please check what you entered",
    },
}
SERVICE_WORDING = re.compile("campaign_id|belongs to a campaign: set|is retired and cannot")
"""The services' own (English, technical) wording, which a page must not pass on."""


async def new_campaign(api: httpx.AsyncClient) -> dict[str, Any]:
    made = await api.post(
        "/api/campaigns",
        json={"name": f"Aktion {tag()}", "starts_on": "2027-01-01", "ends_on": "2027-12-31"},
    )
    assert made.status_code == 201, made.text
    campaign: dict[str, Any] = made.json()
    return campaign


async def open_contact(browse: Browse, contact: dict[str, Any], lang: str = "de") -> Page:
    page = await browse()
    await sign_in(page)
    await page.goto(f"/ui/contacts/{contact['id']}?lang={lang}")
    await expect(page.get_by_role("heading", name=contact["name"], level=1)).to_be_visible()
    return page


async def procedures_of(api: httpx.AsyncClient, contact: dict[str, Any]) -> list[dict[str, Any]]:
    answer = await api.get("/api/procedures", params={"contact_id": contact["id"]})
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def expect_field_error(form: Locator, field: Locator, message: str) -> None:
    """The message is at the field (its description, marked invalid) and in the form's
    summary at the top, once."""
    await expect(field).to_have_attribute("aria-invalid", "true")
    await expect(field).to_have_accessible_description(re.compile(re.escape(message)))
    await expect(form.get_by_role("alert")).to_contain_text(message)


@pytest.mark.parametrize("lang", ["de", "en"])
async def test_a_measure_is_not_completed_without_its_campaign(
    browse: Browse, api: httpx.AsyncClient, lang: str
) -> None:
    w = WORDS[lang]
    contact = await create_contact(api)
    campaign = await new_campaign(api)
    subject = f"Messestand {tag()}"
    page = await open_contact(browse, contact, lang)
    section = page.get_by_role("region", name=w["procedures"])
    # a measure planned without a campaign (allowed while planned)
    await section.get_by_role("button", name=w["create"]).click()
    await section.get_by_label(w["type"], exact=True).select_option("measure")
    await section.get_by_label(w["subject"], exact=True).fill(subject)
    await section.get_by_role("button", name=w["create"]).click()
    await expect(section.get_by_text(w["created"])).to_be_visible()
    [planned] = await procedures_of(api, contact)
    assert (planned["type"], planned["state"], planned["campaign_id"]) == (
        "measure",
        "planned",
        None,
    )

    # "Durchgeführt" without a campaign: the service refuses, the page says why at the
    # dialog's campaign field, in the reader's language, and keeps the duration typed
    await section.get_by_role("button", name=w["done"], exact=True).click()
    dialog = page.get_by_role("dialog", name=w["done dialog"].format(subject))
    await dialog.get_by_label(w["duration"]).fill("0:30")
    await dialog.get_by_role("button", name=w["confirm"]).click()
    dialog = page.get_by_role("dialog", name=w["done dialog"].format(subject))
    field = dialog.get_by_label(w["campaign"], exact=True)
    await expect_field_error(dialog, field, w["needs a campaign"])
    await expect(dialog).not_to_contain_text(SERVICE_WORDING)
    await expect(dialog.get_by_label(w["duration"])).to_have_value("0:30")
    [still] = await procedures_of(api, contact)
    assert still["state"] == "planned"

    # with its campaign chosen there, it is done
    await field.select_option(label=campaign["name"])
    await dialog.get_by_role("button", name=w["confirm"]).click()
    await expect(section.get_by_text(w["completed"])).to_be_visible()
    done = (await api.get(f"/api/procedures/{planned['id']}")).json()
    assert (done["state"], done["campaign_id"], done["duration_minutes"]) == (
        "done",
        campaign["id"],
        30,
    )


@pytest.mark.parametrize("lang", ["de", "en"])
async def test_a_campaign_retired_while_planning_is_said_at_its_field(
    browse: Browse, api: httpx.AsyncClient, lang: str
) -> None:
    """And the measure planned with another campaign, then "Nicht durchgeführt" with a
    reason."""
    w = WORDS[lang]
    contact = await create_contact(api)
    retiring, running = await new_campaign(api), await new_campaign(api)
    subject = f"Mailingaktion {tag()}"
    page = await open_contact(browse, contact, lang)
    section = page.get_by_role("region", name=w["procedures"])
    await section.get_by_role("button", name=w["create"]).click()
    await section.get_by_label(w["type"], exact=True).select_option("measure")
    await section.get_by_label(w["subject"], exact=True).fill(subject)
    await section.get_by_label(w["campaign"], exact=True).select_option(label=retiring["name"])
    # meanwhile, someone ends the campaign
    retired = await api.delete(f"/api/campaigns/{retiring['id']}")
    assert retired.status_code == 204, retired.text
    await section.get_by_role("button", name=w["create"]).click()

    field = section.get_by_label(w["campaign"], exact=True)
    await expect_field_error(section, field, w["retired"])
    await expect(section).not_to_contain_text(SERVICE_WORDING)
    await expect(section.get_by_label(w["subject"], exact=True)).to_have_value(subject)
    assert await procedures_of(api, contact) == []

    await field.select_option(label=running["name"])
    await section.get_by_role("button", name=w["create"]).click()
    await expect(section.get_by_text(w["created"])).to_be_visible()
    [planned] = await procedures_of(api, contact)
    assert (planned["type"], planned["campaign_id"]) == ("measure", running["id"])

    # not done, with the reason: completed all the same, the reason kept
    reason = "Kunde hat abgesagt" if lang == "de" else "The customer cancelled"
    await section.get_by_role("button", name=w["not done"], exact=True).click()
    dialog = page.get_by_role("dialog", name=w["not done dialog"].format(subject))
    await dialog.get_by_label(w["reason"]).fill(reason)
    await dialog.get_by_role("button", name=w["confirm"]).click()
    await expect(section.get_by_text(w["completed"])).to_be_visible()
    await expect(section.get_by_role("listitem").filter(has_text=subject)).to_contain_text(reason)
    await expect(section.get_by_role("button", name=w["not done"], exact=True)).to_have_count(0)
    stored = (await api.get(f"/api/procedures/{planned['id']}")).json()
    assert (stored["state"], stored["note"], stored["duration_minutes"]) == ("not_done", reason, 0)


async def test_an_inbox_contact_says_why_and_is_accepted(
    browse: Browse, api: httpx.AsyncClient
) -> None:
    contact = await create_contact(api, status="inbox")
    page = await open_contact(browse, contact)
    await expect(page.get_by_text("Dieser Kontakt ist im Eingang")).to_be_visible()
    interactions = page.get_by_role("region", name="Interaktionen")
    procedures = page.get_by_role("region", name="Kontaktvorgänge")
    await expect(
        interactions.get_by_text("Interaktionen sind erst möglich, wenn der Kontakt angenommen")
    ).to_be_visible()
    await expect(
        procedures.get_by_text("Kontaktvorgänge sind erst möglich, wenn der Kontakt angenommen")
    ).to_be_visible()
    await expect(interactions.get_by_role("button", name="Neu")).to_have_count(0)
    await expect(procedures.get_by_role("button", name="Kontaktvorgang anlegen")).to_have_count(0)

    await page.get_by_role("button", name="Annehmen").click()
    await expect(
        page.get_by_role("main").get_by_text("Status geändert. Interessent")
    ).to_be_visible()
    assert (await api.get(f"/api/contacts/{contact['id']}")).json()["status"] == "prospect"
    # the sections follow without a reload: the forms are there, and they work
    await expect(page.get_by_text("Dieser Kontakt ist im Eingang")).to_have_count(0)
    await interactions.get_by_role("button", name="Neu").click()
    await interactions.get_by_label("Thema").fill("Erstkontakt")
    await interactions.get_by_label("Text", exact=True).fill("Aus dem Import angenommen.")
    await interactions.get_by_role("button", name="Speichern").click()
    await expect(interactions.get_by_text("Interaktion gespeichert.")).to_be_visible()
    await procedures.get_by_role("button", name="Kontaktvorgang anlegen").click()
    await procedures.get_by_label("Betreff").fill("Begrüßungsanruf")
    await procedures.get_by_role("button", name="Kontaktvorgang anlegen").click()
    await expect(procedures.get_by_text("Kontaktvorgang angelegt.")).to_be_visible()

    listed = await api.get("/api/interactions", params={"contact_id": contact["id"]})
    assert [i["topic"] for i in listed.json()["items"]] == ["Erstkontakt"]
    assert [p["subject"] for p in await procedures_of(api, contact)] == ["Begrüßungsanruf"]


async def test_campaign_membership_on_the_contact_page(
    browse: Browse, api: httpx.AsyncClient
) -> None:
    contact = await create_contact(api)
    joined, other = await new_campaign(api), await new_campaign(api)
    added = await api.post(
        f"/api/campaigns/{joined['id']}/members", json={"contact_ids": [contact["id"]]}
    )
    assert added.status_code == 200, added.text

    async def member_ids(campaign: dict[str, Any]) -> set[str]:
        answer = await api.get(f"/api/campaigns/{campaign['id']}/members", params={"limit": 500})
        return {m["contact_id"] for m in answer.json()["items"]}

    page = await open_contact(browse, contact)
    section = page.get_by_role("region", name="Kampagnen")
    memberships = section.get_by_role("list", name="Mitglied in")
    await expect(memberships).to_contain_text(joined["name"])
    await expect(memberships).not_to_contain_text(other["name"])

    await section.get_by_label("Kampagne", exact=True).select_option(label=other["name"])
    await section.get_by_role("button", name="Zur Kampagne hinzufügen").click()
    await expect(section.get_by_text("Zur Kampagne hinzugefügt.")).to_be_visible()
    await expect(memberships).to_contain_text(other["name"])
    assert contact["id"] in await member_ids(other)

    await section.get_by_role("button", name=f"Aus „{joined['name']}“ entfernen").click()
    await expect(section.get_by_text("Aus der Kampagne entfernt.")).to_be_visible()
    await expect(memberships).not_to_contain_text(joined["name"])
    assert contact["id"] not in await member_ids(joined)


async def test_add_checked_rows_to_the_open_group_then_delete_them(
    browse: Browse, api: httpx.AsyncClient
) -> None:
    word = tag()
    first, second, third = [
        await create_contact(api, name=f"{word} {n}") for n in ("Eins", "Zwei", "Drei")
    ]
    made = await api.post(
        "/api/groups",
        json={"name": f"Gruppe {word}", "kind": "static", "contact_ids": [first["id"]]},
    )
    assert made.status_code == 201, made.text
    group = made.json()

    async def member_ids() -> set[str]:
        answer = await api.get(f"/api/groups/{group['id']}/members", params={"limit": 500})
        return {m["id"] for m in answer.json()["items"]}

    page = await browse()
    await sign_in(page)
    await page.goto(f"/ui/contacts?q={word}")
    sidebar = page.get_by_role("complementary")
    await sidebar.get_by_role("link", name=re.compile(f"^Gruppe {word}")).click()
    members = sidebar.get_by_role("list", name="Mitglieder")
    await expect(members.get_by_role("link")).to_have_text([first["name"]])
    bar = page.get_by_role("region", name="Aktionen für die Auswahl")
    await page.get_by_role("checkbox", name=second["name"]).check()
    await page.get_by_role("checkbox", name=third["name"]).check()
    await bar.get_by_role("button", name="Zur Gruppe hinzufügen").click()
    confirm = page.get_by_role("dialog", name="Zur Gruppe hinzufügen?")
    await expect(confirm).to_contain_text("2 ausgewählt")
    await confirm.get_by_role("button", name="Bestätigen").click()

    await expect(
        page.locator("#flash").get_by_text("2 Kontakte zur Gruppe hinzugefügt.")
    ).to_be_visible()
    await expect(members.get_by_role("link")).to_have_count(3)
    assert await member_ids() == {first["id"], second["id"], third["id"]}

    # "Löschen" asks first; "Abbrechen" deletes nothing, "Bestätigen" deletes the two
    await page.get_by_role("checkbox", name=second["name"]).check()
    await page.get_by_role("checkbox", name=third["name"]).check()
    await bar.get_by_role("button", name="Löschen").click()
    confirm = page.get_by_role("dialog", name="Kontakte endgültig löschen?")
    await confirm.get_by_role("button", name="Abbrechen").click()
    await expect(confirm).to_be_hidden()
    assert (await api.get(f"/api/contacts/{second['id']}")).status_code == 200
    await bar.get_by_role("button", name="Löschen").click()
    await expect(confirm).to_contain_text("2 ausgewählt")
    await confirm.get_by_role("button", name="Bestätigen").click()

    await expect(page.locator("#flash").get_by_text("2 Kontakte gelöscht.")).to_be_visible()
    await expect(page.get_by_role("checkbox", name=re.compile(word))).to_have_count(1)
    for gone in (second, third):
        assert (await api.get(f"/api/contacts/{gone['id']}")).status_code == 404
    assert (await api.get(f"/api/contacts/{first['id']}")).status_code == 200

    async def only_the_first() -> bool:
        return await member_ids() == {first["id"]}

    await eventually(only_the_first, "the deleted contacts leave the group")


async def test_stammdaten_with_the_company_chooser_and_contact_persons(
    browse: Browse, api: httpx.AsyncClient
) -> None:
    word = tag()
    person = await create_contact(api, name=f"Petra {word}")
    company = await create_contact(api, kind="company", name=f"Firma {word} GmbH")
    colleague = await create_contact(api, name=f"Paul {word}")
    await create_contact(api, name=f"Firma {word} Person")  # a person: no company to choose

    page = await open_contact(browse, person)
    master = page.get_by_role("region", name="Stammdaten")
    await master.get_by_label("E-Mail", exact=True).fill(f"petra-{word}@example.com")
    await master.get_by_label("Telefon", exact=True).fill("+49 30 555 0101")
    await master.get_by_label("Sprache", exact=True).select_option("en")
    await master.get_by_label("Straße", exact=True).fill("Hauptstraße 5")
    await master.get_by_label("PLZ", exact=True).fill("10115")
    await master.get_by_label("Ort", exact=True).fill("Berlin")
    await master.get_by_label("Land", exact=True).fill("DE")
    # the company: found by the autocomplete, companies only
    await master.get_by_label("Unternehmen suchen").fill(f"firma {word}")
    await expect(master.get_by_role("radio", name=company["name"])).to_be_visible()
    await expect(master.get_by_role("radio", name=f"Firma {word} Person")).to_have_count(0)
    await master.get_by_role("radio", name=company["name"]).check()
    # a mistake: said at its field, nothing typed (nor the company chosen) is lost
    email = master.get_by_label("E-Mail", exact=True)
    await email.evaluate("e => e.type = 'text'")  # past the browser's own check
    await email.fill("petra-at-example")
    await master.get_by_role("button", name="Speichern").click()
    await expect(master.get_by_text("gültige E-Mail-Adresse").first).to_be_visible()
    await expect(master.get_by_label("Straße", exact=True)).to_have_value("Hauptstraße 5")
    await expect(master.get_by_role("radio", name=company["name"])).to_be_checked()
    assert (await api.get(f"/api/contacts/{person['id']}")).json()["email"] is None

    await master.get_by_label("E-Mail", exact=True).fill(f"petra-{word}@example.com")
    await master.get_by_role("button", name="Speichern").click()
    await expect(master.get_by_text("Stammdaten gespeichert.")).to_be_visible()
    await page.reload()
    master = page.get_by_role("region", name="Stammdaten")
    for label, value in (
        ("E-Mail", f"petra-{word}@example.com"),
        ("Telefon", "+49 30 555 0101"),
        ("Sprache", "en"),
        ("Straße", "Hauptstraße 5"),
        ("PLZ", "10115"),
        ("Ort", "Berlin"),
        ("Land", "DE"),
    ):
        await expect(master.get_by_label(label, exact=True)).to_have_value(value)
    await expect(master.get_by_role("link", name=company["name"])).to_be_visible()
    stored = (await api.get(f"/api/contacts/{person['id']}")).json()
    assert (stored["email"], stored["phone"], stored["language"], stored["company_id"]) == (
        f"petra-{word}@example.com",
        "+49 30 555 0101",
        "en",
        company["id"],
    )
    assert stored["address"] == {
        "street": "Hauptstraße 5",
        "postal_code": "10115",
        "city": "Berlin",
        "country": "DE",
    }

    # the company's page: its contact persons, one added by the autocomplete, one removed
    await master.get_by_role("link", name=company["name"]).click()
    master = page.get_by_role("region", name="Stammdaten")
    persons = master.get_by_role("list", name="Ansprechpartner")
    await expect(persons.get_by_role("link")).to_have_text([person["name"]])
    await master.get_by_label("Person suchen").fill(f"paul {word}")
    await master.get_by_role("radio", name=colleague["name"]).check()
    await master.get_by_role("button", name="Ansprechpartner hinzufügen").click()
    await expect(
        master.get_by_text(f"„{colleague['name']}“ ist jetzt Ansprechpartner.")
    ).to_be_visible()
    await expect(persons.get_by_role("link")).to_have_count(2)
    added = (await api.get(f"/api/contacts/{colleague['id']}")).json()
    assert added["company_id"] == company["id"]
    await master.get_by_role(
        "button", name=f"„{person['name']}“ als Ansprechpartner entfernen"
    ).click()
    await expect(persons.get_by_role("link")).to_have_text([colleague["name"]])
    assert (await api.get(f"/api/contacts/{person['id']}")).json()["company_id"] is None


async def test_the_crm_properties_are_saved(browse: Browse, api: httpx.AsyncClient) -> None:
    word = tag()
    await allow_crm_values(
        api,
        partner_statuses=[f"Status {word}"],
        company_groups=[f"Gruppe {word}"],
        products=[f"Produkt {word}"],
    )
    contact = await create_contact(api, kind="company")
    page = await open_contact(browse, contact)
    crm = page.get_by_role("region", name="CRM", exact=True)
    await crm.get_by_label("CRM-Status").select_option(f"Status {word}")
    await crm.get_by_label("Unternehmensgruppe").select_option(f"Gruppe {word}")
    await crm.get_by_label("Mitarbeiterzahl").fill("42")
    await crm.get_by_label("Datenquelle").fill("Messe")
    await crm.get_by_label("Newsletter").check()
    await crm.get_by_label(f"Produkt {word}").check()
    await crm.get_by_label("Kommentar 1").fill("Sehr interessiert")
    await crm.get_by_label(re.compile("^Merkmale")).fill("Farbe=blau")
    await crm.get_by_role("button", name="Speichern").click()
    await expect(crm.get_by_text("CRM-Angaben gespeichert.")).to_be_visible()

    await page.reload()
    crm = page.get_by_role("region", name="CRM", exact=True)
    await expect(crm.get_by_label("CRM-Status")).to_have_value(f"Status {word}")
    await expect(crm.get_by_label("Unternehmensgruppe")).to_have_value(f"Gruppe {word}")
    await expect(crm.get_by_label("Mitarbeiterzahl")).to_have_value("42")
    await expect(crm.get_by_label("Datenquelle")).to_have_value("Messe")
    await expect(crm.get_by_label("Newsletter")).to_be_checked()
    await expect(crm.get_by_label("Interessiert")).not_to_be_checked()
    await expect(crm.get_by_label(f"Produkt {word}")).to_be_checked()
    await expect(crm.get_by_label("Kommentar 1")).to_have_value("Sehr interessiert")
    await expect(crm.get_by_label(re.compile("^Merkmale"))).to_have_value("Farbe=blau")
    stored = (await api.get(f"/api/contacts/{contact['id']}")).json()["crm"]
    assert {k: stored[k] for k in ("crm_status", "company_group", "employees", "data_source")} == {
        "crm_status": f"Status {word}",
        "company_group": f"Gruppe {word}",
        "employees": 42,
        "data_source": "Messe",
    }
    assert (stored["newsletter"], stored["interested"], stored["products"]) == (
        True,
        False,
        [f"Produkt {word}"],
    )
    assert (stored["comment1"], stored["characteristics"]) == (
        "Sehr interessiert",
        {"Farbe": "blau"},
    )
