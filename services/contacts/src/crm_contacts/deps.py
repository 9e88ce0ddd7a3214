"""The contacts service's dependencies, typed: the runtime, and the import jobs running in
the background (``deps.background``: cancelled at stop; their committed batches stay and
the job shows as interrupted); and the FastAPI aliases the routes take: ``Deps``,
``ContactServiceDep`` (in the request's unit of work) and ``ImportServiceDep``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from crm_contacts.copies import ContactCopies
from crm_contacts.importing.service import ImportService
from crm_contacts.service import ContactService
from crm_contacts.settings import Settings
from crm_shared.service import (
    BackgroundTasks,
    Runtime,
    ServiceDeps,
    SessionDep,
    deps_dependency,
)


@dataclass
class ContactsDeps(ServiceDeps[Settings]):
    copies: ContactCopies
    imports: ImportService

    @classmethod
    def build(cls, runtime: Runtime[Settings]) -> ContactsDeps:
        copies = ContactCopies(runtime)
        background = BackgroundTasks()
        imports = ImportService(runtime, copies, background)
        return cls(runtime, copies=copies, imports=imports, background=background)

    def contacts(self, session: AsyncSession) -> ContactService:
        """The contact rules in ``session``'s transaction."""
        return ContactService(session, self.runtime.outbox, self.copies)


Deps = Annotated[ContactsDeps, Depends(deps_dependency(ContactsDeps))]


async def _contact_service(session: SessionDep, deps: Deps) -> ContactService:
    return deps.contacts(session)


async def _import_service(deps: Deps) -> ImportService:
    return deps.imports


ContactServiceDep = Annotated[ContactService, Depends(_contact_service)]
ImportServiceDep = Annotated[ImportService, Depends(_import_service)]
