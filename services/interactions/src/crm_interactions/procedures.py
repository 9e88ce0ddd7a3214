"""Business rules of procedures (Kontaktvorgänge, seed 004). Adds outbox events; never
commits."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_interactions.models import ContactCopy, Procedure, StaffCopy
from crm_interactions.repository import InteractionRepository
from crm_interactions.schemas import (
    ProcedureComplete,
    ProcedureCreate,
    ProcedurePublic,
    ProcedureUpdate,
    RecorderPublic,
)
from crm_interactions.service import check_contact_usable, contact_summary
from crm_shared.auth import StaffClaims
from crm_shared.errors import Conflict, NotFound, Unprocessable
from crm_shared.events import (
    ProcedureCompleted,
    ProcedurePlanned,
    ProcedureRescheduled,
    StaffRef,
    utcnow,
)
from crm_shared.outbox import Outbox

RESCHEDULING = ("starts_at", "responsible_id", "reminder")


def to_public(procedure: Procedure, contact: ContactCopy | None) -> ProcedurePublic:
    return ProcedurePublic.model_validate(
        {
            **procedure.model_dump(),
            "created_by": RecorderPublic(
                staff_id=procedure.created_by_id,
                name=procedure.created_by_name,
                initials=procedure.created_by_initials,
                email=procedure.created_by_email,
            ),
            "contact": contact_summary(contact, None),
        }
    )


def _ref(staff: StaffCopy | None) -> StaffRef | None:
    if staff is None:
        return None
    return StaffRef(
        staff_id=staff.staff_id, name=staff.name, initials=staff.initials, email=staff.email
    )


class ProcedureService:
    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        self.session = session
        self.repo = InteractionRepository(session)
        self.outbox = outbox

    async def get(self, procedure_id: str) -> Procedure:
        procedure = await self.repo.procedure(procedure_id)
        if procedure is None:
            raise NotFound("procedure", procedure_id)
        return procedure

    # --- checks -------------------------------------------------------------------------

    async def _check_contact_person(self, contact: ContactCopy, person_id: str | None) -> None:
        """A contact person is the contact itself or one of the company's persons."""
        if person_id is None or person_id == contact.contact_id:
            return
        person = await self.repo.contact(person_id)
        if person is None or person.status == "deleted":
            raise Unprocessable("contact_person_id", f"unknown contact person {person_id}")
        if person.company_id != contact.contact_id:
            raise Unprocessable(
                "contact_person_id",
                f"{person.name} is not a contact person of {contact.name}",
            )

    async def _check_responsible(self, responsible_id: str | None) -> StaffCopy | None:
        if responsible_id is None:
            return None
        staff = await self.repo.staff(responsible_id)
        if staff is None or not staff.active:
            raise Unprocessable("responsible_id", f"unknown staff member {responsible_id}")
        return staff

    async def _check_campaign(self, campaign_id: str | None) -> None:
        """Only a known, not retired campaign can be chosen (seed 004)."""
        if campaign_id is None:
            return
        campaign = await self.repo.campaign(campaign_id)
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

    async def plan(
        self, data: ProcedureCreate, staff: StaffClaims, contact: ContactCopy
    ) -> Procedure:
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
        self.session.add(procedure)
        await self.session.flush()
        self.outbox.emit(self.session, ProcedurePlanned(**await self._data(procedure, contact)))
        return procedure

    async def update(self, procedure_id: str, data: ProcedureUpdate) -> Procedure:
        procedure = await self.get(procedure_id)
        changes = {
            name: value
            for name, value in data.model_dump(exclude_unset=True).items()
            if getattr(procedure, name) != value
        }
        if not changes:
            return procedure
        if procedure.state != "planned":
            raise Conflict(
                f"the procedure is completed ({procedure.state}); only planned ones change",
                field="state",
            )
        if "subject" in changes and changes["subject"] is None:
            raise Unprocessable("subject", "a procedure needs a subject")
        for required in ("type", "direction", "starts_at", "reminder"):
            if required in changes and changes[required] is None:
                raise Unprocessable(required, "this field cannot be emptied")
        contact = await self.repo.contact(procedure.contact_id)
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
        await self.session.flush()
        # A planned procedure's change goes out as ProcedureRescheduled with the whole new
        # state: the reminders service keeps its reminder (time, person, subject) in step.
        self.outbox.emit(
            self.session,
            ProcedureRescheduled(
                **await self._data(procedure, contact),
                old_starts_at=old_starts_at,
                changed=sorted(changes),
            ),
        )
        return procedure

    async def complete(
        self, procedure_id: str, data: ProcedureComplete, staff: StaffClaims
    ) -> Procedure:
        procedure = await self.get(procedure_id)
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
        await self.session.flush()
        contact = await self.repo.contact(procedure.contact_id)
        self.outbox.emit(
            self.session,
            ProcedureCompleted(
                **await self._data(procedure, contact),
                outcome=data.outcome,
                note=data.note,
                completed_by=staff.ref(),
            ),
        )
        return procedure

    async def _data(self, procedure: Procedure, contact: ContactCopy | None) -> dict[str, Any]:
        responsible = (
            await self.repo.staff(procedure.responsible_id) if procedure.responsible_id else None
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
            "responsible": _ref(responsible),
        }
