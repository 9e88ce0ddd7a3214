"""Everything the interactions service holds about one contact, for a request under GDPR
Art. 15/20 (the gateway puts the parts of every service together). Reads only."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from crm_interactions.copies.service import CopyService
from crm_interactions.interactions.schemas import InteractionPublic
from crm_interactions.personal_data.repository import PersonalDataRepository
from crm_interactions.personal_data.schemas import InteractionsPersonalData, PortalSessionPublic
from crm_interactions.procedures.schemas import ProcedurePublic
from crm_shared.events import Topic


class PersonalDataService:
    def __init__(self, session: AsyncSession, copies: CopyService) -> None:
        self._repo = PersonalDataRepository(session)
        self._copies = copies

    async def of_contact(self, contact_id: str) -> InteractionsPersonalData:
        """The contact's interactions, procedures and portal sessions, each with the
        contact as the copy has it no older than the caller has seen (empty once the
        contact was deleted)."""
        await self._copies.caught_up(Topic.CONTACTS, [contact_id])
        contact = await self._copies.contact(contact_id)
        interactions = await self._repo.interactions(contact_id)
        procedures = await self._repo.procedures(contact_id)
        sessions = await self._repo.portal_sessions(contact_id)
        return InteractionsPersonalData(
            interactions=[InteractionPublic.of(row, contact) for row in interactions],
            procedures=[ProcedurePublic.of(row, contact) for row in procedures],
            portal_sessions=[PortalSessionPublic.of(row) for row in sessions],
        )
