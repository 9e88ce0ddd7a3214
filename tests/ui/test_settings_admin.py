"""Einstellungen, the parts test_settings.py leaves out: a number range the contact page
offers, the reminder rules, a new competence, the "Info" pick list; and every admin
form of the settings refused to a crm_user (403, nothing changed)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from starlette.routing import Route
from ui_support import Browse, create_contact, settled, sign_in, tag

from crm_gateway.ui.settings import router as settings_router


async def test_a_new_number_range_is_offered_on_the_contact_page(
    browse: Browse, api: httpx.AsyncClient
) -> None:
    if not (await api.get("/api/number-ranges")).json()["items"]:
        made = await api.post("/api/number-ranges", json={"name": f"Erster {tag()}"})
        assert made.status_code == 201, made.text  # so the page offers a choice of two
    name, prefix = f"Messe {tag()}", f"M{tag()[1:5].upper()}-"
    contact = await create_contact(api)
    page = await browse()
    await sign_in(page)
    await page.goto("/ui/settings")
    ranges = page.get_by_role("region", name="Nummernkreise")
    await ranges.get_by_label("Name").fill(name)
    await ranges.get_by_label("Präfix").fill(prefix)
    await ranges.get_by_label("Nächster Wert").fill("7")
    await ranges.get_by_label("Stellen").fill("3")
    await ranges.get_by_role("button", name="Nummernkreis anlegen").click()
    await expect(ranges.get_by_text("Nummernkreis angelegt.")).to_be_visible()
    await expect(ranges.get_by_role("row").filter(has_text=name)).to_contain_text(f"{prefix}007")
    [stored] = [
        r for r in (await api.get("/api/number-ranges")).json()["items"] if r["name"] == name
    ]
    assert (stored["prefix"], stored["next_value"], stored["width"]) == (prefix, 7, 3)

    await page.goto(f"/ui/contacts/{contact['id']}")
    chooser = page.get_by_label("Nummernkreis")
    await chooser.select_option(label=f"{name} ({prefix}…)")
    await page.get_by_role("button", name="Nummer erzeugen").click()
    await expect(page.get_by_text(f"{prefix}007").first).to_be_visible()
    numbered = (await api.get(f"/api/contacts/{contact['id']}")).json()
    assert numbered["customer_number"] == f"{prefix}007"


@pytest.fixture
async def rules_kept(api: httpx.AsyncClient) -> AsyncIterator[dict[str, Any]]:
    """The reminder rules as they are, and as they were again after the test (other tests
    rely on a completed procedure clearing its reminder)."""
    before: dict[str, Any] = (await api.get("/api/reminders/rules")).json()
    yield before
    assert (await api.put("/api/reminders/rules", json=before)).status_code == 200


async def test_an_admin_changes_the_reminder_rules(
    browse: Browse, api: httpx.AsyncClient, rules_kept: dict[str, Any]
) -> None:
    lead = 7 if rules_kept["email_lead_hours"] != 7 else 9
    page = await browse()
    await sign_in(page)
    await page.goto("/ui/settings")
    rules = page.get_by_role("region", name="Erinnerungsregeln")
    clear = rules.get_by_label("Erinnerungen entfernen, wenn der Kontaktvorgang fertiggestellt ist")
    await clear.set_checked(not rules_kept["clear_on_completion"])
    await rules.get_by_label("Erinnerungs-E-Mail so viele Stunden vorher").fill(str(lead))
    await rules.get_by_role("button", name="Speichern").click()
    await expect(rules.get_by_text("Erinnerungsregeln gespeichert.")).to_be_visible()
    stored = (await api.get("/api/reminders/rules")).json()
    assert stored == {
        "clear_on_completion": not rules_kept["clear_on_completion"],
        "email_lead_hours": lead,
    }
    # a value the service refuses is said at its field, nothing stored
    await rules.get_by_label("Erinnerungs-E-Mail so viele Stunden vorher").fill("-1")
    await rules.get_by_label("Erinnerungs-E-Mail so viele Stunden vorher").evaluate(
        "input => input.removeAttribute('min')"  # past the browser's own check
    )
    await rules.get_by_role("button", name="Speichern").click()
    await expect(rules.get_by_role("alert")).to_be_visible()
    assert (await api.get("/api/reminders/rules")).json() == stored
    await page.reload()  # the page shows what is stored
    await expect(rules.get_by_label("Erinnerungs-E-Mail so viele Stunden vorher")).to_have_value(
        str(lead)
    )


async def test_an_admin_creates_a_competence_with_a_member(
    browse: Browse, api: httpx.AsyncClient, make_staff: Any
) -> None:
    member = await make_staff()
    name = f"Innendienst {tag()}"
    page = await browse()
    await sign_in(page)
    await page.goto("/ui/settings")
    region = page.get_by_role("region", name="Kompetenzen")
    new = region.get_by_role("form", name="Neue Kompetenz")
    await new.get_by_label("Name").fill(name)
    await new.get_by_role("group", name="Mitglieder").get_by_label(member.name, exact=True).check()
    await new.get_by_role("button", name="Kompetenz anlegen").click()
    await expect(region.get_by_text("Kompetenz angelegt.")).to_be_visible()
    await expect(region.get_by_role("listitem").filter(has_text=name)).to_contain_text(member.name)
    [made] = [c for c in (await api.get("/api/competences")).json()["items"] if c["name"] == name]
    assert made["member_ids"] == [member.id]
    # the name is taken now: said at the field, what was typed kept
    await new.get_by_label("Name").fill(name)
    await new.get_by_role("button", name="Kompetenz anlegen").click()
    await expect(region.get_by_role("alert")).to_contain_text("gibt es schon")
    await expect(new.get_by_label("Name")).to_have_value(name)


async def test_a_new_info_value_is_offered_in_the_history_form(
    browse: Browse, api: httpx.AsyncClient
) -> None:
    info = f"Katalog {tag()}"
    contact = await create_contact(api)
    page = await browse()
    await sign_in(page)
    await page.goto("/ui/settings")
    history = page.get_by_role("region", name="Kundenhistory")
    infos = history.get_by_label("Infos (eine je Zeile)")
    await infos.fill((await infos.input_value()) + f"\n{info}")
    await history.get_by_role("button", name="Speichern").click()
    await expect(
        history.get_by_text("Einstellungen der Kundenhistory gespeichert.")
    ).to_be_visible()
    assert info in (await api.get("/api/history/settings")).json()["infos"]

    await page.goto(f"/ui/contacts/{contact['id']}")
    await settled(page)
    section = page.get_by_role("region", name="Kundenhistory")
    await section.get_by_role("button", name="Neu").click()
    await section.get_by_label("Info", exact=True).select_option(info)
    await section.get_by_role("button", name="OK").click()
    await expect(section.get_by_text("1 von 1")).to_be_visible()
    [entry] = (await api.get(f"/api/contacts/{contact['id']}/history")).json()["items"]
    assert entry["info"] == info


ADMIN_FORMS = sorted(
    route.path
    for route in settings_router.routes
    if isinstance(route, Route) and "POST" in (route.methods or ())
)
"""Every form of the settings that changes something (read from the router, so a new
one is covered as soon as it exists)."""


def test_the_admin_forms_are_all_there() -> None:
    assert len(ADMIN_FORMS) >= 8, ADMIN_FORMS  # history … reminders, the two edits


async def _state(api: httpx.AsyncClient) -> list[Any]:
    """What the settings change, as the API shows it."""
    return [
        (await api.get(path, params=params)).json()
        for path, params in (
            ("/api/history/settings", {}),
            ("/api/number-ranges", {"limit": 500}),
            ("/api/crm/settings", {}),
            ("/api/competences", {"limit": 500}),
            ("/api/staff", {"limit": 500}),
            ("/api/reminders/rules", {}),
        )
    ]


@pytest.mark.parametrize("path", ADMIN_FORMS)
async def test_a_crm_user_gets_403_from_every_admin_form(
    path: str, browse: Browse, api: httpx.AsyncClient, make_staff: Any
) -> None:
    user = await make_staff()
    competence = await api.post("/api/competences", json={"name": f"Ziel {tag()}"})
    assert competence.status_code == 201, competence.text
    ids = {"competence_id": competence.json()["id"], "staff_id": user.id}
    url = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)
    word = tag()
    # a form that would change what the route changes, were it allowed
    changes = {
        "actions": f"Hack {word}",
        "infos": f"Hack {word}",
        **{f"field{n}": f"Hack {word}" for n in range(1, 7)},
        "name": f"Hack {word}",
        "prefix": "H",
        "next_value": "1",
        "width": "4",
        "opportunity_statuses": f"Hack {word}",
        "partner_statuses": f"Hack {word}",
        "company_sizes": f"Hack {word}; 1; 2",
        "revenue_groups": f"Hack {word}; 1; 2",
        "company_groups": f"Hack {word}",
        "products": f"Hack {word}",
        "member_ids": user.id,
        "username": f"hack{word}",
        "password": "ein-langes-passwort",
        "roles": "admin",
        "language": "en",
        "active": "true",
        "clear_on_completion": "false",
        "email_lead_hours": "99",
    }
    before = await _state(api)

    page = await browse()
    await sign_in(page, user.username, user.password)
    await page.goto("/ui/contacts")  # a page of theirs: the browser has its CSRF token
    csrf = next(c["value"] for c in await page.context.cookies() if c["name"] == "crm_csrf")
    refused = await page.request.post(url, form={"csrf_token": csrf, **changes})
    assert refused.status == 403, (url, refused.status)
    assert "Berechtigung" in await refused.text()  # the role, not the CSRF check
    assert await _state(api) == before

    # the same way an admin reaches the form's own checks (a value it refuses: 422)
    admin = await browse()
    await sign_in(admin)
    await admin.goto("/ui/settings")
    csrf = next(c["value"] for c in await admin.context.cookies() if c["name"] == "crm_csrf")
    refusals = {
        **{f"field{n}": "" for n in range(1, 7)},
        "name": "",
        "company_sizes": "kaputt",
        "username": "",
        "email_lead_hours": "-1",
    }
    checked = await admin.request.post(url, form={"csrf_token": csrf, **changes, **refusals})
    assert checked.status in (409, 422), (url, checked.status)
    assert await _state(api) == before
