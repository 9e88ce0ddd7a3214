"""The contacts service's reads of its copies of other services' data, each through
``crm_shared.copies.wait_for_copy`` so none is older than what the caller has seen:
staff and competences (``crm.staff``, for assignments and the ``assigned_to`` filter),
campaign memberships and the CRM admin lists (``crm.campaigns``) and history entries
(``crm.history``, the ``history.*`` filters)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_contacts.crm_lists import CrmLists, CrmListsUnknown, uses_lists
from crm_contacts.models import CrmSettingsCopy
from crm_contacts.repository import ContactRepository
from crm_contacts.schemas import ContactFilter
from crm_contacts.settings import Settings
from crm_shared.copies import wait_for_copy
from crm_shared.events import Assignment, Topic
from crm_shared.events.campaigns import CRM_SETTINGS_SUBJECT
from crm_shared.service import Runtime

_HISTORY_FILTERS = tuple(name for name in ContactFilter.model_fields if name.startswith("history_"))


def filter_topics(f: ContactFilter) -> list[str]:
    """The copies a filter reads (a group may hold a saved filter: it may read all)."""
    topics = []
    grouped = f.group_id is not None
    if f.assigned_to or grouped:
        topics.append(Topic.STAFF.value)
    if f.campaign_id or grouped:
        topics.append(Topic.CAMPAIGNS.value)
    if grouped or any(getattr(f, name) is not None for name in _HISTORY_FILTERS):
        topics.append(Topic.HISTORY.value)
    return topics


class ContactCopies:
    """Waits for, and reads, the copies a request of the contacts service needs."""

    def __init__(self, runtime: Runtime[Settings]) -> None:
        self._runtime = runtime

    async def wait_for_assignee(self, assignment: Assignment | None) -> None:
        """The staff member or competence an assignment names, as current as the caller
        has seen (a staff member created a moment ago included); the service then refuses
        an unknown one (422)."""
        if assignment is None or assignment.mode == "all":
            return
        if assignment.mode == "staff" and assignment.staff_id:
            ident, staff = assignment.staff_id, True
        elif assignment.mode == "competence" and assignment.competence_id:
            ident, staff = assignment.competence_id, False
        else:
            return

        async def load(session: AsyncSession) -> bool:
            repo = ContactRepository(session)
            if staff:
                return await repo.staff_exists(ident)
            return await repo.competence_exists(ident)

        await wait_for_copy(self._runtime, Topic.STAFF, keys=[ident], load=load)

    async def wait_for_filter(self, f: ContactFilter) -> None:
        """Before a filter runs: the copies it reads have reached what the caller has seen
        (a history entry or campaign membership just written is found)."""
        if topics := filter_topics(f):
            await wait_for_copy(self._runtime, topics)

    async def load_crm_lists(self) -> CrmLists | None:
        """The admin lists as current as the caller has seen; None if none arrived yet."""

        async def load(session: AsyncSession) -> CrmSettingsCopy | None:
            return await ContactRepository(session).crm_settings()

        copy = await wait_for_copy(
            self._runtime,
            Topic.CAMPAIGNS,
            keys=[CRM_SETTINGS_SUBJECT],
            load=load,
            ready=lambda found: found is not None,
        )
        return CrmLists(copy) if copy is not None else None

    async def crm_lists(self, crm: dict[str, Any] | None) -> CrmLists | None:
        """The admin lists, when ``crm`` sets a value one governs (else None); 503 while
        no list is known yet."""
        if not uses_lists(crm):
            return None
        lists = await self.load_crm_lists()
        if lists is None:
            raise CrmListsUnknown()
        return lists
