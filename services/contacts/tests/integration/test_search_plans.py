"""The ways a contact page is found on PostgreSQL (ContactRepository.page) give the same
pages: memberships read first and sorted, walked against a hash, or probed per contact;
substrings through the trigram index. Each is forced here by the size thresholds and
checked against the order computed in Python, page after page."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from crm_contacts import repository
from crm_contacts.main import MIGRATIONS
from crm_contacts.models import (
    Contact,
    ContactGroup,
    ContactProduct,
    GroupMember,
    HistoryEntryCopy,
)
from crm_contacts.repository import ContactRepository
from crm_contacts.schemas import ContactFilter
from crm_shared.db import Database
from crm_shared.migrations import upgrade

NAMES = ["Müller", "Meyer", "Schmidt", "Schmieder", "Weber", "Wagner", "Öztürk", "Zimmer"]
GROUP = str(uuid.uuid4())
TODAY = date(2026, 11, 1)


async def seed(db: Database) -> dict[str, dict[str, object]]:
    rnd = random.Random(5)
    contacts: dict[str, dict[str, object]] = {}
    async with db.unit_of_work() as session:
        session.add(ContactGroup(id=GROUP, name="Gruppe", kind="static"))
        for i in range(240):
            ident = str(uuid.uuid4())
            # equal names on purpose: the id breaks ties, across page boundaries too
            name = f"{rnd.choice(NAMES)} {rnd.randint(0, 30)}"
            status = rnd.choice(["customer", "prospect"])
            product = rnd.choice(["A", "B", None])
            in_group = i % 3 == 0
            action = rnd.choice(["Anruf", "Brief"])
            day = TODAY - timedelta(days=rnd.randint(0, 60))
            session.add(Contact(id=ident, kind="person", name=name, status=status))
            if product:
                session.add(ContactProduct(contact_id=ident, product=product))
            if in_group:
                session.add(GroupMember(group_id=GROUP, contact_id=ident))
            session.add(
                HistoryEntryCopy(
                    entry_id=str(uuid.uuid4()), contact_id=ident, date=day, action=action
                )
            )
            contacts[ident] = {
                "name": name.lower(),
                "status": status,
                "product": product,
                "group": in_group,
                "history": (action, day),
            }
    async with db.unit_of_work() as session:
        await session.execute(sa.text("ANALYZE"))
    return contacts


def expected(contacts: dict[str, dict[str, object]], keep: object) -> list[str]:
    chosen = [(str(c["name"]), ident) for ident, c in contacts.items() if keep(c)]  # type: ignore[operator]
    return [ident for _, ident in sorted(chosen, key=lambda k: (k[0].encode(), k[1]))]


async def all_pages(db: Database, f: ContactFilter) -> list[str]:
    found: list[str] = []
    after: tuple[str, str] | None = None
    while True:
        async with db.sessionmaker() as session:
            rows = await ContactRepository(session).page(f, after=after, limit=7)
        found += [contact.id for contact, _ in rows]
        if len(rows) < 7:
            return found
        after = (rows[-1][1], rows[-1][0].id)


@pytest.mark.parametrize(
    ("few", "many"),
    [(10**9, 10**9), (0, 10**9), (0, 0)],
    ids=["members-first", "hashed-walk", "probing-walk"],
)
async def test_every_way_gives_the_same_pages(
    pg_database: str, monkeypatch: pytest.MonkeyPatch, few: int, many: int
) -> None:
    monkeypatch.setattr(repository, "_FEW_MEMBERS", few)
    monkeypatch.setattr(repository, "_MANY_MEMBERS", many)
    db = Database(pg_database)
    try:
        await upgrade(db, MIGRATIONS)
        contacts = await seed(db)
        since = TODAY - timedelta(days=20)
        cases = [
            (ContactFilter(group_id=GROUP), lambda c: c["group"]),
            (ContactFilter(product="A", status="customer"), lambda c: c["product"] == "A"
             and c["status"] == "customer"),
            (
                ContactFilter.model_validate(
                    {"history.action": "Anruf", "history.date_from": since, "product": "B"}
                ),
                lambda c: c["history"][0] == "Anruf" and c["history"][1] >= since
                and c["product"] == "B",
            ),
            (ContactFilter(q="chmi"), lambda c: "chmi" in str(c["name"])),
            (ContactFilter(q="mü", match="prefix"), lambda c: str(c["name"]).startswith("mü")),
        ]  # fmt: skip
        for f, keep in cases:
            want = expected(contacts, keep)
            assert want, f  # every case selects something
            assert await all_pages(db, f) == want, f
    finally:
        await db.dispose()


async def test_the_name_search_follows_renames_and_deletes(pg_database: str) -> None:
    """contact_name (the substring search's table) is kept by triggers on contact."""
    db = Database(pg_database)
    try:
        await upgrade(db, MIGRATIONS)
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        async with db.unit_of_work() as session:
            session.add(Contact(id=first, kind="person", name="Hoffmann, Anna"))
            session.add(Contact(id=second, kind="company", name="Hoffnung GmbH"))

        async def found(text: str) -> list[str]:
            return await all_pages(db, ContactFilter(q=text))

        assert await found("hoff") == [first, second]
        async with db.unit_of_work() as session:
            contact = await session.get(Contact, first)
            assert contact is not None
            contact.name = "Zuversicht, Anna"
        async with db.unit_of_work() as session:
            await session.execute(sa.delete(Contact).where(Contact.id == second))
        assert await found("hoff") == []
        assert await found("versi") == [first]
    finally:
        await db.dispose()


async def test_a_statement_writes_its_names_in_name_order(pg_database: str) -> None:
    """Rows of one statement (an import batch) land in name order in contact_name, so a
    fragment's matches share pages (see the migration "contact name rows in name order")."""
    db = Database(pg_database)
    try:
        await upgrade(db, MIGRATIONS)
        names = [f"{rnd} {i}" for i, rnd in enumerate(random.Random(2).choices(NAMES, k=300))]
        now = datetime.now(UTC)
        rows = [
            {"id": str(uuid.uuid4()), "kind": "person", "name": n, "crm": {}}
            | {"created_at": now, "updated_at": now}
            for n in names
        ]
        async with db.unit_of_work() as session:  # one statement of 300 rows
            await session.execute(sa.insert(Contact).values(rows))
        async with db.sessionmaker() as session:
            stored = list(
                await session.scalars(sa.text("SELECT sort_name FROM contact_name ORDER BY ctid"))
            )
        assert stored == sorted((n.lower() for n in names), key=str.encode)
    finally:
        await db.dispose()
