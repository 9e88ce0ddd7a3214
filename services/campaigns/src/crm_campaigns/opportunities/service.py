"""Rules of opportunities (seed 003 "CRM im Ticket"). Adds outbox events; never commits.

Every change of an opportunity rewrites its dashboard facts in the same transaction
(``crm_campaigns.dashboard.facts``, their one writer)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_campaigns.campaigns.service import CampaignService
from crm_campaigns.contact_copies.service import ContactCopyService, org_of
from crm_campaigns.crm_settings.schemas import CrmSettingsData
from crm_campaigns.crm_settings.service import CrmSettingsService
from crm_campaigns.dashboard import facts
from crm_campaigns.models import DELETED, ContactCopy, Opportunity
from crm_campaigns.money import cents, money_str
from crm_campaigns.opportunities.repository import OpportunityRepository
from crm_campaigns.opportunities.schemas import (
    OpportunityCreate,
    OpportunityFilter,
    OpportunityPage,
    OpportunityPublic,
    OpportunityUpdate,
    opportunity_csv,
    opportunity_csv_header,
)
from crm_campaigns.settings import Settings
from crm_shared import cursor as cursors
from crm_shared.contact_status import check_not_restricted
from crm_shared.db import Database
from crm_shared.errors import NotFound, Unprocessable
from crm_shared.events import (
    OpportunityCreated,
    OpportunityDeleted,
    OpportunityUpdated,
    utcnow,
)
from crm_shared.service import Runtime

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
EXPORT_BATCH = 1000


class OpportunityService:
    def __init__(self, session: AsyncSession, runtime: Runtime[Settings]) -> None:
        self._session = session
        self._runtime = runtime
        self._outbox = runtime.outbox
        self._repo = OpportunityRepository(session)
        self._copies = ContactCopyService(session, runtime)
        self._campaigns = CampaignService(session, runtime)
        self._settings = CrmSettingsService(session, runtime)

    # --- checks ---------------------------------------------------------------------

    @staticmethod
    def _check_values(
        settings: CrmSettingsData, crm_status: str | None, products: list[str] | None
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
        found = await self._campaigns.many(set(campaign_ids))
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

    def _snapshot(self, opportunity: Opportunity) -> dict[str, Any]:
        return {
            "opportunity_id": opportunity.id,
            "revenue_potential": money_str(opportunity.revenue_potential),
            **{name: getattr(opportunity, name) for name in EVENT_FIELDS},
        }

    async def _set_company(self, opportunity: Opportunity, contact: ContactCopy) -> None:
        opportunity.org_id = org_of(contact)
        org: ContactCopy | None = contact
        if opportunity.org_id != contact.contact_id:
            org = await self._copies.get(opportunity.org_id)
        opportunity.company_size = org.company_size if org else None
        opportunity.company_group = org.company_group if org else None

    async def _contact(self, contact_id: str) -> ContactCopy | None:
        """The contact's copy, no older than the caller has seen (waited for a while)."""
        return (await self._copies.wait_for({contact_id})).get(contact_id)

    async def create(self, data: OpportunityCreate) -> OpportunityPublic:
        contact = await self._contact(data.contact_id)
        known = self._check_contact(data.contact_id, contact)
        settings = await self._settings.current()
        products = list(dict.fromkeys(data.products))
        campaign_ids = list(dict.fromkeys(data.campaign_ids))
        self._check_values(settings, data.crm_status, products)
        await self._check_campaigns(campaign_ids)
        opportunity = Opportunity(
            **data.model_dump(exclude={"products", "campaign_ids"}),
            products=products,
            campaign_ids=campaign_ids,
        )
        opportunity.revenue_cents = cents(opportunity.revenue_potential)
        await self._set_company(opportunity, known)
        self._repo.add(opportunity)
        await self._repo.flush()
        await self._repo.set_links(opportunity, products, campaign_ids)
        await facts.sync_facts(self._session, [opportunity.id])
        self._outbox.emit(self._session, OpportunityCreated(**self._snapshot(opportunity)))
        return OpportunityPublic.of(opportunity, await self._settings.current(), contact)

    async def get(self, opportunity_id: str) -> OpportunityPublic:
        return await self._public(await self._opportunity(opportunity_id))

    async def update(self, opportunity_id: str, data: OpportunityUpdate) -> OpportunityPublic:
        """Only *new* campaign links must be active and only new products in the list;
        ``version`` grows with every change (a change to nothing changes nothing)."""
        contact = await self._contact(data.contact_id) if data.contact_id else None
        opportunity = await self._opportunity(opportunity_id)
        values = data.model_dump(exclude_unset=True)
        if "products" in values:
            values["products"] = list(dict.fromkeys(values["products"]))
        if "campaign_ids" in values:
            values["campaign_ids"] = list(dict.fromkeys(values["campaign_ids"]))
        changed = [name for name, value in values.items() if getattr(opportunity, name) != value]
        if not changed:
            return await self._public(opportunity)
        if "contact_id" in changed:
            self._check_contact(values["contact_id"], contact)
        settings = await self._settings.current()
        self._check_values(
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
        await self._repo.flush()
        if {"products", "campaign_ids"} & set(changed):
            await self._repo.set_links(opportunity, opportunity.products, opportunity.campaign_ids)
        await facts.sync_facts(self._session, [opportunity.id])
        self._outbox.emit(
            self._session, OpportunityUpdated(**self._snapshot(opportunity), changed=changed)
        )
        return await self._public(opportunity)

    async def delete(self, opportunity_id: str) -> None:
        await self._delete(await self._opportunity(opportunity_id))

    async def _delete(self, opportunity: Opportunity) -> None:
        await self._repo.set_links(opportunity, [], [])
        await facts.delete_facts(self._session, opportunity.id)
        await self._repo.delete(opportunity)
        await self._repo.flush()
        self._outbox.emit(
            self._session,
            OpportunityDeleted(opportunity_id=opportunity.id, contact_id=opportunity.contact_id),
        )

    # --- contact events ---------------------------------------------------------------

    async def erase_contact(self, contact_id: str) -> None:
        """GDPR: a deleted contact's opportunities go too (each with its event)."""
        for opportunity in await self._repo.of_contact(contact_id):
            await self._delete(opportunity)

    async def follow_contacts(self, contact_ids: Sequence[str]) -> None:
        """After contacts' copies changed: the opportunities of those contacts follow their
        (new) company, and those whose company they are get its facts (with their
        dashboard facts). A new contact has no opportunities yet: one query, usually
        empty (an import)."""
        for contact_id in await self._repo.with_opportunities(contact_ids):
            copy = await self._copies.get(contact_id, fresh=True)
            if copy is not None:
                touched = await self._repo.refresh_company_facts(copy, org_of(copy))
                await facts.sync_facts(self._session, touched)

    # --- reading --------------------------------------------------------------------

    async def page(self, flt: OpportunityFilter, cursor: str | None, limit: int) -> OpportunityPage:
        """Newest first, keyset on (created_at, id); names and company facts as the
        contact copy has them, no older than the caller has seen."""
        await self._copies.wait_until_current()
        after = cursors.keyset(cursor, datetime, str)
        rows, settings, contacts = await self._rows(flt, after, limit + 1)
        last = rows[limit - 1] if len(rows) > limit else None
        return OpportunityPage(
            items=[
                OpportunityPublic.of(r, settings, contacts.get(r.contact_id)) for r in rows[:limit]
            ],
            next_cursor=cursors.encode(last.created_at, last.id) if last else None,
        )

    async def export(self, db: Database, flt: OpportunityFilter) -> AsyncIterator[str]:
        """The filtered list as CSV lines, read in keyset batches of ``EXPORT_BATCH``.

        Takes the database: the response streams on after the request's unit of work has
        ended, so each batch reads in a short session of its own."""
        yield opportunity_csv_header()
        after = None
        while True:
            async with db.sessionmaker() as session:
                batch = OpportunityService(session, self._runtime)
                rows, settings, contacts = await batch._rows(flt, after, EXPORT_BATCH)
            for row in rows:
                yield opportunity_csv(
                    OpportunityPublic.of(row, settings, contacts.get(row.contact_id))
                )
            if len(rows) < EXPORT_BATCH:
                return
            after = (rows[-1].created_at, rows[-1].id)

    async def _rows(
        self, flt: OpportunityFilter, after: tuple[datetime, str] | None, limit: int
    ) -> tuple[list[Opportunity], CrmSettingsData, dict[str, ContactCopy]]:
        settings = await self._settings.current()
        rows = await self._repo.page(flt, settings, after=after, limit=limit)
        contacts = await self._copies.many({row.contact_id for row in rows})
        return rows, settings, contacts

    async def _opportunity(self, opportunity_id: str) -> Opportunity:
        opportunity = await self._repo.get(opportunity_id)
        if opportunity is None:
            raise NotFound("opportunity", opportunity_id)
        return opportunity

    async def _public(self, opportunity: Opportunity) -> OpportunityPublic:
        """As the API shows it: with its contact's name and its revenue group."""
        contact = await self._copies.get(opportunity.contact_id)
        return OpportunityPublic.of(opportunity, await self._settings.current(), contact)
