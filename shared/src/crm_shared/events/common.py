"""Value types that several event modules share."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

ContactKind = Literal["person", "company"]
ContactStatus = Literal["inbox", "prospect", "customer", "archived"]
Language = Literal["de", "en"]
InteractionKind = Literal["internal", "incoming", "outgoing"]


class Assignment(BaseModel):
    """Who looks after a contact: everybody, one staff member or a competence."""

    mode: Literal["all", "staff", "competence"] = "all"
    staff_id: str | None = None
    competence_id: str | None = None


class StaffRef(BaseModel):
    """A staff member as named on an event."""

    staff_id: str
    name: str
    initials: str | None = None
    email: str | None = None
