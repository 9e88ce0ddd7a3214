"""Business rules of opportunities and the CRM settings. Adds outbox events; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crm_campaigns.crm_schemas import (
    CENT,
    DEFAULT_SETTINGS,
    CrmSettingsData,
    OpportunityCreate,
    OpportunityPublic,
    OpportunityUpdate,
    money_str,
)
from crm_campaigns.crm_settings import announce, load_settings
from crm_campaigns.facts import FACT, hold_settings, regroup_revenue, sync_facts
from crm_campaigns.models import (
    Campaign,
    ContactCopy,
    CrmSettings,
    Opportunity,
    OpportunityCampaign,
    OpportunityProduct,
)
from crm_campaigns.queries import OpportunityFilter, opportunity_ids_page
from crm_campaigns.repository import org_of
from crm_campaigns.service import DELETED
from crm_shared.contact_status import check_not_restricted
from crm_shared.db import table_of
from crm_shared.errors import NotFound, Unprocessable
from crm_shared.events import (
    OpportunityCreated,
    OpportunityDeleted,
    OpportunityUpdated,
    utcnow,
)
from crm_shared.outbox import Outbox

EVENT_FIELDS = (
    "contact_id",
    "title",
    "crm_status",
    "closing_probability",
    "currency",
    "expected_users",
    "campaign_ids",
    "products",
    "assignee_id",
    "version",
)


async def save_settings(
    session: AsyncSession, outbox: Outbox, data: CrmSettingsData
) -> CrmSettingsData:
    await hold_settings(session, exclusive=True)  # writers of dashboard facts wait
    row = await session.get(CrmSettings, 1, with_for_update=True)
    if row is None:
        row = CrmSettings(id=1)
        session.add(row)
    before = CrmSettingsData.model_validate(row.data) if row.data else DEFAULT_SETTINGS
    row.data = data.model_dump(mode="json")
    row.updated_at = utcnow()
    row.version = (row.version or 0) + 1
    await session.flush()
    if before.revenue_groups != data.revenue_groups:
        await regroup_revenue(session, data)
    announce(session, outbox, data, row.version)
    return data


def cents(amount: Decimal) -> int:
    return int(Decimal(amount).quantize(CENT) * 100)


def to_public(
    opportunity: Opportunity, settings: CrmSettingsData, contact: ContactCopy | None
) -> OpportunityPublic:
    return OpportunityPublic(
        **opportunity.model_dump(),
        contact_name=contact.name if contact else None,
        revenue_group=settings.revenue_group_of(opportunity.revenue_potential),
    )


class OpportunityService:
    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        self.session = session
        self.outbox = outbox

    async def settings(self) -> CrmSettingsData:
        return await load_settings(self.session)

    # --- checks ---------------------------------------------------------------------

    async def _check_values(
        self, settings: CrmSettingsData, crm_status: str | None, products: list[str] | None
    ) -> None:
        if crm_status is not None and crm_status not in settings.opportunity_statuses:
            raise Unprocessable(
                "crm_status",
                f"{crm_status!r} is not in the admin list of opportunity statuses",
            )
        for product in products or []:
            if product not in settings.products:
                raise Unprocessable("products", f"{product!r} is not in the admin product list")

    async def _check_campaigns(self, campaign_ids: list[str]) -> None:
        """New links need campaigns that exist and are not retired."""
        if not campaign_ids:
            return
        rows = await self.session.scalars(
            select(Campaign).where(col(Campaign.id).in_(set(campaign_ids)))
        )
        found = {row.id: row for row in rows}
        for campaign_id in campaign_ids:
            campaign = found.get(campaign_id)
            if campaign is None:
                raise Unprocessable("campaign_ids", f"unknown campaign {campaign_id}")
            if campaign.retired_at is not None:
                raise Unprocessable(
                    "campaign_ids", f"campaign {campaign_id} is retired: choose an active one"
                )

    @staticmethod
    def _check_contact(contact_id: str, contact: ContactCopy | None) -> ContactCopy:
        """A new opportunity (or one moved to another contact) needs a known contact that
        is not in the inbox or archived (seed 002)."""
        if contact is None or contact.status == DELETED:
            raise Unprocessable("contact_id", f"unknown contact {contact_id}")
        check_not_restricted(contact_id, contact.status, "opportunities")
        return contact

    # --- changes --------------------------------------------------------------------

    async def _set_links(
        self, opportunity: Opportunity, products: list[str], campaign_ids: list[str]
    ) -> None:
        product_link = table_of(OpportunityProduct)
        campaign_link = table_of(OpportunityCampaign)
        await self.session.execute(
            sa.delete(product_link).where(product_link.c.opportunity_id == opportunity.id)
        )
        await self.session.execute(
            sa.delete(campaign_link).where(campaign_link.c.opportunity_id == opportunity.id)
        )
        if products:
            await self.session.execute(
                sa.insert(product_link),
                [{"opportunity_id": opportunity.id, "product": p} for p in products],
            )
        if campaign_ids:
            await self.session.execute(
                sa.insert(campaign_link),
                [{"opportunity_id": opportunity.id, "campaign_id": c} for c in campaign_ids],
            )

    def _snapshot(self, opportunity: Opportunity) -> dict[str, Any]:
        return {
            "opportunity_id": opportunity.id,
            "revenue_potential": money_str(opportunity.revenue_potential),
            **{name: getattr(opportunity, name) for name in EVENT_FIELDS},
        }

    async def _set_company(self, opportunity: Opportunity, contact: ContactCopy) -> None:
        opportunity.org_id = org_of(contact)
        org = contact
        if opportunity.org_id != contact.contact_id:
            org = await self.session.get(ContactCopy, opportunity.org_id)  # type: ignore[assignment]
        opportunity.company_size = org.company_size if org else None
        opportunity.company_group = org.company_group if org else None

    async def create(self, data: OpportunityCreate, contact: ContactCopy | None) -> Opportunity:
        known = self._check_contact(data.contact_id, contact)
        settings = await self.settings()
        products = list(dict.fromkeys(data.products))
        campaign_ids = list(dict.fromkeys(data.campaign_ids))
        await self._check_values(settings, data.crm_status, products)
        await self._check_campaigns(campaign_ids)
        opportunity = Opportunity(
            **data.model_dump(exclude={"products", "campaign_ids"}),
            products=products,
            campaign_ids=campaign_ids,
        )
        opportunity.revenue_cents = cents(opportunity.revenue_potential)
        await self._set_company(opportunity, known)
        self.session.add(opportunity)
        await self.session.flush()
        await self._set_links(opportunity, products, campaign_ids)
        await sync_facts(self.session, [opportunity.id])
        self.outbox.emit(self.session, OpportunityCreated(**self._snapshot(opportunity)))
        return opportunity

    async def get(self, opportunity_id: str) -> Opportunity:
        opportunity = await self.session.get(Opportunity, opportunity_id)
        if opportunity is None:
            raise NotFound("opportunity", opportunity_id)
        return opportunity

    async def update(
        self, opportunity_id: str, data: OpportunityUpdate, contact: ContactCopy | None
    ) -> Opportunity:
        opportunity = await self.get(opportunity_id)
        values = data.model_dump(exclude_unset=True)
        if "products" in values:
            values["products"] = list(dict.fromkeys(values["products"]))
        if "campaign_ids" in values:
            values["campaign_ids"] = list(dict.fromkeys(values["campaign_ids"]))
        changed = [name for name, value in values.items() if getattr(opportunity, name) != value]
        if not changed:
            return opportunity
        if "contact_id" in changed:
            self._check_contact(values["contact_id"], contact)
        settings = await self.settings()
        await self._check_values(
            settings,
            values["crm_status"] if "crm_status" in changed else None,
            # products already on it stay valid when the admin list shrinks
            [p for p in values.get("products", []) if p not in opportunity.products],
        )
        if "campaign_ids" in changed:
            # links to campaigns retired since stay; only new links must be active
            await self._check_campaigns(
                [c for c in values["campaign_ids"] if c not in opportunity.campaign_ids]
            )
        for name in changed:
            setattr(opportunity, name, values[name])
        opportunity.revenue_cents = cents(opportunity.revenue_potential)
        if "contact_id" in changed and contact is not None:
            await self._set_company(opportunity, contact)
        opportunity.version += 1
        opportunity.updated_at = utcnow()
        await self.session.flush()
        if {"products", "campaign_ids"} & set(changed):
            await self._set_links(opportunity, opportunity.products, opportunity.campaign_ids)
        await sync_facts(self.session, [opportunity.id])
        self.outbox.emit(
            self.session, OpportunityUpdated(**self._snapshot(opportunity), changed=changed)
        )
        return opportunity

    async def delete(self, opportunity_id: str) -> None:
        opportunity = await self.get(opportunity_id)
        await self._delete(opportunity)

    async def _delete(self, opportunity: Opportunity) -> None:
        await self._set_links(opportunity, [], [])
        await self.session.execute(sa.delete(FACT).where(FACT.c.opportunity_id == opportunity.id))
        await self.session.delete(opportunity)
        await self.session.flush()
        self.outbox.emit(
            self.session,
            OpportunityDeleted(opportunity_id=opportunity.id, contact_id=opportunity.contact_id),
        )

    async def erase_contact(self, contact_id: str) -> None:
        """GDPR: a deleted contact's opportunities go too (each with its event)."""
        rows = await self.session.scalars(
            select(Opportunity).where(col(Opportunity.contact_id) == contact_id)
        )
        for opportunity in rows.all():
            await self._delete(opportunity)

    # --- reading --------------------------------------------------------------------

    async def page(
        self,
        flt: OpportunityFilter,
        settings: CrmSettingsData,
        *,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> tuple[Sequence[Opportunity], dict[str, ContactCopy]]:
        ids = [
            row.id
            for row in await self.session.execute(
                opportunity_ids_page(flt, settings, after=after, limit=limit)
            )
        ]
        if not ids:
            return [], {}
        rows = await self.session.scalars(select(Opportunity).where(col(Opportunity.id).in_(ids)))
        by_id = {row.id: row for row in rows}
        ordered = [by_id[i] for i in ids if i in by_id]
        contact_ids = {row.contact_id for row in ordered}
        contacts = await self.session.scalars(
            select(ContactCopy).where(col(ContactCopy.contact_id).in_(contact_ids))
        )
        return ordered, {c.contact_id: c for c in contacts}
