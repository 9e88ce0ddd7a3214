"""Rules of the CRM dashboard on SQLite (its fact table, no totals) without servers."""

from __future__ import annotations

from decimal import Decimal

from campaigns_rules import copy_contact, create_campaign, create_opportunity

from crm_campaigns.dashboard.service import DashboardService
from crm_campaigns.opportunities.schemas import OpportunityFilter
from crm_campaigns.settings import Settings
from crm_shared.service import Runtime


async def test_a_multi_valued_field_counts_an_opportunity_once_per_group(
    runtime: Runtime[Settings],
) -> None:
    contact = await copy_contact(runtime)
    spring, autumn = await create_campaign(runtime), await create_campaign(runtime)
    await create_opportunity(
        runtime,
        contact,
        revenue_potential=Decimal("10000"),
        products=["CRM Cloud", "Support"],
        campaign_ids=[spring.id, autumn.id],
    )
    await create_opportunity(
        runtime, contact, revenue_potential=Decimal("500"), products=["Support"]
    )
    await create_opportunity(runtime, contact, revenue_potential=Decimal("60"))

    async with runtime.database.unit_of_work() as session:
        dashboard = DashboardService(session, runtime)
        by_product = await dashboard.dashboard(OpportunityFilter(), "product")
        by_campaign = await dashboard.dashboard(OpportunityFilter(), "campaign,crm_status")
        [total] = (await dashboard.dashboard(OpportunityFilter(), None)).groups
    assert [(g.key["product"], g.count, str(g.revenue_potential)) for g in by_product.groups] == [
        ("CRM Cloud", 1, "10000.00"),
        ("Support", 2, "10500.00"),
        (None, 1, "60.00"),  # one without any product
    ]
    assert sum(g.count for g in by_campaign.groups) == 4  # once in each of its two campaigns
    assert {g.key["campaign"] for g in by_campaign.groups} == {spring.id, autumn.id, None}
    assert by_campaign.names["campaign"] == {spring.id: "Frühjahr", autumn.id: "Frühjahr"}
    assert (total.count, str(total.revenue_potential)) == (3, "10560.00")
