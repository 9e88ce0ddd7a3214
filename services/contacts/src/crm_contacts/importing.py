"""CSV import of contacts: streamed parsing, row validation, batch writes.

The body is parsed as it arrives. Rows are validated and turned into ready-to-write
contacts (with their ``ContactCreated`` CloudEvent) while the previous batch is being
written, so Python and the database work at the same time. Each batch is one unit of
work: its contacts, CRM rows and outbox rows commit together (with the progress of its
import job, if any), so a crash never loses a committed batch nor leaves one half done.
On PostgreSQL a batch is written with ``COPY``; SQLite gets multi-row inserts.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, get_args

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from crm_contacts.copies import load_crm_lists
from crm_contacts.crm_lists import CrmLists, uses_lists
from crm_contacts.models import ImportJob
from crm_contacts.repository import CRM_COLUMNS, ContactRepository
from crm_contacts.schemas import EMAIL_SHAPE, AddressIn, ContactImport, CrmIn
from crm_contacts.settings import Settings
from crm_shared.db import OUTBOX_DIRTY
from crm_shared.errors import Problem, Unprocessable
from crm_shared.events import ContactCreated, CrmProperties, event_type, utcnow
from crm_shared.service import Runtime

log = logging.getLogger(__name__)

IMPORT_BATCH = 2000
"""Rows per unit of work: big enough for COPY to pay off, small enough for fine progress."""

_SLICE = 250
"""Rows of CPU work between two chances for the writer to go on: its database answers
waited behind the parsing of a whole batch before (0.15-0.2 s per batch, measured)."""

IMPORT_FIELDS = (
    "kind",
    "name",
    "email",
    "phone",
    "language",
    "company_id",
    "customer_number",
    "credit_hold",
)
_CREATED_TYPE = event_type(ContactCreated.event_name)
_CREATED_TOPIC = ContactCreated.kafka_topic.value
_ASSIGNED_TO_ALL = {"mode": "all", "staff_id": None, "competence_id": None}
_NO_CRM = CrmProperties().model_dump(mode="json")
_TRUE = frozenset(("1", "true", "yes", "ja", "x"))
_FALSE = frozenset(("0", "false", "no", "nein", ""))


# --- parsing -----------------------------------------------------------------------------


def _complete_upto(text: str) -> int:
    """Length of the part of ``text`` that ends with a whole record (quotes balanced at a
    newline); 0 if there is none yet."""
    end = text.rfind("\n") + 1
    if end == 0 or text.count('"', 0, end) % 2 == 0:
        return end
    # a quoted field runs past the last newline: find the last newline outside quotes
    quotes = position = last = 0
    for line in text[:end].split("\n")[:-1]:
        position += len(line) + 1
        quotes += line.count('"')
        if quotes % 2 == 0:
            last = position
    return last


def _records(text: str) -> list[list[str]]:
    return [
        r for r in csv.reader(io.StringIO(text)) if r and (len(r) > 1 or r[0].strip())
    ]  # blank lines are no records


async def csv_records(chunks: AsyncIterator[bytes]) -> AsyncIterator[list[list[str]]]:
    """CSV records from a byte stream, decoded and parsed incrementally, a list per chunk.

    A record is complete when its quotes balance, so quoted fields may hold newlines."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    buffer = ""
    async for chunk in chunks:
        buffer += decoder.decode(chunk)
        end = _complete_upto(buffer)
        if end:
            records = _records(buffer[:end])
            buffer = buffer[end:]
            if records:
                yield records
    buffer += decoder.decode(b"", final=True)
    if records := _records(buffer):
        yield records


def check_header(header_row: list[str]) -> list[str]:
    """The column names of the header row; 422 for an unknown or a missing column."""
    header = [h.strip() for h in header_row]
    allowed = set(IMPORT_FIELDS)
    for name in header:
        prefix, _dot, key = name.partition(".")
        if not (name in allowed or (prefix in ("crm", "address") and key)):
            raise Unprocessable("header", f"unknown column {name!r}")
    if "kind" not in header or "name" not in header:
        raise Unprocessable("header", "the columns kind and name are required")
    return header


