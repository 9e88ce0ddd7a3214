"""Writing one batch of an import: checked rows become ``inbox`` contacts with their
product and characteristic rows and one ``ContactCreated`` each, in the caller's
transaction. The rules a row can still break here (its customer number taken, its
company no company) are those of ``ContactService``, from ``rules.py``; the rows go in
with ``COPY`` on PostgreSQL (``ContactRepository.insert_rows``).

Each ``ContactCreated`` goes through the outbox's bulk API
(``Outbox.emit_serialized``), its body made by ``serialize_checked_data`` from the
contact's columns the import has checked: two pydantic models per event (payload and
envelope) cost the import 40 % more CPU (the service README's figures), and the body is
the same (tested)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_contacts import rules
from crm_contacts.repository import CRM_COLUMNS, ContactRepository
from crm_shared.events import ContactCreated, CrmProperties, utcnow
from crm_shared.outbox import Outbox, Serialized, serialize_checked_data

_ASSIGNED_TO_ALL = {"mode": "all", "staff_id": None, "competence_id": None}
_NO_CRM = CrmProperties().model_dump(mode="json")


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
    """An imported row ready to write: its line in the file, the contact's columns and its
    ``ContactCreated``."""

    line: int
    contact: dict[str, Any]
    event: Serialized


def created_event(
    contact: dict[str, Any], *, event_id: str, source: str, time: datetime
) -> Serialized:
    """The ``ContactCreated`` CloudEvent of a new inbox contact, as ``make_event(...)
    .to_bytes()`` writes it (tested to match), without a model round trip per row."""
    data = {
        "contact_id": contact["id"],
        "kind": contact["kind"],
        "name": contact["name"],
        "email": contact["email"],
        "phone": contact["phone"],
        "language": contact["language"],
        "status": contact["status"],
        "company_id": contact["company_id"],
        "customer_number": contact["customer_number"],
        "credit_hold": contact["credit_hold"],
        "assignment": _ASSIGNED_TO_ALL,
        "crm": {**_NO_CRM, **contact["crm"]},
        "address": contact["address"],
        "version": 1,
        "actor": None,  # an import names no staff member (the job keeps who started it)
    }
    return serialize_checked_data(
        ContactCreated, data, subject=contact["id"], source=source, event_id=event_id, time=time
    )


def prepare(rows: Sequence[tuple[int, dict[str, Any]]], *, source: str) -> list[Prepared]:
    """The columns and the ``ContactCreated`` outbox row of each checked row
    (``parse.columns_of`` or the quick check's), as a new ``inbox`` contact; no I/O."""
    now = utcnow()
    ids = uuids(2 * len(rows))
    out: list[Prepared] = []
    for i, (line, data) in enumerate(rows):
        crm = data["crm"]
        contact: dict[str, Any] = {
            "id": ids[2 * i],
            **data,
            "status": "inbox",
            "assignment_mode": "all",
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for name in CRM_COLUMNS:
            contact[name] = crm.get(name)
        event = created_event(contact, event_id=ids[2 * i + 1], source=source, time=now)
        out.append(Prepared(line, contact, event))
    return out


async def write_batch(
    session: AsyncSession, outbox: Outbox, rows: list[Prepared]
) -> list[tuple[int, str]]:
    """Write a batch of prepared contacts with their product and characteristic rows and
    their events; returns the rows refused (number taken, no company) as (line, message).

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
    events: list[Serialized] = []
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
    await outbox.emit_serialized(session, events)
    return errors
