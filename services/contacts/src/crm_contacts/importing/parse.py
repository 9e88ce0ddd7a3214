"""Reading an import's CSV: the bytes decoded and split into records as they arrive, the
header checked, and a record turned into a validated contact the slow way, through
pydantic (``ContactImport``), for the rows the quick check (``check.py``) leaves to it."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError

from crm_contacts.schemas import ContactImport
from crm_shared.errors import Unprocessable

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
"""The plain columns of an import; ``crm.<property>`` and ``address.<field>`` besides."""
TRUE = frozenset(("1", "true", "yes", "ja", "x"))
FALSE = frozenset(("0", "false", "no", "nein", ""))


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


def records_of(text: str) -> list[list[str]]:
    """The records of a piece of CSV text (blank lines are none)."""
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
            records = records_of(buffer[:end])
            buffer = buffer[end:]
            if records:
                yield records
    buffer += decoder.decode(b"", final=True)
    if records := records_of(buffer):
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
        if lowered in TRUE:
            return True
        if lowered in FALSE:
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


def row_errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in exc.errors()
    )
