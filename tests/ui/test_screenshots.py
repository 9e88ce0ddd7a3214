"""The README's pictures of the staff UI, made by this suite's browser.

Every run takes them (and checks they show the page); with ``CRM_SCREENSHOTS=1`` they
are written to ``docs/screenshots/`` for the README instead of a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import expect
from ui_support import Browse, create_contact, sign_in, tag

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def test_screenshots_of_the_list_and_a_contact(
    browse: Browse, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    target = DOCS if os.environ.get("CRM_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    company = await create_contact(
        api, kind="company", name="Müller Maschinenbau GmbH", email="info@mueller.example"
    )
    people = [
        await create_contact(api, name=name, email=email, company_id=company["id"])
        for name, email in (
            ("Anna Müller", "anna.mueller@mueller.example"),
            ("Ben Schmidt", "ben.schmidt@mueller.example"),
        )
    ]
    group = await api.post(
        "/api/groups",
        json={
            "name": f"Messe Hannover {tag()[-4:]}",
            "kind": "static",
            "contact_ids": [company["id"], *(p["id"] for p in people)],
        },
    )
    assert group.status_code == 201, group.text
    gid = group.json()["id"]
    await api.post(
        f"/api/contacts/{company['id']}/history",
        json={"action": None, "text": "Rabatt 5 % nach Beschwerde gewährt", "field5": True},
    )
    await api.post(
        "/api/interactions",
        json={
            "contact_id": company["id"],
            "topic": "Angebot Wartungsvertrag",
            "kind": "internal",
            "text": "Rückruf zugesagt, Angebot bis Freitag.",
        },
    )
    page = await browse()
    await sign_in(page)
    await page.goto(f"/ui/contacts?q=M%C3%BCller&open_group={gid}")
    await expect(page.get_by_role("checkbox", name="Anna Müller")).to_be_visible()
    await page.get_by_role("checkbox", name="Anna Müller").check()
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=target / "contacts-list.png")
    await page.goto(f"/ui/contacts/{company['id']}")
    await expect(page.get_by_role("region", name="Kundenhistory")).to_contain_text("Rabatt")
    await page.screenshot(path=target / "contact-page.png", full_page=True)
    for name in ("contacts-list.png", "contact-page.png"):
        assert (target / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_screenshot_of_the_dashboard(
    browse: Browse, api: httpx.AsyncClient, make_staff: Any, tmp_path: Path
) -> None:
    target = DOCS if os.environ.get("CRM_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    seller = await make_staff()
    crm = (await api.get("/api/crm/settings")).json()
    sizes = [s["name"] for s in crm["company_sizes"]]
    for n, (status, amount) in enumerate(
        zip(crm["opportunity_statuses"][:4], ("12500", "48000", "7900", "150000"), strict=True)
    ):
        company = await create_contact(
            api, kind="company", name=f"Firma {n + 1} GmbH", crm={"company_size": sizes[n % 2]}
        )
        made = await api.post(
            "/api/opportunities",
            json={
                "contact_id": company["id"],
                "title": f"Angebot {n + 1}",
                "crm_status": status,
                "closing_probability": 20 + 20 * n,
                "revenue_potential": amount,
                "products": crm["products"][: 1 + n % 2],
                "assignee_id": seller.id,
            },
        )
        assert made.status_code == 201, made.text
    page = await browse()
    await sign_in(page)
    await page.goto(f"/ui/dashboard?assignee_id={seller.id}&group_by=crm_status,company_size")
    await expect(page.locator("#dashboard-results tfoot")).to_contain_text("4")
    await page.screenshot(path=target / "dashboard.png", full_page=True)
    assert (target / "dashboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
