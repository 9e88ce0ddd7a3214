"""The CSV exports' format: RFC 4180 lines, list values joined by ``;``, streamed."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterable, Iterable
from typing import Any

from fastapi.responses import StreamingResponse


def csv_line(values: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue()


def cell(value: Any) -> Any:
    """A value as a CSV cell: lists joined by ``;``, none as empty."""
    if isinstance(value, list):
        return ";".join(value)
    return "" if value is None else value


def csv_response(lines: Iterable[str] | AsyncIterable[str], filename: str) -> StreamingResponse:
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
