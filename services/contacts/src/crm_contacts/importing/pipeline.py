"""An import from a CSV byte stream, batch by batch: a reader task parses, checks and
prepares the rows of the next batch while a writer task writes the previous one (a queue
of two batches between them), so Python and the database work at the same time. Each
batch is one unit of work (its contacts, CRM rows and events, and the progress of its
import job, if any, commit together), so a crash never loses a committed batch nor
leaves one half done."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_contacts.copies import ContactCopies
from crm_contacts.crm_lists import CrmLists, uses_lists
from crm_contacts.importing.check import quick_check
from crm_contacts.importing.parse import (
    check_header,
    columns_of,
    csv_records,
    row_errors,
    row_to_contact,
)
from crm_contacts.importing.write import Prepared, prepare, write_batch
from crm_shared.db import Database
from crm_shared.errors import Unprocessable
from crm_shared.outbox import Outbox

_SLICE = 250
"""Rows of CPU work between two chances for the writer to go on, so its database answers
do not wait behind the parsing of a whole batch (the service README: how the import is
fast)."""


@dataclass
class Progress:
    """How far an import got; ``last_line`` is the last line of the last committed batch."""

    read: int = 0
    done: int = 0
    created: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    last_line: int = 1


BatchHook = Callable[[AsyncSession, Progress, list[tuple[int, str]]], Awaitable[None]]
"""Runs inside each batch's transaction with the progress as it will be once that batch
commits, and the batch's new errors (an import job records its counters so)."""


@dataclass
class Importer:
    """What an import writes with: the database (a unit of work per batch), the outbox,
    the copies (the CRM admin lists) and the batch size."""

    db: Database
    outbox: Outbox
    copies: ContactCopies
    batch_size: int

    async def run(
        self,
        chunks: AsyncIterator[bytes],
        *,
        after_line: int = 1,
        on_batch: BatchHook | None = None,
        charset: str | None = None,
    ) -> Progress:
        """Import a CSV byte stream (header first) in ``charset`` (as declared; None:
        detected, see ``parse.CsvDecoder``). Rows up to ``after_line`` are skipped (to
        resume an interrupted import)."""
        records = csv_records(chunks, charset)
        first = await anext(records, None)
        if not first:
            raise Unprocessable("body", "the CSV is empty; expected a header row")
        header = check_header(first[0])
        quick = quick_check(header)
        progress = Progress(last_line=after_line)
        queue: asyncio.Queue[tuple[list[Prepared], list[tuple[int, str]], int, int] | None]
        queue = asyncio.Queue(maxsize=2)
        source = self.outbox.source
        lists: list[CrmLists | None] = []  # the admin lists, read once a row needs them

        async def list_errors(crm: dict[str, Any]) -> str | None:
            if not uses_lists(crm):
                return None
            if not lists:
                lists.append(await self.copies.load_crm_lists())
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
                        if columns is None:  # pydantic converts the value, or says why not
                            columns = columns_of(row_to_contact(header, values))
                        if problem := await list_errors(columns["crm"]):
                            bad.append((line, problem))
                        else:
                            valid.append((line, columns))
                    except ValidationError as exc:
                        bad.append((line, row_errors(exc)))
                    except ValueError as exc:
                        bad.append((line, str(exc)))
                    if seen >= self.batch_size:
                        await hand_over()
                    elif seen % _SLICE == 0:
                        await asyncio.sleep(0)
            await hand_over()
            await queue.put(None)

        async def write() -> None:
            while (item := await queue.get()) is not None:
                prepared, bad, seen, last_line = item
                progress.read += seen
                refused = await self._write_with_retry(
                    prepared, bad, seen, last_line, progress, on_batch
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
        self,
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
            async with self.db.unit_of_work() as session:
                refused = sorted(await write_batch(session, self.outbox, rows) + extra)
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
