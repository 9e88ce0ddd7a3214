"""The campaigns service's reads of its contact copy (``crm.contacts``), through
``crm_shared.copies.wait_for_copy``: never older than what the caller has seen, and a
contact created a moment ago is waited for."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crm_campaigns.models import ContactCopy
from crm_campaigns.settings import Settings
from crm_shared.copies import wait_for_copy
from crm_shared.events import Topic
from crm_shared.service import Runtime


async def wait_for_contacts(
    runtime: Runtime[Settings], contact_ids: set[str]
) -> dict[str, ContactCopy]:
    """The local copies of ``contact_ids`` (those known; the caller refuses the rest)."""

    async def load(session: AsyncSession) -> dict[str, ContactCopy]:
        rows = await session.scalars(
            select(ContactCopy).where(col(ContactCopy.contact_id).in_(contact_ids))
        )
        return {row.contact_id: row for row in rows}

    found = await wait_for_copy(
        runtime,
        Topic.CONTACTS,
        keys=contact_ids,
        load=load,
        ready=lambda rows: len(rows) == len(contact_ids),
    )
    return found or {}


async def wait_for_contact_copy(runtime: Runtime[Settings]) -> None:
    """Before a read over every contact's copy (the dashboard's company facts, names on
    lists): the copy has reached what the caller has seen."""
    await wait_for_copy(runtime, Topic.CONTACTS)