def _csv_value(name: str, raw: str) -> Any:
    if name == "credit_hold" or name in ("crm.newsletter", "crm.interested"):
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        return raw
    if name == "crm.products":
        return [p.strip() for p in raw.split(";") if p.strip()]
    if name == "crm.characteristics":
        pairs = (p.partition("=") for p in raw.split(";") if p.strip())
        return {k.strip(): v.strip() for k, _, v in pairs}
    if name == "crm.employees":
        return int(raw) if raw.strip().isdigit() else raw
    return raw


_PLAIN = frozenset(("kind", "name", "email", "phone", "language", "company_id", "customer_number"))


def row_to_contact(header: list[str], values: list[str]) -> ContactImport:
    """A CSV record as a validated contact; raises ValidationError or ValueError."""
    if len(values) != len(header):
        raise ValueError(f"expected {len(header)} columns, got {len(values)}")
    body: dict[str, Any] = {"status": "inbox"}
    for name, raw in zip(header, values, strict=True):
        if raw == "":
            continue
        if name in _PLAIN:
            body[name] = raw
            continue
        value = _csv_value(name, raw)
        if "." in name:
            group, key = name.split(".", 1)
            body.setdefault(group, {})[key] = value
        else:
            body[name] = value
    return ContactImport.model_validate(body, strict=False)


def columns_of(data: ContactImport) -> dict[str, Any]:
    """The columns of a validated row, as ``prepare`` takes them."""
    return {
        "kind": data.kind,
        "name": data.name,
        "email": data.email,
        "phone": data.phone,
        "language": data.language,
        "company_id": data.company_id,
        "customer_number": data.customer_number,
        "credit_hold": data.credit_hold,
        "address": data.address.model_dump(exclude_none=True) if data.address else None,
        "crm": data.crm.model_dump(exclude_none=True),
    }


# The quick check: the rules of ``ContactImport`` for values that need no conversion,
# read from the models (so they cannot drift apart); anything else goes to pydantic.
def _max_length(model: type[BaseModel], name: str) -> int | None:
    limits = [m.max_length for m in model.model_fields[name].metadata if hasattr(m, "max_length")]
    return min(limits, default=None)


def _text_rule(limit: int | None) -> Callable[[str], str | None]:
    if limit is None:
        return lambda raw: raw
    return lambda raw: raw if len(raw) <= limit else None


def _choice_rule(model: type[BaseModel], name: str) -> Callable[[str], str | None]:
    allowed = frozenset(get_args(model.model_fields[name].annotation))
    if not allowed:
        raise TypeError(f"{model.__name__}.{name} is not a Literal")
    return lambda raw: raw if raw in allowed else None


def _email_rule(limit: int | None) -> Callable[[str], str | None]:
    def rule(raw: str) -> str | None:
        return raw if (limit is None or len(raw) <= limit) and EMAIL_SHAPE.match(raw) else None

    return rule


def _flag_rule(raw: str) -> bool | None:
    lowered = raw.lower()
    return True if lowered in _TRUE else False if lowered in _FALSE else None


_MAX_EMPLOYEES = next(m.le for m in CrmIn.model_fields["employees"].metadata if hasattr(m, "le"))


def _employees_rule(raw: str) -> int | None:
    if not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if value <= _MAX_EMPLOYEES else None  # pydantic says why


_MAX_PRODUCTS = next(
    (m.max_length for m in CrmIn.model_fields["products"].metadata if hasattr(m, "max_length")),
    None,
)


def _products_rule(raw: str) -> list[str] | None:
    products = [p.strip() for p in raw.split(";") if p.strip()]
    if (_MAX_PRODUCTS is not None and len(products) > _MAX_PRODUCTS) or any(
        len(p) > 200 for p in products
    ):
        return None  # pydantic says why
    return list(dict.fromkeys(products))


