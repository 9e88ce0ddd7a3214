"""Erinnerungen, Kampagnen, the CSV import and the jobs started from a selection (seeds
000, 002, 004), as staff click through them."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from playwright.async_api import expect
from ui_support import (
    Browse,
    create_contact,
    fits_the_screen,
    progress_seen,
    progress_was_shown,
    sign_in,
    tag,
    watch_progress,
)

from crm_dev.testkit import eventually


async def test_a_reminder_shows_and_goes_away_when_its_procedure_is_completed(
    browse: Browse, api: httpx.AsyncClient, make_staff: Any, viewport: dict[str, int]
) -> None:
    colleague = await make_staff()
    contact = await create_contact(api)
    subject = f"Nachfassen {tag()}"
    planned = await api.post(
        "/api/procedures",
        json={
            "contact_id": contact["id"],
            "responsible_id": colleague.id,
            "type": "call",
            "direction": "outgoing",
            "state": "planned",
            "starts_at": "2020-01-10T09:00:00+01:00",  # long due
            "duration_minutes": 0,
            "reminder": True,
            "subject": subject,
        },
    )
    assert planned.status_code == 201, planned.text
    page = await browse(viewport=viewport)
    await sign_in(page, colleague.username, colleague.password)
    await page.get_by_role("link", name="Erinnerungen").click()
    await expect(page.get_by_role("heading", name="Erinnerungen")).to_be_visible()
    item = page.get_by_role("listitem").filter(has_text=subject)
    await expect(item).to_be_visible(timeout=20_000)  # the reminder comes by event
    await expect(item).to_contain_text("fällig")
    await fits_the_screen(page)
    assert await item.get_by_role("link", name=subject).get_attribute("href") == (
        f"/ui/contacts/{contact['id']}#procedure-{planned.json()['id']}"
    )

    done = await api.post(
        f"/api/procedures/{planned.json()['id']}/complete",
        json={"outcome": "done", "duration_minutes": 10},
    )
    assert done.status_code == 200, done.text
    # gone from the open page, without a reload
    await expect(item).to_have_count(0, timeout=20_000)
    await expect(page.get_by_text("Keine offenen Erinnerungen.")).to_be_visible()


async def test_a_campaign_created_joined_and_retired(
    browse: Browse, api: httpx.AsyncClient
) -> None:
    name = f"Frühjahr {tag()}"
    contact = await create_contact(api, name=f"Mitglied {tag()}")
    page = await browse()
    await sign_in(page)
    await page.goto("/ui/campaigns")
    await page.get_by_role("button", name="Kampagne anlegen").click()
    dialog = page.get_by_role("dialog", name="Kampagne anlegen")
    await dialog.get_by_label("Name").fill(name)
    await dialog.get_by_label("Beginn").fill("2027-03-01")
    await dialog.get_by_label("Ende").fill("2027-02-01")  # before the start: refused
    await dialog.get_by_role("button", name="Speichern").click()
    dialog = page.get_by_role("dialog", name="Kampagne anlegen")
    await expect(dialog.get_by_role("alert")).to_be_visible()
    await expect(dialog.get_by_label("Name")).to_have_value(name)
    await dialog.get_by_label("Ende").fill("2027-05-31")
    await dialog.get_by_role("button", name="Speichern").click()
    await expect(page.get_by_role("heading", name=name)).to_be_visible()

    members = page.get_by_role("region", name="Mitglieder")
    await members.get_by_label("Kontakt suchen").fill(contact["name"])
    await members.get_by_role("radio", name=contact["name"]).check()
    await members.get_by_role("button", name="Mitglied hinzufügen").click()
    await expect(page.get_by_role("link", name=contact["name"])).to_be_visible()

    await page.get_by_role("button", name="Kampagne beenden").click()
    confirm = page.get_by_role("dialog", name="Kampagne endgültig beenden?")
    await expect(confirm).to_contain_text("nicht wieder aktiviert")
    await expect(confirm).to_contain_text("Verknüpfungen in Kontaktvorgängen")
    await confirm.get_by_role("button", name="Bestätigen").click()
    await expect(page.locator("#flash").get_by_text("Die Kampagne ist beendet.")).to_be_visible()
    await expect(page.get_by_role("button", name="Mitglied hinzufügen")).to_have_count(0)

    campaign_id = page.url.rsplit("/", 1)[1]
    stored = (await api.get(f"/api/campaigns/{campaign_id}")).json()
    assert (stored["name"], stored["retired"], stored["ends_on"]) == (name, True, "2027-05-31")
    await page.goto("/ui/campaigns")
    await expect(page.get_by_role("link", name=name)).to_have_count(0)  # retired: hidden
    await page.get_by_role("link", name="Auch beendete zeigen").click()
    await expect(page.get_by_role("link", name=name)).to_be_visible()


async def test_a_csv_import_shows_its_row_errors_and_keeps_the_good_rows(
    browse: Browse, api: httpx.AsyncClient, tmp_path: Any
) -> None:
    word = tag()
    csv_file = tmp_path / "kontakte.csv"
    csv_file.write_text(
        "kind,name,email\n"
        f"person,Import {word} Eins,eins-{word}@example.com\n"
        f"person,Import {word} Zwei,keine-adresse\n"
        f"company,Import {word} Drei GmbH,\n",
        encoding="utf-8",
    )
    page = await browse()
    await sign_in(page)
    await page.get_by_role("link", name="Importieren").click()
    await page.get_by_label("CSV-Datei").set_input_files(csv_file)
    await page.get_by_role("button", name="Importieren").click()
    await expect(page.get_by_role("heading", name="Fertig")).to_be_visible(timeout=20_000)
    errors = page.get_by_role("table", name=re.compile("Zeilen mit Fehlern"))
    await expect(errors.get_by_role("row")).to_have_count(2)  # the header and line 3
    await expect(errors.get_by_role("cell").first).to_have_text("3")
    await expect(errors).to_contain_text("email")

    listed = (await api.get("/api/contacts", params={"q": f"Import {word}"})).json()["items"]
    assert sorted(c["name"] for c in listed) == [f"Import {word} Drei GmbH", f"Import {word} Eins"]
    assert {c["status"] for c in listed} == {"inbox"}

    # a file the service refuses at once (an unknown column) is said at the field
    bad = tmp_path / "falsch.csv"
    bad.write_text("kind,name,geburtstag\nperson,X,1990-01-01\n", encoding="utf-8")
    await page.goto("/ui/contacts/import")
    await page.get_by_label("CSV-Datei").set_input_files(bad)
    await page.get_by_role("button", name="Importieren").click()
    await expect(page.locator("#import-file-error")).to_contain_text("geburtstag")


async def test_a_history_entry_for_a_group_of_a_thousand(
    browse: Browse, api: httpx.AsyncClient
) -> None:
    word = tag()
    limit = asyncio.Semaphore(16)

    async def one(n: int) -> str:
        async with limit:
            made = await create_contact(api, name=f"Tausend {word} {n:04d}")
            return str(made["id"])

    ids = await asyncio.gather(*(one(n) for n in range(1000)))
    group = await api.post(
        "/api/groups", json={"name": f"Tausend {word}", "kind": "static", "contact_ids": ids}
    )
    assert group.status_code == 201, group.text
    gid = group.json()["id"]

    page = await browse()
    await sign_in(page)
    await page.goto(f"/ui/contacts?group_id={gid}")
    await page.get_by_role("checkbox", name=f"Tausend {word} 0000").check()
    bar = page.get_by_role("region", name="Aktionen für die Auswahl")
    await bar.get_by_label("Alle auswählen, die dem Filter entsprechen").check()
    await bar.get_by_role("button", name="Kundenhistoryeintrag generieren").click()
    await expect(
        page.get_by_role("heading", name="Kundenhistoryeintrag generieren")
    ).to_be_visible()
    await expect(
        page.get_by_text("Für alle Kontakte, die dem Filter der Liste entsprechen.")
    ).to_be_visible()
    text = f"Messe {word}"
    await page.get_by_label("History").fill(text)
    await watch_progress(page)
    await page.get_by_role("button", name="OK").click()

    await expect(page).to_have_url(re.compile(r"/ui/jobs/"))
    await expect(page.get_by_role("progressbar")).to_be_visible()
    await expect(page.get_by_role("heading", name="Fertig")).to_be_visible(timeout=60_000)
    await expect(page.get_by_text("1.000 von 1.000 Kontakten")).to_be_visible()
    await expect(page.locator("#announcer")).to_have_text("Fertig")  # said to screen readers
    # the progress was seen moving: a state not done first (ten batches of 100 contacts)
    print("\nthe bulk entry's page showed:", progress_was_shown(await progress_seen(page)))

    job_id = page.url.rsplit("/", 1)[1]
    job = (await api.get(f"/api/jobs/{job_id}")).json()
    assert (job["state"], job["total"], job["done"]) == ("done", 1000, 1000)

    async def entry_of(contact_id: str) -> bool:
        entries = (await api.get(f"/api/contacts/{contact_id}/history")).json()["items"]
        return [e["text"] for e in entries] == [text]

    for contact_id in (ids[0], ids[499], ids[-1]):
        await eventually(lambda cid=contact_id: entry_of(cid), f"the entry of {contact_id}")
