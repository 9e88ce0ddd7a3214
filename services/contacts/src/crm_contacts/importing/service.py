"""The CSV import as the routes use it: an import answered when done, an import job
started in the background, and a job's progress. Unlike ``ContactService`` it commits:
each batch of rows is a unit of work of its own, so the good rows of a large file are
kept as they are written (see ``pipeline.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from crm_contacts.copies import ContactCopies
from crm_contacts.importing.jobs import create_job, read_header, run_job, spool
from crm_contacts.importing.pipeline import Importer
from crm_contacts.models import ImportJob
from crm_contacts.repository import ContactRepository
from crm_contacts.schemas import ImportJobPublic, ImportResult
from crm_contacts.settings import Settings
from crm_shared.errors import NotFound
from crm_shared.service import BackgroundTasks, Runtime


class ImportService:
    def __init__(
        self, runtime: Runtime[Settings], copies: ContactCopies, background: BackgroundTasks
    ) -> None:
        self._runtime = runtime
        self._copies = copies
        self._background = background

    def _importer(self) -> Importer:
        runtime = self._runtime  # its database exists once the service runs
        return Importer(
            runtime.database, runtime.outbox, self._copies, runtime.settings.import_batch_size
        )

    async def import_csv(
        self, chunks: AsyncIterator[bytes], *, after_line: int, charset: str | None = None
    ) -> ImportResult:
        """Import a CSV stream now: ``inbox`` contacts from the good rows, the bad ones
        reported by line (the header is line 1); ``charset`` as the request declares it."""
        progress = await self._importer().run(chunks, after_line=after_line, charset=charset)
        return ImportResult.of(progress.created, progress.errors)

    async def start_job(
        self,
        chunks: AsyncIterator[bytes],
        *,
        after_line: int,
        staff_id: str | None,
        charset: str | None = None,
    ) -> ImportJob:
        """Store the body, check its header (422 now), and import it in the background."""
        file, lines = await spool(chunks)
        try:
            read_header(file, charset)
            job = await create_job(
                self._runtime.database,
                total=max(lines - after_line, 0),
                after_line=after_line,
                staff_id=staff_id,
            )
        except BaseException:
            file.close()
            raise
        self._background.spawn(
            run_job(self._importer(), job, file, charset), name=f"import-{job.id}"
        )
        return job

    async def job(self, job_id: str) -> ImportJobPublic:
        """An import job's progress; 404 for an unknown one."""
        async with self._runtime.database.sessionmaker() as session:
            job = await ContactRepository(session).import_job(job_id)
            if job is None:
                raise NotFound("import job", job_id)
            return ImportJobPublic.of(job)
