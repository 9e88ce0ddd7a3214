"""API models of the gateway, and the mappers from its rows (``StaffPublic.of``,
``CompetencePublic.of``)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from crm_shared.auth import Role
from crm_shared.fields import NotNull, PlainText

if TYPE_CHECKING:
    from crm_gateway.models import Competence, Staff

# Staff addresses may be internal (admin@localhost), so no public-domain check here.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def _staff_email(value: str | None) -> str | None:
    if value and not _EMAIL.match(value):
        raise ValueError("not an email address")
    return value or None


StaffEmail = Annotated[PlainText | None, Field(max_length=320), AfterValidator(_staff_email)]
"""A staff member's address: any ``x@y``; empty means none."""


class TokenRequest(BaseModel):
    """A sign-in: the username in any case (``ADMIN`` signs in ``admin``)."""

    username: PlainText = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int


class StaffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    username: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")
    """Unique without regard to case: ``ADMIN`` beside ``admin`` is a 409."""
    password: str = Field(min_length=8, max_length=200)
    name: PlainText = Field(min_length=1, max_length=200)
    initials: PlainText | None = Field(default=None, max_length=16)
    email: StaffEmail = None
    roles: list[Role] = Field(default_factory=lambda: list[Role](["crm_user"]))
    language: Literal["de", "en"] = "de"


class StaffUpdate(BaseModel):
    """A change of a staff member (``PATCH /api/staff/{id}``, admin): any field but the
    username; ``email: null`` removes the address."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    password: NotNull[str] = Field(default=None, min_length=8, max_length=200)
    name: NotNull[PlainText] = Field(default=None, min_length=1, max_length=200)
    initials: PlainText | None = Field(default=None, max_length=16)
    email: StaffEmail = None
    roles: NotNull[list[Role]] = Field(default=None, min_length=1)
    language: NotNull[Literal["de", "en"]] = None
    active: NotNull[bool] = None


class StaffPublic(BaseModel):
    id: str
    username: str
    name: str
    initials: str | None
    email: str | None
    roles: list[str]
    language: str
    active: bool

    @classmethod
    def of(cls, row: Staff) -> StaffPublic:
        return cls.model_validate(row.model_dump())


class StaffPage(BaseModel):
    items: list[StaffPublic]
    next_cursor: str | None = None


class CompetenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: PlainText = Field(min_length=1, max_length=200)
    member_ids: list[str] = Field(default_factory=list)


class CompetenceUpdate(BaseModel):
    """A change of a competence (``PATCH /api/competences/{id}``, admin): its name, its
    members (the whole new list), or both."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: NotNull[PlainText] = Field(default=None, min_length=1, max_length=200)
    member_ids: NotNull[list[str]] = None


class CompetencePublic(BaseModel):
    id: str
    name: str
    member_ids: list[str]

    @classmethod
    def of(cls, row: Competence) -> CompetencePublic:
        return cls.model_validate(row.model_dump())


class CompetencePage(BaseModel):
    items: list[CompetencePublic]
    next_cursor: str | None = None


class PersonalDataDocument(BaseModel):
    """Everything every service holds about one contact (GDPR Art. 15/20), each list
    newest first: the contact and its groups (contacts), its customer history and CRM
    timeline (history), interactions, procedures and portal sessions (interactions),
    campaign memberships and opportunities (campaigns), reminders (reminders), the mails
    sent to it and the staff notifications naming it (notifier)."""

    contact_id: str
    exported_at: datetime
    contact: dict[str, Any]
    groups: list[dict[str, Any]]
    history: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    interactions: list[dict[str, Any]]
    procedures: list[dict[str, Any]]
    portal_sessions: list[dict[str, Any]]
    campaigns: list[dict[str, Any]]
    opportunities: list[dict[str, Any]]
    reminders: list[dict[str, Any]]
    emails: list[dict[str, Any]]
    notifications: list[dict[str, Any]]
