"""Rules of opportunities on SQLite without servers (the fast lane): values from the admin
lists, active campaigns for new links, the revenue group, money as NUMERIC(14,2)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from campaigns_rules import copy_contact, create_campaign, create_opportunity
from pydantic import ValidationError

from crm_campaigns.campaigns.service import CampaignService
from crm_campaigns.crm_settings.schemas import CrmSettingsData
from crm_campaigns.crm_settings.service import CrmSettingsService
from crm_campaigns.dashboard.service import DashboardService
from crm_campaigns.opportunities.schemas import (
    OpportunityCreate,
    OpportunityFilter,
    OpportunityUpdate,
)
from crm_campaigns.opportunities.service import OpportunityService
from crm_campaigns.settings import Settings
from crm_dev.rules import emitted
from crm_shared.errors import Problem
from crm_shared.service import Runtime


def refused_field(caught: pytest.ExceptionInfo[Problem]) -> str:
    assert caught.value.status == 422, caught.value.detail
    assert caught.value.errors is not None
    return caught.value.errors[0]["field"]


async def save_settings(runtime: Runtime[Settings], **changes: object) -> CrmSettingsData:
    async with runtime.database.unit_of_work() as session:
        service = CrmSettingsService(session, runtime)
        current = (await service.current()).model_dump(mode="json")
        return await service.save(CrmSettingsData.model_validate({**current, **changes}))


async def test_crm_status_and_products_must_be_in_the_admin_lists(
    runtime: Runtime[Settings],
) -> None:
    contact = await copy_contact(runtime)
    for fields, field in (
        ({"crm_status": "Unbekannt"}, "crm_status"),
        ({"products": ["Wartung"]}, "products"),
    ):
        with pytest.raises(Problem) as caught:
            await create_opportunity(runtime, contact, **fields)
        assert refused_field(caught) == field
    await save_settings(runtime, products=["CRM Cloud", "Wartung"])
    opportunity = await create_opportunity(runtime, contact, products=["Wartung", "CRM Cloud"])
    assert opportunity.products == ["Wartung", "CRM Cloud"]

    # products already on it stay valid when the list shrinks; new ones must be listed
    await save_settings(runtime, products=["CRM Cloud"])
    async with runtime.database.unit_of_work() as session:
        service = OpportunityService(session, runtime)
        kept = await service.update(opportunity.id, OpportunityUpdate(products=["Wartung"]))
        assert kept.products == ["Wartung"]
        with pytest.raises(Problem) as caught:
            await service.update(opportunity.id, OpportunityUpdate(products=["Support"]))
    assert refused_field(caught) == "products"


async def test_a_retired_campaign_is_refused_on_new_links_only(
    runtime: Runtime[Settings],
) -> None:
    contact = await copy_contact(runtime)
    active, retiring = await create_campaign(runtime), await create_campaign(runtime)
    opportunity = await create_opportunity(runtime, contact, campaign_ids=[active.id, retiring.id])
    async with runtime.database.unit_of_work() as session:
        await CampaignService(session, runtime).retire(retiring.id)
    with pytest.raises(Problem) as caught:
        await create_opportunity(runtime, contact, campaign_ids=[retiring.id])
    assert refused_field(caught) == "campaign_ids"
    assert "retired" in caught.value.detail
    async with runtime.database.unit_of_work() as session:
        kept = await OpportunityService(session, runtime).update(
            opportunity.id, OpportunityUpdate(title="Geändert", campaign_ids=[retiring.id])
        )
    assert kept.campaign_ids == [retiring.id]  # an existing link stays


async def test_the_revenue_group_follows_the_revenue_potential_and_the_admin_list(
    runtime: Runtime[Settings],
) -> None:
    contact = await copy_contact(runtime)
    small = await create_opportunity(runtime, contact, revenue_potential=Decimal("500"))
    middle = await create_opportunity(runtime, contact, revenue_potential=Decimal("12500"))
    large = await create_opportunity(runtime, contact, revenue_potential=Decimal("60000"))
    assert [o.revenue_group for o in (small, middle, large)] == ["klein", "mittel", "groß"]

    await save_settings(runtime, revenue_groups=[{"name": "bis 20.000", "min": 0, "max": 20000}])
    async with runtime.database.unit_of_work() as session:
        service = OpportunityService(session, runtime)
        regrouped = [(await service.get(o.id)).revenue_group for o in (small, middle, large)]
        dashboard = await DashboardService(session, runtime).dashboard(
            OpportunityFilter(), "revenue_group"
        )
    assert regrouped == ["bis 20.000", "bis 20.000", None]  # 60,000 is in no group now
    # the dashboard's facts were re-grouped in the same transaction as the save
    assert [(g.key["revenue_group"], g.count) for g in dashboard.groups] == [
        ("bis 20.000", 2),
        (None, 1),
    ]


async def test_money_is_numeric_14_2_and_written_with_two_decimals(
    runtime: Runtime[Settings],
) -> None:
    contact = await copy_contact(runtime)
    opportunity = await create_opportunity(
        runtime, contact, revenue_potential=Decimal("250000.5"), closing_probability=75
    )
    body = opportunity.model_dump(mode="json")
    assert body["revenue_potential"] == "250000.50"
    (created,) = await emitted(runtime.database, "OpportunityCreated")
    assert created.data["revenue_potential"] == "250000.50"  # type: ignore[index]
    async with runtime.database.unit_of_work() as session:
        [total] = (
            await DashboardService(session, runtime).dashboard(OpportunityFilter(), None)
        ).groups
    assert total.model_dump(mode="json")["revenue_potential"] == "250000.50"
    assert total.model_dump(mode="json")["weighted_revenue"] == "187500.38"  # half-up

    for amount in ("1.005", "-1", "1000000000000"):  # a third decimal, below 0, 13 digits
        with pytest.raises(ValidationError):
            OpportunityCreate(
                contact_id=contact,
                title="T",
                crm_status="Bedarf ermittelt",
                closing_probability=10,
                revenue_potential=Decimal(amount),
            )
    assert (
        OpportunityCreate(
            contact_id=contact,
            title="T",
            crm_status="Bedarf ermittelt",
            closing_probability=10,
            revenue_potential=Decimal("999999999999.99"),
        ).model_dump(mode="json")["revenue_potential"]
        == "999999999999.99"
    )
