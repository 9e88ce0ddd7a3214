"""CSV import through the gateway, on PostgreSQL and SQLite: batches, the events it
publishes, concurrent writers, import jobs (``Prefer: respond-async``) and resuming. The
parser, the quick check and the batch writer alone: ``tests/unit/test_import_rows.py``."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx

from crm_dev.testing import IMPORT_BATCH_SIZE, read_topic
from crm_dev.testkit import eventually

CSV = {"Content-Type": "text/csv"}


def unique(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


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
    async def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = (await api.get(location)).json()
        return job if job["state"] != "running" else None

    return await eventually(finished, f"the import job {location} finishes", 30)


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
