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
from crm_shared.csv_export import unescape_cell
from crm_shared.errors import Problem, Unprocessable
from crm_shared.fields import input_error

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


MAX_RECORD = 1 << 20
"""The longest record (in characters) an import reads: far above any valid row (the
longest cell a contact takes is a few thousand characters), so a longer cell is a row
error; a record beyond this (a quote never closed, a stray binary file) is a 422."""
csv.field_size_limit(MAX_RECORD)  # process-wide; the contacts service reads no other CSV


def records_of(text: str, before: int = 0) -> list[list[str]]:
    """The records of a piece of CSV text (blank lines are none); ``before`` records came
    before it (for the line a 422 names)."""
    records: list[list[str]] = []
    try:
        for r in csv.reader(io.StringIO(text)):
            if r and (len(r) > 1 or r[0].strip()):  # blank lines are no records
                records.append(r)
    except csv.Error as exc:
        line = before + len(records) + 1
        raise Unprocessable("body", f"line {line}: the CSV cannot be read ({exc})") from exc
    return records


_CHARSETS = {
    "utf-8": "utf-8-sig",
    "utf8": "utf-8-sig",
    "windows-1252": "cp1252",
    "cp1252": "cp1252",
    "x-cp1252": "cp1252",
    "iso-8859-1": "cp1252",  # the label means windows-1252 (WHATWG Encoding Standard)
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "utf-16": "utf-16",
    "utf-16le": "utf-16-le",
    "utf-16be": "utf-16-be",
    "us-ascii": None,  # says nothing about the other bytes: detected as if not declared
    "ascii": None,
}
_SUPPORTED = "UTF-8 (with or without BOM), Windows-1252 (ISO-8859-1) or UTF-16 with its BOM"


class CsvDecoder:
    """The bytes of an import as text, chunk by chunk.

    A byte order mark decides (UTF-8, UTF-16); else the declared charset (``text/csv;
    charset=...``); else the bytes: valid UTF-8 is UTF-8, anything else Windows-1252 (what
    Excel writes in a German office) — the switch can come late, as long as everything
    before was plain ASCII (which reads the same in both). A charset we do not read is a
    415, bytes that are not what the file is (or mix UTF-8 with another encoding) a 422.
    The common case, UTF-8, costs nothing per row: one check per chunk."""

    def __init__(self, charset: str | None = None) -> None:
        label = charset.strip().strip('"').lower() if charset else None
        if label is not None and label not in _CHARSETS:
            raise Problem(415, f"the charset {charset} is not read here; send {_SUPPORTED}")
        self._declared = label
        self._codec = _CHARSETS.get(label) if label else None
        self._decoder: codecs.IncrementalDecoder | None = None
        self._head = b""
        self._detect = False  # UTF-8 until a byte says Windows-1252
        self._switched = False  # ... and one did
        self._non_ascii = False  # decoded so far
        self._offset = 0  # bytes before the current chunk

    def decode(self, chunk: bytes, final: bool = False) -> str:
        if self._decoder is None:  # the first bytes decide (a BOM has up to 3)
            self._head += chunk
            if len(self._head) < 4 and not final:
                return ""
            chunk, self._head = self._head, b""
            self._decoder = self._choose(chunk)
        try:
            text = self._decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            return self._fall_back(chunk, final, exc)
        self._offset += len(chunk)
        if not self._non_ascii and not text.isascii():  # O(1) for str
            self._non_ascii = True
        return text

    def _choose(self, head: bytes) -> codecs.IncrementalDecoder:
        if head.startswith(codecs.BOM_UTF8):
            return codecs.getincrementaldecoder("utf-8-sig")()
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return codecs.getincrementaldecoder("utf-16")()
        if self._codec is not None:
            return codecs.getincrementaldecoder(self._codec)()
        if b"\x00" in head[:2]:  # a header starts with a letter: "k\x00" is UTF-16LE
            raise Problem(
                415,
                "the CSV starts with a NUL byte: UTF-16 without its byte order mark? Send "
                "it with its BOM or declare the charset (text/csv; charset=utf-16le); or "
                f"send {_SUPPORTED}",
            )
        self._detect = True
        return codecs.getincrementaldecoder("utf-8-sig")()

    def _fall_back(self, chunk: bytes, final: bool, exc: UnicodeDecodeError) -> str:
        assert self._decoder is not None  # noqa: S101 - chosen before
        pending = self._decoder.getstate()[0]
        where = self._offset - len(pending) + exc.start
        if self._switched:
            raise Problem(
                422, f"the CSV is neither UTF-8 nor Windows-1252 (byte {where}); send {_SUPPORTED}"
            )
        if not self._detect:
            name = self._declared or exc.encoding
            raise Problem(422, f"the CSV is not valid {name} (byte {where}); send {_SUPPORTED}")
        if self._non_ascii:
            raise Problem(
                422,
                f"the CSV mixes UTF-8 with another encoding (byte {where}); save it as UTF-8",
            )
        self._detect, self._switched = False, True
        self._decoder = codecs.getincrementaldecoder("cp1252")()
        self._offset -= len(pending)
        return self.decode(pending + chunk, final)


def _unescaped(records: list[list[str]]) -> list[list[str]]:
    """Cells an export escaped as text (``'=...``, see ``crm_shared.csv_export``) as they
    were."""
    return [[unescape_cell(v) if v[:1] == "'" else v for v in r] for r in records]


async def csv_records(
    chunks: AsyncIterator[bytes], charset: str | None = None
) -> AsyncIterator[list[list[str]]]:
    """CSV records from a byte stream, decoded (:class:`CsvDecoder`, ``charset`` as the
    request declares it) and parsed incrementally, a list per chunk.

    A record is complete when its quotes balance, so quoted fields may hold newlines."""
    decoder = CsvDecoder(charset)
    buffer = ""
    count = 0  # records so far
    async for chunk in chunks:
        buffer += decoder.decode(chunk)
        end = _complete_upto(buffer)
        if end:
            piece, buffer = buffer[:end], buffer[end:]
            records = records_of(piece, count)
            if records:
                count += len(records)
                yield _unescaped(records) if "'" in piece else records
        if len(buffer) > MAX_RECORD:
            raise Unprocessable(
                "body",
                f"line {count + 1}: a record longer than {MAX_RECORD} characters "
                "(a quote never closed, or not a CSV file)",
            )
    buffer += decoder.decode(b"", final=True)
    if records := records_of(buffer, count):
        yield _unescaped(records) if "'" in buffer else records


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
        f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {input_error(e)[1]}" for e in exc.errors()
    )
