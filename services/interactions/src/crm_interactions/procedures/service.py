"""Business rules of procedures (Kontaktvorgänge, seed 004): planned, then done (with a
duration) or not done (with a note); a measure belongs to a campaign; a retired campaign
is not chosen any more. Adds outbox events; never commits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_interactions.copies.service import CopyService, check_contact_usable, staff_ref
from crm_interactions.models import DELETED, ContactCopy, Procedure
from crm_interactions.procedures.repository import ProcedureRepository
from crm_interactions.procedures.schemas import (
    ContactMatch,
    ContactMatches,
    ProcedureComplete,
    ProcedureCreate,
    ProcedurePage,
    ProcedurePublic,
    ProcedureState,
    ProcedureUpdate,
)
from crm_shared import cursor as cursors
from crm_shared.auth import StaffClaims
from crm_shared.errors import Conflict, NotFound, Unprocessable
from crm_shared.events import (
    ProcedureCompleted,
    ProcedurePlanned,
    ProcedureRescheduled,
    StaffRef,
    Topic,
    utcnow,
)
from crm_shared.outbox import Outbox

RESCHEDULING = ("starts_at", "responsible_id", "reminder")
SEARCH_RESULTS = 10
"""The contact search of the procedure form answers at most this many."""


class ProcedureService:
    def __init__(self, session: AsyncSession, outbox: Outbox, copies: CopyService) -> None:
        self._session = session
        self._repo = ProcedureRepository(session)
        self._outbox = outbox
        self._copies = copies

    async def _get(self, procedure_id: str) -> Procedure:
        procedure = await self._repo.procedure(procedure_id)
        if procedure is None:
            raise NotFound("procedure", procedure_id)
        return procedure

    async def _public(self, procedure: Procedure) -> ProcedurePublic:
        return ProcedurePublic.of(procedure, await self._copies.contact(procedure.contact_id))

    # --- reads --------------------------------------------------------------------------

    async def get(self, procedure_id: str) -> ProcedurePublic:
        return await self._public(await self._get(procedure_id))

    async def page(
        self,
        *,
        contact_id: str | None,
        state: ProcedureState | None,
        responsible_id: str | None,
        cursor: str | None,
        limit: int,
    ) -> ProcedurePage:
        """A keyset page of procedures (of a contact, in a state, of a responsible) by
        start time, then id; each with its contact as the copy has it now."""
        await self._copies.caught_up(Topic.CONTACTS, [contact_id] if contact_id else None)
        rows = await self._repo.page(
            contact_id=contact_id,
            state=state,
            responsible_id=responsible_id,
            after=cursors.keyset(cursor, datetime, str),
            limit=limit + 1,
        )
        contacts = await self._copies.contacts({row.contact_id for row in rows})
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = cursors.encode(last.starts_at, last.id)
        return ProcedurePage(
            items=[ProcedurePublic.of(row, contacts.get(row.contact_id)) for row in rows[:limit]],
            next_cursor=next_cursor,
        )

    async def search_contacts(self, q: str, kind: str | None) -> ContactMatches:
        """Autocomplete for the procedure form (seed 004): up to two terms, each must be in
        the name (case-insensitive), at most ten results; ``kind`` only persons or
        companies (a person's company is chosen from companies)."""
        terms = q.split()
        if not terms:
            raise Unprocessable("q", "enter a name to search for")
        if len(terms) > 2:
            raise Unprocessable("q", "search with at most two terms")
        await self._copies.caught_up(Topic.CONTACTS)
        rows = await self._copies.search_contacts(terms, SEARCH_RESULTS, kind=kind)
        return ContactMatches(items=[ContactMatch.of(row) for row in rows])

    # --- checks -------------------------------------------------------------------------

    async def _check_contact_person(self, contact: ContactCopy, person_id: str | None) -> None:
        """A contact person is the contact itself or one of the company's persons."""
        if person_id is None or person_id == contact.contact_id:
            return
        person = await self._copies.contact(person_id)
        if person is None or person.status == DELETED:
            raise Unprocessable("contact_person_id", f"unknown contact person {person_id}")
        if person.company_id != contact.contact_id:
            raise Unprocessable(
                "contact_person_id",
                f"{person.name} is not a contact person of {contact.name}",
            )

    async def _check_responsible(self, responsible_id: str | None) -> None:
        if responsible_id is None:
            return None
        staff = await self._copies.staff(responsible_id)
        if staff is None or not staff.active:
            raise Unprocessable("responsible_id", f"unknown staff member {responsible_id}")

    async def _check_campaign(self, campaign_id: str | None) -> None:
        """Only a known, not retired campaign can be chosen (seed 004)."""
        if campaign_id is None:
            return
        campaign = await self._copies.campaign(campaign_id)
        if campaign is None:
            raise Unprocessable("campaign_id", f"unknown campaign {campaign_id}")
        if campaign.retired:
            raise Unprocessable(
                "campaign_id",
                f"the campaign {campaign.name} is retired and cannot be chosen any more",
                code="campaign_retired",
            )

    @staticmethod
    def _check_measure_has_campaign(procedure_type: str, campaign_id: str | None) -> None:
        if procedure_type == "measure" and not campaign_id:
            raise Unprocessable(
                "campaign_id",
                "a measure (Maßnahme) belongs to a campaign: set campaign_id before completing it",
                code="measure_needs_campaign",
            )

    # --- changes ------------------------------------------------------------------------

    async def plan(self, data: ProcedureCreate, staff: StaffClaims) -> ProcedurePublic:
        """A procedure for a contact not in the inbox or archived, created ``planned``
        (duration 0) or ``done``, its references as current as the caller has seen."""
        contact = await self._copies.contact_for_caller(data.contact_id)
        await self._copies.references_caught_up(
            data.campaign_id, data.responsible_id, data.contact_person_id
        )
        check_contact_usable(contact, "procedures")
        if data.state == "planned" and data.duration_minutes != 0:
            raise Unprocessable(
                "duration_minutes",
                "a planned procedure has duration 0 (00:00) until it is done",
                code="planned_without_duration",
            )
        if data.state == "done":
            self._check_measure_has_campaign(data.type, data.campaign_id)
        await self._check_contact_person(contact, data.contact_person_id)
        await self._check_responsible(data.responsible_id)
        await self._check_campaign(data.campaign_id)
        now = utcnow()
        procedure = Procedure(
            **data.model_dump(exclude={"contact_person_id", "starts_at"}),
            starts_at=data.starts_at.astimezone(UTC),
            contact_person_id=data.contact_person_id
            or (contact.contact_id if contact.kind == "person" else None),
            created_by_id=staff.staff_id,
            created_by_name=staff.name,
            created_by_initials=staff.initials,
            created_by_email=staff.email,
            completed_at=now if data.state == "done" else None,
            completed_by_id=staff.staff_id if data.state == "done" else None,
        )
        self._session.add(procedure)
        await self._session.flush()
        self._outbox.emit(self._session, ProcedurePlanned(**await self._data(procedure, contact)))
        return ProcedurePublic.of(procedure, contact)

    async def update(self, procedure_id: str, data: ProcedureUpdate) -> ProcedurePublic:
        """A change of a planned procedure (409 once completed); start, responsible and
        reminder reschedule it."""
        await self._copies.references_caught_up(
            data.campaign_id, data.responsible_id, data.contact_person_id
        )
        procedure = await self._get(procedure_id)
        changes = {
            name: value
            for name, value in data.model_dump(exclude_unset=True).items()
            if getattr(procedure, name) != value
        }
        if not changes:
            return await self._public(procedure)
        if procedure.state != "planned":
            raise Conflict(
                f"the procedure is completed ({procedure.state}); only planned ones change",
                field="state",
            )
        contact = await self._copies.contact(procedure.contact_id)
        if contact is None:
            raise NotFound("contact", procedure.contact_id)
        check_contact_usable(contact, "procedures")
        if "contact_person_id" in changes:
            await self._check_contact_person(contact, changes["contact_person_id"])
        if "responsible_id" in changes:
            await self._check_responsible(changes["responsible_id"])
        if changes.get("campaign_id"):
            await self._check_campaign(changes["campaign_id"])
        old_starts_at = procedure.starts_at
        if changes.get("starts_at") is not None:
            changes["starts_at"] = changes["starts_at"].astimezone(UTC)
        for name, value in changes.items():
            setattr(procedure, name, value)
        procedure.updated_at = utcnow()
        await self._session.flush()
        # A planned procedure's change goes out as ProcedureRescheduled with the whole new
        # state: the reminders service keeps its reminder (time, person, subject) in step.
        self._outbox.emit(
            self._session,
            ProcedureRescheduled(
                **await self._data(procedure, contact),
                old_starts_at=old_starts_at,
                changed=sorted(changes),
            ),
        )
        return ProcedurePublic.of(procedure, contact)

    async def complete(
        self, procedure_id: str, data: ProcedureComplete, staff: StaffClaims
    ) -> ProcedurePublic:
        """Only a planned procedure is completed (409 otherwise): ``done`` with its
        duration (and maybe another start), ``not_done`` with a note and no other change."""
        procedure = await self._get(procedure_id)
        if procedure.state != "planned":
            raise Conflict(f"the procedure is already completed ({procedure.state})", field="state")
        self._check_measure_has_campaign(procedure.type, procedure.campaign_id)
        if data.outcome == "done":
            if data.duration_minutes is None:
                raise Unprocessable(
                    "duration_minutes", "set the duration of the procedure to complete it as done"
                )
            procedure.duration_minutes = data.duration_minutes
            if data.starts_at is not None:
                procedure.starts_at = data.starts_at.astimezone(UTC)
        else:  # not_done: still completed, no contact data changed (seed 004)
            for name in ("duration_minutes", "starts_at"):
                if getattr(data, name) is not None:
                    raise Unprocessable(
                        name, "a procedure that was not done keeps its data; give a note only"
                    )
        procedure.state = data.outcome
        procedure.note = data.note
        procedure.completed_at = procedure.updated_at = utcnow()
        procedure.completed_by_id = staff.staff_id
        await self._session.flush()
        contact = await self._copies.contact(procedure.contact_id)
        self._outbox.emit(
            self._session,
            ProcedureCompleted(
                **await self._data(procedure, contact),
                outcome=data.outcome,
                note=data.note,
                completed_by=staff.ref(),
            ),
        )
        return ProcedurePublic.of(procedure, contact)

    async def _data(self, procedure: Procedure, contact: ContactCopy | None) -> dict[str, Any]:
        responsible = (
            await self._copies.staff(procedure.responsible_id) if procedure.responsible_id else None
        )
        return {
            "procedure_id": procedure.id,
            "contact_id": procedure.contact_id,
            "contact_person_id": procedure.contact_person_id,
            "responsible_id": procedure.responsible_id,
            "created_by": StaffRef(
                staff_id=procedure.created_by_id,
                name=procedure.created_by_name,
                initials=procedure.created_by_initials,
                email=procedure.created_by_email,
            ),
            "type": procedure.type,
            "direction": procedure.direction,
            "state": procedure.state,
            "starts_at": procedure.starts_at,
            "duration_minutes": procedure.duration_minutes,
            "reminder": procedure.reminder,
            "subject": procedure.subject,
            "description": procedure.description,
            "campaign_id": procedure.campaign_id,
            "contact_name": contact.name if contact else None,
            "responsible": staff_ref(responsible) if responsible else None,
        }
