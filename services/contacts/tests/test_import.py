"""CSV import: the streamed parser, the events it writes, batches, concurrent writers,
import jobs (``Prefer: respond-async``) and resuming; through the gateway on PostgreSQL
and SQLite."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from crm_contacts import importing
from crm_contacts.schemas import ContactImport
from crm_dev.testing import IMPORT_BATCH_SIZE, read_topic
from crm_shared.events import ContactCreated, CrmProperties, make_event, parse_cloudevent

CSV = {"Content-Type": "text/csv"}


def unique(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


async def chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def parse(data: bytes, size: int) -> list[list[str]]:
    return [r async for batch in importing.csv_records(chunks_of(data, size)) for r in batch]


# --- unit: parsing and the event ---------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 10_000])
async def test_records_do_not_depend_on_where_the_chunks_end(size: int) -> None:
    text = (
        "\ufeffkind,name,crm.comment1\n"
        "person,Jörg Müller,\n"
        "\n"
        'company,"Firma, ""GmbH""","zwei\nZeilen, mit ""Quote"""\n'
        "   \n"
        "person,Letzte Zeile ohne Umbruch,ß"
    )
    assert await parse(text.encode(), size) == [
        ["kind", "name", "crm.comment1"],
        ["person", "Jörg Müller", ""],
        ["company", 'Firma, "GmbH"', 'zwei\nZeilen, mit "Quote"'],
        ["person", "Letzte Zeile ohne Umbruch", "ß"],
    ]


@pytest.mark.parametrize(
    "row",
    [
        {"kind": "person", "name": "Anna"},
        {
            "kind": "company",
            "name": "Ünïcode “GmbH”",
            "email": "a@b.example",
            "phone": "+49 1",
            "language": "en",
            "customer_number": "K-1",
            "credit_hold": True,
            "company_id": None,
            "address": {"street": "Weg 1", "city": "Köln"},
            "crm": {
                "crm_status": "Neu",
                "employees": 12,
                "products": ["A", "B"],
                "newsletter": False,
                "characteristics": {"Region": "Nord"},
                "comment1": 'mit "Quote"\nund Zeile',
            },
        },
    ],
)
def test_the_fast_event_is_the_event_make_event_writes(row: dict[str, Any]) -> None:
    data = importing.columns_of(ContactImport.model_validate({**row, "status": "inbox"}))
    (prepared,) = importing.prepare([(2, data)], source="/crm/contacts")
    contact, outbox = prepared.contact, prepared.outbox
    time = datetime.fromisoformat(json.loads(outbox["body"])["time"])
    assert time.tzinfo is not None
    expected = make_event(
        ContactCreated(
            contact_id=contact["id"],
            **{
                k: contact[k]
                for k in (
                    "kind", "name", "email", "phone", "language", "status", "company_id",
                    "customer_number", "credit_hold", "address",
                )
            },
            crm=CrmProperties.model_validate(contact["crm"]),
            version=1,
        ),
        source="/crm/contacts",
        event_id=outbox["event_id"],
        time=time.astimezone(UTC),
    ).to_bytes()  # fmt: skip
    assert json.loads(outbox["body"]) == json.loads(expected)
    event = parse_cloudevent(outbox["body"].encode())
    assert event.payload() == parse_cloudevent(expected).payload()
    assert (outbox["key"], outbox["topic"]) == (contact["id"], "crm.contacts")


QUICK_HEADER = [
    "kind", "name", "email", "phone", "language", "company_id", "customer_number",
    "credit_hold", "crm.crm_status", "crm.company_size", "crm.employees", "crm.products",
    "crm.newsletter", "crm.comment1", "address.city",
]  # fmt: skip
FULL = [
    "person", "Anna Müller", "anna@b.example", "+49 1", "en", "c-1", "K-1", "ja", "Neu",
    "50-249", "12", "A;B; A ;;C", "nein", 'mit "Quote"\nund Zeile', "Köln",
]  # fmt: skip


