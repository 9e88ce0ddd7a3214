"""Rules of campaigns and their members, on SQLite without servers (the fast lane)."""

from __future__ import annotations

import uuid

import pytest
from campaigns_rules import copy_contact, create_campaign

from crm_campaigns.campaigns.service import CampaignService
from crm_campaigns.settings import Settings
from crm_dev.rules import emitted
from crm_shared.errors import Problem
from crm_shared.service import Runtime


async def test_a_retired_campaign_refuses_new_members_and_keeps_its_members(
    runtime: Runtime[Settings],
) -> None:
    campaign = await create_campaign(runtime)
    member, newcomer = await copy_contact(runtime), await copy_contact(runtime)
    async with runtime.database.unit_of_work() as session:
        await CampaignService(session, runtime).add_members(campaign.id, [member])
    for _ in range(2):  # retiring is idempotent
        async with runtime.database.unit_of_work() as session:
            await CampaignService(session, runtime).retire(campaign.id)
    with pytest.raises(Problem) as refused:
        async with runtime.database.unit_of_work() as session:
            await CampaignService(session, runtime).add_members(campaign.id, [newcomer])
    assert refused.value.status == 409
    async with runtime.database.unit_of_work() as session:
        service = CampaignService(session, runtime)
        assert (await service.get(campaign.id)).retired
        members = await service.members_page(campaign.id, None, 50)
    assert [m.contact_id for m in members.items] == [member]
    assert len(await emitted(runtime.database, "CampaignRetired")) == 1


async def test_members_are_added_all_or_nothing(runtime: Runtime[Settings]) -> None:
    campaign = await create_campaign(runtime)
    known, unknown = await copy_contact(runtime), str(uuid.uuid4())
    with pytest.raises(Problem) as refused:
        async with runtime.database.unit_of_work() as session:
            await CampaignService(session, runtime).add_members(campaign.id, [known, unknown])
    assert refused.value.status == 422
    assert refused.value.errors == [
        {"field": "contact_ids", "message": f"unknown contact {unknown}"}
    ]
    async with runtime.database.unit_of_work() as session:
        service = CampaignService(session, runtime)
        assert (await service.members_page(campaign.id, None, 50)).items == []
        added = await service.add_members(campaign.id, [known, known])
    assert (added.added, added.already_members) == ([known], [])
    (event,) = await emitted(runtime.database, "CampaignMemberAdded")
    assert event.subject == known  # membership events are keyed by the contact
