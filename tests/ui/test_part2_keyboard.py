"""Part 2 by keyboard alone and with a screen reader's eyes: the dashboard's grouping
reached and moved with Tab, Enter and Space; a dialog keeps the focus and Escape closes
it; axe over the dialogs of part 2 in both languages."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.async_api import Locator, Page, expect
from test_accessibility import violations
from ui_support import Browse, create_contact, sign_in, tag

FOCUSABLE = "a[href], button, input, select, textarea, summary, [tabindex]"


async def tab_to(page: Page, target: Locator, most: int | None = None) -> int:
    """Press Tab until ``target`` has the focus; the presses. It fails after ``most``, by
    default as many as the page has focusable elements (the filters grow with the staff
    and campaigns the session made): past them the focus would only come round again."""
    if most is None:
        most = await page.locator(FOCUSABLE).count() + 5
    for presses in range(1, most + 1):
        await page.keyboard.press("Tab")
        if await target.evaluate("el => el === document.activeElement"):
            return presses
    raise AssertionError(f"not reached with {most} presses of Tab: {target}")


async def focus_is_visible(target: Locator) -> bool:
    outline: str = await target.evaluate("el => getComputedStyle(el).outlineStyle")
    return outline != "none"


async def _first_level(page: Page) -> list[str]:
    labels = page.locator("#dashboard-results tbody tr.level-1 .group-label")
    return [text.strip() for text in await labels.all_inner_texts()]


async def test_the_dashboard_grouping_by_tab_enter_and_space(
    browse: Browse, api: httpx.AsyncClient, make_staff: Any
) -> None:
    seller = await make_staff()
    crm = (await api.get("/api/crm/settings")).json()
    company = await create_contact(api, kind="company")
    for status, revenue in zip(crm["opportunity_statuses"][:2], ("100", "900000"), strict=True):
        made = await api.post(
            "/api/opportunities",
            json={
                "contact_id": company["id"],
                "title": f"Angebot {tag()}",
                "crm_status": status,
                "closing_probability": 50,
                "revenue_potential": revenue,
                "assignee_id": seller.id,
            },
        )
        assert made.status_code == 201, made.text
    page = await browse()
    await sign_in(page)
    await page.goto(f"/ui/dashboard?assignee_id={seller.id}")
    grouping = page.get_by_role("list", name="Gruppiert nach")
    names = grouping.locator(".grouping-name")
    await expect(names).to_have_text(["CRM-Ticketstatus", "Umsatzgruppe"])
    statuses = await _first_level(page)

    # from the top of the page, Tab alone reaches the field's button, visibly focused
    up = page.get_by_role("button", name="„Umsatzgruppe“ nach oben")
    presses = await tab_to(page, up)
    assert await focus_is_visible(up), "the focus is not visible"
    await page.keyboard.press("Enter")
    await expect(names).to_have_text(["Umsatzgruppe", "CRM-Ticketstatus"])
    # the focus stays on the field that moved ("up" is disabled at the top: "down" has it)
    down = page.get_by_role("button", name="„Umsatzgruppe“ nach unten")
    await expect(down).to_be_focused()
    await expect(page).to_have_url(re.compile("group_by=revenue_group%2Ccrm_status"))
    answer = await api.get("/api/dashboard", params=parse_qs(urlparse(page.url).query))
    groups = answer.json()["groups"]
    revenue_groups = list(dict.fromkeys(g["key"]["revenue_group"] for g in groups))
    await expect(page.locator("#dashboard-results tbody tr.level-1 .group-label")).to_have_text(
        revenue_groups
    )

    # Space moves it back down; the focus stays on the field, the groups follow again
    await page.keyboard.press("Space")
    await expect(names).to_have_text(["CRM-Ticketstatus", "Umsatzgruppe"])
    await expect(up).to_be_focused()
    await expect(page).to_have_url(re.compile("group_by=crm_status%2Crevenue_group"))
    await expect(page.locator("#dashboard-results tbody tr.level-1 .group-label")).to_have_text(
        statuses
    )
    # Tab goes on from there, not back to the top of the page
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="„Umsatzgruppe“ nicht gruppieren")).to_be_focused()
    print(f"\n{presses} presses of Tab from the top to the grouping's first button")


async def _campaign(api: httpx.AsyncClient) -> dict[str, Any]:
    made = await api.post(
        "/api/campaigns",
        json={"name": f"Herbst {tag()}", "starts_on": "2027-09-01", "ends_on": "2027-11-30"},
    )
    assert made.status_code == 201, made.text
    campaign: dict[str, Any] = made.json()
    return campaign


async def test_the_retire_dialog_keeps_the_focus_and_closes_with_escape(
    browse: Browse, api: httpx.AsyncClient
) -> None:
    campaign = await _campaign(api)
    page = await browse()
    await sign_in(page)
    await page.goto(f"/ui/campaigns/{campaign['id']}")
    opener = page.get_by_role("button", name="Kampagne beenden")
    await tab_to(page, opener)
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Kampagne endgültig beenden?")
    await expect(dialog).to_be_visible()
    assert await dialog.evaluate("d => d.contains(document.activeElement)")
    for key in ["Tab"] * 6 + ["Shift+Tab"] * 6:  # round and round, never out
        await page.keyboard.press(key)
        assert await dialog.evaluate("d => d.contains(document.activeElement)"), key
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(opener).to_be_focused()  # back where the person was
    assert (await api.get(f"/api/campaigns/{campaign['id']}")).json()["retired"] is False

    # by keyboard to the end: the confirm button names the action
    await page.keyboard.press("Enter")
    confirm = dialog.get_by_role("button", name="Bestätigen")
    await tab_to(page, confirm, most=10)
    await page.keyboard.press("Enter")
    await expect(page.locator("#flash").get_by_text("Die Kampagne ist beendet.")).to_be_visible()
    assert (await api.get(f"/api/campaigns/{campaign['id']}")).json()["retired"] is True


@pytest.mark.parametrize("lang", ["de", "en"])
async def test_no_serious_accessibility_violations_in_the_part_2_dialogs(
    browse: Browse, api: httpx.AsyncClient, lang: str
) -> None:
    campaign = await _campaign(api)
    name = f"Vertrieb {tag()}"
    made = await api.post("/api/competences", json={"name": name, "member_ids": []})
    assert made.status_code == 201, made.text
    page = await browse()
    await page.goto(f"/ui/login?lang={lang}")
    await sign_in(page)
    found: list[str] = []

    await page.goto(f"/ui/campaigns/{campaign['id']}")
    await page.get_by_role("button", name=re.compile("^(Kampagne beenden|End campaign)$")).click()
    await expect(page.get_by_role("dialog")).to_be_visible()
    found += await violations(page, "the retire campaign dialog")

    await page.goto("/ui/settings")
    competences = page.get_by_role("region", name=re.compile("^(Kompetenzen|Competences)$"))
    await competences.get_by_role("button", name=re.compile(f"^(Ändern|Change) {name}$")).click()
    dialog = page.get_by_role("dialog", name=re.compile(name))
    await expect(dialog).to_be_visible()
    found += await violations(page, "a competence's edit dialog")
    assert not found, "\n".join(found)
