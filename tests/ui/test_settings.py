"""Einstellungen (admins only): a pick list the admin changes is offered in the history
form at once; a crm_user neither sees nor opens the settings."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import expect
from ui_support import Browse, create_contact, fits_the_screen, sign_in, tag


async def test_a_new_pick_list_value_is_offered_in_the_history_form(
    browse: Browse, api: httpx.AsyncClient, viewport: dict[str, int]
) -> None:
    action = f"Messebesuch {tag()}"
    label = f"Prospekt {tag()}"  # the settings are shared: other tests name fields too
    contact = await create_contact(api)
    page = await browse(viewport=viewport)
    await sign_in(page)
    await page.get_by_role("link", name="Einstellungen").click()
    await expect(page.get_by_role("heading", name="Einstellungen", level=1)).to_be_visible()
    await fits_the_screen(page)
    history = page.get_by_role("region", name="Kundenhistory")
    actions = history.get_by_label("Aktionen (eine je Zeile)")
    await actions.fill((await actions.input_value()) + f"\n{action}")
    await history.get_by_label("Feld 3", exact=True).fill(label)
    await history.get_by_role("button", name="Speichern").click()
    await expect(
        history.get_by_text("Einstellungen der Kundenhistory gespeichert.")
    ).to_be_visible()
    stored = (await api.get("/api/history/settings")).json()
    assert action in stored["actions"]
    assert stored["field_labels"]["field3"] == label

    # a range line the page cannot read is said at its field, the rest kept
    crm = page.get_by_role("region", name="CRM-Listen")
    sizes = crm.get_by_label("Unternehmensgrößen (Name; von; bis Beschäftigte)")
    before = await sizes.input_value()
    await sizes.fill(before + "\nkaputt")
    await crm.get_by_role("button", name="Speichern").click()
    await expect(crm.get_by_role("alert")).to_contain_text("Name; von; bis")
    await expect(sizes).to_have_value(before + "\nkaputt")

    await page.goto(f"/ui/contacts/{contact['id']}")
    section = page.get_by_role("region", name="Kundenhistory")
    await section.get_by_role("button", name="Neu").click()
    await section.get_by_label("Aktion").select_option(action)
    await expect(section.get_by_label(label, exact=True)).to_be_visible()  # the admin's label
    await section.get_by_role("button", name="OK").click()
    await expect(section.get_by_text("1 von 1")).to_be_visible()
    [entry] = (await api.get(f"/api/contacts/{contact['id']}/history")).json()["items"]
    assert entry["action"] == action


async def test_staff_created_in_the_settings_can_sign_in(
    browse: Browse, api: httpx.AsyncClient
) -> None:
    username = f"neu{tag()}"
    page = await browse()
    await sign_in(page)
    await page.goto("/ui/settings")
    staff = page.get_by_role("region", name="Mitarbeiter")
    await staff.get_by_label("Benutzername").fill(username)
    await staff.get_by_label("Passwort").fill("kurz")
    await staff.get_by_label("Name", exact=True).fill("Nora Neu")
    await staff.get_by_label("E-Mail").fill(f"{username}@example.com")
    await staff.get_by_label("Sprache").select_option("en")
    await staff.get_by_role("button", name="Mitarbeiter anlegen").click()
    await expect(staff.get_by_role("alert")).to_be_visible()  # the password is too short
    await expect(staff.get_by_label("Benutzername")).to_have_value(username)
    await staff.get_by_label("Passwort").fill("ein-langes-passwort")
    await staff.get_by_role("button", name="Mitarbeiter anlegen").click()
    await expect(staff.get_by_text("Mitarbeiter angelegt.")).to_be_visible()
    await expect(staff.get_by_role("cell", name=username, exact=True)).to_be_visible()

    other = await browse()
    await sign_in(other, username, "ein-langes-passwort")
    await expect(other.get_by_role("heading", name="Contacts", level=1)).to_be_visible()


async def test_a_crm_user_cannot_open_the_settings(
    browse: Browse, make_staff: Any, stack: Any
) -> None:
    user = await make_staff()
    page = await browse()
    await sign_in(page, user.username, user.password)
    await expect(page.get_by_role("link", name="Einstellungen")).to_have_count(0)
    answer = await page.goto("/ui/settings")
    assert answer is not None and answer.status == 403
    await expect(page.get_by_role("alert")).to_contain_text("Berechtigung")
    token = await page.context.cookies()
    csrf = next(c["value"] for c in token if c["name"] == "crm_csrf")
    posted = await page.request.post(
        "/ui/settings/history",
        form={"csrf_token": csrf, "actions": "Hack", "infos": ""},
    )
    assert posted.status == 403
