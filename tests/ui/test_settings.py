"""Einstellungen (admins only): a pick list the admin changes is offered in the history
form at once; competences and staff are created and changed there; a crm_user neither
sees nor opens the settings."""

from __future__ import annotations

import re
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
    new = staff.get_by_role("form", name="Neuer Mitarbeiter")
    await new.get_by_label("Benutzername").fill(username)
    await new.get_by_label("Passwort").fill("kurz")
    await new.get_by_label("Name", exact=True).fill("Nora Neu")
    await new.get_by_label("E-Mail").fill(f"{username}@example.com")
    await new.get_by_label("Sprache").select_option("en")
    await new.get_by_role("button", name="Mitarbeiter anlegen").click()
    await expect(staff.get_by_role("alert")).to_be_visible()  # the password is too short
    await expect(new.get_by_label("Benutzername")).to_have_value(username)
    await new.get_by_label("Passwort").fill("ein-langes-passwort")
    await new.get_by_role("button", name="Mitarbeiter anlegen").click()
    await expect(staff.get_by_text("Mitarbeiter angelegt.")).to_be_visible()
    await expect(staff.get_by_role("cell", name=username, exact=True)).to_be_visible()

    other = await browse()
    await sign_in(other, username, "ein-langes-passwort")
    await expect(other.get_by_role("heading", name="Contacts", level=1)).to_be_visible()


async def test_an_admin_sets_the_members_of_a_competence(
    browse: Browse, api: httpx.AsyncClient, make_staff: Any, viewport: dict[str, int]
) -> None:
    member = await make_staff()
    name = f"Vertrieb {tag()}"
    made = await api.post("/api/competences", json={"name": name, "member_ids": []})
    assert made.status_code == 201, made.text
    competence = made.json()
    page = await browse(viewport=viewport)
    await sign_in(page)
    await page.goto("/ui/settings")
    region = page.get_by_role("region", name="Kompetenzen")
    await region.get_by_role("button", name=f"Ändern {name}", exact=True).click()
    dialog = page.get_by_role("dialog", name=f"Kompetenz „{name}“ ändern")
    await expect(dialog).to_be_visible()
    await fits_the_screen(page)
    renamed = f"Außendienst {tag()}"
    await dialog.get_by_label("Name", exact=True).fill(renamed)
    members = dialog.get_by_role("group", name="Mitglieder")
    await members.get_by_role("checkbox", name=member.name, exact=True).check()
    await dialog.get_by_role("button", name="Speichern").click()
    await expect(region.get_by_text("Kompetenz gespeichert.")).to_be_visible()
    await expect(dialog).to_have_count(0)
    await expect(region.get_by_role("listitem").filter(has_text=renamed)).to_contain_text(
        member.name
    )
    listed = {c["id"]: c for c in (await api.get("/api/competences")).json()["items"]}
    assert (listed[competence["id"]]["name"], listed[competence["id"]]["member_ids"]) == (
        renamed,
        [member.id],
    )
    # the page's address opens the dialog too (a link, or "Ändern" without htmx)
    await page.goto(f"/ui/settings?competence={competence['id']}")
    dialog = page.get_by_role("dialog", name=f"Kompetenz „{renamed}“ ändern")
    await expect(dialog.get_by_role("checkbox", name=member.name, exact=True)).to_be_checked()


