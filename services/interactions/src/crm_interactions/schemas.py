"""What the subdomains' answers share: times in UTC, a staff member as recorder or
creator, and the contact an interaction or procedure is about (with its mapper). The
subdomains' own models are in ``interactions/schemas.py``, ``procedures/schemas.py`` and
``portal/schemas.py``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel

from crm_interactions.models import ContactCopy


def _in_utc(value: datetime) -> datetime:
    """Answers give every time in UTC (SQLite returns naive UTC values)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_in_utc)]


class ContactOnInteraction(BaseModel):
    name: str
    credit_hold: bool

    @classmethod
    def of(
        cls, contact: ContactCopy | None, fallback_name: str | None = None
    ) -> ContactOnInteraction:
        """The contact as its copy has it now (``fallback_name`` when there is no copy)."""
        return cls(
            name=contact.name if contact else fallback_name or "",
            credit_hold=contact.credit_hold if contact else False,
        )


class RecorderPublic(BaseModel):
    staff_id: str
    name: str
    initials: str | None
    email: str | None = None
