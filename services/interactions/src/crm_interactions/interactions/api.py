"""HTTP routes of interactions for staff (``/api/interactions``), thin."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response

from crm_interactions.deps import InteractionServiceDep
from crm_interactions.interactions.schemas import (
    InteractionCreate,
    InteractionPage,
    InteractionPublic,
    InteractionSort,
    InteractionUpdate,
)
from crm_shared.auth import CurrentStaff
from crm_shared.fields import PlainText
from crm_shared.paging import Cursor, Limit

router = APIRouter(prefix="/api/interactions", tags=["interactions"])


@router.post("", status_code=201, response_model=InteractionPublic)
async def log_interaction(
    data: InteractionCreate, service: InteractionServiceDep, staff: CurrentStaff
) -> InteractionPublic:
    return await service.log(data, staff)


@router.get("", response_model=InteractionPage)
async def list_interactions(
    service: InteractionServiceDep,
    _: CurrentStaff,
    contact_id: PlainText | None = None,
    kind: Literal["internal", "incoming", "outgoing"] | None = None,
    sort: InteractionSort = "occurred_at",
    limit: Limit = 50,
    cursor: Cursor = None,
) -> InteractionPage:
    return await service.page(
        contact_id=contact_id, kind=kind, sort=sort, cursor=cursor, limit=limit
    )


@router.get("/{interaction_id}", response_model=InteractionPublic)
async def get_interaction(
    interaction_id: str, service: InteractionServiceDep, _: CurrentStaff
) -> InteractionPublic:
    return await service.get(interaction_id)


@router.patch("/{interaction_id}", response_model=InteractionPublic)
async def update_interaction(
    interaction_id: str, data: InteractionUpdate, service: InteractionServiceDep, _: CurrentStaff
) -> InteractionPublic:
    return await service.update(interaction_id, data)


@router.delete("/{interaction_id}", status_code=204)
async def delete_interaction(
    interaction_id: str, service: InteractionServiceDep, _: CurrentStaff
) -> Response:
    await service.delete(interaction_id)
    return Response(status_code=204)