async def test_an_admin_changes_a_staff_members_language_and_roles(
    browse: Browse, api: httpx.AsyncClient, make_staff: Any
) -> None:
    user = await make_staff(language="de")
    page = await browse()
    await sign_in(page)
    await page.goto("/ui/settings")
    staff = page.get_by_role("region", name="Mitarbeiter")
    await staff.get_by_role("button", name=f"Ändern {user.name}", exact=True).click()
    dialog = page.get_by_role("dialog", name=f"Mitarbeiter „{user.name}“ ändern")
    await expect(dialog.get_by_label("E-Mail")).to_have_value(user.email or "")
    await dialog.get_by_label("Sprache").select_option("en")
    await dialog.get_by_role("checkbox", name="Administrator").check()
    await expect(dialog.get_by_role("checkbox", name="Aktiv (kann sich anmelden)")).to_be_checked()
    await dialog.get_by_role("button", name="Speichern").click()
    await expect(staff.get_by_text("Mitarbeiter gespeichert.")).to_be_visible()
    listed = {s["id"]: s for s in (await api.get("/api/staff")).json()["items"]}
    changed = listed[user.id]
    assert (changed["language"], sorted(changed["roles"])) == ("en", ["admin", "crm_user"])
    assert (changed["name"], changed["email"], changed["active"]) == (
        user.name,
        user.email,
        True,
    )

    other = await browse()
    await sign_in(other, user.username, user.password)
    await expect(other.get_by_role("heading", name="Contacts", level=1)).to_be_visible()
    await expect(other.get_by_role("link", name="Settings")).to_be_visible()  # an admin now


async def test_a_refused_staff_change_is_said_at_the_field_and_keeps_the_input(
    browse: Browse, api: httpx.AsyncClient, make_staff: Any
) -> None:
    user = await make_staff()
    page = await browse()
    await sign_in(page)
    await page.goto("/ui/settings")
    staff = page.get_by_role("region", name="Mitarbeiter")
    await staff.get_by_role("button", name=f"Ändern {user.name}", exact=True).click()
    dialog = page.get_by_role("dialog", name=f"Mitarbeiter „{user.name}“ ändern")
    await dialog.get_by_label("Name", exact=True).fill("Nora Neuname")
    initials = dialog.get_by_label("Kürzel")
    await initials.fill("X" * 17)  # at most 16
    await dialog.get_by_role("button", name="Speichern").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("Der Text ist zu lang.")
    await expect(initials).to_have_accessible_description("Fehler: Der Text ist zu lang.")
    await expect(dialog.get_by_label("Name", exact=True)).to_have_value("Nora Neuname")
    await dialog.get_by_role("button", name="Abbrechen").click()
    await expect(dialog).to_be_hidden()
    await staff.get_by_role("button", name=f"Ändern {user.name}", exact=True).click()
    await dialog.get_by_role("checkbox", name="CRM-Benutzer").uncheck()
    await dialog.get_by_role("button", name="Speichern").click()
    await expect(dialog.get_by_role("group", name="Rollen")).to_have_accessible_description(
        "Fehler: Bitte wählen Sie mindestens eine Rolle."
    )
    await dialog.get_by_role("button", name="Abbrechen").click()
    listed = {s["id"]: s for s in (await api.get("/api/staff")).json()["items"]}
    assert (listed[user.id]["name"], listed[user.id]["roles"]) == (user.name, ["crm_user"])

    # the last active admin keeps the role: every other admin is taken away first
    me = (await api.get("/api/me")).json()
    for other in (await api.get("/api/staff")).json()["items"]:
        if other["id"] != me["id"] and other["active"] and "admin" in other["roles"]:
            assert (await api.patch(f"/api/staff/{other['id']}", json={"active": False})).is_success
    await page.reload()
    await staff.get_by_role("button", name=f"Ändern {me['name']}", exact=True).click()
    dialog = page.get_by_role("dialog", name=f"Mitarbeiter „{me['name']}“ ändern")
    await dialog.get_by_role("checkbox", name="Administrator").uncheck()
    await dialog.get_by_label("Kürzel").fill("ADX")
    await dialog.get_by_role("button", name="Speichern").click()
    roles = dialog.get_by_role("group", name="Rollen")
    await expect(roles).to_have_accessible_description(
        re.compile("Der letzte aktive Administrator behält diese Rolle")
    )
    await expect(dialog.get_by_role("alert")).to_contain_text("letzte aktive Administrator")
    await expect(dialog.get_by_label("Kürzel")).to_have_value("ADX")
    await expect(dialog.get_by_role("checkbox", name="Administrator")).not_to_be_checked()
    assert "admin" in (await api.get("/api/me")).json()["roles"]


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
