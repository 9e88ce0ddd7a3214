"""Every service as the operator tools see it: its settings, migrations and consumers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crm_campaigns.deps
import crm_campaigns.handlers
import crm_campaigns.main
import crm_campaigns.settings
import crm_contacts.deps
import crm_contacts.handlers
import crm_contacts.main
import crm_contacts.settings
import crm_gateway.main
import crm_gateway.settings
import crm_history.deps
import crm_history.handlers
import crm_history.main
import crm_history.settings
import crm_interactions.deps
import crm_interactions.handlers
import crm_interactions.main
import crm_interactions.settings
import crm_notifier.deps
import crm_notifier.handlers
import crm_notifier.main
import crm_notifier.settings
import crm_reminders.deps
import crm_reminders.handlers
import crm_reminders.main
import crm_reminders.settings
from crm_shared.consumer import EventConsumer
from crm_shared.service import Runtime, ServiceDeps
from crm_shared.settings import ServiceSettings


@dataclass(frozen=True)
class ServiceEntry:
    name: str
    settings: type[ServiceSettings]
    migrations: Path
    deps: Callable[[Runtime[Any]], ServiceDeps[Any]] | None = None
    """Builds the service's dependencies (without connecting: see ServiceDeps)."""
    consumers: Callable[[Any], Sequence[EventConsumer]] | None = None
    """The service's consumers, from those dependencies."""


SERVICES: dict[str, ServiceEntry] = {
    entry.name: entry
    for entry in (
        ServiceEntry(
            "contacts",
            crm_contacts.settings.Settings,
            crm_contacts.main.MIGRATIONS,
            crm_contacts.deps.ContactsDeps.build,
            crm_contacts.handlers.consumers,
        ),
        ServiceEntry(
            "history",
            crm_history.settings.Settings,
            crm_history.main.MIGRATIONS,
            crm_history.deps.HistoryDeps.build,
            crm_history.handlers.consumers,
        ),
        ServiceEntry(
            "interactions",
            crm_interactions.settings.Settings,
            crm_interactions.main.MIGRATIONS,
            crm_interactions.deps.InteractionsDeps.build,
            crm_interactions.handlers.consumers,
        ),
        ServiceEntry(
            "campaigns",
            crm_campaigns.settings.Settings,
            crm_campaigns.main.MIGRATIONS,
            crm_campaigns.deps.CampaignsDeps.build,
            crm_campaigns.handlers.consumers,
        ),
        ServiceEntry(
            "reminders",
            crm_reminders.settings.Settings,
            crm_reminders.main.MIGRATIONS,
            crm_reminders.deps.RemindersDeps.build,
            crm_reminders.handlers.consumers,
        ),
        ServiceEntry(
            "notifier",
            crm_notifier.settings.Settings,
            crm_notifier.main.MIGRATIONS,
            crm_notifier.deps.NotifierDeps.build,
            crm_notifier.handlers.consumers,
        ),
        ServiceEntry("gateway", crm_gateway.settings.Settings, crm_gateway.main.MIGRATIONS, None),
    )
}
"""In start order (the gateway last: its readiness waits for every other service)."""
