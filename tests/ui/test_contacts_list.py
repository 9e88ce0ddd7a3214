"""The contacts list (seed 002): create, search as you type, select, bulk actions, groups."""

from __future__ import annotations

import asyncio
import re

import httpx
from playwright.async_api import expect
from ui_support import Browse, create_contact, fits_the_screen, sign_in, tag


async def test_create_a_contact_and_open_it(
    browse: Browse, api: httpx.AsyncClient, viewport: dict[str, int]
) -> None:
    page = await browse(viewport=viewport)
    await sign_in(page)
    name = f"Erika {tag()}"
    await page.get_by_role("button", name="Erstellen").click()
    dialog = page.get_by_role("dialog", name="Kontakt erstellen")
    await expect(dialog).to_be_visible()
    await fits_the_screen(page)

    # a mistake is shown at its field, and nothing typed is lost
    await dialog.get_by_label("E-Mail").fill("erika-at-example")
    await dialog.get_by_label("Telefon").fill("+49 30 1234")
    await dialog.get_by_label("Name").fill(name)
    await dialog.get_by_label("E-Mail").evaluate("e => e.type = 'text'")  # past the browser's check
    await dialog.get_by_role("button", name="Speichern").click()
    dialog = page.get_by_role("dialog", name="Kontakt erstellen")
    await expect(dialog.get_by_text("gültige E-Mail-Adresse").first).to_be_visible()
    await expect(dialog.get_by_label("Name")).to_have_value(name)
    await expect(dialog.get_by_label("Telefon")).to_have_value("+49 30 1234")

    await dialog.get_by_label("E-Mail").fill("erika@example.com")
    await dialog.get_by_label("Unternehmen").check()
    await dialog.get_by_label("Sprache").select_option("en")
    await dialog.get_by_role("button", name="Speichern").click()

    await expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    await expect(page).to_have_url(re.compile(r"/ui/contacts/[0-9a-f-]{36}$"))
    await fits_the_screen(page)
    contact_id = page.url.rsplit("/", 1)[1]
    stored = (await api.get(f"/api/contacts/{contact_id}")).json()
    assert (stored["name"], stored["email"], stored["phone"]) == (
        name,
        "erika@example.com",
        "+49 30 1234",
    )
    assert (stored["kind"], stored["language"], stored["status"]) == ("company", "en", "prospect")


async def test_search_as_you_type_and_archive_two_of_the_list(
    browse: Browse, api: httpx.AsyncClient, viewport: dict[str, int]
) -> None:
    word = tag()
    contacts = [await create_contact(api, name=f"{word} Nummer {n}") for n in range(3)]
    page = await browse(viewport=viewport)
    await sign_in(page)
    await page.get_by_label("Suche").press_sequentially(word, delay=20)
    rows = page.get_by_role("table").get_by_role("checkbox")
    await expect(rows).to_have_count(4)  # three rows and "select all": the list followed the typing
    await expect(page.get_by_role("checkbox", name=re.compile(word))).to_have_count(3)
    await expect(page).to_have_url(re.compile(rf"q={word}"))

    await page.get_by_role("checkbox", name=f"{word} Nummer 0").check()
    await page.get_by_role("checkbox", name=f"{word} Nummer 2").check()
    bar = page.get_by_role("region", name="Aktionen für die Auswahl")
    await expect(bar).to_contain_text("2 ausgewählt")
    await fits_the_screen(page)
    await bar.get_by_role("button", name="Archivieren").click()
    confirm = page.get_by_role("dialog", name="Kontakte archivieren?")
    await expect(confirm).to_contain_text("2 ausgewählt")
    await confirm.get_by_role("button", name="Bestätigen").click()

    await expect(page.locator("#flash").get_by_text("2 Kontakte archiviert.")).to_be_visible()
    statuses = [(await api.get(f"/api/contacts/{c['id']}")).json()["status"] for c in contacts]
    assert statuses == ["archived", "prospect", "archived"]


