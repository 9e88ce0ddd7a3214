"""Workflows of the contact's page beyond the first ones (seed 004): the service's rules
at their field in the reader's language, procedures not done. Each checks what the user
sees and what the API holds behind it."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Locator, Page, expect
from ui_support import Browse, create_contact, sign_in, tag

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