_Rule = Callable[[str], Any]
_QUICK: dict[str, _Rule] = {
    "kind": _choice_rule(ContactImport, "kind"),
    "name": _text_rule(_max_length(ContactImport, "name")),
    "email": _email_rule(_max_length(ContactImport, "email")),
    "phone": _text_rule(_max_length(ContactImport, "phone")),
    "language": _choice_rule(ContactImport, "language"),
    "company_id": _text_rule(_max_length(ContactImport, "company_id")),
    "customer_number": _text_rule(_max_length(ContactImport, "customer_number")),
    "credit_hold": _flag_rule,
    "crm.employees": _employees_rule,
    "crm.newsletter": _flag_rule,
    "crm.interested": _flag_rule,
    "crm.products": _products_rule,
    **{
        f"crm.{name}": _text_rule(_max_length(CrmIn, name))
        for name, info in CrmIn.model_fields.items()
        if info.annotation == str | None
    },
    **{
        f"address.{name}": _text_rule(_max_length(AddressIn, name))
        for name in AddressIn.model_fields
    },
}
_CRM_ORDER = tuple(CrmIn.model_fields)
_ADDRESS_ORDER = tuple(AddressIn.model_fields)
_ROW_DEFAULTS: dict[str, Any] = {  # the order of ``columns_of``
    "kind": None,
    "name": None,
    "email": None,
    "phone": None,
    "language": "de",
    "company_id": None,
    "customer_number": None,
    "credit_hold": False,
}
QuickCheck = Callable[[list[str]], dict[str, Any] | None]


def quick_check(header: Sequence[str]) -> QuickCheck:
    """For a header: a function giving the columns of a record whose values are all
    plainly valid, as ``columns_of`` would, without a pydantic call (that cost as much as
    the rest of the import together); None when a value needs pydantic, to be converted
    (surrounding whitespace) or refused with its message."""
    width = len(header)
    steps: list[tuple[int, str, _Rule]] = []
    for name in header:
        rule = _QUICK.get(name)
        if rule is None:  # a column pydantic checks (or refuses)
            return lambda values: None
        group, _dot, key = name.rpartition(".")
        steps.append((("", "crm", "address").index(group), key, rule))
    crm_keys = [k for k in _CRM_ORDER if f"crm.{k}" in header or k in _CRM_DEFAULTS]
    address_keys = [k for k in _ADDRESS_ORDER if f"address.{k}" in header]

    def check(values: list[str]) -> dict[str, Any] | None:
        if len(values) != width:
            return None
        row = dict(_ROW_DEFAULTS)
        crm: dict[str, Any] = {"products": [], "characteristics": {}}
        address: dict[str, Any] = {}
        targets = (row, crm, address)
        for raw, (group, key, rule) in zip(values, steps, strict=True):
            if raw == "":
                continue
            if raw != raw.strip():  # Python strips a superset of what pydantic strips
                return None
            value = rule(raw)
            if value is None:
                return None
            targets[group][key] = value
        if row["kind"] is None or row["name"] is None:
            return None
        row["address"] = {k: address[k] for k in address_keys if k in address} or None
        row["crm"] = {k: crm[k] for k in crm_keys if k in crm}
        return row

    return check


_CRM_DEFAULTS = ("products", "characteristics")


def quick_columns(header: list[str], values: list[str]) -> dict[str, Any] | None:
    """``quick_check(header)(values)``: one record."""
    return quick_check(header)(values)


def row_errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in exc.errors()
    )


# --- ready-to-write contacts ---------------------------------------------------------


def uuids(count: int) -> list[str]:
    """``count`` random (version 4) UUIDs from one call to the system's random source,
    formatted without a ``uuid.UUID`` object each (that cost a fifth of ``prepare``)."""
    random = bytearray(os.urandom(16 * count))
    for i in range(0, 16 * count, 16):
        random[i + 6] = (random[i + 6] & 0x0F) | 0x40  # version 4
        random[i + 8] = (random[i + 8] & 0x3F) | 0x80  # RFC 4122 variant
    h = random.hex()
    return [
        f"{h[j : j + 8]}-{h[j + 8 : j + 12]}-{h[j + 12 : j + 16]}-{h[j + 16 : j + 20]}-"
        f"{h[j + 20 : j + 32]}"
        for j in range(0, 32 * count, 32)
    ]


