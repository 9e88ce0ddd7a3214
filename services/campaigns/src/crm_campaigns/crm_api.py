"""HTTP routes of opportunities, the CRM settings, the dashboard and the CSV exports."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse

from crm_campaigns.contacts import wait_for_contact_copy, wait_for_contacts
from crm_campaigns.crm_schemas import (
    CrmSettingsData,
    Dashboard,
    DashboardGroup,
    OpportunityCreate,
    OpportunityPage,
    OpportunityPublic,
    OpportunityUpdate,
    money_str,
)
from crm_campaigns.crm_settings import load_settings
from crm_campaigns.models import ContactCopy
from crm_campaigns.opportunities import (
    OpportunityService,
    save_settings,
    to_public,
)
from crm_campaigns.queries import (
    OpportunityFilter,
    key_names,
    parse_group_by,
    run_dashboard,
    split,
)
from crm_campaigns.settings import Settings
from crm_shared import cursor as cursors
from crm_shared.auth import AdminStaff, CurrentStaff
from crm_shared.errors import Unprocessable
from crm_shared.service import Runtime, RuntimeDep, SessionDep

router = APIRouter(tags=["opportunities"])

Many = Annotated[list[str] | None, Query()]
EXPORT_BATCH = 1000


async def opportunity_filter(
    crm_status: Many = None,
    revenue_group: Many = None,
    assignee_id: Many = None,
    campaign_id: Many = None,
    product: Many = None,
    contact_id: Many = None,
    company_size: Many = None,
    company_group: Many = None,
    users_from: Annotated[int | None, Query(ge=0)] = None,
    users_to: Annotated[int | None, Query(ge=0)] = None,
) -> OpportunityFilter:
    if users_from is not None and users_to is not None and users_to < users_from:
        raise Unprocessable("users_to", "must not be below users_from")
    return OpportunityFilter(
        crm_status=split(crm_status),
        revenue_group=split(revenue_group),
        assignee_id=split(assignee_id),
        campaign_id=split(campaign_id),
        product=split(product),
        contact_id=split(contact_id),
        company_size=split(company_size),
        company_group=split(company_group),
        users_from=users_from,
        users_to=users_to,
    )


FilterDep = Annotated[OpportunityFilter, Depends(opportunity_filter)]


# --- settings ---------------------------------------------------------------------------


@router.get("/api/crm/settings", response_model=CrmSettingsData)
async def get_settings(session: SessionDep, _: CurrentStaff) -> CrmSettingsData:
    return await load_settings(session)


@router.put("/api/crm/settings", response_model=CrmSettingsData)
async def put_settings(
    data: CrmSettingsData, session: SessionDep, runtime: RuntimeDep, _: AdminStaff
) -> CrmSettingsData:
    return await save_settings(session, runtime.outbox, data)


# --- opportunities ----------------------------------------------------------------------


async def _contact(runtime: Runtime[Settings], contact_id: str) -> ContactCopy | None:
    return (await wait_for_contacts(runtime, {contact_id})).get(contact_id)


@router.post("/api/opportunities", status_code=201, response_model=OpportunityPublic)
async def create_opportunity(
    data: OpportunityCreate, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> OpportunityPublic:
    contact = await _contact(runtime, data.contact_id)
    service = OpportunityService(session, runtime.outbox)
    opportunity = await service.create(data, contact)
    return to_public(opportunity, await service.settings(), contact)


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    at, ident = cursors.decode(cursor, 2)
    try:
        return datetime.fromisoformat(str(at)), str(ident)
    except ValueError as exc:
        raise Unprocessable("cursor", "invalid cursor") from exc


@router.get("/api/opportunities", response_model=OpportunityPage)
async def list_opportunities(
    flt: FilterDep,
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> OpportunityPage:
    await wait_for_contact_copy(runtime)
    service = OpportunityService(session, runtime.outbox)
    settings = await service.settings()
    rows, contacts = await service.page(flt, settings, after=_after(cursor), limit=limit + 1)
    items = [to_public(row, settings, contacts.get(row.contact_id)) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = cursors.encode(last.created_at.isoformat(), last.id)
    return OpportunityPage(items=items, next_cursor=next_cursor)


OPPORTUNITY_COLUMNS = [
    "id",
    "contact_id",
    "contact_name",
    "title",
    "crm_status",
    "closing_probability",
    "revenue_potential",
    "currency",
    "revenue_group",
    "expected_users",
    "products",
    "campaign_ids",
    "assignee_id",
    "company_size",
    "company_group",
    "version",
    "created_at",
    "updated_at",
]


def _csv_line(values: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return ";".join(value)
    return "" if value is None else value


@router.get("/api/opportunities/export")
async def export_opportunities(
    flt: FilterDep, runtime: RuntimeDep, _: CurrentStaff
) -> StreamingResponse:
    """The filtered list as CSV, streamed in keyset batches (list values joined by ';')."""

    async def rows() -> AsyncIterator[str]:
        yield _csv_line(OPPORTUNITY_COLUMNS)
        after = None
        while True:
            async with runtime.database.sessionmaker() as session:
                service = OpportunityService(session, runtime.outbox)
                settings = await service.settings()
                batch, contacts = await service.page(flt, settings, after=after, limit=EXPORT_BATCH)
            for row in batch:
                public = to_public(row, settings, contacts.get(row.contact_id))
                data = public.model_dump(mode="json")
                yield _csv_line(_cell(data[name]) for name in OPPORTUNITY_COLUMNS)
            if len(batch) < EXPORT_BATCH:
                return
            after = (batch[-1].created_at, batch[-1].id)

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="opportunities.csv"'},
    )


@router.get("/api/opportunities/{opportunity_id}", response_model=OpportunityPublic)
async def get_opportunity(
    opportunity_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> OpportunityPublic:
    service = OpportunityService(session, runtime.outbox)
    opportunity = await service.get(opportunity_id)
    contact = await session.get(ContactCopy, opportunity.contact_id)
    return to_public(opportunity, await service.settings(), contact)


@router.patch("/api/opportunities/{opportunity_id}", response_model=OpportunityPublic)
async def update_opportunity(
    opportunity_id: str,
    data: OpportunityUpdate,
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
) -> OpportunityPublic:
    new_contact = await _contact(runtime, data.contact_id) if data.contact_id else None
    service = OpportunityService(session, runtime.outbox)
    opportunity = await service.update(opportunity_id, data, new_contact)
    contact = await session.get(ContactCopy, opportunity.contact_id)
    return to_public(opportunity, await service.settings(), contact)


@router.delete("/api/opportunities/{opportunity_id}", status_code=204)
async def delete_opportunity(
    opportunity_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> Response:
    await OpportunityService(session, runtime.outbox).delete(opportunity_id)
    return Response(status_code=204)


# --- dashboard --------------------------------------------------------------------------

GroupBy = Annotated[
    str | None,
    Query(
        description="comma-separated, in order: crm_status, contact, company_size, "
        "revenue_group, company_group, product, campaign, assignee"
    ),
]


async def _dashboard(session: Any, flt: OpportunityFilter, group_by: list[str]) -> list[Any]:
    settings = await load_settings(session)
    return await run_dashboard(session, flt, settings, group_by)


@router.get("/api/dashboard", response_model=Dashboard)
async def dashboard(
    flt: FilterDep,
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
    group_by: GroupBy = None,
) -> Dashboard:
    await wait_for_contact_copy(runtime)  # company facts come from contact events
    fields = parse_group_by(group_by)
    groups = await _dashboard(session, flt, fields)
    return Dashboard(
        group_by=fields,
        groups=[DashboardGroup(**g) for g in groups],
        names=await key_names(session, fields, groups),
    )


@router.get("/api/dashboard/export")
async def export_dashboard(
    flt: FilterDep, session: SessionDep, _: CurrentStaff, group_by: GroupBy = None
) -> StreamingResponse:
    """The dashboard rows as CSV: one column per grouping field, then the figures."""
    fields = parse_group_by(group_by)
    groups = await _dashboard(session, flt, fields)

    def lines() -> Iterable[str]:
        yield _csv_line([*fields, "count", "revenue_potential", "weighted_revenue"])
        for g in groups:
            yield _csv_line(
                [
                    *(_cell(g["key"][f]) for f in fields),
                    g["count"],
                    money_str(g["revenue_potential"]),
                    money_str(g["weighted_revenue"]),
                ]
            )

    return StreamingResponse(
        iter(lines()),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="dashboard.csv"'},
    )
