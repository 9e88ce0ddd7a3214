"""The import's parts alone, without servers: the streamed CSV parser, the quick check
against pydantic, the ids, and the event a written batch queues."""

from __future__ import annotations

import codecs
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from crm_contacts.importing.check import quick_columns
from crm_contacts.importing.parse import columns_of, csv_records, row_to_contact
from crm_contacts.importing.write import prepare, uuids, write_batch
from crm_contacts.main import MIGRATIONS
from crm_contacts.schemas import ContactImport
from crm_dev.testing import RulesDb
from crm_shared.db import Database, table_of
from crm_shared.errors import Problem
from crm_shared.events import ContactCreated, CrmProperties, make_event, parse_cloudevent
from crm_shared.outbox import Outbox, OutboxMessage


async def chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def parse(data: bytes, size: int, charset: str | None = None) -> list[list[str]]:
    return [r async for batch in csv_records(chunks_of(data, size), charset) for r in batch]


async def outbox_row(db: Database) -> dict[str, Any]:
    """The one outbox row a test's write queued."""
    async with db.sessionmaker() as session:
        outbox = table_of(OutboxMessage)
        (row,) = (await session.execute(sa.select(outbox))).mappings().all()
    return dict(row)


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
async def test_the_written_event_is_the_event_make_event_writes(
    row: dict[str, Any], rules_db: RulesDb
) -> None:
    """A batch written on SQLite: its ``ContactCreated`` is the snapshot of the contact."""
    db = await rules_db(MIGRATIONS)
    data = columns_of(ContactImport.model_validate({**row, "status": "inbox"}))
    (prepared,) = prepare([(2, data)], source="/crm/contacts")
    async with db.unit_of_work() as session:
        assert await write_batch(session, Outbox("/crm/contacts"), [prepared]) == []
    contact, outbox = prepared.contact, await outbox_row(db)
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
        "name": [
            *("x", "x" * 300, "x" * 301, " Anna", "Anna\t", "\u00a0Anna", "\x1cAnna"),
            *("An\x00na", "An\tna", "A\u2028B", "A\u0085B", "A\u00adB"),
        ],
        "email": [
            *("a@b.c", "a@b", "a b@c.d", "a@b.c ", f"{'a' * 320}@b.de", "ä@ö.de"),
            *("a\x00@b.de", "a@b\x7f.de"),
        ],
        "phone": ["1" * 64, "1" * 65, "030\x1b1"],
        "language": ["de", "fr", "EN"],
        "customer_number": ["k" * 64, "k" * 65, " ", " K-2"],
        "credit_hold": ["1", "x", "on", "maybe", "NEIN", " ja"],
        "crm.crm_status": ["n" * 100, "n" * 101],
        "crm.employees": ["0", "-1", "+3", "²", "1.5", "abc", "2147483647", "2147483648"],
        "crm.products": [
            *(";", "a" * 200, "a" * 201, ";".join(str(i) for i in range(101))),
            *("A;B\x00", "A\x85"),
        ],
        "crm.comment1": ["a\tb\r\nc", "a\x0bb"],
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
    quick = quick_columns(QUICK_HEADER, record)
    try:
        slow: dict[str, Any] | None = columns_of(row_to_contact(QUICK_HEADER, record))
    except ValueError:  # also ValidationError: refused, with pydantic's message
        slow = None
    if quick is not None:  # taken: exactly as pydantic (keys in the same order too)
        assert slow is not None
        assert list(quick.items()) == list(slow.items())
        assert list(quick["crm"].items()) == list(slow["crm"].items())


def test_the_quick_check_takes_plain_rows() -> None:
    assert quick_columns(QUICK_HEADER, FULL) is not None
    assert quick_columns(["name", "kind"], ["Anna", "person"]) is not None
    for header, record in [
        (QUICK_HEADER, FULL[:-1]),  # a column missing
        (["kind", "name", "crm.characteristics"], ["person", "A", "k=v"]),
        (["kind", "name", "crm.unknown"], ["person", "A", "v"]),
        (["kind", "name", "address.planet"], ["person", "A", "v"]),
        (["kind"], ["person"]),
    ]:
        assert quick_columns(header, record) is None


