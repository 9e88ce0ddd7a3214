"""API request and response models of the contacts service, and the mappers from its
rows to what it shows: the public models (``ContactPublic.of`` …), the snapshot its
events carry (:func:`snapshot`) and the CSV export's columns (:func:`export_row`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from crm_contacts.models import Contact, ContactGroup, ImportJob, NumberRange
from crm_shared.auth import StaffClaims
from crm_shared.events import Assignment, ContactKind, CrmProperties, Language, StaffRef, utcnow
from crm_shared.fields import Day, NotNull, PlainText, Text

Name = Field(default=None, max_length=100)


MAX_INT = 2**31 - 1
"""The largest value of an INTEGER column (employees): larger ones are refused here,
not by the database in the middle of an import batch."""


class AssignmentIn(Assignment):
    """Assignment as sent by a client; the mode decides which id is needed."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("staff_id", "competence_id")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() or None if value else None

    @model_validator(mode="after")
    def _ids_match_mode(self) -> AssignmentIn:
        if self.mode == "staff" and not self.staff_id:
            raise ValueError("mode 'staff' needs staff_id")
        if self.mode == "competence" and not self.competence_id:
            raise ValueError("mode 'competence' needs competence_id")
        if self.mode != "staff":
            self.staff_id = None
        if self.mode != "competence":
            self.competence_id = None
        return self


class CrmIn(CrmProperties):
    """CRM properties as sent by a client: the shape of ``CrmProperties``, no other keys.

    Values of the admin lists (CRM status, company size, ...) are names; the lists
    themselves belong to the campaigns service (``/api/crm/settings``)."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)

    crm_status: PlainText | None = Field(default=None, max_length=100)
    company_group: PlainText | None = Field(default=None, max_length=100)
    company_size: PlainText | None = Field(default=None, max_length=100)
    employees: int | None = Field(default=None, ge=0, le=MAX_INT)
    revenue_group: PlainText | None = Field(default=None, max_length=100)
    products: list[PlainText] = Field(default_factory=list, max_length=100)
    data_source: PlainText | None = Field(default=None, max_length=100)
    comment1: Text | None = Field(default=None, max_length=4000)
    comment2: Text | None = Field(default=None, max_length=4000)
    comment3: Text | None = Field(default=None, max_length=4000)
    comment4: Text | None = Field(default=None, max_length=4000)
    characteristics: dict[PlainText, PlainText] = Field(default_factory=dict, max_length=100)

    @field_validator("products")
    @classmethod
    def _products(cls, value: list[str]) -> list[str]:
        cleaned = list(dict.fromkeys(p.strip() for p in value if p.strip()))
        if any(len(p) > 200 for p in cleaned):
            raise ValueError("a product name has at most 200 characters")
        return cleaned

    @field_validator("characteristics")
    @classmethod
    def _characteristics(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not key.strip() or len(key) > 100 or len(item) > 500:
                raise ValueError("keys have 1-100 characters, values at most 500")
        return value


class AddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    street: PlainText | None = Field(default=None, max_length=200)
    postal_code: PlainText | None = Field(default=None, max_length=20)
    city: PlainText | None = Field(default=None, max_length=200)
    country: PlainText | None = Field(default=None, max_length=100)


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: ContactKind
    name: PlainText = Field(min_length=1, max_length=300)
    email: EmailStr | None = None
    phone: PlainText | None = Field(default=None, max_length=64)
    language: Language = "de"
    status: Literal["prospect", "customer", "inbox"] = "prospect"
    confirm: bool = Field(
        default=False, description='needed with status "customer" (seed 002: confirmed)'
    )
    company_id: str | None = None
    customer_number: PlainText | None = Field(default=None, min_length=1, max_length=64)
    credit_hold: bool = False
    assignment: AssignmentIn | None = None
    address: AddressIn | None = None
    crm: CrmIn = Field(default_factory=CrmIn)


_PART = r"[^@\s,;<>\x00-\x1f\x7f-\x9f]+"  # no space, separator or control character
EMAIL_SHAPE = re.compile(rf"^{_PART}@{_PART}\.{_PART}\Z")


class ContactImport(ContactCreate):
    """A CSV row: as ``ContactCreate``, with a quick email shape check (the full check
    cost more per row than everything else of an import together)."""

    email: str | None = Field(default=None, max_length=320)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not EMAIL_SHAPE.match(value):
            raise ValueError("value is not a valid email address")
        return value


class ContactUpdate(BaseModel):
    """A partial change; ``crm`` is merged key by key (a key set to null is cleared).
    ``null`` clears email, phone, company, customer number and address; for the other
    fields it is a 422 (``NotNull``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: NotNull[ContactKind] = None
    name: NotNull[PlainText] = Field(default=None, min_length=1, max_length=300)
    email: EmailStr | None = None
    phone: PlainText | None = Field(default=None, max_length=64)
    language: NotNull[Language] = None
    company_id: str | None = None
    customer_number: PlainText | None = Field(default=None, min_length=1, max_length=64)
    credit_hold: NotNull[bool] = None
    assignment: NotNull[AssignmentIn] = None
    address: AddressIn | None = None
    crm: NotNull[dict[str, Any]] = None


class ContactPublic(BaseModel):
    id: str
    kind: ContactKind
    name: str
    email: str | None
    phone: str | None
    language: Language
    status: str
    status_before_archive: str | None = None
    company_id: str | None
    customer_number: str | None
    credit_hold: bool
    assignment: Assignment
    address: dict[str, Any] | None = None
    crm: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, contact: Contact) -> ContactPublic:
        return cls.model_validate({**contact.model_dump(), "assignment": assignment_of(contact)})