def event_time(now: datetime) -> str:
    """A UTC time as pydantic writes it into a CloudEvent (``...Z``)."""
    return now.isoformat().replace("+00:00", "Z")


@dataclass(slots=True)
class Prepared:
    """An imported row ready to write: the contact's columns and its outbox row."""

    line: int
    contact: dict[str, Any]
    outbox: dict[str, Any]


def created_event_body(contact: dict[str, Any], *, event_id: str, source: str, time: str) -> str:
    """The ``ContactCreated`` CloudEvent of a new inbox contact, as ``make_event(...)
    .to_bytes()`` writes it (tested to match), without a model round trip per row."""
    crm = contact["crm"]
    data = {
        "contact_id": contact["id"],
        "kind": contact["kind"],
        "name": contact["name"],
        "email": contact["email"],
        "phone": contact["phone"],
        "language": contact["language"],
        "status": contact["status"],
        "company_id": contact["company_id"],
        "customer_number": contact["customer_number"],
        "credit_hold": contact["credit_hold"],
        "assignment": _ASSIGNED_TO_ALL,
        "crm": {**_NO_CRM, **crm},
        "address": contact["address"],
        "version": 1,
    }
    envelope = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": _CREATED_TYPE,
        "subject": contact["id"],
        "time": time,
        "datacontenttype": "application/json",
        "data": data,
    }
    # pydantic's serializer: the bytes ``to_bytes`` writes, a third of ``json.dumps``'s time
    return to_json(envelope).decode()


