"""Tables of the contacts service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm_shared.events import utcnow


class Contact(SQLModel, table=True):
    """A person or a company (business partner)."""

    __tablename__ = "contact"

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    kind: str = Field(max_length=16)
    name: str = Field(max_length=300, index=True)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    language: str = Field(default="de", max_length=2)
    status: str = Field(default="prospect", max_length=16, index=True)
    status_before_archive: str | None = Field(default=None, max_length=16)
    company_id: str | None = Field(default=None, max_length=36, index=True)
    customer_number: str | None = Field(default=None, max_length=64, unique=True)
    credit_hold: bool = False
    assignment_mode: str = Field(default="all", max_length=16)
    assigned_staff_id: str | None = Field(default=None, max_length=36, index=True)
    assigned_competence_id: str | None = Field(default=None, max_length=36)
    crm: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    version: int = 1
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
