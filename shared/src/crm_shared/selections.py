"""The one call between services that is not an event: a selection resolved by its owner.

A bulk history entry or a mailing takes its contacts from the contacts service when the
job starts (``POST /api/contacts/selection``): the answer streams one
:class:`SelectedContact` per line (JSON), then one :class:`SelectionEnd`, so a reader can
tell a complete answer from a cut-off one. The line is a contract between the two
services, so it lives here once, like the events.
"""

from __future__ import annotations

from pydantic import BaseModel


class SelectedContact(BaseModel):
    """One contact of a resolved selection: what a bulk job or a mailing needs, as of the
    moment the selection was resolved."""

    id: str
    status: str
    name: str
    email: str | None
    language: str
    customer_number: str | None


class SelectionEnd(BaseModel):
    """The last line: how many contacts came before it."""

    count: int