class ContactPage(BaseModel):
    items: list[ContactPublic]
    next_cursor: str | None


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["inbox", "prospect", "customer", "archived", "restore"]
    confirm: bool = False


class ContactFilter(BaseModel):
    """The filters of the contact list, of dynamic groups and of bulk selections.

    History fields are named ``history.<field>`` in query strings and saved filters."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    q: PlainText | None = Field(default=None, max_length=300)
    match: Literal["contains", "prefix"] = "contains"
    kind: ContactKind | None = None
    status: Literal["inbox", "prospect", "customer", "archived"] | None = None
    customer_number: PlainText | None = Field(default=None, max_length=64)
    assigned_to: PlainText | None = None
    group_id: PlainText | None = None
    campaign_id: PlainText | None = None
    company_id: PlainText | None = None
    credit_hold: bool | None = None
    crm_status: PlainText | None = Name
    company_group: PlainText | None = Name
    company_size: PlainText | None = Name
    revenue_group: PlainText | None = Name
    data_source: PlainText | None = Name
    newsletter: bool | None = None
    interested: bool | None = None
    product: PlainText | None = Field(default=None, max_length=200)
    characteristic: PlainText | None = Field(
        default=None, max_length=601, description="key:value (or key alone: any value)"
    )
    employees_from: int | None = Field(default=None, ge=0, le=MAX_INT)
    employees_to: int | None = Field(default=None, ge=0, le=MAX_INT)
    history_action: PlainText | None = Field(default=None, alias="history.action")
    history_info: PlainText | None = Field(default=None, alias="history.info")
    history_staff_initials: PlainText | None = Field(default=None, alias="history.staff_initials")
    history_field1: PlainText | None = Field(default=None, alias="history.field1")
    history_field2: PlainText | None = Field(default=None, alias="history.field2")
    history_field3: PlainText | None = Field(default=None, alias="history.field3")
    history_field4: PlainText | None = Field(default=None, alias="history.field4")
    history_field5: bool | None = Field(default=None, alias="history.field5")
    history_field6: bool | None = Field(default=None, alias="history.field6")
    history_date_from: Day | None = Field(default=None, alias="history.date_from")
    history_date_to: Day | None = Field(default=None, alias="history.date_to")

    def saved(self) -> dict[str, Any]:
        """The filter as stored in a dynamic group (only what is set, by alias)."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)


class NumberRangeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: PlainText = Field(min_length=1, max_length=200)
    prefix: PlainText = Field(default="", max_length=20)
    suffix: PlainText = Field(default="", max_length=20)
    next_value: int = Field(default=1, ge=0, le=10**15)
    width: int = Field(default=0, ge=0, le=20)


class NumberRangePublic(BaseModel):
    id: str
    name: str
    prefix: str
    suffix: str
    next_value: int
    width: int

    @classmethod
    def of(cls, number_range: NumberRange) -> NumberRangePublic:
        return cls.model_validate(number_range.model_dump())


class NumberRangePage(BaseModel):
    items: list[NumberRangePublic]
    next_cursor: str | None = None


class CustomerNumberRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number_range_id: str


GroupKind = Literal["static", "dynamic", "temporary"]


class GroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: PlainText = Field(min_length=1, max_length=200)
    number: PlainText | None = Field(default=None, max_length=64)
    kind: GroupKind = "static"
    filter: ContactFilter | None = None
    assignment: AssignmentIn | None = None
    contact_ids: list[PlainText] = Field(default_factory=list, max_length=10000)

    @model_validator(mode="after")
    def _filter_for_dynamic(self) -> GroupCreate:
        if self.kind == "dynamic" and self.filter is None:
            raise ValueError("a dynamic group needs a filter")
        if self.kind != "dynamic" and self.filter is not None:
            raise ValueError("only a dynamic group has a filter")
        if self.kind == "dynamic" and self.contact_ids:
            raise ValueError("a dynamic group's members come from its filter")
        return self


class GroupPublic(BaseModel):
    id: str
    name: str
    number: str | None
    kind: GroupKind
    filter: dict[str, Any] | None
    assignment: Assignment
    created_at: datetime

    @classmethod
    def of(cls, group: ContactGroup) -> GroupPublic:
        return cls.model_validate({**group.model_dump(), "assignment": assignment_of(group)})


class GroupPage(BaseModel):
    items: list[GroupPublic]
    next_cursor: str | None


class ContactPersonalData(BaseModel):
    """What the contacts service holds about a contact (its part of ``GET
    /api/contacts/{id}/personal-data``): the contact with its CRM properties, and the
    static and temporary groups it is a member of."""

    contact: ContactPublic
    groups: list[GroupPublic]


class MembersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_ids: list[PlainText] = Field(min_length=1, max_length=10000)


class Selection(BaseModel):
    """Which contacts a bulk action applies to: exactly one of the three."""

    model_config = ConfigDict(extra="forbid")

    contact_ids: list[PlainText] | None = Field(default=None, max_length=100000)
    group_id: PlainText | None = None
    filter: ContactFilter | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Selection:
        given = [self.contact_ids is not None, self.group_id is not None, self.filter is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of contact_ids, group_id, filter")
        return self

    def as_filter(self) -> ContactFilter:
        """The filter the selection amounts to (none for a list of ids)."""
        if self.group_id is not None:
            return ContactFilter(group_id=self.group_id)
        return self.filter or ContactFilter()


class BulkRequest(BaseModel):
    """``accept`` moves the selected contacts in the inbox (Eingang) to prospect
    (Interessent), lifting their limits; other statuses stay."""

    model_config = ConfigDict(extra="forbid")

    selection: Selection
    action: Literal["archive", "delete", "add_to_group", "accept"]
    group_id: PlainText | None = None

    @model_validator(mode="after")
    def _group_for_add(self) -> BulkRequest:
        if self.action == "add_to_group" and not self.group_id:
            raise ValueError("add_to_group needs group_id")
        return self


class SelectionRequest(BaseModel):
    """Resolve a selection (``POST /api/contacts/selection``): the contacts it holds now,
    streamed. A temporary group is used up by it (kept for one action)."""

    model_config = ConfigDict(extra="forbid")

    selection: Selection


class BulkResult(BaseModel):
    action: str
    selected: int
    changed: int


class ImportError_(BaseModel):
    row: int
    message: str


class ImportResult(BaseModel):
    created: int
    errors: list[ImportError_]

    @classmethod
    def of(cls, created: int, errors: Sequence[tuple[int, str]]) -> ImportResult:
        """The answer of an import: ``errors`` as (line, message)."""
        return cls(created=created, errors=[ImportError_(row=r, message=m) for r, m in errors])


JOB_STALE_SECONDS = 120.0
"""A running import job without progress for this long was cut off (the service stopped)."""


class ImportJobPublic(BaseModel):
    """An import job (``Prefer: respond-async``): ``done`` of ``total`` data lines handled,
    every line up to ``last_line`` committed; ``errors`` holds the first 1,000 row errors."""

    id: str
    state: Literal["running", "done", "failed", "interrupted"]
    total: int | None
    done: int
    created: int
    error_count: int
    errors: list[ImportError_]
    last_line: int
    message: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, job: ImportJob) -> ImportJobPublic:
        """A job as it is shown: a running one without progress for
        ``JOB_STALE_SECONDS`` is interrupted, and an interrupted one says how to go on."""
        state = job.state
        message = job.message
        if state == "running" and (utcnow() - job.updated_at).total_seconds() > JOB_STALE_SECONDS:
            state = "interrupted"
            message = f"no progress for {JOB_STALE_SECONDS:.0f} s (the service stopped?)"
        if state == "interrupted":
            message = (
                f"{message}; every line up to {job.last_line} is imported: send the file "
                f"again with ?after_line={job.last_line} to import the rest"
            )
        return cls.model_validate(
            {**job.model_dump(exclude={"created_by"}), "state": state, "message": message}
        )


