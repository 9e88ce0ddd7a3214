"""The limits of a contact's status (seed 002; CONTRACT.md, Contacts): the one rule every
service applies to the status it knows of a contact.

Contacts in ``inbox`` (Eingang: imported, not yet accepted) or ``archived`` (Archiv) can be
read, their master data edited and their status changed, but nothing new is created for
them: no interaction, procedure, history entry, opportunity, campaign membership or
mailing. Accepting (inbox → prospect/customer) or restoring lifts the limits; services
read the status from their copy through ``wait_for_copy``, so that works at once.
"""

from __future__ import annotations

from crm_shared.errors import Problem

RESTRICTED = frozenset({"inbox", "archived"})
_LABELS = {"inbox": "Eingang", "archived": "Archiv"}
_LIFT = {"inbox": "accept it first", "archived": 'restore it first ({"status": "restore"})'}


class ContactRestricted(Problem):
    """409 naming the status that forbids the action."""

    def __init__(self, contact_id: str, status: str, what: str, field: str) -> None:
        super().__init__(
            409,
            f"the contact is {status} ({_LABELS[status]}): no {what} for it; {_LIFT[status]}",
            title="Contact has limited functions",
            # code: "contact_inbox" / "contact_archived", for clients that word it themselves
            errors=[
                {
                    "field": field,
                    "message": f"contact {contact_id} is {status}",
                    "type": f"contact_{status}",
                }
            ],
            code=f"contact_{status}",
            contact_status=status,
            contact_id=contact_id,
        )


def is_restricted(status: str) -> bool:
    """Whether nothing new may be created for a contact in this status."""
    return status in RESTRICTED


def check_not_restricted(
    contact_id: str, status: str, what: str, *, field: str = "contact_id"
) -> None:
    """409 when ``status`` limits the contact's functions; ``what`` names what was to be
    created ("interactions", "history entries", …) and ``field`` the request field."""
    if status in RESTRICTED:
        raise ContactRestricted(contact_id, status, what, field)
