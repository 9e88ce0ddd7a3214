"""HTTP routes of the interactions service."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from crm_interactions.models import ContactCopy
from crm_interactions.schemas import (
    InteractionCreate,
    InteractionPage,
    InteractionPublic,
    InteractionUpdate,
)
from crm_interactions.service import InteractionService, to_public
from crm_shared.auth import CurrentStaff
from crm_shared.errors import Unprocessable
from crm_shared.service import Runtime, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/interactions", tags=["interactions"])


async def _wait_for_contact(runtime: Runtime, contact_id: str) -> ContactCopy:
    """The local copy of a contact, waiting a little for one created a moment ago."""
    db = runtime.database
    loop = asyncio.get_running_loop()
    deadline = loop.time() + runtime.settings.contact_wait_seconds  # type: ignore[attr-defined]
    while True:
        async with db.sessionmaker() as session:
            contact = await session.get(ContactCopy, contact_id)
        if contact is not None:
            return contact
        if loop.time() >= deadline:
            raise Unprocessable("contact_id", f"unknown contact {contact_id}")
        await asyncio.sleep(0.05)


@router.post("", status_code=201, response_model=InteractionPublic)
async def log_interaction(
    data: InteractionCreate, runtime: RuntimeDep, staff: CurrentStaff, session: SessionDep
) -> InteractionPublic:
    contact = await _wait_for_contact(runtime, data.contact_id)
    interaction = await InteractionService(session, runtime.outbox).log(data, staff, contact)
    return to_public(interaction, contact)


@router.get("", response_model=InteractionPage)
async def list_interactions(
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
    contact_id: str | None = None,
    kind: Literal["internal", "incoming", "outgoing"] | None = None,
    sort: Literal["occurred_at", "recorded_by", "topic"] = "occurred_at",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> InteractionPage:
    offset = 0
    if cursor:
        if not cursor.isdigit():
            raise Unprocessable("cursor", "invalid cursor")
        offset = int(cursor)
    service = InteractionService(session, runtime.outbox)
    rows = await service.repo.page(
        contact_id=contact_id, kind=kind, sort=sort, offset=offset, limit=limit + 1
    )
    contacts = await service.repo.contacts({row.contact_id for row in rows})
    items = [to_public(row, contacts.get(row.contact_id)) for row in rows[:limit]]
    return InteractionPage(
        items=items, next_cursor=str(offset + limit) if len(rows) > limit else None
    )


@router.get("/{interaction_id}", response_model=InteractionPublic)
async def get_interaction(
    interaction_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> InteractionPublic:
    service = InteractionService(session, runtime.outbox)
    interaction = await service.get(interaction_id)
    return to_public(interaction, await service.repo.contact(interaction.contact_id))


@router.patch("/{interaction_id}", response_model=InteractionPublic)
async def update_interaction(
    interaction_id: str,
    data: InteractionUpdate,
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
) -> InteractionPublic:
    service = InteractionService(session, runtime.outbox)
    interaction = await service.update(interaction_id, data)
    return to_public(interaction, await service.repo.contact(interaction.contact_id))


@router.delete("/{interaction_id}", status_code=204)
async def delete_interaction(
    interaction_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> Response:
    await InteractionService(session, runtime.outbox).delete(interaction_id)
    return Response(status_code=204)
