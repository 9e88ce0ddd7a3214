"""Waiting briefly for contacts created a moment ago to reach the local copy."""

from __future__ import annotations

import asyncio

from sqlmodel import col, select

from crm_campaigns.models import ContactCopy
from crm_shared.service import Runtime


async def wait_for_contacts(runtime: Runtime, contact_ids: set[str]) -> dict[str, ContactCopy]:
    """The local copies of ``contact_ids``; waits up to ``contact_wait_seconds`` for the
    missing ones (their ContactCreated may still be on its way) and returns what is known."""
    db = runtime.database
    loop = asyncio.get_running_loop()
    deadline = loop.time() + runtime.settings.contact_wait_seconds  # type: ignore[attr-defined]
    found: dict[str, ContactCopy] = {}
    while True:
        missing = contact_ids - found.keys()
        async with db.sessionmaker() as session:
            rows = await session.scalars(
                select(ContactCopy).where(col(ContactCopy.contact_id).in_(missing))
            )
            found.update({row.contact_id: row for row in rows})
        if len(found) == len(contact_ids) or loop.time() >= deadline:
            return found
        await asyncio.sleep(0.05)
