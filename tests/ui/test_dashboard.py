"""CRM-Dashboard (seed 003): filter, regroup by drag and drop and by keyboard, see the
groups follow, open the same view from its URL, and export what is shown."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
from playwright.async_api import Page, expect
from ui_support import Browse, StaffMember, create_contact, fits_the_screen, sign_in


async def _opportunity(api: httpx.AsyncClient, contact_id: str, **fields: Any) -> dict[str, Any]:
    body = {"contact_id": contact_id, "title": "Angebot", "closing_probability": 50, **fields}
    made = await api.post("/api/opportunities", json=body)
    assert made.status_code == 201, made.text
    result: dict[str, Any] = made.json()
    return result


async def _world(api: httpx.AsyncClient, seller: StaffMember) -> dict[str, Any]:
    """Three opportunities of one new staff member (the filter keeps other tests' out):
    two statuses, two company sizes, two revenue groups."""
    crm = (await api.get("/api/crm/settings")).json()
    first, second = crm["opportunity_statuses"][:2]
    small, big = crm["company_sizes"][0]["name"], crm["company_sizes"][-1]["name"]
    low = Decimal(crm["revenue_groups"][0]["min"])
    high = Decimal(crm["revenue_groups"][-1]["min"])
    a = await create_contact(api, kind="company", crm={"company_size": small})
    b = await create_contact(api, kind="company", crm={"company_size": big})
    common = {"assignee_id": seller.id}
    await _opportunity(api, a["id"], crm_status=first, revenue_potential=str(low), **common)
    await _opportunity(api, a["id"], crm_status=second, revenue_potential=str(high), **common)
    await _opportunity(api, b["id"], crm_status=first, revenue_potential=str(high), **common)
    return {"statuses": (first, second), "sizes": (small, big)}


def _row_headers(page: Page) -> Any:
    return page.locator("#dashboard-results tbody .group-label")


async def _api_groups(api: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    query = parse_qs(urlparse(url).query)
    answer = await api.get("/api/dashboard", params=query)
    assert answer.status_code == 200, answer.text
    groups: list[dict[str, Any]] = answer.json()["groups"]
    return groups


async def test_filter_regroup_by_keyboard_and_by_dragging_then_export(
    browse: Browse, api: httpx.AsyncClient, make_staff: Any, viewport: dict[str, int]
) -> None:
    seller = await make_staff()
    world = await _world(api, seller)
    first, second = world["statuses"]
    page = await browse(viewport=viewport)
    await sign_in(page)
    nav = page.get_by_role("navigation", name="Hauptnavigation")
    await nav.get_by_role("link", name="CRM", exact=True).click()
    await expect(page.get_by_role("heading", name="CRM-Dashboard", level=1)).to_be_visible()

    # filter: this seller's opportunities only; the groups update without a reload
    await page.get_by_role("group", name="Ticket-Bearbeiter").get_by_label(seller.name).check()
    results = page.locator("#dashboard-results")
    await expect(results.locator("tfoot")).to_contain_text("3")
    await expect(page).to_have_url(re.compile(f"assignee_id={seller.id}"))
    await fits_the_screen(page)
    # the default grouping: CRM-Ticketstatus, then Umsatzgruppe; the first level in order
    grouping = page.get_by_role("list", name="Gruppiert nach")
    await expect(grouping.locator(".grouping-name")).to_have_text(
        ["CRM-Ticketstatus", "Umsatzgruppe"]
    )
    status_rows = results.locator("tbody tr.level-1 .group-label")
    await expect(status_rows).to_have_text(sorted([first, second]))

    # keyboard: Umsatzgruppe up, by Tab and Enter; the focus stays on that field
    up = page.get_by_role("button", name="„Umsatzgruppe“ nach oben")
    await up.focus()
    await page.keyboard.press("Enter")
    await expect(grouping.get_by_role("listitem").first).to_contain_text("Umsatzgruppe")
    focused = page.locator(":focus")
    await expect(focused).to_have_accessible_name("„Umsatzgruppe“ nach unten")
    await expect(page).to_have_url(re.compile("group_by=revenue_group%2Ccrm_status"))
    first_level = await results.locator("tbody tr.level-1 .group-label").all_inner_texts()
    expected = await _api_groups(api, page.url)
    assert first_level == list(dict.fromkeys(g["key"]["revenue_group"] for g in expected))

    # drag and drop: Unternehmensgröße from the other fields to the top of the grouping
    size_item = (
        page.get_by_role("list", name="Weitere Felder")
        .get_by_role("listitem")
        .filter(has_text="Unternehmensgröße")
    )
    await size_item.locator(".handle").drag_to(grouping.get_by_role("listitem").first)
    await expect(grouping.get_by_role("listitem").first).to_contain_text("Unternehmensgröße")
    await expect(page).to_have_url(re.compile("group_by=company_size%2C"))
    small, big = world["sizes"]
    sizes = results.locator("tbody tr.level-1 .group-label")
    await expect(sizes).to_have_text(sorted([small, big]))
    shown = [t.strip() for t in await _row_headers(page).all_inner_texts()]

    # the URL is the view: opened again (a bookmark), the same groups in the same order
    again = await browse(viewport=viewport)
    await sign_in(again)
    await again.goto(page.url)
    assert [t.strip() for t in await _row_headers(again).all_inner_texts()] == shown
    regrouped = again.get_by_role("list", name="Gruppiert nach").get_by_role("listitem")
    await expect(regrouped).to_have_count(3)

    # export: the CSV holds the groups shown, in the grouping's order
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Exportieren").click()
    download = await download_info.value
    path = await download.path()
    assert path is not None
    with open(path, encoding="utf-8") as handle:
        lines = list(csv.DictReader(io.StringIO(handle.read())))
    assert list(lines[0])[:3] == ["company_size", "revenue_group", "crm_status"]
    assert sum(int(line["count"]) for line in lines) == 3
    api_groups = await _api_groups(api, page.url)
    assert [line["crm_status"] for line in lines] == [g["key"]["crm_status"] for g in api_groups]


async def test_a_grouping_by_product_shows_exact_totals(
    browse: Browse, api: httpx.AsyncClient, make_staff: Any
) -> None:
    """An opportunity with two products counts once in each product group, and once in
    the status above them and in the total."""
    seller = await make_staff()
    crm = (await api.get("/api/crm/settings")).json()
    status = crm["opportunity_statuses"][0]
    company = await create_contact(api, kind="company")
    await _opportunity(
        api,
        company["id"],
        crm_status=status,
        revenue_potential="1000",
        products=crm["products"][:2],
        assignee_id=seller.id,
    )
    page = await browse()
    await sign_in(page)
    await page.goto(f"/ui/dashboard?assignee_id={seller.id}&group_by=crm_status,product")
    results = page.locator("#dashboard-results")
    status_row = results.locator("tbody tr.level-1")
    await expect(status_row.locator("td").first).to_have_text("1")
    await expect(results.locator("tbody tr.level-2")).to_have_count(2)
    await expect(results.locator("tfoot td").first).to_have_text("1")
    # without script a grouping button submits its order: the answer is the plain URL
    await page.goto(f"/ui/dashboard?assignee_id={seller.id}&order=product,crm_status")
    await expect(page).to_have_url(re.compile("group_by=product%2Ccrm_status"))
    await expect(results.locator("tbody tr.level-1")).to_have_count(2)  # the two products
    await expect(results.locator("tfoot td").first).to_have_text("1")
    # a group links to its opportunities
    await results.locator("tbody tr.level-2 th a").first.click()
    await expect(page).to_have_url(re.compile("/ui/opportunities\\?"))


async def test_an_opportunity_created_corrected_and_deleted_in_its_form(
    browse: Browse, api: httpx.AsyncClient, viewport: dict[str, int]
) -> None:
    contact = await create_contact(api, kind="company")
    crm = (await api.get("/api/crm/settings")).json()
    status, product = crm["opportunity_statuses"][1], crm["products"][0]
    page = await browse(viewport=viewport)
    await sign_in(page)
    await page.goto("/ui/opportunities")
    await page.get_by_role("link", name="Verkaufschance anlegen").click()
    await page.get_by_label("Kontakt suchen").fill(contact["name"].split()[-1])
    await page.get_by_role("radio", name=contact["name"]).check()
    await page.get_by_label("Titel").fill("Lizenzen für 40 Plätze")
    await page.get_by_label("CRM-Status").select_option(status)
    await page.get_by_label("Abschlusschance (%)").fill("60")
    revenue = page.get_by_label("Umsatzpotenzial (€)")
    await revenue.fill("zwölftausend")
    await page.get_by_label("Voraussichtliche Benutzeranzahl").fill("40")
    await page.get_by_role("group", name="Produkte").get_by_label(product).check()
    await fits_the_screen(page)
    await page.get_by_role("button", name="Speichern").click()
    # the service refuses a word for an amount: said at the field, everything typed kept
    await expect(revenue).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_role("alert")).to_contain_text("Zahl")
    await expect(page.get_by_label("Titel")).to_have_value("Lizenzen für 40 Plätze")
    await expect(page.get_by_role("radio", name=contact["name"])).to_be_checked()
    await expect(page.get_by_role("group", name="Produkte").get_by_label(product)).to_be_checked()
    await revenue.fill("12.500,50")
    await page.get_by_role("button", name="Speichern").click()
    await expect(page.locator("#flash")).to_contain_text("angelegt")
    opportunity_id = page.url.rsplit("/", 1)[-1]
    stored = (await api.get(f"/api/opportunities/{opportunity_id}")).json()
    assert (stored["revenue_potential"], stored["closing_probability"]) == ("12500.50", 60)
    assert stored["products"] == [product] and stored["expected_users"] == 40
    assert stored["contact_id"] == contact["id"] and stored["crm_status"] == status

    await page.get_by_role("button", name="Löschen").click()
    dialog = page.get_by_role("dialog", name="Verkaufschance löschen?")
    await dialog.get_by_role("button", name="Löschen").click()
    await expect(page.get_by_role("heading", name="Verkaufschancen", level=1)).to_be_visible()
    gone = await api.get(f"/api/opportunities/{opportunity_id}")
    assert gone.status_code == 404
