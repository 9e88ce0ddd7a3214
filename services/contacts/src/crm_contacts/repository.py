"""Queries of the contacts service: add and flush, never commit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pydantic_core import to_json
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, select

from crm_contacts.models import (
    CampaignMembership,
    CompetenceCopy,
    CompetenceMember,
    Contact,
    ContactCharacteristic,
    ContactGroup,
    ContactName,
    ContactProduct,
    CrmSettingsCopy,
    GroupMember,
    HistoryEntryCopy,
    ImportJob,
    NumberRange,
    StaffCopy,
)
from crm_contacts.schemas import ContactFilter
from crm_shared.db import table_of, unnest_insert
from crm_shared.events import utcnow
from crm_shared.selections import SelectedContact

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
_SELECTED = tuple(SelectedContact.model_fields)
_HISTORY_TEXT = ("action", "info", "staff_initials", "field1", "field2", "field3", "field4")
_MAX_GROUP_DEPTH = 3


# Memberships up to this many (estimated) are read first and their contacts top-N sorted;
# above _MANY_MEMBERS the sort index is walked probing each contact's membership; between,
# the walk checks a hash of the members (ContactRepository.page). A page of 51 among N
# contacts costs ~51·N/M probes or a hash of M members: at N = 1,000,000 they cost the
# same near M = 15,000.
_FEW_MEMBERS = 1_000
_MANY_MEMBERS = 15_000
CONTACT = table_of(Contact)
NAME = table_of(ContactName)
IMPORT_JOB = table_of(ImportJob)
HISTORY_COPY_FIELDS = tuple(HistoryEntryCopy.model_fields)
"""What the ``history.*`` filters keep of a history entry (``history_entry_copy``)."""
_JSON_COLUMNS = frozenset(("crm", "address"))


@dataclass
class Conditions:
    """A contact filter in two parts: conditions on the contact's row, and memberships
    (queries of contact ids the contact must be among)."""

    row: list[sa.ColumnElement[bool]] = field(default_factory=list)
    members: list[Any] = field(default_factory=list)
    names: list[sa.ColumnElement[bool]] = field(default_factory=list)
    """Conditions on contact_name: the search text in the name (PostgreSQL, 3+
    characters, through its trigram index)."""

    def add(self, other: Conditions) -> None:
        self.row += other.row
        self.members += other.members
        self.names += other.names

    def named(self) -> Any:
        """The ids whose name matches ``names``."""
        return sa.select(NAME.c.id).where(*self.names)

    def all(self) -> list[sa.ColumnElement[bool]]:
        """Everything as WHERE conditions of a query over the contact table."""
        names = [col(Contact.id).in_(self.named())] if self.names else []
        return self.row + [col(Contact.id).in_(m) for m in self.members] + names


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ContactRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- contacts -------------------------------------------------------------------

    async def get(self, contact_id: str, *, for_update: bool = False) -> Contact | None:
        return await self.session.get(Contact, contact_id, with_for_update=for_update)

    async def numbers_taken(
        self, numbers: Collection[str], *, other_than: str | None = None
    ) -> set[str]:
        """Those of ``numbers`` some contact (other than ``other_than``) has."""
        if not numbers:
            return set()
        number = col(Contact.customer_number)
        match: sa.ColumnElement[bool]
        if self._postgres():
            # one array parameter: an IN of 2,000 bound values cost more to compile and
            # plan than the index lookups themselves (half of an import batch's writing)
            match = number == sa.any_(sa.bindparam("numbers", list(numbers), ARRAY(sa.String)))
        else:
            match = number.in_(list(numbers))
        query = select(number).where(match)
        if other_than is not None:
            query = query.where(col(Contact.id) != other_than)
        rows = await self.session.scalars(query)
        return {n for n in rows if n}

    async def company_ids(self, ids: Collection[str]) -> set[str]:
        """Those of ``ids`` that are companies."""
        query = select(Contact.id).where(
            col(Contact.id).in_(list(ids)), col(Contact.kind) == "company"
        )
        return set(await self.session.scalars(query))

    async def add(self, row: SQLModel) -> None:
        """Add a new row (a contact, group, number range, import job) and flush it."""
        self.session.add(row)
        await self.session.flush()

    async def flush(self) -> None:
        await self.session.flush()

    async def begin(self) -> None:
        """Run a first statement, so the transaction is open in the driver too (a
        ``COPY`` through asyncpg then runs in it; asyncpg would not open one)."""
        await self.session.execute(sa.text("SELECT 1"))

    async def insert_rows(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        """Insert rows (all with the same keys) in the session's transaction: ``COPY`` on
        PostgreSQL (after :meth:`begin`), a multi-row insert elsewhere; no ORM object per
        row (an import writes 2,000 contacts per batch)."""
        if not rows:
            return
        connection = await self.session.connection()
        if connection.dialect.name != "postgresql":
            await self.session.execute(sa.insert(SQLModel.metadata.tables[table]), rows)
            return
        columns = list(rows[0])
        json_at = [i for i, c in enumerate(columns) if c in _JSON_COLUMNS]
        records: list[Sequence[Any]] = []
        if json_at:
            for row in rows:
                record = list(row.values())
                for i in json_at:
                    if record[i] is not None:
                        record[i] = to_json(record[i]).decode()
                records.append(record)
        else:
            records = [tuple(row.values()) for row in rows]
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        try:
            await driver.copy_records_to_table(table, records=records, columns=columns)
        except Exception as exc:  # asyncpg's own errors: as SQLAlchemy would raise them
            if getattr(exc, "sqlstate", None) == "23505":
                raise IntegrityError(f"COPY {table}", None, exc) from exc
            raise

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

    async def locked(self, ids: Sequence[str]) -> Sequence[Contact]:
        """The contacts of ``ids`` that exist, locked for the transaction (in id order, so
        two bulk actions never lock each other's rows the other way round)."""
        query = (
            select(Contact)
            .where(col(Contact.id).in_(list(ids)))
            .order_by(col(Contact.id))
            .with_for_update()
        )
        return (await self.session.scalars(query)).all()

    async def set_status_of(self, ids: Sequence[str], *, archive: bool) -> Sequence[sa.Row[Any]]:
        """Archive the contacts of ``ids`` not archived yet (remembering the status
        before), or accept those in the inbox (→ prospect), in one statement; each gets
        two versions (its ContactStatusChanged and ContactUpdated). Returns the changed
        rows as they are now."""
        values: dict[str, Any]
        if archive:
            where = CONTACT.c.status != "archived"
            values = {"status_before_archive": CONTACT.c.status, "status": "archived"}
        else:
            where = CONTACT.c.status == "inbox"
            values = {"status_before_archive": None, "status": "prospect"}
        result = await self.session.execute(
            sa.update(CONTACT)
            .where(CONTACT.c.id.in_(list(ids)), where)
            .values(**values, version=CONTACT.c.version + 2, updated_at=utcnow())
            .returning(*CONTACT.c)
        )
        return result.all()

    async def groups_of(self, contact_id: str) -> Sequence[ContactGroup]:
        """The static and temporary groups a contact is a member of."""
        query = (
            select(ContactGroup)
            .join(GroupMember, col(GroupMember.group_id) == col(ContactGroup.id))
            .where(col(GroupMember.contact_id) == contact_id)
            .order_by(col(ContactGroup.id))
        )
        return (await self.session.scalars(query)).all()

    async def persons_of(self, company_id: str) -> Sequence[Contact]:
        return (
            await self.session.scalars(select(Contact).where(col(Contact.company_id) == company_id))
        ).all()

    # --- search ---------------------------------------------------------------------

    async def filter_conditions(
        self, f: ContactFilter, depth: int = 0
    ) -> list[sa.ColumnElement[bool]]:
        """The WHERE conditions of a filter (a dynamic group's filter is expanded)."""
        return (await self.conditions(f, depth)).all()

    async def conditions(self, f: ContactFilter, depth: int = 0) -> Conditions:
        """A filter as conditions on the contact row and memberships (ids of contacts
        in a group, with a product, …); a dynamic group's filter is expanded."""
        c = Conditions()
        if f.q:
            needle = _like_escape(f.q.lower())
            # the search box finds a customer number too (exactly): one lookup of the
            # unique index first, so the name search keeps its plans when none matches
            numbered = await self.session.scalar(
                select(Contact.id).where(col(Contact.customer_number) == f.q.strip())
            )
            by_name: sa.ColumnElement[bool]
            if f.match == "prefix":  # a range on the sort index
                by_name = self.sort_key().like(f"{needle}%", escape="\\")
            elif self._postgres() and len(f.q.strip()) >= 3:  # trigrams of contact_name
                by_name = NAME.c.sort_name.like(f"%{needle}%", escape="\\")
                c.names.append(sa.or_(by_name, NAME.c.id == numbered) if numbered else by_name)
            else:  # too short for trigrams: checked along the sort index
                by_name = self.sort_key().like(f"%{needle}%", escape="\\")
            if not c.names:
                c.row.append(sa.or_(by_name, col(Contact.id) == numbered) if numbered else by_name)
        for name in ("kind", "status", "customer_number", "company_id", "credit_hold"):
            value = getattr(f, name)
            if value is not None:
                c.row.append(getattr(Contact, name) == value)
        for name in CRM_COLUMNS:
            value = getattr(f, name, None)
            if value is not None:
                c.row.append(getattr(Contact, name) == value)
        if f.employees_from is not None:
            c.row.append(col(Contact.employees) >= f.employees_from)
        if f.employees_to is not None:
            c.row.append(col(Contact.employees) <= f.employees_to)
        if f.assigned_to:
            competences = select(CompetenceMember.competence_id).where(
                col(CompetenceMember.staff_id) == f.assigned_to
            )
            c.row.append(
                sa.or_(
                    col(Contact.assigned_staff_id) == f.assigned_to,
                    col(Contact.assigned_competence_id).in_(competences),
                )
            )
        if f.product:
            c.members.append(
                select(ContactProduct.contact_id).where(col(ContactProduct.product) == f.product)
            )
        if f.characteristic:
            key, _, value = f.characteristic.partition(":")
            query = select(ContactCharacteristic.contact_id).where(
                col(ContactCharacteristic.key) == key
            )
            if value:
                query = query.where(col(ContactCharacteristic.value) == value)
            c.members.append(query)
        if f.campaign_id:
            c.members.append(
                select(CampaignMembership.contact_id).where(
                    col(CampaignMembership.campaign_id) == f.campaign_id
                )
            )
        history = self._history_conditions(f)
        if history:
            c.members.append(select(HistoryEntryCopy.contact_id).where(*history))
        if f.group_id:
            c.add(await self._group_conditions(f.group_id, depth))
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

    async def _group_conditions(self, group_id: str, depth: int) -> Conditions:
        group = await self.session.get(ContactGroup, group_id)
        if group is None:
            return Conditions(row=[sa.false()])
        if group.kind == "dynamic":
            if depth >= _MAX_GROUP_DEPTH:
                return Conditions(row=[sa.false()])
            saved = ContactFilter.model_validate(group.filter or {})
            return await self.conditions(saved, depth + 1)
        return Conditions(
            members=[select(GroupMember.contact_id).where(col(GroupMember.group_id) == group_id)]
        )

    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def sort_key(self, *, walkable: bool = True) -> sa.ColumnElement[str]:
        """The list order: lower(name) in code point order (``COLLATE "C"`` on
        PostgreSQL, SQLite's default). On PostgreSQL it is the stored column
        ``sort_name``, whose index (``ix_contact_sort_name``) serves the order, the
        prefix search and, since it carries the usual filter columns, whole pages
        without reading a contact's row.

        ``walkable=False`` gives the same values through an expression the index does not
        cover, so PostgreSQL cannot walk the list in name order (see :meth:`page`)."""
        if self._postgres():
            key: sa.ColumnElement[str] = CONTACT.c.sort_name
            return key.op("||")(sa.literal("")).collate("C") if not walkable else key
        return sa.func.lower(col(Contact.name))

    async def page(
        self, f: ContactFilter, *, after: tuple[str, str] | None, limit: int
    ) -> list[tuple[Contact, str]]:
        """Contacts matching ``f`` ordered by (lower(name), id), after a keyset cursor,
        each with its sort key (the cursor's first half).

        Two steps: the ids and sort keys of the page first, from the sort index where
        the filters allow (``ix_contact_sort_name`` carries the usual filter columns, so
        no wide contact row is read to reject one), then the page's rows by id.

        How the first step finds its rows is chosen here, because PostgreSQL's estimates
        mislead it for these queries:

        - A substring (three characters or more, so trigrams apply): its matches
          cluster in name order ("%hmie%" only from "Schmie…" on) while PostgreSQL's
          estimate assumes them spread evenly, so it walked the sort index and read
          550,000 of 1,000,000 rows for one page. The matches come from the trigram
          index of ``contact_name`` and are top-N sorted there, in narrow rows; with
          other filters, the contacts among them.
        - Memberships (group, product, campaign, characteristic, history fields): by
          the planner's estimate of their size. Few (<= ``_FEW_MEMBERS``): from the
          members, top-N sorted. Many (> ``_MANY_MEMBERS``): walk the sort index and
          probe the membership of each contact that passes the other filters (a member
          comes every few contacts). Between: walk the sort index against a hash of the
          members (``IN (…) IS TRUE`` keeps
          PostgreSQL from turning it into a join that probes an index per contact: 45,000
          probes, 0.4 to 1 s, for the history filter of the bench).
        """
        c = await self.conditions(f)
        walkable = not (f.q and f.match != "prefix" and len(f.q.strip()) >= 3)
        where = list(c.row)
        if c.names:  # PostgreSQL: the matches from contact_name, top-N sorted
            if not c.row and not c.members:  # only the text: the narrow rows suffice
                return await self._rows(c.names, NAME, after, limit)
            where.append(col(Contact.id).in_(c.named()))
        if c.members and self._postgres():
            sizes = [await self._estimate(m) for m in c.members]
            if min(sizes) <= _FEW_MEMBERS:
                walkable = False
                where += [col(Contact.id).in_(m) for m in c.members]
            else:
                where += [
                    col(Contact.id).in_(m)
                    if n > _MANY_MEMBERS
                    else col(Contact.id).in_(m).is_(sa.true())
                    for m, n in zip(c.members, sizes, strict=True)
                ]
        else:
            where += [col(Contact.id).in_(m) for m in c.members]
        return await self._rows(where, CONTACT, after, limit, walkable=walkable)

    async def _rows(
        self,
        where: list[sa.ColumnElement[bool]],
        table: sa.Table,
        after: tuple[str, str] | None,
        limit: int,
        *,
        walkable: bool = False,
    ) -> list[tuple[Contact, str]]:
        """The page: ids and keys of ``table`` (the contact table, or contact_name) under
        ``where`` in list order after the cursor, then the contacts' rows."""
        if table is NAME:
            key: sa.ColumnElement[str] = NAME.c.sort_name.op("||")(sa.literal("")).collate("C")
        else:
            key = self.sort_key(walkable=walkable)
        ident = table.c.id
        first = sa.select(ident.label("id"), key.label("key")).where(*where)
        if after:
            first = first.where(sa.tuple_(key, ident) > after)
        ids = first.order_by(key, ident).limit(limit).subquery("page")
        query = (
            sa.select(Contact, ids.c.key)
            .join(ids, col(Contact.id) == ids.c.id)
            .order_by(ids.c.key, ids.c.id)
        )
        return [(contact, k) for contact, k in (await self.session.execute(query)).all()]

    async def _estimate(self, members: Any) -> float:
        """PostgreSQL's estimate of how many rows a membership query returns (no rows
        are read: EXPLAIN only plans)."""
        connection = await self.session.connection()
        compiled = members.compile(
            dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
        )
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection  # asyncpg: $n parameters in positional order
        plan = await driver.fetchval(
            f"EXPLAIN (FORMAT JSON) {compiled}",
            *[compiled.params[name] for name in compiled.positiontup or ()],
        )
        document = json.loads(plan) if isinstance(plan, str) else plan
        return float(document[0]["Plan"]["Plan Rows"])

    @staticmethod
    def selected(*where: sa.ColumnElement[bool]) -> sa.Select[Any]:
        """What a resolved selection tells of each contact, in id order."""
        columns = [CONTACT.c[name] for name in _SELECTED]
        return sa.select(*columns).where(*where).order_by(CONTACT.c.id)

    async def stream_selection(
        self, queries: Sequence[sa.Select[Any]], *, rows_per_fetch: int = 2000
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The rows of ``queries`` in lists, read with a server-side cursor (a selection
        of 100,000 contacts is never held in memory at once)."""
        for query in queries:
            result = await self.session.stream(query.execution_options(yield_per=rows_per_fetch))
            async for part in result.mappings().partitions():
                yield [dict(row) for row in part]

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

    async def number_ranges(
        self, *, after: tuple[str, str] | None, limit: int
    ) -> Sequence[NumberRange]:
        """Up to ``limit`` number ranges by (name, id), after the key ``after``."""
        query = select(NumberRange)
        if after is not None:
            query = query.where(sa.tuple_(col(NumberRange.name), col(NumberRange.id)) > after)
        query = query.order_by(col(NumberRange.name), col(NumberRange.id)).limit(limit)
        return (await self.session.scalars(query)).all()

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

    async def group(self, group_id: str) -> ContactGroup | None:
        return await self.session.get(ContactGroup, group_id)

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

    async def upsert_history_entries(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or replace the copies of history entries, in one statement (a run of
        created/updated events: the last one of each entry wins, as applied one by one)."""
        last = list({row["entry_id"]: row for row in rows}.values())
        if not last:
            return
        table = table_of(HistoryEntryCopy)
        names = tuple(last[0])
        stmt = unnest_insert(table, names) if self._postgres() else sqlite.insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.entry_id],
            set_={name: stmt.excluded[name] for name in names if name != "entry_id"},
        )
        if self._postgres():
            await self.session.execute(stmt, {name: [row[name] for row in last] for name in names})
        else:
            await self.session.execute(stmt, last)

    async def delete_history_entry(self, entry_id: str) -> None:
        await self.session.execute(
            sa.delete(HistoryEntryCopy).where(col(HistoryEntryCopy.entry_id) == entry_id)
        )

    async def crm_settings(self) -> CrmSettingsCopy | None:
        """The admin lists as announced last (one row)."""
        return await self.session.get(CrmSettingsCopy, 1)

    # --- import jobs -----------------------------------------------------------------

    async def import_job(self, job_id: str) -> ImportJob | None:
        return await self.session.get(ImportJob, job_id)

    async def update_import_job(self, job_id: str, **values: Any) -> None:
        """Set a job's counters or state with one statement (no ORM object: it runs in
        the transaction of every import batch)."""
        await self.session.execute(
            sa.update(IMPORT_JOB)
            .where(IMPORT_JOB.c.id == job_id)
            .values(**values, updated_at=utcnow())
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
