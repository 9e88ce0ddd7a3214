"""The rules of a contact that more than one path applies, each stated once: the service
(one contact through the API) and the import (a batch of 2,000) call these functions.

- A customer number belongs to one contact at most (:func:`numbers_taken`).
- A contact person's company is a company (Geschäftspartner), not a person, not the
  contact itself (:func:`companies`).
- Status changes (seed 002): ``inbox`` only comes from an import, a customer needs a
  confirmation, an archived contact goes back to its status before only by a restore
  (:func:`status_after`, :func:`confirm_customer`).

The CRM values against the admin lists are the rule of ``crm_lists.py``; the limits of
the ``inbox`` and ``archived`` statuses for the other services are
``crm_shared.contact_status``.
"""

from __future__ import annotations

from collections.abc import Collection

from crm_contacts.repository import ContactRepository
from crm_shared.errors import Conflict, Unprocessable

# --- customer numbers ------------------------------------------------------------------


async def numbers_taken(
    repo: ContactRepository, numbers: Collection[str], *, holder: str | None = None
) -> set[str]:
    """Those of ``numbers`` that a contact other than ``holder`` already has (one query
    for a whole import batch). The unique index on ``customer_number`` is the last guard
    against a concurrent writer (see :func:`number_taken`)."""
    if not numbers:
        return set()
    return await repo.numbers_taken(numbers, other_than=holder)


def number_taken(number: str | None = None) -> Conflict:
    """The 409 of a customer number another contact has (``number`` unknown: the unique
    index refused it)."""
    used = f"customer number {number}" if number else "customer number"
    return Conflict(
        f"{used} is already used", field="customer_number", code="customer_number_taken"
    )


# --- companies --------------------------------------------------------------------------


async def companies(
    repo: ContactRepository, ids: Collection[str], *, contact_id: str | None = None
) -> set[str]:
    """Those of ``ids`` a contact person may belong to: companies, other than the contact
    ``contact_id`` itself (one query for a whole import batch)."""
    if not ids:
        return set()
    return (await repo.company_ids(ids)) - {contact_id}


def not_a_company(company_id: str) -> Unprocessable:
    return Unprocessable("company_id", f"{company_id} is not a company (Geschäftspartner)")


# --- status -------------------------------------------------------------------------------


def needs_confirmation() -> Conflict:
    return Conflict(
        'making a contact a customer (Kunde) needs "confirm": true (seed 002: the change is '
        "confirmed in a dialog)",
        field="confirm",
        code="confirmation_required",
    )


def confirm_customer(status: str, confirm: bool) -> None:
    """Making a contact a customer (at creation too) is confirmed (seed 002: a dialog)."""
    if status == "customer" and not confirm:
        raise needs_confirmation()


def status_after(old: str, wanted: str, *, confirm: bool, before_archive: str | None) -> str | None:
    """The status a change to ``wanted`` (a status, or ``restore``) leads to from ``old``;
    None when nothing changes; a 409 when the rules refuse it:

    - ``restore`` is for an archived contact: back to its status before (``prospect``
      if none is known);
    - an archived contact changes only by a restore;
    - ``inbox`` is never a target (only an import puts contacts there);
    - a change to ``customer`` needs ``confirm``.
    """
    if wanted == "restore":
        if old != "archived":
            raise Conflict(f"only an archived contact can be restored (it is {old})")
        return before_archive or "prospect"
    if wanted == old:
        return None
    if old == "archived":
        raise Conflict(
            'an archived contact goes back to its status before with {"status": "restore"}'
        )
    if wanted == "inbox":
        raise Conflict("only imported contacts are in the inbox (Eingang)")
    confirm_customer(wanted, confirm)
    return wanted