def test_ids_are_random_version_4_uuids() -> None:
    ids = uuids(1000)
    assert len(set(ids)) == 1000
    for value in ids:
        parsed = uuid.UUID(value)
        assert (str(parsed), parsed.version, parsed.variant) == (value, 4, uuid.RFC_4122)


# --- the character set of an import (issue 19) -------------------------------------------

ROWS = [["kind", "name", "crm.comment1"], ["person", "Jörg Müller", "Grüße, 5 €"]]
TEXT = 'kind,name,crm.comment1\r\nperson,Jörg Müller,"Grüße, 5 €"\r\n'


@pytest.mark.parametrize("size", [1, 3, 64, 10_000])
@pytest.mark.parametrize(
    ("data", "charset"),
    [
        (TEXT.encode("utf-8"), None),
        (TEXT.encode("utf-8-sig"), None),
        (TEXT.encode("cp1252"), None),  # what Excel writes in a German office
        (TEXT.encode("cp1252"), "windows-1252"),
        (TEXT.encode("cp1252"), "ISO-8859-1"),  # the label means windows-1252 (WHATWG)
        (TEXT.encode("cp1252"), "us-ascii"),  # says nothing of the other bytes: detected
        (TEXT.encode("utf-8"), "utf-8"),
        (TEXT.encode("utf-16"), None),  # with its byte order mark
        (TEXT.encode("utf-16-be"), "utf-16be"),
        (TEXT.encode("utf-16-le"), "UTF-16LE"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "windows-1252"),  # the mark wins
    ],
)
async def test_an_import_reads_utf8_windows_1252_and_utf16(
    data: bytes, charset: str | None, size: int
) -> None:
    assert await parse(data, size, charset) == ROWS


@pytest.mark.parametrize("size", [1, 7, 64])
async def test_windows_1252_is_detected_after_many_plain_lines(size: int) -> None:
    data = b"kind,name\n" + b"person,Anna\n" * 50 + b"person,M\xfcller\n"
    rows = await parse(data, size)
    assert (len(rows), rows[-1]) == (52, ["person", "Müller"])


@pytest.mark.parametrize(
    ("data", "charset", "status", "says"),
    [
        (b"kind,name\nperson,M\xfcller\n", "utf-8", 422, "not valid utf-8"),
        ("kind,name\nperson,Jörg\n".encode() + b"person,M\xfcller\n", None, 422, "mixes UTF-8"),
        (b"kind,name\nperson,\x81\x8d\n", None, 422, "neither UTF-8 nor Windows-1252"),
        (TEXT.encode("utf-16-le"), None, 415, "UTF-16"),  # no byte order mark
        (TEXT.encode("shift_jis", "replace"), "shift_jis", 415, "shift_jis"),
        (b"kind,name\n", "klingon", 415, "klingon"),
        (b"kind,name\rperson,Anna\rperson,Berta\r", None, 422, "line 1"),
    ],
)  # fmt: skip
async def test_an_import_in_another_character_set_is_refused_clearly(
    data: bytes, charset: str | None, status: int, says: str
) -> None:
    with pytest.raises(Problem) as refused:
        await parse(data, 5, charset)
    assert refused.value.status == status
    assert says in refused.value.detail


async def test_a_record_longer_than_a_mebibyte_is_refused_not_a_crash() -> None:
    huge = b"kind,name\nperson,Anna\nperson," + b"x" * (2 << 20) + b"\nperson,Berta\n"
    for size in (1 << 16, len(huge)):
        with pytest.raises(Problem) as refused:
            await parse(huge, size)
        assert (refused.value.status, refused.value.detail.split(":")[0]) == (422, "body")
        assert "line 3" in refused.value.detail
