"""The interactions service's part of a contact's personal data."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from crm_interactions.interactions.schemas import InteractionPublic
from crm_interactions.models import PortalSession
from crm_interactions.procedures.schemas import ProcedurePublic


class PortalSessionPublic(BaseModel):
    """A portal session of the contact (its id is kept only as a hash, not shown)."""

    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, row: PortalSession) -> PortalSessionPublic:
        return cls(created_at=row.created_at, expires_at=row.expires_at)


class InteractionsPersonalData(BaseModel):
    """What the interactions service holds about a contact (its part of ``GET
    /api/contacts/{id}/personal-data``): every interaction (portal messages included)
    and procedure, and the contact's portal sessions."""

    interactions: list[InteractionPublic]
    procedures: list[ProcedurePublic]
    portal_sessions: list[PortalSessionPublic]
