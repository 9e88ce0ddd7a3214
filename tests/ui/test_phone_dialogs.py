"""The contact page's workflows on a 360 x 800 phone, with their dialogs and forms open:
the page does not scroll sideways, and every control of the open dialog or form can be
brought into the screen (the dialog scrolls itself, nothing is cut off at its side)."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import Locator, Page, expect
from ui_support import PHONE, Browse, actions_off_the_screen, create_contact, settled, sign_in, tag

PHONE_800 = {**PHONE, "height": 800}


async def out_of_reach(part: Locator) -> list[str]:
    """The controls of ``part`` (an open dialog or form) that are not wholly on the screen
    once scrolled to (the page, the dialog or a scrolling box brings them there)."""
    found: list[str] = await part.evaluate(
        """(root) => {
          const out = [];
          const box = root.getBoundingClientRect();
          if (root.tagName === "DIALOG" &&
              (box.left < -1 || box.right > innerWidth + 1 || box.top < -1 ||
               box.bottom > innerHeight + 1)) out.push("the dialog itself");
          for (const el of root.querySelectorAll("a[href], button, input, select, textarea")) {
            if (!el.checkVisibility() || el.type === "hidden") continue;
            el.scrollIntoView({block: "nearest", inline: "nearest"});
            const r = el.getBoundingClientRect();
            if (r.width <= 1) continue;
            if (r.left < -1 || r.right > innerWidth + 1 || r.top < -1 || r.bottom > innerHeight + 1)
              out.push(el.tagName.toLowerCase() + " " +
                       JSON.stringify((el.innerText || el.name || el.id).trim()));
          }
          return out;
        }"""
    )
    return found


async def problems_of(page: Page, what: str, part: Locator | None = None) -> list[str]:
    width = await page.evaluate("document.documentElement.scrollWidth")
    found = [f"the page is {width}px wide"] if width > PHONE_800["width"] else []
    found += await actions_off_the_screen(page)
    if part is not None:
        await expect(part).to_be_visible()
        found += await out_of_reach(part)
    return [f"{what}: {problem}" for problem in found]


async def test_the_contact_page_workflows_with_their_dialogs_open_on_a_phone(
    browse: Browse, api: httpx.AsyncClient
) -> None:
    word = tag().upper()
    for name in ("Privatkunden", "Geschäftskunden mit langem Namen"):
        made = await api.post(
            "/api/number-ranges",
            json={"name": f"{name} {word}", "prefix": f"{word[:4]}{len(name)}-", "width": 5},
        )
        assert made.status_code == 201, made.text
    contact = await create_contact(api, name=f"Maximiliane Mustermann-Lüdenscheid {word}")
    cid = contact["id"]
    entry = await api.post(f"/api/contacts/{cid}/history", json={"text": "Erstgespräch"})
    assert entry.status_code == 201, entry.text
    subject = "Rückruf wegen des Angebots für die Jahreswartung der Anlagen 2027"
    planned: dict[str, Any] = (
        await api.post(
            "/api/procedures",
            json={
                "contact_id": cid,
                "type": "call",
                "direction": "outgoing",
                "state": "planned",
                "starts_at": "2031-01-10T09:00:00+01:00",
                "duration_minutes": 0,
                "reminder": False,
                "subject": subject,
            },
        )
    ).json()

    page = await browse(viewport=PHONE_800)
    await sign_in(page)
    await page.goto(f"/ui/contacts/{cid}")
    await settled(page)
    problems = await problems_of(page, "the contact page")

    # "Nummer erzeugen" from the range chosen in "Nummernkreis"
    await page.get_by_label("Nummernkreis").select_option(
        label=f"Geschäftskunden mit langem Namen {word} ({word[:4]}32-…)"
    )
    await page.get_by_role("button", name="Nummer erzeugen").click()
    await expect(page.locator("#customer-number")).to_have_text(f"{word[:4]}32-00001")
    problems += await problems_of(page, "after Nummer erzeugen")

    # the confirmation dialogs of the head: opened, looked at, closed
    await page.get_by_role("button", name="Kontakt löschen").click()
    dialog = page.get_by_role("dialog", name="Kontakt endgültig löschen?")
    problems += await problems_of(page, "Kontakt endgültig löschen?", dialog)
    await dialog.get_by_role("button", name="Abbrechen").click()
    await page.get_by_role("button", name="Kunde", exact=True).click()
    dialog = page.get_by_role("dialog", name="Zum Kunden machen?")
    problems += await problems_of(page, "Zum Kunden machen?", dialog)
    await dialog.get_by_role("button", name="Bestätigen").click()
    await expect(page.get_by_role("button", name="Kunde", exact=True)).to_be_disabled()

    # archive and restore (to the status before: customer)
    await page.get_by_role("button", name="Archivieren").click()
    await expect(page.get_by_role("button", name="Wiederherstellen")).to_be_visible()
    await settled(page)
    problems += await problems_of(page, "archived")
    await page.get_by_role("button", name="Wiederherstellen").click()
    await expect(page.get_by_role("button", name="Archivieren")).to_be_visible()
    await settled(page)
    problems += await problems_of(page, "restored")

    # the forms of the sections, open
    interactions = page.get_by_role("region", name="Interaktionen")
    await interactions.get_by_role("button", name="Neu").click()
    form = interactions.locator("form[method=post]").first
    problems += await problems_of(page, "the interaction form", form)
    await interactions.get_by_role("button", name="Abbrechen").click()
    await expect(interactions.get_by_role("heading", name="Neue Interaktion")).to_have_count(0)
    procedures = page.get_by_role("region", name="Kontaktvorgänge")
    await procedures.get_by_role("button", name="Kontaktvorgang anlegen").click()
    form = procedures.locator("form[method=post]").first
    problems += await problems_of(page, "the procedure form", form)
    await procedures.get_by_role("button", name="Abbrechen").click()
    await expect(procedures.get_by_role("heading", name="Kontaktvorgang anlegen")).to_have_count(0)

    # the completion dialogs and the history's delete dialog
    await procedures.get_by_role("button", name="Nicht durchgeführt").click()
    dialog = page.get_by_role("dialog", name=f"„{subject}“ nicht durchgeführt")
    problems += await problems_of(page, "Nicht durchgeführt", dialog)
    await dialog.get_by_role("button", name="Abbrechen").click()
    history = page.get_by_role("region", name="Kundenhistory")
    await history.get_by_role("button", name="Löschen").click()
    dialog = page.get_by_role("dialog", name="Historieneintrag löschen?")
    problems += await problems_of(page, "Historieneintrag löschen?", dialog)
    await dialog.get_by_role("button", name="Abbrechen").click()
    await procedures.get_by_role("button", name="Durchgeführt", exact=True).click()
    dialog = page.get_by_role("dialog", name=f"„{subject}“ durchgeführt")
    problems += await problems_of(page, "Durchgeführt", dialog)
    await dialog.get_by_label("Dauer (hh:mm)").fill("0:20")
    await dialog.get_by_role("button", name="Bestätigen").click()
    await expect(procedures.get_by_text("Kontaktvorgang abgeschlossen.")).to_be_visible()
    problems += await problems_of(page, "completed")

    assert not problems, "\n".join(problems)
    stored = (await api.get(f"/api/contacts/{cid}")).json()
    assert (stored["status"], stored["customer_number"]) == ("customer", f"{word[:4]}32-00001")
    done = (await api.get(f"/api/procedures/{planned['id']}")).json()
    assert (done["state"], done["duration_minutes"]) == ("done", 20)