async def test_an_action_on_all_that_match_the_filter(
    browse: Browse, api: httpx.AsyncClient
) -> None:
    """More contacts than one page shows: the selection goes to the server as the filter."""
    word = tag()
    await asyncio.gather(*(create_contact(api, name=f"{word} {n:02d}") for n in range(55)))
    page = await browse()
    await sign_in(page)
    await page.goto(f"/ui/contacts?q={word}")
    await expect(page.get_by_role("checkbox", name=re.compile(word))).to_have_count(50)
    await page.get_by_role("checkbox", name=f"{word} 00").check()
    bar = page.get_by_role("region", name="Aktionen für die Auswahl")
    await bar.get_by_label("Alle auswählen, die dem Filter entsprechen").check()
    await expect(bar).to_contain_text("Alle, die dem Filter entsprechen")
    await bar.get_by_role("button", name="Neue Gruppe").click()
    dialog = page.get_by_role("dialog", name="Neue Gruppe")
    await dialog.get_by_label("Gruppenname").fill(f"Alle {word}")
    await dialog.get_by_role("button", name="Speichern").click()

    await expect(
        page.locator("#flash").get_by_text(f"Gruppe „Alle {word}“ angelegt.")
    ).to_be_visible()
    sidebar = page.get_by_role("complementary")
    await expect(sidebar.get_by_role("heading", name=f"Alle {word}")).to_be_visible()
    groups = (await api.get("/api/groups", params={"limit": 500})).json()["items"]
    [group] = [g for g in groups if g["name"] == f"Alle {word}"]
    members, cursor = [], None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        answer = (await api.get(f"/api/groups/{group['id']}/members", params=params)).json()
        members += answer["items"]
        if not (cursor := answer["next_cursor"]):
            break
    assert len(members) == 55
    assert group["kind"] == "static"

    # "Weitere laden" shows the rest, without a full count on every page
    await page.goto(f"/ui/contacts?q={word}")
    await page.get_by_role("link", name="Weitere laden").click()
    await expect(page.get_by_role("checkbox", name=re.compile(word))).to_have_count(55)


async def test_save_a_filter_as_a_dynamic_group(browse: Browse, api: httpx.AsyncClient) -> None:
    word = tag()
    customer = await create_contact(api, name=f"{word} Kundin")
    made = await api.post(
        f"/api/contacts/{customer['id']}/status", json={"status": "customer", "confirm": True}
    )
    assert made.status_code == 200, made.text
    await create_contact(api, name=f"{word} Interessent")
    page = await browse()
    await sign_in(page)
    await page.goto(f"/ui/contacts?q={word}")
    await page.get_by_role("button", name="Erweitert").click()
    filters = page.locator("#advanced-filters")
    await filters.get_by_label("Status", exact=True).select_option("customer")
    await expect(page.get_by_role("checkbox", name=re.compile(word))).to_have_count(1)
    await page.get_by_role("button", name="Als dynamische Gruppe speichern").click()
    dialog = page.get_by_role("dialog", name="Als dynamische Gruppe speichern")
    await dialog.get_by_label("Gruppenname").fill(f"Kunden {word}")
    await dialog.get_by_role("button", name="Speichern").click()

    await expect(
        page.locator("#flash").get_by_text(f"Gruppe „Kunden {word}“ angelegt.")
    ).to_be_visible()
    sidebar = page.get_by_role("complementary")
    await expect(sidebar).to_contain_text("Dynamische Gruppe")
    await expect(sidebar.get_by_role("link", name=f"{word} Kundin")).to_be_visible()
    groups = (await api.get("/api/groups", params={"limit": 500})).json()["items"]
    [group] = [g for g in groups if g["name"] == f"Kunden {word}"]
    assert group["kind"] == "dynamic"
    assert group["filter"] == {"q": word, "status": "customer"}
    members = (await api.get(f"/api/groups/{group['id']}/members")).json()["items"]
    assert [m["id"] for m in members] == [customer["id"]]


async def test_a_bulk_action_by_keyboard_alone(browse: Browse, api: httpx.AsyncClient) -> None:
    word = tag()
    contact = await create_contact(api, name=f"{word} Tastatur")
    page = await browse()
    await sign_in(page)
    await page.goto(f"/ui/contacts?q={word}")
    box = page.get_by_role("checkbox", name=f"{word} Tastatur")
    await box.focus()
    await page.keyboard.press("Space")
    await expect(box).to_be_checked()
    archive = page.get_by_role("region", name="Aktionen für die Auswahl").get_by_role(
        "button", name="Archivieren"
    )
    for _ in range(30):  # Tab on until the action bar's "Archivieren" has the focus
        await page.keyboard.press("Tab")
        if await archive.evaluate("b => b === document.activeElement"):
            break
    else:
        raise AssertionError("Archivieren is not reachable with Tab")
    outline = await archive.evaluate("b => getComputedStyle(b).outlineStyle")
    assert outline != "none", "the focus is not visible"

    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Kontakte archivieren?")
    await expect(dialog).to_be_visible()
    for _ in range(5):  # the focus stays in the dialog
        await page.keyboard.press("Tab")
        assert await dialog.evaluate("d => d.contains(document.activeElement)")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    assert await archive.evaluate("b => b === document.activeElement"), "focus not returned"

    await page.keyboard.press("Enter")
    await dialog.get_by_role("button", name="Bestätigen").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#announcer")).to_have_text("1 Kontakt archiviert.")
    assert (await api.get(f"/api/contacts/{contact['id']}")).json()["status"] == "archived"
