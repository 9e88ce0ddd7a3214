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
    await page.locator("#advanced-filters").get_by_label("Status", exact=True).select_option(
        "customer"
    )
    await expect(page.get_by_role("checkbox", name=re.compile(word))).to_have_count(2)

    rows = await downloaded_csv(page, "Exportieren")
    assert sorted(row["id"] for row in rows) == sorted(c["id"] for c in customers)
    assert {row["status"] for row in rows} == {"customer"}
    assert sorted(row["name"] for row in rows) == [f"{word} Kundin 0", f"{word} Kundin 1"]