# --- rows as the events and the export show them -------------------------------------------

_PLAIN_FIELDS = (
    "kind",
    "name",
    "email",
    "phone",
    "language",
    "status",
    "company_id",
    "customer_number",
    "credit_hold",
)
_SNAPSHOT_FIELDS = (*_PLAIN_FIELDS, "address")
"""A contact's own fields on ContactCreated/ContactUpdated (beside id, assignment, crm,
version)."""


def assignment_of(contact: Contact | ContactGroup | sa.Row[Any]) -> Assignment:
    return Assignment(
        mode=contact.assignment_mode,
        staff_id=contact.assigned_staff_id,
        competence_id=contact.assigned_competence_id,
    )


def snapshot(contact: Contact | sa.Row[Any]) -> dict[str, Any]:
    """The whole state of a contact as carried on ContactCreated/ContactUpdated."""
    return {
        "contact_id": contact.id,
        **{name: getattr(contact, name) for name in _SNAPSHOT_FIELDS},
        "assignment": assignment_of(contact),
        "crm": CrmProperties.model_validate(contact.crm),
        "version": contact.version,
    }


def staff_ref(staff: StaffClaims | None) -> StaffRef | None:
    if staff is None:
        return None
    return StaffRef(
        staff_id=staff.staff_id, name=staff.name, initials=staff.initials, email=staff.email
    )


EXPORT_FIELDS = (
    "id",
    *_PLAIN_FIELDS,
    "assignment.mode",
    "assignment.staff_id",
    "assignment.competence_id",
    "crm.crm_status",
    "crm.company_group",
    "crm.company_size",
    "crm.employees",
    "crm.revenue_group",
    "crm.products",
    "crm.newsletter",
    "crm.data_source",
    "crm.interested",
    "crm.comment1",
    "crm.comment2",
    "crm.comment3",
    "crm.comment4",
    "crm.characteristics",
)
"""The columns of the CSV export (``GET /api/contacts/export``), in order."""


def export_row(contact: Contact) -> list[str]:
    """A contact as a line of the CSV export: products ``a;b``, characteristics
    ``k=v;k2=v2``, flags ``true``/``false``."""
    data = ContactPublic.of(contact).model_dump(mode="json")
    out: list[str] = []
    for name in EXPORT_FIELDS:
        value: Any = data
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, list):
            value = ";".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ";".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, bool):
            value = "true" if value else "false"
        out.append("" if value is None else str(value))
    return out
