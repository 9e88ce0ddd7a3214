"""Selections of bulk entries and mailings, resolved by their owner when a job starts.

A selection (``{contact_ids}``, ``{group_id}`` or ``{filter}`` with every filter of the
contacts list, dynamic groups included) is the contacts service's to answer: this service
sends it to ``POST /api/contacts/selection`` with the caller's token and consistency
token (so copies the filter reads there, such as history entries, have reached what the
caller has seen) and reads the answer as it streams: one contact per line, then the
count, so a cut-off answer is noticed. The job keeps what it got: the contacts and their
data as of that moment.
"""

from __future__ import annotations

from typing import Any

import httpx

from crm_history.schemas import Selection
from crm_shared.consistency import HEADER as TOKEN_HEADER
from crm_shared.consistency import seen
from crm_shared.errors import Problem, Unprocessable
from crm_shared.selections import SelectedContact, SelectionEnd

Target = SelectedContact
"""One contact of a resolved selection."""
_FIELDS = tuple(SelectedContact.model_fields)


def as_row(target: Target) -> list[Any]:
    """A contact as a job keeps it (a row of ``JobSelection.contacts``)."""
    return [getattr(target, name) for name in _FIELDS]


def of_row(row: list[Any]) -> Target:
    return Target(**dict(zip(_FIELDS, row, strict=True)))


class ContactsUnavailable(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(503, detail, headers={"Retry-After": "2"})


class Selections:
    """Resolves selections through the contacts service (``CRM_HISTORY_CONTACTS_URL``)."""

    def __init__(self, contacts_url: str) -> None:
        self.contacts_url = contacts_url
        # resolving a selection streams up to 100,000 contacts: a long read timeout
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(300, connect=5))

    async def close(self) -> None:
        await self.client.aclose()

    async def resolve(self, selection: Selection, authorization: str) -> list[Target]:
        """The contacts the selection holds now (422 naming the part of the selection that
        is wrong; 503 when the contacts service does not answer)."""
        headers = {"authorization": authorization, "content-type": "application/json"}
        token = seen()
        if token:
            headers[TOKEN_HEADER] = token.header()
        body = {"selection": selection.model_dump(exclude_none=True)}
        targets: list[Target] = []
        try:
            async with self.client.stream(
                "POST", f"{self.contacts_url}/api/contacts/selection", json=body, headers=headers
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise _refusal(response)
                count: int | None = None
                async for line in response.aiter_lines():
                    if line.startswith('{"count"'):
                        count = SelectionEnd.model_validate_json(line).count
                    elif line:
                        targets.append(Target.model_validate_json(line))
        except httpx.TransportError as exc:
            raise ContactsUnavailable(
                f"the contacts service did not answer ({exc!r}); try again"
            ) from exc
        if count != len(targets):
            raise ContactsUnavailable("the contacts service's answer was cut off; try again")
        if selection.contact_ids is not None:
            found = {t.id for t in targets}
            unknown = [c for c in dict.fromkeys(selection.contact_ids) if c not in found]
            if unknown:
                shown = ", ".join(unknown[:5]) + (" …" if len(unknown) > 5 else "")
                raise Unprocessable(
                    "selection.contact_ids", f"{len(unknown)} unknown contact(s): {shown}"
                )
        return targets


def _refusal(response: httpx.Response) -> Problem:
    """The contacts service's refusal, with its fields named as parts of the selection."""
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if response.status_code == 404 and "group" in str(problem.get("detail", "")):
        return Unprocessable("selection.group_id", str(problem["detail"]))
    if response.status_code in (401, 403, 409, 422):
        errors = [
            {**e, "field": f"selection.{e['field'].removeprefix('selection.')}"}
            for e in problem.get("errors") or []
        ]
        return Problem(
            response.status_code,
            str(problem.get("detail", "the selection was refused")),
            title=str(problem.get("title") or "Validation failed"),
            errors=errors or None,
        )
    return ContactsUnavailable(
        f"the contacts service could not resolve the selection ({response.status_code}); try again"
    )
