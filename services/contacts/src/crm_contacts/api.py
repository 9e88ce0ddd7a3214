"""HTTP routes of the contacts service (thin: validation in schemas, rules in service)."""

from __future__ import annotations

import base64
import json
from typing import Annotated

from fastapi import APIRouter, Query, Response

from crm_contacts.schemas import ContactCreate, ContactPage, ContactPublic, ContactUpdate
from crm_contacts.service import ContactService, to_public
from crm_shared.auth import CurrentStaff
from crm_shared.errors import Unprocessable
from crm_shared.service import RuntimeDep, SessionDep

router = APIRouter(prefix="/api/contacts", tags=["contacts"])


def _encode_cursor(name: str, ident: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([name, ident]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        name, ident = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return str(name), str(ident)
    except (ValueError, TypeError) as exc:
        raise Unprocessable("cursor", "invalid cursor") from exc


@router.post("", status_code=201, response_model=ContactPublic)
async def create_contact(
    data: ContactCreate, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> ContactPublic:
    contact = await ContactService(session, runtime.outbox).create(data)
    return to_public(contact)


@router.get("", response_model=ContactPage)
async def list_contacts(
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
    q: str | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> ContactPage:
    service = ContactService(session, runtime.outbox)
    after = _decode_cursor(cursor) if cursor else None
    rows = await service.repo.page(q=q, status=status, after=after, limit=limit + 1)
    items = [to_public(c) for c in rows[:limit]]
    next_cursor = (
        _encode_cursor(rows[limit - 1].name, rows[limit - 1].id) if len(rows) > limit else None
    )
    return ContactPage(items=items, next_cursor=next_cursor)


@router.get("/{contact_id}", response_model=ContactPublic)
async def get_contact(
    contact_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> ContactPublic:
    return to_public(await ContactService(session, runtime.outbox).get(contact_id))


@router.patch("/{contact_id}", response_model=ContactPublic)
async def update_contact(
    contact_id: str,
    data: ContactUpdate,
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
) -> ContactPublic:
    return to_public(await ContactService(session, runtime.outbox).update(contact_id, data))


@router.delete("/{contact_id}", status_code=204)
async def delete_contact(
    contact_id: str, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff
) -> Response:
    await ContactService(session, runtime.outbox).delete(contact_id)
    return Response(status_code=204)
