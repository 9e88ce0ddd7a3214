"""Seed 002 on SQLite without servers: a contact in the inbox or archived gets no campaign
membership and no opportunity; once accepted or restored it gets both at once."""

from __future__ import annotations

import pytest
from campaigns_rules import copy_contact, create_campaign, create_opportunity

from crm_campaigns.campaigns.service import CampaignService
from crm_campaigns.settings import Settings
from crm_shared.errors import Problem
from crm_shared.service import Runtime


@pytest.mark.parametrize("status", ["inbox", "archived"])
async def test_a_limited_contact_gets_no_membership_and_no_opportunity(
    runtime: Runtime[Settings], status: str
) -> None:
    contact = await copy_contact(runtime, status=status)
    campaign = await create_campaign(runtime)
    with pytest.raises(Problem) as no_member:
        async with runtime.database.unit_of_work() as session:
            await CampaignService(session, runtime).add_members(campaign.id, [contact])
    with pytest.raises(Problem) as no_opportunity:
        await create_opportunity(runtime, contact)
    for refused, field in ((no_member, "contact_ids"), (no_opportunity, "contact_id")):
        assert refused.value.status == 409
        assert refused.value.extra["contact_status"] == status
        assert refused.value.errors is not None
        assert refused.value.errors[0]["field"] == field

    await copy_contact(runtime, contact, status="prospect", version=2)  # accepted, restored
    async with runtime.database.unit_of_work() as session:
        added = await CampaignService(session, runtime).add_members(campaign.id, [contact])
    assert added.added == [contact]
    assert (await create_opportunity(runtime, contact)).contact_id == contact