def quick_cases() -> list[list[str]]:
    """Records the quick check takes, and records with one value changed that it must
    leave to pydantic (or take with the same result)."""
    values_of = {
        "kind": ["company", "Person", "other", " person"],
        "name": ["x", "x" * 300, "x" * 301, " Anna", "Anna\t", "\u00a0Anna", "\x1cAnna"],
        "email": ["a@b.c", "a@b", "a b@c.d", "a@b.c ", f"{'a' * 320}@b.de", "ä@ö.de"],
        "phone": ["1" * 64, "1" * 65],
        "language": ["de", "fr", "EN"],
        "customer_number": ["k" * 64, "k" * 65, " ", " K-2"],
        "credit_hold": ["1", "x", "on", "maybe", "NEIN", " ja"],
        "crm.crm_status": ["n" * 100, "n" * 101],
        "crm.employees": ["0", "-1", "+3", "²", "1.5", "abc", "2147483647", "2147483648"],
        "crm.products": [";", "a" * 200, "a" * 201, ";".join(str(i) for i in range(101))],
        "crm.newsletter": ["true", "False", "t", "vielleicht"],
        "address.city": ["c" * 200, "c" * 201],
    }
    cases = [FULL, ["person", "Bert"] + [""] * (len(FULL) - 2), FULL[:-1]]
    for name, values in values_of.items():
        for value in values:
            record = list(FULL)
            record[QUICK_HEADER.index(name)] = value
            cases.append(record)
    return cases


@pytest.mark.parametrize("record", quick_cases())
def test_the_quick_check_gives_what_pydantic_gives(record: list[str]) -> None:
    quick = importing.quick_columns(QUICK_HEADER, record)
    try:
        slow: dict[str, Any] | None = importing.columns_of(
            importing.row_to_contact(QUICK_HEADER, record)
        )
    except ValueError:  # also ValidationError: refused, with pydantic's message
        slow = None
    if quick is not None:  # taken: exactly as pydantic (keys in the same order too)
        assert slow is not None
        assert list(quick.items()) == list(slow.items())
        assert list(quick["crm"].items()) == list(slow["crm"].items())


def test_the_quick_check_takes_plain_rows() -> None:
    assert importing.quick_columns(QUICK_HEADER, FULL) is not None
    assert importing.quick_columns(["name", "kind"], ["Anna", "person"]) is not None
    for header, record in [
        (QUICK_HEADER, FULL[:-1]),  # a column missing
        (["kind", "name", "crm.characteristics"], ["person", "A", "k=v"]),
        (["kind", "name", "crm.unknown"], ["person", "A", "v"]),
        (["kind", "name", "address.planet"], ["person", "A", "v"]),
        (["kind"], ["person"]),
    ]:
        assert importing.quick_columns(header, record) is None


# --- through the API ---------------------------------------------------------------------


def csv_body(rows: list[str], header: str = "kind,name,customer_number,crm.data_source") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


async def imported(api: httpx.AsyncClient, source: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"data_source": source, "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/api/contacts", params=params)).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def test_several_batches_keep_numbers_unique_across_batches(
    any_api: httpx.AsyncClient,
) -> None:
    source, tag = unique("batches-"), unique()
    count = IMPORT_BATCH_SIZE * 2 + 50  # three batches of the stacks' size (crm_dev.testing)
    rows = [f"person,Person {i},{tag}-{i},{source}" for i in range(count)]
    rows[-1] = f"person,Zweimal,{tag}-7,{source}"  # number of row 7 again, a batch later
    response = await any_api.post("/api/contacts/import", content=csv_body(rows), headers=CSV)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["created"] == count - 1
    assert result["errors"] == [
        {"row": count + 1, "message": f"customer_number: {tag}-7 is already used"}
    ]
    contacts = await imported(any_api, source)
    assert len(contacts) == count - 1
    assert {c["status"] for c in contacts} == {"inbox"}


async def test_every_imported_contact_has_its_event(api: httpx.AsyncClient, stack: Any) -> None:
    source = unique("events-")
    rows = [f"person,Ereignis {i},,{source}" for i in range(3)]
    response = await api.post("/api/contacts/import", content=csv_body(rows), headers=CSV)
    assert response.json()["created"] == 3
    ids = {c["id"] for c in await imported(api, source)}
    seen: set[str] = set()

    def created(record: Any) -> bool:
        body = json.loads(record.value)
        if body["type"] == "crm.ContactCreated.v1" and body["subject"] in ids:
            assert body["data"]["status"] == "inbox"
            assert body["data"]["crm"]["data_source"] == source
            assert record.key.decode() == body["subject"]
            seen.add(body["subject"])
        return seen == ids

    assert await read_topic(stack.config.kafka_bootstrap, "crm.contacts", created, 20)


