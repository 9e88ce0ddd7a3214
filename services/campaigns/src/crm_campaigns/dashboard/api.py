"""HTTP routes of the CRM dashboard and its CSV export."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from crm_campaigns.dashboard.schemas import Dashboard, GroupBy
from crm_campaigns.deps import DashboardServiceDep
from crm_campaigns.opportunities.schemas import FilterDep
from crm_shared.auth import CurrentStaff
from crm_shared.csv_export import CsvResponse, csv_response

router = APIRouter(prefix="/api/dashboard", tags=["opportunities"])


@router.get("", response_model=Dashboard)
async def dashboard(
    flt: FilterDep, service: DashboardServiceDep, _: CurrentStaff, group_by: GroupBy = None
) -> Dashboard:
    return await service.dashboard(flt, group_by)


@router.get("/export", response_class=CsvResponse)
async def export_dashboard(
    flt: FilterDep, service: DashboardServiceDep, _: CurrentStaff, group_by: GroupBy = None
) -> StreamingResponse:
    """The dashboard rows as CSV: one column per grouping field, then the figures."""
    return csv_response(await service.export(flt, group_by), "dashboard.csv")
