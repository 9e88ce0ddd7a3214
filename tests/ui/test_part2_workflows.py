"""Part 2's workflows end to end in the browser: the exports of a filtered list hold
exactly what the list shows, a mailing from a selection reaches exactly the selected
contacts, and the opportunities list is filtered and edited like the dashboard."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import httpx
from playwright.async_api import Page, expect
from ui_support import Browse, create_contact, sign_in, tag


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
