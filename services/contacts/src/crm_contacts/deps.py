"""The contacts service's dependencies, typed: the runtime, and the import jobs running in
the background (``deps.background``: cancelled at stop; their committed batches stay and
the job shows as interrupted)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from crm_contacts.settings import Settings
from crm_shared.service import Runtime, ServiceDeps, deps_dependency


@dataclass
class ContactsDeps(ServiceDeps[Settings]):
    @classmethod
    def build(cls, runtime: Runtime[Settings]) -> ContactsDeps:
        return cls(runtime)


Deps = Annotated[ContactsDeps, Depends(deps_dependency(ContactsDeps))]
