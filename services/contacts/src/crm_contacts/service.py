"""Business rules of the contacts service. Adds outbox events; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from crm_contacts.crm_lists import CrmLists
from crm_contacts.models import (
    Contact,
    ContactGroup,
    CrmSettingsCopy,
    NumberRange,
)
from crm_contacts.repository import CRM_COLUMNS, ContactRepository
from crm_contacts.schemas import (
    AssignmentIn,
    BulkRequest,
    BulkResult,
    ContactCreate,
    ContactFilter,
    ContactPublic,
    ContactUpdate,
    CrmIn,
    GroupCreate,
    GroupPublic,
    NumberRangeCreate,
    Selection,
    StatusChange,
)
from crm_shared.auth import StaffClaims
from crm_shared.errors import Conflict, NotFound, Unprocessable
from crm_shared.events import (
    Assignment,
    ContactAssigned,
    ContactCreated,
    ContactDeleted,
    ContactStatusChanged,
    ContactUpdated,
    CrmProperties,
    CrmSettingsChanged,
    GroupChanged,
    StaffRef,
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
    "address",
)


def assignment_of(contact: Contact | ContactGroup | sa.Row[Any]) -> Assignment:
    return Assignment(
        mode=contact.assignment_mode,
        staff_id=contact.assigned_staff_id,
        competence_id=contact.assigned_competence_id,
    )


def to_public(contact: Contact) -> ContactPublic:
    return ContactPublic.model_validate(
        {**contact.model_dump(), "assignment": assignment_of(contact)}
    )


def group_public(group: ContactGroup) -> GroupPublic:
    return GroupPublic.model_validate({**group.model_dump(), "assignment": assignment_of(group)})


def snapshot(contact: Contact | sa.Row[Any]) -> dict[str, Any]:
    """The whole state of a contact as carried on ContactCreated/ContactUpdated."""
    return {
        "contact_id": contact.id,
        **{name: getattr(contact, name) for name in _SNAPSHOT_FIELDS},
        "assignment": assignment_of(contact),
        "crm": CrmProperties.model_validate(contact.crm),
        "version": contact.version,
    }


def staff_ref(staff: StaffClaims | None) -> StaffRef | None:
    if staff is None:
        return None
    return StaffRef(
        staff_id=staff.staff_id, name=staff.name, initials=staff.initials, email=staff.email
    )


def crm_columns(crm: dict[str, Any]) -> dict[str, Any]:
    """The indexed columns mirrored from the CRM properties."""
    return {name: crm.get(name) for name in CRM_COLUMNS}


def validate_crm(raw: dict[str, Any], *, strict: bool = True) -> dict[str, Any]:
    """Check CRM properties against the shape of ``CrmProperties``; 422 naming the key."""
    try:
        crm = CrmIn.model_validate(raw, strict=strict)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", "crm", *e["loc"])} for e in exc.errors()]
        ) from exc
    return crm.model_dump(exclude_none=True)


def _needs_confirmation() -> Conflict:
    return Conflict(
        'making a contact a customer (Kunde) needs "confirm": true (seed 002: the change is '
        "confirmed in a dialog)",
        field="confirm",
        code="confirmation_required",
    )


_BULK_CHUNK = 1000  # contacts a bulk action loads and locks per query


def format_number(number_range: NumberRange, value: int) -> str:
    return f"{number_range.prefix}{value:0{number_range.width}d}{number_range.suffix}"


class ContactService:
    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        self.session = session
        self.repo = ContactRepository(session)
        self.outbox = outbox

    # --- contacts -------------------------------------------------------------------

    async def get(self, contact_id: str, *, for_update: bool = False) -> Contact:
        contact = await self.repo.get(contact_id, for_update=for_update)
        if contact is None:
            raise NotFound("contact", contact_id)
        return contact

    async def _ensure_number_free(self, number: str | None, contact_id: str | None) -> None:
        if number is None:
            return
        holder = await self.repo.by_customer_number(number)
        if holder is not None and holder.id != contact_id:
            raise Conflict(
                f"customer number {number} is already used",
                field="customer_number",
                code="customer_number_taken",
            )

    async def _ensure_company(self, company_id: str | None, contact_id: str | None) -> None:
        if company_id is None:
            return
        company = await self.repo.get(company_id)
        if company is None or company.kind != "company" or company.id == contact_id:
            raise Unprocessable("company_id", f"{company_id} is not a company (Geschäftspartner)")

    async def _flush(self) -> None:
        try:
            await self.session.flush()
        except IntegrityError as exc:  # a concurrent writer took the number first
            raise Conflict(
                "customer number is already used",
                field="customer_number",
                code="customer_number_taken",
            ) from exc

    async def check_assignment(self, assignment: Assignment) -> list[str]:
        """422 for an unknown staff member or competence; returns the staff to notify."""
        if assignment.mode == "staff" and assignment.staff_id:
            if not await self.repo.staff_exists(assignment.staff_id):
                raise Unprocessable(
                    "assignment.staff_id", f"unknown staff member {assignment.staff_id}"
                )
            return [assignment.staff_id]
        if assignment.mode == "competence" and assignment.competence_id:
            if not await self.repo.competence_exists(assignment.competence_id):
                raise Unprocessable(
                    "assignment.competence_id", f"unknown competence {assignment.competence_id}"
                )
            return await self.repo.competence_members(assignment.competence_id)
        return []

    @staticmethod
    def _next_version(contact: Contact) -> None:
        """Every event about a contact carries a version of its own: subscribers that keep
        the newest with a strict comparison must see each one."""
        contact.version += 1
        contact.updated_at = utcnow()

    def _emit_assigned(
        self, contact: Contact, notify: list[str], staff: StaffClaims | None
    ) -> None:
        self._next_version(contact)
        self.outbox.emit(
            self.session,
            ContactAssigned(
                contact_id=contact.id,
                contact_name=contact.name,
                assignment=assignment_of(contact),
                notify_staff_ids=notify,
                assigned_by=staff_ref(staff),
                version=contact.version,
            ),
        )

    async def create(
        self,
        data: ContactCreate,
        staff: StaffClaims | None = None,
        lists: CrmLists | None = None,
    ) -> Contact:
        """A new contact; ``lists`` (the admin lists) must be given when ``data.crm`` sets
        a value one governs."""
        if data.status == "customer" and not data.confirm:
            raise _needs_confirmation()
        await self._ensure_number_free(data.customer_number, None)
        if data.kind == "company" and data.company_id:
            raise Unprocessable("company_id", "a company is not a contact person of a company")
        await self._ensure_company(data.company_id, None)
        assignment = data.assignment or AssignmentIn()
        notify = await self.check_assignment(assignment)
        crm = data.crm.model_dump(exclude_none=True)
        if lists is not None:
            lists.check(crm)
        contact = Contact(
            **data.model_dump(exclude={"assignment", "crm", "address", "confirm"}),
            address=data.address.model_dump(exclude_none=True) if data.address else None,
            crm=crm,
            **crm_columns(crm),
            assignment_mode=assignment.mode,
            assigned_staff_id=assignment.staff_id,
            assigned_competence_id=assignment.competence_id,
        )
        self.session.add(contact)
        await self._flush()
        await self.repo.set_crm_rows(contact.id, crm)
        self.outbox.emit(self.session, ContactCreated(**snapshot(contact)))
        if assignment.mode != "all":
            self._emit_assigned(contact, notify, staff)
        return contact

    async def update(
        self,
        contact_id: str,
        data: ContactUpdate,
        staff: StaffClaims | None = None,
        lists: CrmLists | None = None,
    ) -> Contact:
        """A partial change; ``lists`` must be given when the change sets a CRM value an
        admin list governs (only the values it sets are checked)."""
        contact = await self.get(contact_id, for_update=True)
        changes = data.model_dump(exclude_unset=True)
        await self._ensure_number_free(changes.get("customer_number"), contact.id)
        if "company_id" in changes:
            await self._ensure_company(changes["company_id"], contact.id)
        if changes.get("kind") == "company" and (changes.get("company_id") or contact.company_id):
            raise Unprocessable("kind", "a contact person of a company cannot become a company")
        changed: list[str] = []
        notify: list[str] | None = None
        assignment = changes.pop("assignment", None)
        if assignment is not None:
            new = Assignment.model_validate(assignment)
            if new != assignment_of(contact):
                notify = await self.check_assignment(new)
                contact.assignment_mode = new.mode
                contact.assigned_staff_id = new.staff_id
                contact.assigned_competence_id = new.competence_id
                changed.append("assignment")
        crm_patch = changes.pop("crm", None)
        if crm_patch is not None:
            merged = {**contact.crm, **crm_patch}
            crm = validate_crm({k: v for k, v in merged.items() if v is not None})
            if lists is not None:
                lists.check(crm, only=[k for k, v in crm.items() if contact.crm.get(k) != v])
            if crm != contact.crm:
                contact.crm = crm
                for name, value in crm_columns(crm).items():
                    setattr(contact, name, value)
                await self.repo.set_crm_rows(contact.id, crm)
                changed.append("crm")
        if "address" in changes and changes["address"] is not None:
            changes["address"] = {k: v for k, v in changes["address"].items() if v is not None}
        for name, value in changes.items():
            if getattr(contact, name) != value:
                setattr(contact, name, value)
                changed.append(name)
        if not changed:
            return contact
        self._next_version(contact)
        await self._flush()
        self.outbox.emit(self.session, ContactUpdated(**snapshot(contact), changed=changed))
        if notify is not None:
            self._emit_assigned(contact, notify, staff)
        return contact

    async def change_status(
        self, contact_id: str, change: StatusChange, staff: StaffClaims | None = None
    ) -> Contact:
        contact = await self.get(contact_id, for_update=True)
        await self._set_status(contact, change.status, change.confirm, staff)
        return contact

    async def _set_status(
        self, contact: Contact, wanted: str, confirm: bool, staff: StaffClaims | None
    ) -> bool:
        """Apply the status rules; returns whether the status changed."""
        old = contact.status
        if wanted == "restore":
            if old != "archived":
                raise Conflict(f"only an archived contact can be restored (it is {old})")
            new = contact.status_before_archive or "prospect"
        else:
            new = wanted
            if new == old:
                return False
            if old == "archived":
                raise Conflict(
                    'an archived contact goes back to its status before with {"status": "restore"}'
                )
            if new == "inbox":
                raise Conflict("only imported contacts are in the inbox (Eingang)")
            if new == "customer" and not confirm:
                raise _needs_confirmation()
        contact.status_before_archive = old if new == "archived" else None
        contact.status = new
        self._next_version(contact)
        self.outbox.emit(
            self.session,
            ContactStatusChanged(
                contact_id=contact.id,
                old_status=old,
                status=new,
                changed_by=staff_ref(staff),
                version=contact.version,
            ),
        )
        # The snapshot too: consumers keeping a copy (interactions) follow the status.
        self._next_version(contact)
        self.outbox.emit(self.session, ContactUpdated(**snapshot(contact), changed=["status"]))
        return True

    async def delete(self, contact_id: str) -> None:
        contact = await self.get(contact_id, for_update=True)
        await self._delete(contact)

    async def _delete(self, contact: Contact) -> None:
        if contact.kind == "company":
            # Its contact persons stay, without the company.
            for person in await self.repo.persons_of(contact.id):
                person.company_id = None
                self._next_version(person)
                self.outbox.emit(
                    self.session, ContactUpdated(**snapshot(person), changed=["company_id"])
                )
        # its memberships end first, in its own order (same key), then the contact
        for group in await self.repo.groups_of(contact.id):
            self._emit_group(group, "members_removed", contact.id)
        await self.repo.delete(contact)
        self.outbox.emit(
            self.session, ContactDeleted(contact_id=contact.id, version=contact.version + 1)
        )

    # --- customer numbers -----------------------------------------------------------

    async def create_number_range(self, data: NumberRangeCreate) -> NumberRange:
        number_range = NumberRange(**data.model_dump())
        self.session.add(number_range)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            raise Conflict(f"a number range named {data.name} exists", field="name") from exc
        return number_range

    async def generate_customer_number(
        self, contact_id: str, range_id: str, staff: StaffClaims | None = None
    ) -> Contact:
        # The range is advanced first: on SQLite that takes the write lock at once, so
        # the transaction never has to upgrade a read lock (which could fail under load).
        for _ in range(10000):
            taken = await self.repo.take_next_value(range_id)
            if taken is None:
                raise Unprocessable("number_range_id", f"unknown number range {range_id}")
            number = format_number(*taken)
            if await self.repo.by_customer_number(number) is None:
                break  # numbers entered by hand are skipped
        else:
            raise Conflict("the number range has no free number left", field="number_range_id")
        await self.update(contact_id, ContactUpdate(customer_number=number), staff)
        return await self.get(contact_id)

    # --- groups ---------------------------------------------------------------------

    async def get_group(self, group_id: str) -> ContactGroup:
        group = await self.session.get(ContactGroup, group_id)
        if group is None:
            raise NotFound("group", group_id)
        return group

    async def create_group(self, data: GroupCreate) -> ContactGroup:
        assignment = data.assignment or AssignmentIn()
        await self.check_assignment(assignment)
        group = ContactGroup(
            name=data.name,
            number=data.number,
            kind=data.kind,
            filter=data.filter.saved() if data.filter else None,
            assignment_mode=assignment.mode,
            assigned_staff_id=assignment.staff_id,
            assigned_competence_id=assignment.competence_id,
        )
        self.session.add(group)
        await self.session.flush()
        self._emit_group(group, "created")
        if data.contact_ids:
            await self.add_members(group, data.contact_ids)
        return group

    def _emit_group(self, group: ContactGroup, action: str, contact_id: str | None = None) -> None:
        """A group's own change (keyed by the group), or one contact joining or leaving it
        (keyed by the contact, in order with the contact's other events)."""
        self.outbox.emit(
            self.session,
            GroupChanged(
                group_id=group.id,
                name=group.name,
                kind=group.kind,
                action=action,
                contact_id=contact_id,
                contact_ids=[contact_id] if contact_id else [],
            ),
        )

    async def add_members(self, group: ContactGroup, contact_ids: Sequence[str]) -> list[str]:
        if group.kind == "dynamic":
            raise Conflict("a dynamic group's members come from its filter", field="group_id")
        ids = list(dict.fromkeys(contact_ids))
        existing = set(await self.repo.existing_ids(ids))
        missing = [i for i in ids if i not in existing]
        if missing:
            raise Unprocessable("contact_ids", f"unknown contacts: {', '.join(missing[:10])}")
        added = await self.repo.add_members(group.id, ids)
        for contact_id in added:
            self._emit_group(group, "members_added", contact_id)
        return added

    async def delete_group(self, group: ContactGroup) -> None:
        await self.repo.delete_group(group)
        self._emit_group(group, "deleted")

    async def members_filter(self, group: ContactGroup) -> ContactFilter:
        return ContactFilter(group_id=group.id)

    # --- bulk -----------------------------------------------------------------------

    async def selected_ids(self, request: BulkRequest) -> list[str]:
        selection = request.selection
        if selection.contact_ids is not None:
            return await self.repo.existing_ids(list(dict.fromkeys(selection.contact_ids)))
        if selection.group_id is not None:
            await self.get_group(selection.group_id)
            return await self.repo.ids(ContactFilter(group_id=selection.group_id))
        return await self.repo.ids(selection.filter or ContactFilter())

    async def selection_query(self, selection: Selection) -> list[sa.Select[Any]]:
        """The queries of a selection's contacts (lines of ``SelectedContact``), in id
        order; 404 for an unknown group."""
        if selection.contact_ids is not None:
            ids = list(dict.fromkeys(selection.contact_ids))
            return [
                self.repo.selected(col(Contact.id).in_(ids[start : start + _BULK_CHUNK]))
                for start in range(0, len(ids), _BULK_CHUNK)
            ]
        if selection.group_id is not None:
            await self.get_group(selection.group_id)
        return [self.repo.selected(*await self.repo.filter_conditions(selection.as_filter()))]

    async def _bulk_status(self, ids: Sequence[str], action: str, staff: StaffClaims | None) -> int:
        """Archive, or accept (inbox → prospect), many contacts with one statement and
        their events in one more: what :meth:`_set_status` does for each, without an ORM
        object per contact and event (10,000 contacts in a few seconds, not minutes)."""
        archive = action == "archive"
        rows = await self.repo.set_status_of(ids, archive=archive)
        new = "archived" if archive else "prospect"
        events: list[ContactStatusChanged | ContactUpdated] = []
        for row in rows:
            events.append(
                ContactStatusChanged(
                    contact_id=row.id,
                    old_status=row.status_before_archive if archive else "inbox",
                    status=new,
                    changed_by=staff_ref(staff),
                    version=row.version - 1,
                )
            )
            events.append(ContactUpdated(**snapshot(row), changed=["status"]))
        await self.outbox.emit_many(self.session, events)
        return len(rows)

    async def used_selection(self, selection: Selection) -> None:
        """A temporary group is kept for one action: gone once it was used."""
        if selection.group_id is not None:
            group = await self.session.get(ContactGroup, selection.group_id)
            if group is not None and group.kind == "temporary":
                await self.delete_group(group)

    async def bulk(self, request: BulkRequest, staff: StaffClaims | None = None) -> BulkResult:
        ids = await self.selected_ids(request)
        changed = 0
        if request.action == "add_to_group":
            target = await self.get_group(request.group_id or "")
            changed = len(await self.add_members(target, ids)) if ids else 0
        elif request.action in ("archive", "accept"):
            for start in range(0, len(ids), _BULK_CHUNK):
                chunk = ids[start : start + _BULK_CHUNK]
                changed += await self._bulk_status(chunk, request.action, staff)
        else:
            for start in range(0, len(ids), _BULK_CHUNK):
                for contact in await self.repo.locked(ids[start : start + _BULK_CHUNK]):
                    await self._delete(contact)
                    changed += 1
        await self.used_selection(request.selection)
        return BulkResult(action=request.action, selected=len(ids), changed=changed)

    # --- import ---------------------------------------------------------------------

    # --- local copies from events ---------------------------------------------------

    async def apply_staff(self, staff_id: str, name: str, active: bool) -> None:
        await self.repo.upsert_staff(staff_id, name, active)

    async def apply_competence(self, competence_id: str, name: str, members: list[str]) -> None:
        await self.repo.upsert_competence(competence_id, name, members)

    async def apply_crm_settings(self, event: CrmSettingsChanged) -> None:
        """Keep the newest admin lists (a repeated or late announcement changes nothing)."""
        copy = await self.session.get(CrmSettingsCopy, 1)
        if copy is None:
            copy = CrmSettingsCopy(id=1, version=-1)
            self.session.add(copy)
        if event.version >= copy.version:
            copy.data = event.model_dump(mode="json", exclude={"version"})
            copy.version = event.version
        await self.session.flush()
