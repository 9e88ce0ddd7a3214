"""HTTP routes of campaigns and their members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from crm_campaigns.campaigns.schemas import (
    CampaignCreate,
    CampaignPage,
    CampaignPublic,
    MemberPage,
    MembersAdd,
    MembersAdded,
)
from crm_campaigns.deps import CampaignServiceDep
from crm_shared.auth import CurrentStaff
from crm_shared.paging import Cursor, Limit

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"])


@router.post("", status_code=201, response_model=CampaignPublic)
async def create_campaign(
    data: CampaignCreate, campaigns: CampaignServiceDep, _: CurrentStaff
) -> CampaignPublic:
    return await campaigns.create(data)


@router.get("", response_model=CampaignPage)
async def list_campaigns(
    campaigns: CampaignServiceDep,
    _: CurrentStaff,
    include_retired: bool = False,
    contact_id: Annotated[
        str | None, Query(max_length=36, description="only campaigns this contact is a member of")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> CampaignPage:
    return await campaigns.page(
        include_retired=include_retired, contact_id=contact_id, cursor=cursor, limit=limit
    )


@router.get("/{campaign_id}", response_model=CampaignPublic)
async def get_campaign(
    campaign_id: str, campaigns: CampaignServiceDep, _: CurrentStaff
) -> CampaignPublic:
    return await campaigns.get(campaign_id)


@router.delete("/{campaign_id}", status_code=204)
async def retire_campaign(
    campaign_id: str, campaigns: CampaignServiceDep, _: CurrentStaff
) -> Response:
    """Retire the campaign for good (there is no way back). Idempotent: 204 again."""
    await campaigns.retire(campaign_id)
    return Response(status_code=204)


@router.post("/{campaign_id}/members", response_model=MembersAdded)
async def add_members(
    campaign_id: str, data: MembersAdd, campaigns: CampaignServiceDep, _: CurrentStaff
) -> MembersAdded:
    return await campaigns.add_members(campaign_id, data.contact_ids)


@router.delete("/{campaign_id}/members/{contact_id}", status_code=204)
async def remove_member(
    campaign_id: str, contact_id: str, campaigns: CampaignServiceDep, _: CurrentStaff
) -> Response:
    await campaigns.remove_member(campaign_id, contact_id)
    return Response(status_code=204)


@router.get("/{campaign_id}/members", response_model=MemberPage)
async def list_members(
    campaign_id: str,
    campaigns: CampaignServiceDep,
    _: CurrentStaff,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> MemberPage:
    return await campaigns.members_page(campaign_id, cursor, limit)