async def test_concurrent_imports_of_the_same_numbers_create_each_once(
    any_api: httpx.AsyncClient,
) -> None:
    source, tag = unique("race-"), unique()
    # more rows than one batch of the stacks (crm_dev.testing.IMPORT_BATCH_SIZE)
    rows = [f"person,Wettlauf {i},{tag}-{i},{source}" for i in range(150)]
    results = await asyncio.gather(
        *(
            any_api.post("/api/contacts/import", content=csv_body(rows), headers=CSV)
            for _ in range(3)
        )
    )
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    assert sum(r.json()["created"] for r in results) == 150
    assert sum(len(r.json()["errors"]) for r in results) == 300
    numbers = [c["customer_number"] for c in await imported(any_api, source)]
    assert sorted(numbers) == sorted(f"{tag}-{i}" for i in range(150))


async def wait_for_job(api: httpx.AsyncClient, location: str) -> dict[str, Any]:
    for _ in range(300):
        job = (await api.get(location)).json()
        if job["state"] != "running":
            return dict(job)
        await asyncio.sleep(0.1)
    raise AssertionError(f"the job did not finish: {job}")


async def test_an_async_import_job_reports_progress(any_api: httpx.AsyncClient) -> None:
    source = unique("job-")
    rows = [f"person,Auftrag {i},,{source}" for i in range(50)] + ["robot,Kaputt,,"]
    response = await any_api.post(
        "/api/contacts/import",
        content=csv_body(rows),
        headers={**CSV, "Prefer": "respond-async"},
    )
    assert response.status_code == 202, response.text
    assert response.headers["preference-applied"] == "respond-async"
    job_id = response.json()["job_id"]
    assert response.headers["location"] == f"/api/contacts/import/{job_id}"
    job = await wait_for_job(any_api, response.headers["location"])
    assert job["state"] == "done", job
    assert (job["total"], job["done"], job["created"]) == (51, 51, 50)
    assert job["error_count"] == 1
    assert job["errors"][0]["row"] == 52
    assert job["last_line"] == 52
    assert len(await imported(any_api, source)) == 50

    missing = await any_api.get(f"/api/contacts/import/{uuid.uuid4()}")
    assert missing.status_code == 404
    bad_header = await any_api.post(
        "/api/contacts/import",
        content=b"kind,name,colour\n",
        headers={**CSV, "Prefer": "respond-async"},
    )
    assert bad_header.status_code == 422


async def test_an_import_resumes_after_a_line(any_api: httpx.AsyncClient) -> None:
    source = unique("resume-")
    rows = [f"person,Weiter {i},,{source}" for i in range(10)]
    response = await any_api.post(
        "/api/contacts/import", content=csv_body(rows), headers=CSV, params={"after_line": 5}
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 6  # lines 6..11
    names = sorted(c["name"] for c in await imported(any_api, source))
    assert names == sorted(f"Weiter {i}" for i in range(4, 10))


def test_ids_are_random_version_4_uuids() -> None:
    ids = importing.uuids(1000)
    assert len(set(ids)) == 1000
    for value in ids:
        parsed = uuid.UUID(value)
        assert (str(parsed), parsed.version, parsed.variant) == (value, 4, uuid.RFC_4122)


async def test_a_number_beyond_the_column_is_a_bad_row(any_api: httpx.AsyncClient) -> None:
    """employees beyond INTEGER: that row is reported; its batch is imported."""
    source = unique("huge-")
    header = "kind,name,crm.data_source,crm.employees"
    rows = [f"person,A,{source},12", f"person,B,{source},99999999999999999999"]
    response = await any_api.post(
        "/api/contacts/import", content=csv_body(rows, header), headers=CSV
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["created"] == 1
    assert [e["row"] for e in result["errors"]] == [3]
    assert "employees" in result["errors"][0]["message"]
    assert [c["name"] for c in await imported(any_api, source)] == ["A"]
