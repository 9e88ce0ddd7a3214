"""CRM values on contacts against the admin lists (seed 003), as the campaigns service
announced them (``CrmSettingsChanged``, kept in ``crm_settings_copy``).

The contact's CRM status is its business partner status (seed 003: "CRM-Geschäftspartner
Status"): the list ``partner_statuses``. Company size, revenue group, company group and
products come from their lists by name. A change is checked only for the values it sets:
a value already on a contact stays valid when an admin shortens a list (as opportunities
keep their products).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from crm_contacts.models import CrmSettingsCopy
from crm_shared.errors import Problem

LIST_OF = {
    "crm_status": ("partner_statuses", "CRM (business partner) statuses"),
    "company_size": ("company_sizes", "company sizes"),
    "revenue_group": ("revenue_groups", "revenue groups"),
    "company_group": ("company_groups", "company groups"),
    "products": ("products", "products"),
}
"""CRM property → (list in the settings, how the message names it)."""


def uses_lists(crm: dict[str, Any] | None) -> bool:
    """Whether CRM properties set any value that an admin list governs."""
    return crm is not None and any(crm.get(name) for name in LIST_OF)


class CrmLists:
    """The allowed values of each governed CRM property."""

    def __init__(self, copy: CrmSettingsCopy) -> None:
        data = copy.data
        self.allowed: dict[str, set[str]] = {}
        for prop, (key, _) in LIST_OF.items():
            values = data.get(key) or []
            self.allowed[prop] = {v["name"] if isinstance(v, dict) else v for v in values}

    def errors(
        self, crm: dict[str, Any], only: Iterable[str] | None = None
    ) -> list[dict[str, str]]:
        """``[{field, message}]`` for the values of ``crm`` (those of ``only``, when given)
        that are not in their list."""
        names = set(LIST_OF) if only is None else set(only) & set(LIST_OF)
        found: list[dict[str, str]] = []
        for prop in sorted(names):
            value = crm.get(prop)
            values = value if isinstance(value, list) else [value] if value else []
            for item in values:
                if item not in self.allowed[prop]:
                    shown = ", ".join(sorted(self.allowed[prop])) or "none defined"
                    found.append(
                        {
                            "field": f"crm.{prop}",
                            "message": f"{item!r} is not in the admin list of "
                            f"{LIST_OF[prop][1]} ({shown})",
                        }
                    )
        return found

    def check(self, crm: dict[str, Any], only: Iterable[str] | None = None) -> None:
        """422 naming each value that is not in its list."""
        if errors := self.errors(crm, only):
            raise Problem(
                422,
                "; ".join(f"{e['field']}: {e['message']}" for e in errors),
                title="Validation failed",
                errors=errors,
            )


class CrmListsUnknown(Problem):
    """503: no CrmSettingsChanged has reached this service yet (a fresh install whose
    campaigns service has not started)."""

    def __init__(self) -> None:
        super().__init__(
            503,
            "the CRM admin lists are not known here yet (the campaigns service announces "
            "them when it starts); try again in a moment",
            headers={"Retry-After": "2"},
        )
