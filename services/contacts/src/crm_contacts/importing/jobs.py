"""Import jobs (``Prefer: respond-async``): the body is stored in a temporary file and its
header checked while the client waits; the rows are then imported in the background,
each batch committing with the job's counters, so after a crash or a stop the job says
exactly what is imported (every line up to ``last_line``)."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import AsyncIterator
from typing import IO, Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_contacts.importing.parse import CsvDecoder, check_header, records_of
from crm_contacts.importing.pipeline import Importer, Progress
from crm_contacts.models import ImportJob
from crm_contacts.repository import ContactRepository
from crm_shared.db import Database
from crm_shared.errors import Problem, Unprocessable

log = logging.getLogger(__name__)

JOB_ERRORS_KEPT = 1000
"""Row errors a job keeps (the count goes on); the synchronous answer lists them all."""
_SPOOL_CHUNK = 1 << 16


async def spool(chunks: AsyncIterator[bytes]) -> tuple[IO[bytes], int]:
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


async def spooled(file: IO[bytes]) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(file.read, _SPOOL_CHUNK):
        yield chunk


def read_header(file: IO[bytes], charset: str | None = None) -> None:
    """415 or 422 now, not in the job, when the character set or the header row is wrong."""
    head = file.read(_SPOOL_CHUNK)
    file.seek(0)
    text = CsvDecoder(charset).decode(head, final=len(head) < _SPOOL_CHUNK)
    first = next(iter(records_of(text[: text.find("\n") + 1 or None])), None)
    if not first:
        raise Unprocessable("body", "the CSV is empty; expected a header row")
    check_header(first)


async def create_job(
    db: Database, *, total: int, after_line: int, staff_id: str | None
) -> ImportJob:
    async with db.unit_of_work() as session:
        job = ImportJob(total=total, last_line=after_line, created_by=staff_id)
        await ContactRepository(session).add(job)
    return job


async def run_job(
    importer: Importer, job: ImportJob, file: IO[bytes], charset: str | None = None
) -> None:
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
        await ContactRepository(session).update_import_job(
            job.id,
            done=progress.done,
            created=progress.created,
            error_count=error_count,
            errors=list(kept),
            last_line=progress.last_line,
        )

    try:
        progress = await importer.run(
            spooled(file), after_line=job.last_line, on_batch=on_batch, charset=charset
        )
    except asyncio.CancelledError:
        await _finish_job(importer.db, job.id, "interrupted", "the service stopped")
        raise
    except Exception as exc:
        log.exception("import job %s failed", job.id)
        await _finish_job(importer.db, job.id, "failed", _reason(exc))
    else:
        await _finish_job(importer.db, job.id, "done", None, total=progress.read)
    finally:
        file.close()


def _reason(exc: Exception) -> str:
    if isinstance(exc, Problem):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:2000]


async def _finish_job(
    db: Database, job_id: str, state: str, message: str | None, **values: Any
) -> None:
    try:
        async with db.unit_of_work() as session:
            await ContactRepository(session).update_import_job(
                job_id, state=state, message=message, **values
            )
    except Exception:  # the job then shows as interrupted once it goes stale
        log.exception("could not record the end of import job %s", job_id)
