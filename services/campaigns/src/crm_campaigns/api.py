"""HTTP routes of the campaigns: campaigns and their members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from crm_campaigns.contacts import wait_for_contacts
from crm_campaigns.schemas import (
    CampaignCreate,
    CampaignPage,
    CampaignPublic,
    MemberPage,
    MemberPublic,
    MembersAdd,
    MembersAdded,
)
from crm_campaigns.service import CampaignService, campaign_public
from crm_shared import cursor as cursors
from crm_shared.auth import CurrentStaff
from crm_shared.service import RuntimeDep, SessionDep

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"])

Limit = Annotated[int, Query(ge=1, le=500)]


@router.post("", status_code=201, response_model=CampaignPublic)
async def create_campaign(
    data: CampaignCreate, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> CampaignPublic:
    return campaign_public(await CampaignService(session, runtime.outbox).create(data))


@router.get("", response_model=CampaignPage)
async def list_campaigns(
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
    include_retired: bool = False,
    contact_id: Annotated[
        str | None, Query(max_length=36, description="only campaigns this contact is a member of")
    ] = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> CampaignPage:
    after = None
    if cursor:
        name, ident = cursors.decode(cursor, 2)
        after = (str(name), str(ident))
    service = CampaignService(session, runtime.outbox)
    rows = await service.repo.page(
        include_retired=include_retired, after=after, limit=limit + 1, contact_id=contact_id
    )
    items = [campaign_public(row) for row in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return CampaignPage(
        items=items, next_cursor=cursors.encode(last.name, last.id) if last else None
    )


@router.get("/{campaign_id}", response_model=CampaignPublic)
async def get_campaign(
    campaign_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> CampaignPublic:
    return campaign_public(await CampaignService(session, runtime.outbox).get(campaign_id))


@router.delete("/{campaign_id}", status_code=204)
async def retire_campaign(
    campaign_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> Response:
    """Retire the campaign for good (there is no way back). Idempotent: 204 again."""
    await CampaignService(session, runtime.outbox).retire(campaign_id)
    return Response(status_code=204)


@router.post("/{campaign_id}/members", response_model=MembersAdded)
async def add_members(
    campaign_id: str,
    data: MembersAdd,
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
) -> MembersAdded:
    service = CampaignService(session, runtime.outbox)
    campaign = await service.get(campaign_id)
    if campaign.retired_at is None:  # a retired campaign answers 409 without waiting
        known = await wait_for_contacts(runtime, set(data.contact_ids))
    else:
        known = {}
    return await service.add_members(campaign_id, data.contact_ids, known)


@router.delete("/{campaign_id}/members/{contact_id}", status_code=204)
async def remove_member(
    campaign_id: str, contact_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> Response:
    await CampaignService(session, runtime.outbox).remove_member(campaign_id, contact_id)
    return Response(status_code=204)


@router.get("/{campaign_id}/members", response_model=MemberPage)
async def list_members(
    campaign_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
    limit: Limit = 50,
    cursor: str | None = None,
) -> MemberPage:
    service = CampaignService(session, runtime.outbox)
    await service.get(campaign_id)
    after = str(cursors.decode(cursor, 1)[0]) if cursor else None
    rows = await service.repo.members_page(campaign_id, after=after, limit=limit + 1)
    items = [
        MemberPublic(
            contact_id=member.contact_id,
            name=contact.name if contact else "",
            kind=contact.kind if contact else "person",
            added_at=member.added_at,
        )
        for member, contact in rows[:limit]
    ]
    next_cursor = cursors.encode(rows[limit - 1][0].contact_id) if len(rows) > limit else None
    return MemberPage(items=items, next_cursor=next_cursor)
