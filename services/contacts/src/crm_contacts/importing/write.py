"""Writing one batch of an import: checked rows become ``inbox`` contacts with their
product and characteristic rows and one ``ContactCreated`` each, in the caller's
transaction. The rules a row can still break here (its customer number taken, its
company no company) are those of ``ContactService``, from ``rules.py``; the rows go in
with ``COPY`` on PostgreSQL (``ContactRepository.insert_rows``), the events through the
outbox's bulk API (``Outbox.emit_many``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_contacts import rules
from crm_contacts.repository import CRM_COLUMNS, ContactRepository
from crm_contacts.schemas import SNAPSHOT_FIELDS
from crm_shared.events import ContactCreated, utcnow
from crm_shared.outbox import Outbox

_ASSIGNED_TO_ALL = {"mode": "all", "staff_id": None, "competence_id": None}


def uuids(count: int) -> list[str]:
    """``count`` random (version 4) UUIDs from one call to the system's random source,
    formatted without a ``uuid.UUID`` object each (that cost a fifth of ``prepare``)."""
    random = bytearray(os.urandom(16 * count))
    for i in range(0, 16 * count, 16):
        random[i + 6] = (random[i + 6] & 0x0F) | 0x40  # version 4
        random[i + 8] = (random[i + 8] & 0x3F) | 0x80  # RFC 4122 variant
    h = random.hex()
    return [
        f"{h[j : j + 8]}-{h[j + 8 : j + 12]}-{h[j + 12 : j + 16]}-{h[j + 16 : j + 20]}-"
        f"{h[j + 20 : j + 32]}"
        for j in range(0, 32 * count, 32)
    ]


@dataclass(slots=True)
class Prepared:
    """An imported row ready to write: its line in the file, the contact's columns and
    its event."""

    line: int
    contact: dict[str, Any]
    event: ContactCreated


def prepare(rows: Sequence[tuple[int, dict[str, Any]]]) -> list[Prepared]:
    """The contact columns and the ``ContactCreated`` of each checked row
    (``parse.columns_of`` or the quick check's), as a new ``inbox`` contact; no I/O."""
    now = utcnow()
    ids = uuids(len(rows))
    out: list[Prepared] = []
    for i, (line, data) in enumerate(rows):
        crm = data["crm"]
        contact: dict[str, Any] = {
            "id": ids[i],
            **data,
            "status": "inbox",
            "assignment_mode": "all",
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for name in CRM_COLUMNS:
            contact[name] = crm.get(name)
        out.append(Prepared(line, contact, created_event(contact)))
    return out


def created_event(contact: dict[str, Any]) -> ContactCreated:
    """The ``ContactCreated`` of a prepared contact (the snapshot ``ContactService``
    emits, from the columns instead of a ``Contact``)."""
    return ContactCreated.model_validate(
        {
            "contact_id": contact["id"],
            **{name: contact[name] for name in SNAPSHOT_FIELDS},
            "assignment": _ASSIGNED_TO_ALL,
            "crm": contact["crm"],
            "version": contact["version"],
        }
    )


async def write_batch(
    session: AsyncSession, outbox: Outbox, rows: list[Prepared]
) -> list[tuple[int, str]]:
    """Write a batch of prepared contacts with their product, characteristic and outbox
    rows; returns the rows refused (number taken, no company) as (line, message).

    Raises IntegrityError when a concurrent writer took a customer number meanwhile."""
    repo = ContactRepository(session)
    await repo.begin()  # before COPY: the transaction open in the driver too
    numbers = [r.contact["customer_number"] for r in rows if r.contact["customer_number"]]
    taken = await rules.numbers_taken(repo, numbers)
    companies = await rules.companies(
        repo, {r.contact["company_id"] for r in rows if r.contact["company_id"]}
    )
    errors: list[tuple[int, str]] = []
    contacts: list[dict[str, Any]] = []
    events: list[ContactCreated] = []
    products: list[dict[str, Any]] = []
    characteristics: list[dict[str, Any]] = []
    for row in rows:
        contact = row.contact
        number = contact["customer_number"]
        if number and number in taken:  # also by a row before it in the file
            errors.append((row.line, f"customer_number: {number} is already used"))
            continue
        if contact["company_id"] and contact["company_id"] not in companies:
            errors.append((row.line, f"company_id: {contact['company_id']} is not a company"))
            continue
        if number:
            taken.add(number)
        contacts.append(contact)
        events.append(row.event)
        crm = contact["crm"]
        for product in crm.get("products") or ():
            products.append({"contact_id": contact["id"], "product": product})
        for key, value in (crm.get("characteristics") or {}).items():
            characteristics.append({"contact_id": contact["id"], "key": key, "value": value})
    await repo.insert_rows("contact", contacts)
    await repo.insert_rows("contact_product", products)
    await repo.insert_rows("contact_characteristic", characteristics)
    await outbox.emit_many(session, events)
    return errors
