"""Business rules of the contacts service: contacts, their status, assignment and
customer numbers, groups and bulk actions, and the local copies kept from other services'
events. Owns its repository; adds outbox events; never commits. The rules the import
shares are in ``rules.py``; the CSV import is the package ``importing``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import sqlalchemy as sa
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from crm_contacts import rules
from crm_contacts.copies import ContactCopies
from crm_contacts.crm_lists import CrmLists
from crm_contacts.models import Contact, ContactGroup, CrmSettingsCopy, NumberRange
from crm_contacts.repository import CRM_COLUMNS, HISTORY_COPY_FIELDS, ContactRepository
from crm_contacts.schemas import (
    EXPORT_FIELDS,
    AssignmentIn,
    BulkRequest,
    BulkResult,
    ContactCreate,
    ContactFilter,
    ContactPage,
    ContactPersonalData,
    ContactPublic,
    ContactUpdate,
    CrmIn,
    GroupCreate,
    GroupPage,
    GroupPublic,
    NumberRangeCreate,
    NumberRangePage,
    NumberRangePublic,
    Selection,
    StatusChange,
    assignment_of,
    export_row,
    snapshot,
    staff_ref,
)
from crm_shared import cursor as cursors
from crm_shared.auth import StaffClaims
from crm_shared.csv_export import csv_text
from crm_shared.db import Database
from crm_shared.errors import Conflict, NotFound, Unprocessable
from crm_shared.events import (
    Assignment,
    CompetenceChanged,
    ContactAssigned,
    ContactCreated,
    ContactDeleted,
    ContactStatusChanged,
    ContactUpdated,
    CrmSettingsChanged,
    GroupChanged,
    HistoryEntryData,
    StaffData,
    utcnow,
)
from crm_shared.outbox import Outbox
from crm_shared.paging import page_of
from crm_shared.selections import SelectedContact, SelectionEnd

_BULK_CHUNK = 1000  # contacts a bulk action loads and locks per query
EXPORT_PAGE = 1000  # contacts the CSV export reads per query


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


def format_number(number_range: NumberRange, value: int) -> str:
    return f"{number_range.prefix}{value:0{number_range.width}d}{number_range.suffix}"


class ContactService:
    """The rules of contacts, groups and number ranges, in the caller's transaction.

    ``copies`` waits for the copies a request reads to be as current as its caller has
    seen (assignees, the CRM admin lists, the filters' copies); without it (consumers,
    tests of the rules) the copies are read as they are and CRM values are not checked
    against the admin lists."""

    def __init__(
        self, session: AsyncSession, outbox: Outbox, copies: ContactCopies | None = None
    ) -> None:
        self._session = session
        self._repo = ContactRepository(session)
        self._outbox = outbox
        self._copies = copies

    # --- copies as current as the caller has seen ----------------------------------

    async def _wait_for_assignee(self, assignment: Assignment | None) -> None:
        if self._copies is not None:
            await self._copies.wait_for_assignee(assignment)

    async def _wait_for_filter(self, f: ContactFilter) -> None:
        if self._copies is not None:
            await self._copies.wait_for_filter(f)

    async def _crm_lists(self, crm: dict[str, Any] | None) -> CrmLists | None:
        return await self._copies.crm_lists(crm) if self._copies is not None else None

    # --- contacts -------------------------------------------------------------------

    async def get(self, contact_id: str, *, for_update: bool = False) -> Contact:
        contact = await self._repo.get(contact_id, for_update=for_update)
        if contact is None:
            raise NotFound("contact", contact_id)
        return contact

    async def personal_data(self, contact_id: str) -> ContactPersonalData:
        """Everything this service holds about a contact (GDPR Art. 15/20); 404 for an
        unknown or deleted one."""
        contact = await self.get(contact_id)
        groups = await self._repo.groups_of(contact.id)
        return ContactPersonalData(
            contact=ContactPublic.of(contact), groups=[GroupPublic.of(g) for g in groups]
        )

    async def page(self, f: ContactFilter, cursor: str | None, limit: int) -> ContactPage:
        """A page of the contacts matching ``f`` in list order (lower(name), id), after
        ``cursor``."""
        await self._wait_for_filter(f)
        rows = await self._repo.page(f, after=cursors.keyset(cursor, str, str), limit=limit + 1)
        last = rows[limit - 1] if len(rows) > limit else None
        return ContactPage(
            items=[ContactPublic.of(c) for c, _ in rows[:limit]],
            next_cursor=cursors.encode(last[1], last[0].id) if last else None,
        )

    async def _ensure_number_free(self, number: str | None, contact_id: str | None) -> None:
        if number is not None and await rules.numbers_taken(
            self._repo, [number], holder=contact_id
        ):
            raise rules.number_taken(number)

    async def _ensure_company(self, company_id: str | None, contact_id: str | None) -> None:
        if company_id is not None and not await rules.companies(
            self._repo, [company_id], contact_id=contact_id
        ):
            raise rules.not_a_company(company_id)

    async def _flush(self) -> None:
        try:
            await self._repo.flush()
        except IntegrityError as exc:  # a concurrent writer took the number first
            raise rules.number_taken() from exc

    async def check_assignment(self, assignment: Assignment) -> list[str]:
        """422 for an unknown staff member or competence; returns the staff to notify."""
        if assignment.mode == "staff" and assignment.staff_id:
            if not await self._repo.staff_exists(assignment.staff_id):
                raise Unprocessable(
                    "assignment.staff_id", f"unknown staff member {assignment.staff_id}"
                )
            return [assignment.staff_id]
        if assignment.mode == "competence" and assignment.competence_id:
            if not await self._repo.competence_exists(assignment.competence_id):
                raise Unprocessable(
                    "assignment.competence_id", f"unknown competence {assignment.competence_id}"
                )
            return await self._repo.competence_members(assignment.competence_id)
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
        self._outbox.emit(
            self._session,
            ContactAssigned(
                contact_id=contact.id,
                contact_name=contact.name,
                assignment=assignment_of(contact),
                notify_staff_ids=notify,
                assigned_by=staff_ref(staff),
                version=contact.version,
            ),
        )

    async def create(self, data: ContactCreate, staff: StaffClaims | None = None) -> Contact:
        """A new contact; CRM values an admin list governs are checked against it."""
        await self._wait_for_assignee(data.assignment)
        lists = await self._crm_lists(data.crm.model_dump(exclude_none=True))
        rules.confirm_customer(data.status, data.confirm)
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
        try:
            await self._repo.add(contact)
        except IntegrityError as exc:  # a concurrent writer took the number first
            raise rules.number_taken() from exc
        await self._repo.set_crm_rows(contact.id, crm)
        self._outbox.emit(
            self._session, ContactCreated(**snapshot(contact), actor=staff_ref(staff))
        )
        if assignment.mode != "all":
            self._emit_assigned(contact, notify, staff)
        return contact

    async def update(
        self, contact_id: str, data: ContactUpdate, staff: StaffClaims | None = None
    ) -> Contact:
        """A partial change; of the CRM values an admin list governs, only those the
        change sets are checked against it."""
        await self._wait_for_assignee(data.assignment)
        lists = await self._crm_lists(data.crm)
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
                await self._repo.set_crm_rows(contact.id, crm)
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
        self._outbox.emit(
            self._session,
            ContactUpdated(**snapshot(contact), changed=changed, actor=staff_ref(staff)),
        )
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
        new = rules.status_after(
            old, wanted, confirm=confirm, before_archive=contact.status_before_archive
        )
        if new is None:
            return False
        contact.status_before_archive = old if new == "archived" else None
        contact.status = new
        self._next_version(contact)
        self._outbox.emit(
            self._session,
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
        self._outbox.emit(
            self._session,
            ContactUpdated(**snapshot(contact), changed=["status"], actor=staff_ref(staff)),
        )
        return True

    async def delete(self, contact_id: str, staff: StaffClaims | None = None) -> None:
        contact = await self.get(contact_id, for_update=True)
        await self._delete(contact, staff)

    async def _delete(self, contact: Contact, staff: StaffClaims | None = None) -> None:
        if contact.kind == "company":
            # Its contact persons stay, without the company.
            for person in await self._repo.persons_of(contact.id):
                person.company_id = None
                self._next_version(person)
                self._outbox.emit(
                    self._session,
                    ContactUpdated(
                        **snapshot(person), changed=["company_id"], actor=staff_ref(staff)
                    ),
                )
        # its memberships end first, in its own order (same key), then the contact
        for group in await self._repo.groups_of(contact.id):
            self._emit_group(group, "members_removed", contact.id)
        await self._repo.delete(contact)
        self._outbox.emit(
            self._session,
            ContactDeleted(
                contact_id=contact.id, version=contact.version + 1, actor=staff_ref(staff)
            ),
        )

    async def export_csv(self, f: ContactFilter, db: Database) -> AsyncIterator[str]:
        """The CSV export of the contacts matching ``f`` (a header line first, formulas
        escaped: ``crm_shared.csv_export``), a page of
        ``EXPORT_PAGE`` contacts per piece of text.

        Streamed after the request's unit of work has ended, so each page is read in a
        session of its own on ``db`` (one transaction for the whole download would hold
        the database's snapshot as long as the client reads)."""
        await self._wait_for_filter(f)
        return self._export_pages(f, db)

    async def _export_pages(self, f: ContactFilter, db: Database) -> AsyncIterator[str]:
        header: list[Sequence[str]] = [EXPORT_FIELDS]
        after: tuple[str, str] | None = None
        while True:
            async with db.sessionmaker() as session:
                page = await ContactRepository(session).page(f, after=after, limit=EXPORT_PAGE)
            yield csv_text([*header, *(export_row(contact) for contact, _ in page)])
            header = []
            if len(page) < EXPORT_PAGE:
                return
            after = (page[-1][1], page[-1][0].id)

    # --- customer numbers -----------------------------------------------------------

    async def number_ranges(self, cursor: str | None, limit: int) -> NumberRangePage:
        """A page of the number ranges by (name, id), after ``cursor``."""
        after = cursors.keyset(cursor, str, str)
        rows = await self._repo.number_ranges(after=after, limit=limit + 1)
        kept, next_cursor = page_of(rows, limit, lambda r: (r.name, r.id))
        return NumberRangePage(
            items=[NumberRangePublic.of(r) for r in kept], next_cursor=next_cursor
        )

    async def create_number_range(self, data: NumberRangeCreate) -> NumberRange:
        number_range = NumberRange(**data.model_dump())
        try:
            await self._repo.add(number_range)
        except IntegrityError as exc:
            raise Conflict(f"a number range named {data.name} exists", field="name") from exc
        return number_range

    async def generate_customer_number(
        self, contact_id: str, range_id: str, staff: StaffClaims | None = None
    ) -> Contact:
        # The range is advanced first: on SQLite that takes the write lock at once, so
        # the transaction never has to upgrade a read lock (which could fail under load).
        for _ in range(10000):
            taken = await self._repo.take_next_value(range_id)
            if taken is None:
                raise Unprocessable("number_range_id", f"unknown number range {range_id}")
            number = format_number(*taken)
            if not await rules.numbers_taken(self._repo, [number]):
                break  # numbers entered by hand are skipped
        else:
            raise Conflict("the number range has no free number left", field="number_range_id")
        await self.update(contact_id, ContactUpdate(customer_number=number), staff)
        return await self.get(contact_id)

    # --- groups ---------------------------------------------------------------------

    async def get_group(self, group_id: str) -> ContactGroup:
        group = await self._repo.group(group_id)
        if group is None:
            raise NotFound("group", group_id)
        return group

    async def groups_page(self, cursor: str | None, limit: int) -> GroupPage:
        """A page of the groups (temporary ones aside) by (name, id), after ``cursor``."""
        rows = await self._repo.groups(after=cursors.keyset(cursor, str, str), limit=limit + 1)
        last = rows[limit - 1] if len(rows) > limit else None
        return GroupPage(
            items=[GroupPublic.of(g) for g in rows[:limit]],
            next_cursor=cursors.encode(last.name, last.id) if last else None,
        )

    async def members_page(self, group_id: str, cursor: str | None, limit: int) -> ContactPage:
        """A page of a group's members in list order; 404 for an unknown group."""
        await self.get_group(group_id)
        return await self.page(ContactFilter(group_id=group_id), cursor, limit)

    async def create_group(self, data: GroupCreate) -> ContactGroup:
        await self._wait_for_assignee(data.assignment)
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
        await self._repo.add(group)
        self._emit_group(group, "created")
        if data.contact_ids:
            await self.add_members(group, data.contact_ids)
        return group

    def _emit_group(self, group: ContactGroup, action: str, contact_id: str | None = None) -> None:
        """A group's own change (keyed by the group), or one contact joining or leaving it
        (keyed by the contact, in order with the contact's other events)."""
        self._outbox.emit(
            self._session,
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
        existing = set(await self._repo.existing_ids(ids))
        missing = [i for i in ids if i not in existing]
        if missing:
            raise Unprocessable("contact_ids", f"unknown contacts: {', '.join(missing[:10])}")
        added = await self._repo.add_members(group.id, ids)
        for contact_id in added:
            self._emit_group(group, "members_added", contact_id)
        return added

    async def add_members_to(self, group_id: str, contact_ids: Sequence[str]) -> list[str]:
        """Add contacts to the group ``group_id`` (404 if unknown); returns those added."""
        return await self.add_members(await self.get_group(group_id), contact_ids)

    async def delete_group(self, group: ContactGroup) -> None:
        await self._repo.delete_group(group)
        self._emit_group(group, "deleted")

    async def delete_group_by_id(self, group_id: str) -> None:
        await self.delete_group(await self.get_group(group_id))

    # --- bulk -----------------------------------------------------------------------

    async def selected_ids(self, request: BulkRequest) -> list[str]:
        selection = request.selection
        if selection.contact_ids is not None:
            return await self._repo.existing_ids(list(dict.fromkeys(selection.contact_ids)))
        if selection.group_id is not None:
            await self.get_group(selection.group_id)
            return await self._repo.ids(ContactFilter(group_id=selection.group_id))
        return await self._repo.ids(selection.filter or ContactFilter())

    async def selection_query(self, selection: Selection) -> list[sa.Select[Any]]:
        """The queries of a selection's contacts (lines of ``SelectedContact``), in id
        order; 404 for an unknown group."""
        if selection.contact_ids is not None:
            ids = list(dict.fromkeys(selection.contact_ids))
            return [
                self._repo.selected(col(Contact.id).in_(ids[start : start + _BULK_CHUNK]))
                for start in range(0, len(ids), _BULK_CHUNK)
            ]
        if selection.group_id is not None:
            await self.get_group(selection.group_id)
        return [self._repo.selected(*await self._repo.filter_conditions(selection.as_filter()))]

    async def resolve_selection(self, selection: Selection, db: Database) -> AsyncIterator[bytes]:
        """The contacts a selection holds now: one ``SelectedContact`` JSON line each, in
        id order, then ``{"count": N}``; a temporary group is used up at the end. Unknown
        groups are a 404 before anything is streamed.

        A selection may hold 100,000 contacts: the lines are streamed after the request's
        unit of work has ended, read with a server-side cursor in a session of their own
        on ``db``, and the temporary group is deleted in a unit of work of its own."""
        await self._wait_for_filter(selection.as_filter())
        queries = await self.selection_query(selection)
        return self._selection_lines(selection, queries, db)

    async def _selection_lines(
        self, selection: Selection, queries: list[sa.Select[Any]], db: Database
    ) -> AsyncIterator[bytes]:
        count = 0
        async with db.sessionmaker() as session:
            async for rows in ContactRepository(session).stream_selection(queries):
                count += len(rows)
                yield b"".join(
                    SelectedContact.model_validate(row).model_dump_json().encode() + b"\n"
                    for row in rows
                )
        async with db.unit_of_work() as session:
            await type(self)(session, self._outbox).used_selection(selection)
        yield SelectionEnd(count=count).model_dump_json().encode() + b"\n"

    async def _bulk_status(self, ids: Sequence[str], action: str, staff: StaffClaims | None) -> int:
        """Archive, or accept (inbox → prospect), many contacts with one statement and
        their events in one more: what :meth:`_set_status` does for each, without an ORM
        object per contact and event (10,000 contacts in a few seconds, not minutes)."""
        archive = action == "archive"
        rows = await self._repo.set_status_of(ids, archive=archive)
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
            events.append(
                ContactUpdated(**snapshot(row), changed=["status"], actor=staff_ref(staff))
            )
        await self._outbox.emit_many(self._session, events)
        return len(rows)

    async def used_selection(self, selection: Selection) -> None:
        """A temporary group is kept for one action: gone once it was used."""
        if selection.group_id is not None:
            group = await self._repo.group(selection.group_id)
            if group is not None and group.kind == "temporary":
                await self.delete_group(group)

    async def bulk(self, request: BulkRequest, staff: StaffClaims | None = None) -> BulkResult:
        await self._wait_for_filter(request.selection.as_filter())
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
                for contact in await self._repo.locked(ids[start : start + _BULK_CHUNK]):
                    await self._delete(contact, staff)
                    changed += 1
        await self.used_selection(request.selection)
        return BulkResult(action=request.action, selected=len(ids), changed=changed)

    # --- local copies from events ---------------------------------------------------

    async def apply_staff(self, staff: StaffData) -> None:
        await self._repo.upsert_staff(staff.staff_id, staff.name, staff.active)

    async def apply_competence(self, competence: CompetenceChanged) -> None:
        await self._repo.upsert_competence(
            competence.competence_id, competence.name, competence.member_ids
        )

    async def apply_campaign_member(self, campaign_id: str, contact_id: str, member: bool) -> None:
        await self._repo.set_campaign_member(campaign_id, contact_id, member)

    async def apply_history_entries(self, entries: Sequence[HistoryEntryData]) -> None:
        """Keep the filterable fields of a run of created or updated entries (the last of
        each entry wins); one upsert for the run: a bulk job writes 100,000 entries in a
        row, and a read and a write per entry kept the history filters minutes behind."""
        # none for a contact deleted meanwhile (its entries' events may come after it)
        known = set(await self._repo.existing_ids(list({e.contact_id for e in entries})))
        await self._repo.upsert_history_entries(
            [
                {name: getattr(entry, name) for name in HISTORY_COPY_FIELDS}
                for entry in entries
                if entry.contact_id in known
            ]
        )

    async def forget_history_entry(self, entry_id: str) -> None:
        await self._repo.delete_history_entry(entry_id)

    async def apply_crm_settings(self, event: CrmSettingsChanged) -> None:
        """Keep the newest admin lists (a repeated or late announcement changes nothing)."""
        known = await self._repo.crm_settings()
        copy = known or CrmSettingsCopy(id=1, version=-1)
        if event.version >= copy.version:
            copy.data = event.model_dump(mode="json", exclude={"version"})
            copy.version = event.version
        if known is None:
            await self._repo.add(copy)
        else:
            await self._repo.flush()
