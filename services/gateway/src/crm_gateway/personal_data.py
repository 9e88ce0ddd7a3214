"""The personal-data export (GDPR Art. 15/20): ``GET /api/contacts/{id}/personal-data``
puts together what every service holds about one contact.

Services never call each other, so the gateway asks each for its part, through the one
door to them (:func:`crm_gateway.proxy.send_upstream`: the caller's own token and
consistency token go along, so each part is read no older than what the caller has
seen): ``GET /api/contacts/{id}/personal-data/<service>`` (admin only there too). The
contacts service is asked first: a contact it does not know (never created, or deleted
for good) is a 404 and nobody else is asked. A part that cannot be had (a service down)
fails the whole export (503): an export that silently lacks a part would be wrong.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from crm_gateway.proxy import send_upstream
from crm_shared.errors import Problem
from crm_shared.events import utcnow

if TYPE_CHECKING:
    from crm_gateway.deps import GatewayDeps

PARTS: dict[str, tuple[str, ...]] = {
    "contacts": ("contact", "groups"),
    "history": ("history", "timeline"),
    "interactions": ("interactions", "procedures", "portal_sessions"),
    "campaigns": ("campaigns", "opportunities"),
    "reminders": ("reminders",),
    "notifier": ("emails", "notifications"),
}
"""Each service's part of the document: the keys it answers (CONTRACT.md names
``contact, history, timeline, interactions, procedures, campaigns, opportunities,
reminders, emails``; the others are extra)."""


def part_path(contact_id: str, service: str) -> str:
    """Where a service answers its part (the gateway routes it to that service)."""
    return f"/api/contacts/{quote(contact_id, safe='')}/personal-data/{service}"


class PersonalDataService:
    """Assembles the personal-data document from the services' parts."""

    def __init__(self, deps: GatewayDeps) -> None:
        self._deps = deps

    async def export(self, contact_id: str, *, caller: str, authorization: str) -> dict[str, Any]:
        """Everything every service holds about the contact, one JSON document; 404 when
        the contacts service does not know it (never created or deleted for good)."""
        document: dict[str, Any] = {"contact_id": contact_id, "exported_at": utcnow()}
        document.update(await self._part("contacts", contact_id, caller, authorization))
        others = [service for service in PARTS if service != "contacts"]
        parts = await asyncio.gather(
            *(self._part(service, contact_id, caller, authorization) for service in others)
        )
        for part in parts:
            document.update(part)
        return document

    async def _part(
        self, service: str, contact_id: str, caller: str, authorization: str
    ) -> dict[str, Any]:
        answer = await send_upstream(
            self._deps,
            caller=caller,
            method="GET",
            path=part_path(contact_id, service),
            headers={"authorization": authorization, "accept": "application/json"},
        )
        try:
            body = await answer.read()
        finally:
            await answer.close()
        if answer.status != 200:
            raise _relayed(service, answer.status, body, answer.headers)
        data: dict[str, Any] = json.loads(body)
        return {key: data[key] for key in PARTS[service]}


def _relayed(service: str, status: int, body: bytes, headers: Any) -> Problem:
    """A part's refusal as the export's: the same status and detail (a 404 only from the
    contacts service, whose 404 is the contact's; a 503 keeps its ``Retry-After``),
    anything else a 502."""
    try:
        detail = str(json.loads(body).get("detail") or "")
    except (ValueError, AttributeError):
        detail = ""
    retry_after = headers.get("retry-after")
    passed_on = (401, 403, 503, 504, 404) if service == "contacts" else (401, 403, 503, 504)
    return Problem(
        status if status in passed_on else 502,
        detail or f"the {service} service could not give its part ({status})",
        headers={"Retry-After": retry_after} if retry_after else None,
    )
