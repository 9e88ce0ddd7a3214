"""API request and response models of the contacts service."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from crm_shared.events import Assignment, ContactKind, Language


class AssignmentIn(Assignment):
    """Assignment as sent by a client; the mode decides which id is needed."""

    @field_validator("staff_id", "competence_id")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() or None if value else None


def _check_assignment(assignment: AssignmentIn | None) -> AssignmentIn | None:
    if assignment is None:
        return None
    if assignment.mode == "staff" and not assignment.staff_id:
        raise ValueError("mode 'staff' needs staff_id")
    if assignment.mode == "competence" and not assignment.competence_id:
        raise ValueError("mode 'competence' needs competence_id")
    return assignment


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: ContactKind
    name: str = Field(min_length=1, max_length=300)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=64)
    language: Language = "de"
    status: Literal["prospect", "customer", "inbox"] = "prospect"
    company_id: str | None = None
    customer_number: str | None = Field(default=None, min_length=1, max_length=64)
    credit_hold: bool = False
    assignment: AssignmentIn | None = None
    crm: dict[str, Any] = Field(default_factory=dict)

    _assignment = field_validator("assignment")(_check_assignment)


class ContactUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=300)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=64)
    language: Language | None = None
    company_id: str | None = None
    customer_number: str | None = Field(default=None, min_length=1, max_length=64)
    credit_hold: bool | None = None
    assignment: AssignmentIn | None = None
    crm: dict[str, Any] | None = None

    _assignment = field_validator("assignment")(_check_assignment)


class ContactPublic(BaseModel):
    id: str
    kind: ContactKind
    name: str
    email: str | None
    phone: str | None
    language: Language
    status: str
    company_id: str | None
    customer_number: str | None
    credit_hold: bool
    assignment: Assignment
    crm: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime


class ContactPage(BaseModel):
    items: list[ContactPublic]
    next_cursor: str | None