def prepare(rows: Sequence[tuple[int, dict[str, Any]]], *, source: str) -> list[Prepared]:
    """Columns and the ``ContactCreated`` outbox row of each validated row (``columns_of``
    or ``quick_columns``; no I/O)."""
    now = utcnow()
    time = event_time(now)
    ids = uuids(2 * len(rows))
    out: list[Prepared] = []
    for i, (line, data) in enumerate(rows):
        crm = data["crm"]
        contact: dict[str, Any] = {
            "id": ids[2 * i],
            **data,
            "status": "inbox",
            "assignment_mode": "all",
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for name in CRM_COLUMNS:
            contact[name] = crm.get(name)
        event_id = ids[2 * i + 1]
        body = created_event_body(contact, event_id=event_id, source=source, time=time)
        outbox = {
            "event_id": event_id,
            "topic": _CREATED_TOPIC,
            "key": contact["id"],
            "body": body,
            "created_at": now,
        }
        out.append(Prepared(line, contact, outbox))
    return out


# --- writing -----------------------------------------------------------------------------

_JSON_COLUMNS = frozenset(("crm", "address"))


async def insert_rows(session: AsyncSession, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows (all with the same keys) in the session's transaction: ``COPY`` on
    PostgreSQL, a multi-row insert elsewhere."""
    if not rows:
        return
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        await session.execute(sa.insert(SQLModel.metadata.tables[table]), rows)
        return
    columns = list(rows[0])
    json_at = [i for i, c in enumerate(columns) if c in _JSON_COLUMNS]
    records: list[Sequence[Any]] = []
    if json_at:
        for row in rows:
            record = list(row.values())
            for i in json_at:
                if record[i] is not None:
                    record[i] = to_json(record[i]).decode()
            records.append(record)
    else:
        records = [tuple(row.values()) for row in rows]
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    try:
        await driver.copy_records_to_table(table, records=records, columns=columns)
    except Exception as exc:  # asyncpg's own errors: as SQLAlchemy would raise them
        if getattr(exc, "sqlstate", None) == "23505":
            raise IntegrityError(f"COPY {table}", None, exc) from exc
        raise


async def write_batch(session: AsyncSession, rows: list[Prepared]) -> list[tuple[int, str]]:
    """Write a batch of prepared contacts (status ``inbox``) with their product,
    characteristic and outbox rows; returns the rows refused (number taken, no company).

    Raises IntegrityError when a concurrent writer took a customer number meanwhile."""
    repo = ContactRepository(session)
    # the first statement opens the transaction COPY then runs in (asyncpg would not)
    numbers = [r.contact["customer_number"] for r in rows if r.contact["customer_number"]]
    taken = await repo.numbers_taken(numbers) if numbers else set()
    if not numbers:
        await session.execute(sa.text("SELECT 1"))
    companies: set[str] = set()
    for company_id in {r.contact["company_id"] for r in rows if r.contact["company_id"]}:
        company = await repo.get(company_id)
        if company is not None and company.kind == "company":
            companies.add(company_id)
    errors: list[tuple[int, str]] = []
    contacts: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    products: list[dict[str, Any]] = []
    characteristics: list[dict[str, Any]] = []
    for row in rows:
        contact = row.contact
        number = contact["customer_number"]
        if number and number in taken:
            errors.append((row.line, f"customer_number: {number} is already used"))
            continue
        if contact["company_id"] and contact["company_id"] not in companies:
            errors.append((row.line, f"company_id: {contact['company_id']} is not a company"))
            continue
        if number:
            taken.add(number)
        contacts.append(contact)
        outbox.append(row.outbox)
        crm = contact["crm"]
        for product in crm.get("products") or ():
            products.append({"contact_id": contact["id"], "product": product})
        for key, value in (crm.get("characteristics") or {}).items():
            characteristics.append({"contact_id": contact["id"], "key": key, "value": value})
    await insert_rows(session, "contact", contacts)
    await insert_rows(session, "contact_product", products)
    await insert_rows(session, "contact_characteristic", characteristics)
    await insert_rows(session, "outbox_message", outbox)
    if outbox:
        session.info[OUTBOX_DIRTY] = True  # wakes the relay after the commit
    return errors


# --- the whole import ----------------------------------------------------------------


@dataclass
class Progress:
    """How far an import got; ``last_line`` is the last line of the last committed batch."""

    read: int = 0
    done: int = 0
    created: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    last_line: int = 1


BatchHook = Callable[[AsyncSession, Progress, list[tuple[int, str]]], Awaitable[None]]


async def run_import(
    runtime: Runtime[Settings],
    chunks: AsyncIterator[bytes],
    *,
    after_line: int = 1,
    on_batch: BatchHook | None = None,
    batch_size: int | None = None,
) -> Progress:
    """Import a CSV byte stream (header first). Rows up to ``after_line`` are skipped (to
    resume an interrupted import). ``on_batch`` runs inside each batch's transaction with
    the progress as it will be once that batch commits, and the batch's new errors."""
    configured: int = getattr(runtime.settings, "import_batch_size", IMPORT_BATCH)
    size = batch_size or configured
    records = csv_records(chunks)
    first = await anext(records, None)
    if not first:
        raise Unprocessable("body", "the CSV is empty; expected a header row")
    header = check_header(first[0])
    quick = quick_check(header)
    progress = Progress(last_line=after_line)
    queue: asyncio.Queue[tuple[list[Prepared], list[tuple[int, str]], int, int] | None]
    queue = asyncio.Queue(maxsize=2)
    source = runtime.outbox.source
    lists: list[CrmLists | None] = []  # the admin lists, read once a row needs them

    async def list_errors(crm: dict[str, Any]) -> str | None:
        if not uses_lists(crm):
            return None
        if not lists:
            lists.append(await load_crm_lists(runtime))
        if lists[0] is None:
            return "crm: the CRM admin lists are not known yet; import this row again later"
        errors = lists[0].errors(crm)
        return "; ".join(f"{e['field']}: {e['message']}" for e in errors) or None

    async def read() -> None:
        """Parse and validate (CPU) while the writer waits on the database (I/O)."""
        line = 1
        valid: list[tuple[int, dict[str, Any]]] = []
        bad: list[tuple[int, str]] = []
        seen = 0

        async def hand_over() -> None:
            nonlocal valid, bad, seen
            if seen:
                prepared: list[Prepared] = []
                for start in range(0, len(valid), _SLICE):
                    prepared += prepare(valid[start : start + _SLICE], source=source)
                    await asyncio.sleep(0)
                await queue.put((prepared, bad, seen, line))
            valid, bad, seen = [], [], 0

        async def rows() -> AsyncIterator[list[list[str]]]:
            yield first[1:]
            async for more in records:
                yield more

        async for batch in rows():
            for values in batch:
                line += 1
                if line <= after_line:
                    continue
                seen += 1
                try:
                    columns = quick(values)
                    if columns is None:  # pydantic converts the value, or says what is wrong
                        columns = columns_of(row_to_contact(header, values))
                    if problem := await list_errors(columns["crm"]):
                        bad.append((line, problem))
                    else:
                        valid.append((line, columns))
                except ValidationError as exc:
                    bad.append((line, row_errors(exc)))
                except ValueError as exc:
                    bad.append((line, str(exc)))
                if seen >= size:
                    await hand_over()
                elif seen % _SLICE == 0:
                    await asyncio.sleep(0)
        await hand_over()
        await queue.put(None)

    async def write() -> None:
        while (item := await queue.get()) is not None:
            prepared, bad, seen, last_line = item
            progress.read += seen
            refused = await _write_with_retry(
                runtime, prepared, bad, seen, last_line, progress, on_batch
            )
            progress.errors.extend(refused)

    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(read())
            tasks.create_task(write())
    except BaseExceptionGroup as group:  # the first failure, as if there were one task
        raise group.exceptions[0] from group
    progress.errors.sort()
    return progress


async def _write_with_retry(
    runtime: Runtime[Settings],
    prepared: list[Prepared],
    bad: list[tuple[int, str]],
    seen: int,
    last_line: int,
    progress: Progress,
    on_batch: BatchHook | None,
) -> list[tuple[int, str]]:
    """One batch in one unit of work. If a concurrent writer took one of its customer
    numbers between our check and our write, check again and retry; as a last resort
    write row by row so only the clashing rows are refused."""

    async def attempt(
        rows: list[Prepared], extra: list[tuple[int, str]], count: int, upto: int
    ) -> list[tuple[int, str]]:
        async with runtime.database.unit_of_work() as session:
            refused = sorted(await write_batch(session, rows) + extra)
            after = Progress(
                read=progress.read,
                done=progress.done + count,
                created=progress.created + len(rows) - (len(refused) - len(extra)),
                errors=progress.errors,
                last_line=upto,
            )
            if on_batch is not None:
                await on_batch(session, after, refused)
        progress.done, progress.created, progress.last_line = (
            after.done,
            after.created,
            after.last_line,
        )
        return refused

    for _ in range(3):
        try:
            return await attempt(prepared, bad, seen, last_line)
        except IntegrityError:
            continue
    refused: list[tuple[int, str]] = []
    clashed: list[tuple[int, str]] = []
    for row in prepared:  # last_line moves only once the whole batch is through
        try:
            refused += await attempt([row], [], 1, progress.last_line)
        except IntegrityError:
            clashed.append((row.line, "customer_number: already used"))
    refused += await attempt([], bad + clashed, seen - len(prepared) + len(clashed), last_line)
    return sorted(refused)


# --- import jobs (Prefer: respond-async) -------------------------------------------------

JOB_ERRORS_KEPT = 1000
"""Row errors a job keeps (the count goes on); the synchronous answer lists them all."""
JOB_STALE_SECONDS = 120.0
"""A running job without progress for this long was cut off (the service stopped)."""
_SPOOL_CHUNK = 1 << 16


async def spool(chunks: AsyncIterator[bytes]) -> tuple[Any, int]:
    """The request body in a temporary file (not in memory) and its number of lines."""
    file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the job that reads it
    lines = 0
    last = b"\n"
    try:
        async for chunk in chunks:
            if chunk:
                file.write(chunk)  # page cache; the upload is the slow side
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except BaseException:  # the client went away
        file.close()
        raise
    if last != b"\n":
        lines += 1
    file.seek(0)
    return file, lines


async def spooled(file: Any) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(file.read, _SPOOL_CHUNK):
        yield chunk


async def read_header(file: Any) -> None:
    """422 now, not in the job, when the header row is wrong."""
    head = file.read(_SPOOL_CHUNK)
    file.seek(0)
    first = next(iter(_records(head[: head.find(b"\n") + 1 or None].decode("utf-8-sig"))), None)
    if not first:
        raise Unprocessable("body", "the CSV is empty; expected a header row")
    check_header(first)


async def create_job(
    runtime: Runtime[Settings], *, total: int, after_line: int, staff_id: str | None
) -> ImportJob:
    async with runtime.database.unit_of_work() as session:
        job = ImportJob(total=total, last_line=after_line, created_by=staff_id)
        session.add(job)
    return job


async def _update_job(session: AsyncSession, job_id: str, **values: Any) -> None:
    table = SQLModel.metadata.tables["contact_import_job"]
    await session.execute(
        sa.update(table).where(table.c.id == job_id).values(**values, updated_at=utcnow())
    )


async def run_job(runtime: Runtime[Settings], job: ImportJob, file: Any) -> None:
    """The background part of an import job: each batch commits with the job's counters."""
    kept: list[dict[str, Any]] = []
    error_count = 0

    async def on_batch(
        session: AsyncSession, progress: Progress, errors: list[tuple[int, str]]
    ) -> None:
        nonlocal error_count
        error_count += len(errors)
        room = JOB_ERRORS_KEPT - len(kept)
        kept.extend({"row": r, "message": m} for r, m in errors[: max(room, 0)])
        await _update_job(
            session,
            job.id,
            done=progress.done,
            created=progress.created,
            error_count=error_count,
            errors=list(kept),
            last_line=progress.last_line,
        )

    try:
        progress = await run_import(
            runtime, spooled(file), after_line=job.last_line, on_batch=on_batch
        )
    except asyncio.CancelledError:
        await _finish_job(runtime, job.id, "interrupted", "the service stopped")
        raise
    except Exception as exc:
        log.exception("import job %s failed", job.id)
        await _finish_job(runtime, job.id, "failed", _reason(exc))
    else:
        await _finish_job(runtime, job.id, "done", None, total=progress.read)
    finally:
        file.close()


def _reason(exc: Exception) -> str:
    if isinstance(exc, Problem):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:2000]


async def _finish_job(
    runtime: Runtime[Settings], job_id: str, state: str, message: str | None, **values: Any
) -> None:
    try:
        async with runtime.database.unit_of_work() as session:
            await _update_job(session, job_id, state=state, message=message, **values)
    except Exception:  # the job then shows as interrupted once it goes stale
        log.exception("could not record the end of import job %s", job_id)


def job_public(job: ImportJob) -> dict[str, Any]:
    state = job.state
    message = job.message
    if state == "running" and (utcnow() - job.updated_at).total_seconds() > (JOB_STALE_SECONDS):
        state = "interrupted"
        message = f"no progress for {JOB_STALE_SECONDS:.0f} s (the service stopped?)"
    if state == "interrupted":
        message = (
            f"{message}; every line up to {job.last_line} is imported: send the file again "
            f"with ?after_line={job.last_line} to import the rest"
        )
    return {
        "id": job.id,
        "state": state,
        "total": job.total,
        "done": job.done,
        "created": job.created,
        "error_count": job.error_count,
        "errors": job.errors,
        "last_line": job.last_line,
        "message": message,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    }
