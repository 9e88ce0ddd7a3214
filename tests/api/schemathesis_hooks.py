"""Schemathesis hooks of the API run (``schemathesis.toml`` beside this file).

The run goes to the test session's shared stack, at the end of the session. A generated
bulk action on a *filter* selection (``{"filter": {}}`` is everyone) would archive,
delete, mail or stream every contact the other tests left, tens of thousands: the run
would be about that one request; so would the CSV export of every contact. Such a
filter gets a search term no contact has, so the filter's whole path still runs, on
nothing; selections by ids or group are sent as generated.
"""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis

SELECTING = frozenset(
    {
        "/api/contacts/bulk",
        "/api/contacts/selection",
        "/api/contacts/export",
        "/api/history/bulk",
        "/api/history/mailings",
    }
)
NOBODY = f"nobody-{uuid.uuid4().hex}"


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    operation = context.operation
    if operation is None or operation.path not in SELECTING:
        return
    if operation.method.upper() == "GET":  # an export of the filtered list
        if isinstance(case.query, dict):
            case.query["q"] = NOBODY
        else:
            case.query = {"q": NOBODY}
        return
    selection = case.body.get("selection") if isinstance(case.body, dict) else None
    if isinstance(selection, dict) and isinstance(selection.get("filter"), dict):
        selection["filter"]["q"] = NOBODY
