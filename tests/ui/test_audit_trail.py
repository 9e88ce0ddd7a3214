"""The audit trail on the contact's page (issue 19): under "Verlauf" an admin sees who
changed what and when; other staff do not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from playwright.async_api import expect
from ui_support import Browse, StaffMember, create_contact, sign_in


async def test_an_admin_sees_who_changed_the_contact_and_staff_do_not(
    browse: Browse,
    api: httpx.AsyncClient,
    make_staff: Callable[..., Awaitable[StaffMember]],
) -> None:
    contact = await create_contact(api)
    changed = await api.patch(f"/api/contacts/{contact['id']}", json={"phone": "+49 30 1"})
    assert changed.status_code == 200, changed.text
    archived = await api.post(f"/api/contacts/{contact['id']}/status", json={"status": "archived"})
    assert archived.status_code == 200, archived.text

    page = await browse()
    await sign_in(page)
    await page.goto(f"/ui/contacts/{contact['id']}")
    timeline = page.get_by_role("region", name="Verlauf")
    trail = timeline.get_by_role("list", name="Änderungsprotokoll")
    await expect(trail.get_by_role("listitem")).to_have_count(3)
    items = trail.get_by_role("listitem")
    await expect(items.nth(0)).to_contain_text("Status geändert")
    await expect(items.nth(0)).to_contain_text("Interessent → Archiv")
    await expect(items.nth(1)).to_contain_text("geändert")
    await expect(items.nth(1)).to_contain_text("phone")
    await expect(items.nth(2)).to_contain_text("angelegt")
    for n in range(3):
        await expect(items.nth(n)).to_contain_text("Administrator")

    staff = await make_staff()
    other = await browse()
    await sign_in(other, staff.username, staff.password)
    await other.goto(f"/ui/contacts/{contact['id']}")
    section = other.get_by_role("region", name="Verlauf")
    await expect(section.get_by_role("listitem").first).to_be_visible()  # the timeline
    await expect(section.get_by_text("Änderungsprotokoll")).to_have_count(0)
