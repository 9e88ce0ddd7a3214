"""Part 2's workflows end to end in the browser: the exports of a filtered list hold
exactly what the list shows, a mailing from a selection reaches exactly the selected
contacts, and the opportunities list is filtered and edited like the dashboard."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from typing import Any

import httpx
from playwright.async_api import Page, expect
from ui_support import (
    Browse,
    create_contact,
    progress_seen,
    progress_was_shown,
    sign_in,
    tag,
    watch_progress,
)

from crm_dev.testing import Mailbox
from crm_dev.testkit import eventually


async def downloaded_csv(page: Page, link_name: str) -> list[dict[str, str]]:
    """Click the link, read the file the browser downloaded."""
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name=link_name, exact=True).click()
    download = await download_info.value
    path = await download.path()
    assert path is not None, await download.failure()
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(io.StringIO(handle.read())))


async def test_the_export_of_a_filtered_contacts_list_holds_exactly_its_contacts(
    browse: Browse, api: httpx.AsyncClient
) -> None:
    word = tag()
    customers = [await create_contact(api, name=f"{word} Kundin {n}") for n in range(2)]
    for made in customers:
        changed = await api.post(
            f"/api/contacts/{made['id']}/status", json={"status": "customer", "confirm": True}
        )
        assert changed.status_code == 200, changed.text
    await create_contact(api, name=f"{word} Interessent")  # matches the search, not the status
    await create_contact(api, name=f"Sonst {tag()}")

    page = await browse()
    await sign_in(page)
    # typed into "Suche" (the list follows without a reload), then a filter of "Erweitert"
    await page.get_by_label("Suche").press_sequentially(word, delay=20)
    await expect(page.get_by_role("checkbox", name=re.compile(word))).to_have_count(3)
    await page.get_by_role("button", name="Erweitert").click()
    await (
        page.locator("#advanced-filters")
        .get_by_label("Status", exact=True)
        .select_option("customer")
    )
    await expect(page.get_by_role("checkbox", name=re.compile(word))).to_have_count(2)

    rows = await downloaded_csv(page, "Exportieren")
    assert sorted(row["id"] for row in rows) == sorted(c["id"] for c in customers)
    assert {row["status"] for row in rows} == {"customer"}
    assert sorted(row["name"] for row in rows) == [f"{word} Kundin 0", f"{word} Kundin 1"]


async def _opportunity(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"title": f"Angebot {tag()}", "closing_probability": 50, **fields}
    made = await api.post("/api/opportunities", json=body)
    assert made.status_code == 201, made.text
    result: dict[str, Any] = made.json()
    return result


async def test_the_opportunities_list_filtered_exported_and_one_corrected(
    browse: Browse, api: httpx.AsyncClient, make_staff: Any, viewport: dict[str, int]
) -> None:
    seller = await make_staff()
    crm = (await api.get("/api/crm/settings")).json()
    first, second = crm["products"][:2]
    status = crm["opportunity_statuses"][0]
    made = await api.post(
        "/api/campaigns",
        json={"name": f"Messe {tag()}", "starts_on": "2027-01-01", "ends_on": "2027-12-31"},
    )
    assert made.status_code == 201, made.text
    campaign = made.json()
    company = await create_contact(api, kind="company")
    common = {"contact_id": company["id"], "crm_status": status, "revenue_potential": "1000"}
    licences = await _opportunity(
        api,
        **common,
        assignee_id=seller.id,
        products=[first],
        campaign_ids=[campaign["id"]],
        expected_users=25,
    )
    service = await _opportunity(api, **common, assignee_id=seller.id, products=[second])
    await _opportunity(api, **common, products=[first])  # someone else's

    page = await browse(viewport=viewport)
    await sign_in(page)
    await page.goto("/ui/opportunities")
    # the dashboard's filters (folded until one is set): this seller's, then only the first
    # product; the list follows without a reload
    await page.get_by_text("Filter", exact=True).click()
    filters = page.get_by_role("form", name="Filter")
    await filters.get_by_role("group", name="Ticket-Bearbeiter").get_by_label(seller.name).check()
    results = page.get_by_role("region", name="Ergebnis")
    await expect(results.get_by_role("row")).to_have_count(3)  # the header and two
    await filters.get_by_role("group", name="Produkte").get_by_label(first, exact=True).check()
    await expect(results.get_by_role("row")).to_have_count(2)
    await expect(page).to_have_url(re.compile(f"assignee_id={seller.id}"))
    await expect(page).to_have_url(re.compile("product="))
    row = results.get_by_role("row").filter(has_text=licences["title"])
    for column, value in (
        ("Benutzeranzahl", "25"),
        ("Produkte", first),
        ("Kampagnen", campaign["name"]),
        ("Ticket-Bearbeiter", seller.name),
    ):
        header = results.get_by_role("columnheader", name=column, exact=True)
        index = await header.evaluate("th => th.cellIndex")
        await expect(row.get_by_role("cell").nth(index)).to_contain_text(value)

    # "Exportieren" downloads exactly the list as filtered now
    rows = await downloaded_csv(page, "Exportieren")
    assert [(r["id"], r["expected_users"], r["products"]) for r in rows] == [
        (licences["id"], "25", first)
    ]
    assert rows[0]["campaign_ids"] == campaign["id"]

    # the other one corrected in its form: the list and the API have the change
    await filters.get_by_role("group", name="Produkte").get_by_label(first, exact=True).uncheck()
    await results.get_by_role("link", name=service["title"]).click()
    await expect(page.get_by_role("heading", name=service["title"], level=1)).to_be_visible()
    renamed = f"Wartungsvertrag {tag()}"
    await page.get_by_label("Titel").fill(renamed)
    await page.get_by_label("Voraussichtliche Benutzeranzahl").fill("40")
    await page.get_by_role("group", name="Kampagnen").get_by_label(campaign["name"]).check()
    await page.get_by_role("group", name="Produkte").get_by_label(first, exact=True).check()
    await page.get_by_role("button", name="Speichern").click()
    await expect(page.locator("#flash")).to_contain_text("Verkaufschance gespeichert.")
    await page.goto(f"/ui/opportunities?assignee_id={seller.id}")
    row = page.get_by_role("row").filter(has_text=renamed)
    await expect(row).to_contain_text("40")
    await expect(row).to_contain_text(campaign["name"])
    await expect(row).to_contain_text(first)
    await expect(row).to_contain_text(second)
    stored = (await api.get(f"/api/opportunities/{service['id']}")).json()
    assert (stored["title"], stored["expected_users"]) == (renamed, 40)
    assert (sorted(stored["products"]), stored["campaign_ids"]) == (
        sorted([first, second]),
        [campaign["id"]],
    )


def subjects(mail: Mailbox, address: str) -> list[str]:
    return [str(make_header(decode_header(str(m["Subject"])))) for m in mail.messages(address)]


async def test_a_mailing_to_the_checked_rows_reaches_exactly_them(
    browse: Browse, api: httpx.AsyncClient, mail: Mailbox
) -> None:
    word = tag()
    contacts = [
        await create_contact(api, name=f"{word} Empfänger {n}", email=f"{word}-{n}@example.com")
        for n in range(3)
    ]
    chosen, left_out = contacts[:2], contacts[2]
    page = await browse()
    await sign_in(page)
    await page.goto(f"/ui/contacts?q={word}")
    for contact in chosen:
        await page.get_by_role("checkbox", name=contact["name"]).check()
    bar = page.get_by_role("region", name="Aktionen für die Auswahl")
    await expect(bar).to_contain_text("2 ausgewählt")
    await bar.get_by_role("button", name="Mailing").click()
    await expect(page.get_by_role("heading", name="Mailing", level=1)).to_be_visible()
    await expect(page.get_by_text("Für 2 ausgewählte Kontakte.")).to_be_visible()
    await page.get_by_label("Betreff").fill(f"Einladung {word} für {{{{ name }}}}")
    await page.get_by_label("Text der E-Mail").fill("Guten Tag {{ name }}, wir laden Sie ein.")
    await page.get_by_label("History").fill(f"Einladung {word} verschickt")
    await page.get_by_role("button", name="OK").click()

    await expect(page).to_have_url(re.compile(r"/ui/jobs/"))
    await expect(page.get_by_role("heading", name="Fertig")).to_be_visible(timeout=30_000)
    await expect(page.get_by_text("2 von 2 Kontakten")).to_be_visible()

    async def all_mailed() -> bool:
        return all(subjects(mail, c["email"]) for c in chosen)

    await eventually(all_mailed, "a mail to each checked contact", timeout=20)
    for contact in chosen:
        assert subjects(mail, contact["email"]) == [f"Einladung {word} für {contact['name']}"]
    # the job's total says the selection held the two; the third got nothing
    job = (await api.get(f"/api/jobs/{page.url.rsplit('/', 1)[1]}")).json()
    assert (job["kind"], job["total"], job["done"], job["skipped"]) == ("mailing", 2, 2, 0)
    assert mail.messages(left_out["email"]) == []
    entries = (await api.get(f"/api/contacts/{chosen[0]['id']}/history")).json()["items"]
    assert [e["text"] for e in entries] == [f"Einladung {word} verschickt"]


LARGE_IMPORT = 5_000
"""Rows of the large import: 1-2 s on a quiet 2-core machine, some 6 s on a busy one,
so the page (polling every second) has something to show in between."""


async def test_a_large_csv_import_shows_its_progress_moving(
    browse: Browse, api: httpx.AsyncClient, tmp_path: Any
) -> None:
    word = tag()
    csv_file = tmp_path / "viele.csv"
    rows = [f"person,Menge {word} {n:05d},\n" for n in range(LARGE_IMPORT)]
    rows[1234] = f"person,Menge {word} kaputt,keine-adresse\n"  # line 1236 with the header
    csv_file.write_text("kind,name,email\n" + "".join(rows), encoding="utf-8")
    page = await browse()
    await sign_in(page)
    await page.goto("/ui/contacts/import")
    await page.get_by_label("CSV-Datei").set_input_files(csv_file)
    await watch_progress(page)
    started = time.monotonic()
    await page.get_by_role("button", name="Importieren").click()
    await expect(page.get_by_role("heading", name="Fertig")).to_be_visible(timeout=60_000)
    elapsed = time.monotonic() - started
    shown = progress_was_shown(await progress_seen(page))
    print(f"\nimport of {LARGE_IMPORT:,} rows in {elapsed:.1f} s; the page showed: {shown}")
    await expect(page.get_by_text("5.000 von 5.000 Zeilen")).to_be_visible()
    errors = page.get_by_role("table", name=re.compile("Zeilen mit Fehlern"))
    await expect(errors.get_by_role("row")).to_have_count(2)
    await expect(errors.get_by_role("cell").first).to_have_text("1236")
    job = (await api.get(f"/api/contacts/import/{page.url.rsplit('/', 1)[1]}")).json()
    assert (job["created"], job["error_count"]) == (LARGE_IMPORT - 1, 1)


async def _plan(api: httpx.AsyncClient, contact_id: str, staff_id: str, **fields: Any) -> str:
    body = {
        "contact_id": contact_id,
        "responsible_id": staff_id,
        "type": "call",
        "direction": "outgoing",
        "state": "planned",
        "starts_at": "2020-01-10T09:00:00+01:00",  # long due
        "duration_minutes": 0,
        "reminder": True,
        "subject": f"Rückruf {tag()}",
        **fields,
    }
    planned = await api.post("/api/procedures", json=body)
    assert planned.status_code == 201, planned.text
    return str(planned.json()["id"])


async def test_a_reminder_leads_to_its_own_procedure_or_interaction(
    browse: Browse, api: httpx.AsyncClient, make_staff: Any
) -> None:
    colleague = await make_staff()
    contact = await create_contact(api)
    subject = f"Angebot nachfassen {tag()}"
    procedure_id = await _plan(api, contact["id"], colleague.id, subject=subject)
    await _plan(api, contact["id"], colleague.id)  # another row of the same list
    topic = f"Messegespräch {tag()}"
    logged = await api.post(
        "/api/interactions",
        json={
            "contact_id": contact["id"],
            "topic": topic,
            "kind": "internal",
            "text": "Prospekt gewünscht",
            "follow_up_on": "2020-02-03",
            "recorded_by": colleague.id,
        },
    )
    assert logged.status_code == 201, logged.text
    page = await browse()
    await sign_in(page, colleague.username, colleague.password)
    await page.goto("/ui/reminders")
    reminders = page.get_by_role("list", name="Offene Erinnerungen")
    for text in (subject, topic):  # they come by event
        await expect(reminders.get_by_role("link", name=text)).to_be_visible(timeout=20_000)

    for link, anchor, section, text in (
        (subject, f"procedure-{procedure_id}", "Kontaktvorgänge", "Anruf"),
        (topic, f"interaction-{logged.json()['id']}", "Interaktionen", "Prospekt gewünscht"),
    ):
        await page.goto("/ui/reminders")
        await reminders.get_by_role("link", name=link).click()
        await expect(page).to_have_url(re.compile(f"/ui/contacts/{contact['id']}#{anchor}$"))
        region = page.get_by_role("region", name=section, exact=True)
        row = region.get_by_role("listitem").filter(has_text=link)
        # its own row, not the section: in view and focused once the sections have come
        await expect(row).to_be_focused()
        await expect(row).to_be_in_viewport()
        await expect(row).to_contain_text(text)
        assert await row.get_attribute("id") == anchor


async def test_a_reminder_falling_due_shows_at_once_on_the_open_list(
    browse: Browse, api: httpx.AsyncClient, make_staff: Any
) -> None:
    """The notification stream's "reminder due" refreshes the list; the poll every 5 s
    would show it up to 5 s later."""
    colleague = await make_staff()
    contact = await create_contact(api)
    page = await browse()
    await sign_in(page, colleague.username, colleague.password)
    await page.goto("/ui/reminders")
    await expect(page.locator("body")).to_have_attribute("data-stream-ready", "true")
    subject = f"Gleich fällig {tag()}"
    # in the page: when the unread count changed, and when the reminder showed as due
    await page.evaluate(
        """(subject) => {
          window.crmTimes = {};
          new MutationObserver(() => {
            const badge = document.getElementById("unread-count");
            if (badge && badge.textContent.trim() !== "0" && !window.crmTimes.count)
              window.crmTimes.count = performance.now();
            const due = Array.from(document.querySelectorAll("#reminder-list li")).find(
              (li) => li.textContent.includes(subject) && li.querySelector(".mark-problem"));
            if (due && !window.crmTimes.due) window.crmTimes.due = performance.now();
          }).observe(document.body, {subtree: true, childList: true, characterData: true});
        }""",
        subject,
    )
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    await _plan(api, contact["id"], colleague.id, subject=subject, starts_at=soon)
    item = page.get_by_role("listitem").filter(has_text=subject)
    await expect(item).to_contain_text("fällig", timeout=20_000)
    times = await page.evaluate("window.crmTimes")
    assert "count" in times, "the notification of the due reminder did not come"
    assert times["due"] - times["count"] < 2000, times
