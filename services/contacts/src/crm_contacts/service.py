"""Business rules of the contacts service. Adds outbox events; never commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_contacts.models import Contact
from crm_contacts.repository import ContactRepository
from crm_contacts.schemas import ContactCreate, ContactPublic, ContactUpdate
from crm_shared.errors import Conflict, NotFound
from crm_shared.events import (
    Assignment,
    ContactCreated,
    ContactDeleted,
    ContactUpdated,
    CrmProperties,
    utcnow,
)
from crm_shared.outbox import Outbox

_SNAPSHOT_FIELDS = (
    "kind",
    "name",
    "email",
    "phone",
    "language",
    "status",
    "company_id",
    "customer_number",
    "credit_hold",
)


def assignment_of(contact: Contact) -> Assignment:
    return Assignment(
        mode=contact.assignment_mode,
        staff_id=contact.assigned_staff_id,
        competence_id=contact.assigned_competence_id,
    )


def to_public(contact: Contact) -> ContactPublic:
    return ContactPublic.model_validate(
        {**contact.model_dump(), "assignment": assignment_of(contact)}
    )


def _snapshot(contact: Contact) -> dict[str, Any]:
    return {
        "contact_id": contact.id,
        **{name: getattr(contact, name) for name in _SNAPSHOT_FIELDS},
        "assignment": assignment_of(contact),
        "crm": CrmProperties.model_validate(contact.crm),
        "version": contact.version,
    }


class ContactService:
    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        self.session = session
        self.repo = ContactRepository(session)
        self.outbox = outbox

    async def get(self, contact_id: str) -> Contact:
        contact = await self.repo.get(contact_id)
        if contact is None:
            raise NotFound("contact", contact_id)
        return contact

    async def _ensure_number_free(self, number: str | None, contact_id: str | None) -> None:
        if number is None:
            return
        holder = await self.repo.by_customer_number(number)
        if holder is not None and holder.id != contact_id:
            raise Conflict(f"customer number {number} is already used", field="customer_number")

    async def _flush(self) -> None:
        try:
            await self.session.flush()
        except IntegrityError as exc:  # a concurrent writer took the number first
            raise Conflict("customer number is already used", field="customer_number") from exc

    async def create(self, data: ContactCreate) -> Contact:
        await self._ensure_number_free(data.customer_number, None)
        assignment = data.assignment or Assignment()
        contact = Contact(
            **data.model_dump(exclude={"assignment"}),
            assignment_mode=assignment.mode,
            assigned_staff_id=assignment.staff_id,
            assigned_competence_id=assignment.competence_id,
        )
        self.session.add(contact)
        await self._flush()
        self.outbox.emit(self.session, ContactCreated(**_snapshot(contact)))
        return contact

    async def update(self, contact_id: str, data: ContactUpdate) -> Contact:
        contact = await self.get(contact_id)
        changes = data.model_dump(exclude_unset=True)
        await self._ensure_number_free(changes.get("customer_number"), contact.id)
        changed: list[str] = []
        assignment = changes.pop("assignment", None)
        if assignment is not None:
            new = Assignment.model_validate(assignment)
            if new != assignment_of(contact):
                contact.assignment_mode = new.mode
                contact.assigned_staff_id = new.staff_id
                contact.assigned_competence_id = new.competence_id
                changed.append("assignment")
        for name, value in changes.items():
            if getattr(contact, name) != value:
                setattr(contact, name, value)
                changed.append(name)
        if not changed:
            return contact
        contact.version += 1
        contact.updated_at = utcnow()
        await self._flush()
        self.outbox.emit(self.session, ContactUpdated(**_snapshot(contact), changed=changed))
        return contact

    async def delete(self, contact_id: str) -> None:
        contact = await self.get(contact_id)
        await self.repo.delete(contact)
        self.outbox.emit(self.session, ContactDeleted(contact_id=contact_id))
