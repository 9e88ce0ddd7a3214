"""Queries of the contacts service: add and flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crm_contacts.models import (
    CampaignMembership,
    CompetenceCopy,
    CompetenceMember,
    Contact,
    ContactCharacteristic,
    ContactGroup,
    ContactProduct,
    GroupMember,
    HistoryEntryCopy,
    NumberRange,
    StaffCopy,
)
from crm_contacts.schemas import ContactFilter

# Single-valued CRM properties kept in their own columns (the rest stays in ``crm``).
CRM_COLUMNS = (
    "crm_status",
    "company_group",
    "company_size",
    "employees",
    "revenue_group",
    "newsletter",
    "data_source",
    "interested",
)
_HISTORY_TEXT = ("action", "info", "staff_initials", "field1", "field2", "field3", "field4")
_MAX_GROUP_DEPTH = 3


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ContactRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- contacts -------------------------------------------------------------------

    async def get(self, contact_id: str, *, for_update: bool = False) -> Contact | None:
        return await self.session.get(Contact, contact_id, with_for_update=for_update)

    async def by_customer_number(self, number: str) -> Contact | None:
        result = await self.session.scalars(
            select(Contact).where(col(Contact.customer_number) == number)
        )
        return result.first()

    async def numbers_taken(self, numbers: Sequence[str]) -> set[str]:
        if not numbers:
            return set()
        number = col(Contact.customer_number)
        match: sa.ColumnElement[bool]
        if self.session.get_bind().dialect.name == "postgresql":
            # one array parameter: an IN of 2,000 bound values cost more to compile and
            # plan than the index lookups themselves (half of an import batch's writing)
            match = number == sa.any_(sa.bindparam("numbers", list(numbers), ARRAY(sa.String)))
        else:
            match = number.in_(numbers)
        rows = await self.session.scalars(select(number).where(match))
        return {n for n in rows if n}

    async def add(self, contact: Contact) -> Contact:
        self.session.add(contact)
        await self.session.flush()
        return contact

    async def set_crm_rows(self, contact_id: str, crm: dict[str, Any]) -> None:
        """Replace a contact's product and characteristic rows with those of ``crm``."""
        await self.session.execute(
            sa.delete(ContactProduct).where(col(ContactProduct.contact_id) == contact_id)
        )
        await self.session.execute(
            sa.delete(ContactCharacteristic).where(
                col(ContactCharacteristic.contact_id) == contact_id
            )
        )
        rows = crm_rows(contact_id, crm)
        if rows[0]:
            await self.session.execute(sa.insert(ContactProduct), rows[0])
        if rows[1]:
            await self.session.execute(sa.insert(ContactCharacteristic), rows[1])

    async def delete(self, contact: Contact) -> None:
        """Delete a contact and every row about it (products, memberships, copies)."""
        for table in (
            ContactProduct,
            ContactCharacteristic,
            GroupMember,
            CampaignMembership,
            HistoryEntryCopy,
        ):
            await self.session.execute(
                sa.delete(table).where(sa.column("contact_id") == contact.id)
            )
        await self.session.delete(contact)
        await self.session.flush()

    async def persons_of(self, company_id: str) -> Sequence[Contact]:
        return (
            await self.session.scalars(select(Contact).where(col(Contact.company_id) == company_id))
        ).all()

    # --- search ---------------------------------------------------------------------

    async def filter_conditions(
        self, f: ContactFilter, depth: int = 0
    ) -> list[sa.ColumnElement[bool]]:
        """The WHERE conditions of a filter (a dynamic group's filter is expanded)."""
        c: list[sa.ColumnElement[bool]] = []
        if f.q:
            needle = _like_escape(f.q.lower())
            if f.match == "prefix":  # a range on the sort key's index
                c.append(self.sort_key().like(f"{needle}%", escape="\\"))
            else:  # the trigram index on lower(name)
                c.append(sa.func.lower(col(Contact.name)).like(f"%{needle}%", escape="\\"))
        for name in ("kind", "status", "customer_number", "company_id", "credit_hold"):
            value = getattr(f, name)
            if value is not None:
                c.append(getattr(Contact, name) == value)
        for name in CRM_COLUMNS:
            value = getattr(f, name, None)
            if value is not None:
                c.append(getattr(Contact, name) == value)
        if f.employees_from is not None:
            c.append(col(Contact.employees) >= f.employees_from)
        if f.employees_to is not None:
            c.append(col(Contact.employees) <= f.employees_to)
        if f.assigned_to:
            competences = select(CompetenceMember.competence_id).where(
                col(CompetenceMember.staff_id) == f.assigned_to
            )
            c.append(
                sa.or_(
                    col(Contact.assigned_staff_id) == f.assigned_to,
                    col(Contact.assigned_competence_id).in_(competences),
                )
            )
        if f.product:
            c.append(
                col(Contact.id).in_(
                    select(ContactProduct.contact_id).where(
                        col(ContactProduct.product) == f.product
                    )
                )
            )
        if f.characteristic:
            key, _, value = f.characteristic.partition(":")
            query = select(ContactCharacteristic.contact_id).where(
                col(ContactCharacteristic.key) == key
            )
            if value:
                query = query.where(col(ContactCharacteristic.value) == value)
            c.append(col(Contact.id).in_(query))
        if f.campaign_id:
            c.append(
                col(Contact.id).in_(
                    select(CampaignMembership.contact_id).where(
                        col(CampaignMembership.campaign_id) == f.campaign_id
                    )
                )
            )
        history = self._history_conditions(f)
        if history:
            c.append(col(Contact.id).in_(select(HistoryEntryCopy.contact_id).where(*history)))
        if f.group_id:
            c.extend(await self._group_conditions(f.group_id, depth))
        return c

    @staticmethod
    def _history_conditions(f: ContactFilter) -> list[sa.ColumnElement[bool]]:
        """One history entry must match every history field given (seed 000 selection)."""
        c: list[sa.ColumnElement[bool]] = []
        for name in _HISTORY_TEXT:
            value = getattr(f, f"history_{name}")
            if value is not None:
                c.append(getattr(HistoryEntryCopy, name) == value)
        for name in ("field5", "field6"):
            value = getattr(f, f"history_{name}")
            if value is not None:
                c.append(getattr(HistoryEntryCopy, name) == value)
        if f.history_date_from is not None:
            c.append(col(HistoryEntryCopy.date) >= f.history_date_from)
        if f.history_date_to is not None:
            c.append(col(HistoryEntryCopy.date) <= f.history_date_to)
        return c

    async def _group_conditions(self, group_id: str, depth: int) -> list[sa.ColumnElement[bool]]:
        group = await self.session.get(ContactGroup, group_id)
        if group is None:
            return [sa.false()]
        if group.kind == "dynamic":
            if depth >= _MAX_GROUP_DEPTH:
                return [sa.false()]
            saved = ContactFilter.model_validate(group.filter or {})
            return await self.filter_conditions(saved, depth + 1)
        return [
            col(Contact.id).in_(
                select(GroupMember.contact_id).where(col(GroupMember.group_id) == group_id)
            )
        ]

    def sort_key(self, *, walkable: bool = True) -> sa.ColumnElement[str]:
        """The list order: lower(name) in code point order (``COLLATE "C"`` on
        PostgreSQL, SQLite's default), so one index serves both the order and a prefix
        search, and the first page stops after ``limit`` index entries.

        ``walkable=False`` gives the same values through an expression the index does not
        cover, so PostgreSQL cannot walk the list in name order (see :meth:`page`)."""
        key: sa.ColumnElement[str] = sa.func.lower(col(Contact.name))
        if self.session.get_bind().dialect.name == "postgresql":
            if not walkable:
                key = key.op("||")(sa.literal(""))
            return key.collate("C")
        return key

    async def page(
        self, f: ContactFilter, *, after: tuple[str, str] | None, limit: int
    ) -> Sequence[Contact]:
        """Contacts matching ``f`` ordered by (lower(name), id), after a keyset cursor.

        A substring search (three characters or more, so the trigram index applies) is
        the one filter whose matches cluster in the name order ("%hmie%" matches only
        names from "Schmie…" on): PostgreSQL's estimate assumes they are spread evenly,
        walks the name index and, at 1,000,000 contacts, read 550,000 rows for one page
        (3 s). For it the order is given through an expression the index cannot serve, so
        the matches come from the trigram index and only they are sorted (top-N)."""
        walkable = not (f.q and f.match != "prefix" and len(f.q.strip()) >= 3)
        key = self.sort_key(walkable=walkable)
        query = select(Contact).where(*await self.filter_conditions(f))
        if after:
            query = query.where(sa.tuple_(key, col(Contact.id)) > after)
        query = query.order_by(key, col(Contact.id)).limit(limit)
        return (await self.session.scalars(query)).all()

    async def ids(self, f: ContactFilter) -> list[str]:
        query = select(Contact.id).where(*await self.filter_conditions(f))
        return list((await self.session.scalars(query)).all())

    async def existing_ids(self, ids: Sequence[str]) -> list[str]:
        found: list[str] = []
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            found.extend(
                await self.session.scalars(select(Contact.id).where(col(Contact.id).in_(chunk)))
            )
        return found

    # --- number ranges --------------------------------------------------------------

    async def number_ranges(self) -> Sequence[NumberRange]:
        return (await self.session.scalars(select(NumberRange).order_by(NumberRange.name))).all()

    async def take_next_value(self, range_id: str) -> tuple[NumberRange, int] | None:
        """Advance a range by one and return the value taken.

        A single UPDATE ... RETURNING: on PostgreSQL it holds the row lock until commit,
        on SQLite the database write lock, so concurrent callers never get the same value.
        """
        result = await self.session.execute(
            sa.update(NumberRange)
            .where(col(NumberRange.id) == range_id)
            .values(next_value=col(NumberRange.next_value) + 1)
            .returning(col(NumberRange.next_value))
        )
        row = result.first()
        if row is None:
            return None
        number_range = await self.session.get(NumberRange, range_id, populate_existing=True)
        if number_range is None:  # deleted between the two statements
            return None
        return number_range, int(row[0]) - 1

    # --- groups ---------------------------------------------------------------------

    async def groups(self, *, after: tuple[str, str] | None, limit: int) -> Sequence[ContactGroup]:
        query = select(ContactGroup).where(col(ContactGroup.kind) != "temporary")
        if after:
            query = query.where(sa.tuple_(col(ContactGroup.name), col(ContactGroup.id)) > after)
        query = query.order_by(col(ContactGroup.name), col(ContactGroup.id)).limit(limit)
        return (await self.session.scalars(query)).all()

    async def add_members(self, group_id: str, contact_ids: Sequence[str]) -> list[str]:
        """Add the contacts not yet in the group; returns those added."""
        added: list[str] = []
        for start in range(0, len(contact_ids), 1000):
            chunk = list(dict.fromkeys(contact_ids[start : start + 1000]))
            present = set(
                await self.session.scalars(
                    select(GroupMember.contact_id).where(
                        col(GroupMember.group_id) == group_id,
                        col(GroupMember.contact_id).in_(chunk),
                    )
                )
            )
            new = [cid for cid in chunk if cid not in present]
            if new:
                await self.session.execute(
                    sa.insert(GroupMember), [{"group_id": group_id, "contact_id": i} for i in new]
                )
            added.extend(new)
        return added

    async def delete_group(self, group: ContactGroup) -> None:
        await self.session.execute(
            sa.delete(GroupMember).where(col(GroupMember.group_id) == group.id)
        )
        await self.session.delete(group)
        await self.session.flush()

    # --- local copies of other services' data --------------------------------------

    async def staff_exists(self, staff_id: str) -> bool:
        return await self.session.get(StaffCopy, staff_id) is not None

    async def competence_exists(self, competence_id: str) -> bool:
        return await self.session.get(CompetenceCopy, competence_id) is not None

    async def competence_members(self, competence_id: str) -> list[str]:
        rows = await self.session.scalars(
            select(CompetenceMember.staff_id)
            .where(col(CompetenceMember.competence_id) == competence_id)
            .order_by(CompetenceMember.staff_id)
        )
        return list(rows)

    async def upsert_staff(self, staff_id: str, name: str, active: bool) -> None:
        staff = await self.session.get(StaffCopy, staff_id)
        if staff is None:
            self.session.add(StaffCopy(staff_id=staff_id, name=name, active=active))
        else:
            staff.name, staff.active = name, active
        await self.session.flush()

    async def upsert_competence(self, competence_id: str, name: str, members: list[str]) -> None:
        competence = await self.session.get(CompetenceCopy, competence_id)
        if competence is None:
            self.session.add(CompetenceCopy(competence_id=competence_id, name=name))
        else:
            competence.name = name
        await self.session.execute(
            sa.delete(CompetenceMember).where(col(CompetenceMember.competence_id) == competence_id)
        )
        if members:
            await self.session.execute(
                sa.insert(CompetenceMember),
                [{"competence_id": competence_id, "staff_id": s} for s in dict.fromkeys(members)],
            )
        await self.session.flush()

    async def set_campaign_member(self, campaign_id: str, contact_id: str, member: bool) -> None:
        row = await self.session.get(CampaignMembership, (campaign_id, contact_id))
        if member and row is None:
            self.session.add(CampaignMembership(campaign_id=campaign_id, contact_id=contact_id))
        elif not member and row is not None:
            await self.session.delete(row)
        await self.session.flush()

    async def upsert_history_entry(self, values: dict[str, Any]) -> None:
        entry = await self.session.get(HistoryEntryCopy, values["entry_id"])
        if entry is None:
            self.session.add(HistoryEntryCopy(**values))
        else:
            for key, value in values.items():
                setattr(entry, key, value)
        await self.session.flush()

    async def delete_history_entry(self, entry_id: str) -> None:
        await self.session.execute(
            sa.delete(HistoryEntryCopy).where(col(HistoryEntryCopy.entry_id) == entry_id)
        )


def crm_rows(
    contact_id: str, crm: dict[str, Any]
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The product and characteristic rows of a contact's CRM properties."""
    products = [{"contact_id": contact_id, "product": p} for p in crm.get("products") or []]
    characteristics = [
        {"contact_id": contact_id, "key": k, "value": v}
        for k, v in (crm.get("characteristics") or {}).items()
    ]
    return products, characteristics
