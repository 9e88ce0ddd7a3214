"""Tables of the gateway: staff (login lives here) and competences."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm_shared.db import moment_column
from crm_shared.events import utcnow


class Staff(SQLModel, table=True):
    """A staff member (Mitarbeiter) who can sign in. A username is unique without regard
    to case (``ADMIN`` is ``admin``): the unique index on ``lower(username)``."""

    __tablename__ = "staff"
    __table_args__ = (
        sa.Index("uq_staff_username_lower", sa.func.lower(sa.text("username")), unique=True),
    )

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    username: str = Field(max_length=100, unique=True)
    password_hash: str = Field(max_length=300)
    name: str = Field(max_length=200)
    initials: str | None = Field(default=None, max_length=16)
    email: str | None = Field(default=None, max_length=320)
    roles: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    language: str = Field(default="de", max_length=2)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())


class Competence(SQLModel, table=True):
    """A named group of staff (Kompetenz) that contacts can be assigned to."""

    __tablename__ = "competence"

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    name: str = Field(max_length=200, unique=True)
    member_ids: list[str] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )
