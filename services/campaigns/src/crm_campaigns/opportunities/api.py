"""HTTP routes of opportunities and their CSV export."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse

from crm_campaigns.deps import Deps, OpportunityServiceDep
from crm_campaigns.opportunities.schemas import (
    FilterDep,
    OpportunityCreate,
    OpportunityPage,
    OpportunityPublic,
    OpportunityUpdate,
)
from crm_shared.auth import CurrentStaff
from crm_shared.csv_export import CsvResponse, csv_response
from crm_shared.paging import Cursor, Limit

router = APIRouter(prefix="/api/opportunities", tags=["opportunities"])


@router.post("", status_code=201, response_model=OpportunityPublic)
async def create_opportunity(
    data: OpportunityCreate, opportunities: OpportunityServiceDep, _: CurrentStaff
) -> OpportunityPublic:
    return await opportunities.create(data)


@router.get("", response_model=OpportunityPage)
async def list_opportunities(
    flt: FilterDep,
    opportunities: OpportunityServiceDep,
    _: CurrentStaff,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> OpportunityPage:
    return await opportunities.page(flt, cursor, limit)


@router.get("/export", response_class=CsvResponse)
async def export_opportunities(
    flt: FilterDep, opportunities: OpportunityServiceDep, deps: Deps, _: CurrentStaff
) -> StreamingResponse:
    """The filtered list as CSV, streamed in keyset batches (list values joined by ';')."""
    return csv_response(opportunities.export(deps.runtime.database, flt), "opportunities.csv")


@router.get("/{opportunity_id}", response_model=OpportunityPublic)
async def get_opportunity(
    opportunity_id: str, opportunities: OpportunityServiceDep, _: CurrentStaff
) -> OpportunityPublic:
    return await opportunities.get(opportunity_id)


@router.patch("/{opportunity_id}", response_model=OpportunityPublic)
async def update_opportunity(
    opportunity_id: str,
    data: OpportunityUpdate,
    opportunities: OpportunityServiceDep,
    _: CurrentStaff,
) -> OpportunityPublic:
    return await opportunities.update(opportunity_id, data)


@router.delete("/{opportunity_id}", status_code=204)
async def delete_opportunity(
    opportunity_id: str, opportunities: OpportunityServiceDep, _: CurrentStaff
) -> Response:
    await opportunities.delete(opportunity_id)
    return Response(status_code=204)
