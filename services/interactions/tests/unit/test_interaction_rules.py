"""Interactions' rules on SQLite without servers: who may record which kind, the contacts
that take none, and the pages."""

from __future__ import annotations

import pytest
from interactions_support import Interactions, staff_claims

from crm_dev.rules import emitted
from crm_interactions.interactions.schemas import InteractionCreate
from crm_interactions.models import ContactCopy, StaffCopy
from crm_shared.contact_status import ContactRestricted
from crm_shared.errors import NotFound, Unprocessable

ERIKA = staff_claims()
OHNE = staff_claims("Otto Ohnemail", email=None)


def contact(contact_id: str = "c1", status: str = "customer", **fields: object) -> ContactCopy:
    return ContactCopy(
        contact_id=contact_id,
        name=f"Kundin {contact_id}",
        email=f"{contact_id}@example.com",
        status=status,
        **fields,
    )


def interaction(kind: str, contact_id: str = "c1", **fields: object) -> InteractionCreate:
    return InteractionCreate.model_validate(
        {"contact_id": contact_id, "topic": "Angebot", "kind": kind, "text": "…", **fields}
    )


@pytest.mark.parametrize("kind", ["incoming", "outgoing"])
async def test_a_staff_member_without_email_cannot_record_what_mails_the_customer(
    ix: Interactions, kind: str
) -> None:
    await ix.given(contact())
    with pytest.raises(Unprocessable) as refused:
        async with ix.interactions() as service:
            await service.log(interaction(kind), OHNE)
    assert refused.value.errors is not None
    assert refused.value.errors[0]["field"] == "kind"  # one's own record
    assert refused.value.extra["code"] == "recorder_without_email"
    async with ix.interactions() as service:
        noted = await service.log(interaction("internal"), OHNE)  # a note mails nobody
    assert noted.recorded_by.name == "Otto Ohnemail"
    assert [e.data["kind"] for e in await emitted(ix.db, "InteractionLogged")] == ["internal"]  # type: ignore[index]


async def test_an_address_removed_since_the_token_counts_and_a_colleague_is_named(
    ix: Interactions,
) -> None:
    """The staff copy as it is now wins over the token's claims; a colleague named in
    ``recorded_by`` without an address is refused naming that field."""
    await ix.given(
        contact(),
        StaffCopy(staff_id=ERIKA.staff_id, name=ERIKA.name, email=None),
        StaffCopy(staff_id="staff-kai", name="Kai Kollege", email=None),
        StaffCopy(staff_id="staff-lea", name="Lea Laut", initials="LL", email="lea@firma.example"),
    )
    with pytest.raises(Unprocessable) as own:
        async with ix.interactions() as service:
            await service.log(interaction("outgoing"), ERIKA)
    assert own.value.errors is not None and own.value.errors[0]["field"] == "kind"
    with pytest.raises(Unprocessable) as colleague:
        async with ix.interactions() as service:
            await service.log(interaction("outgoing", recorded_by="staff-kai"), ERIKA)
    assert colleague.value.errors is not None
    assert colleague.value.errors[0]["field"] == "recorded_by"
    assert "Kai Kollege" in colleague.value.errors[0]["message"]

    async with ix.interactions() as service:
        logged = await service.log(interaction("outgoing", recorded_by="staff-lea"), ERIKA)
    assert logged.reply_to == "lea@firma.example"  # the recorder's address
    assert (logged.recorded_by.name, logged.recorded_by.initials) == ("Lea Laut", "LL")
    (event,) = await emitted(ix.db, "InteractionLogged")
    assert event.data["reply_to"] == "lea@firma.example"  # type: ignore[index]
    assert event.data["contact"]["email"] == "c1@example.com"  # type: ignore[index]


async def test_an_unknown_or_inactive_recorder_is_refused(ix: Interactions) -> None:
    await ix.given(contact(), StaffCopy(staff_id="staff-alt", name="Alt", active=False))
    for staff_id in ("staff-niemand", "staff-alt"):
        with pytest.raises(Unprocessable) as refused:
            async with ix.interactions() as service:
                await service.log(interaction("internal", recorded_by=staff_id), ERIKA)
        assert refused.value.errors is not None
        assert refused.value.errors[0]["field"] == "recorded_by"


@pytest.mark.parametrize("status", ["inbox", "archived"])
async def test_a_limited_contact_is_refused_naming_its_status(
    ix: Interactions, status: str
) -> None:
    await ix.given(contact(status=status))
    with pytest.raises(ContactRestricted) as refused:
        async with ix.interactions() as service:
            await service.log(interaction("internal"), ERIKA)
    assert refused.value.status == 409
    assert refused.value.extra["contact_status"] == status
    assert refused.value.extra["code"] == f"contact_{status}"


async def test_an_unknown_contact_is_422_and_a_deleted_one_404(ix: Interactions) -> None:
    await ix.given(contact("gone"))
    async with ix.copies() as copies:
        await copies.erase_contact("gone")
    with pytest.raises(Unprocessable) as unknown:
        async with ix.interactions() as service:
            await service.log(interaction("internal", contact_id="nobody"), ERIKA)
    assert unknown.value.errors is not None
    assert unknown.value.errors[0]["field"] == "contact_id"
    with pytest.raises(NotFound):
        async with ix.interactions() as service:
            await service.log(interaction("internal", contact_id="gone"), ERIKA)


@pytest.mark.parametrize("sort", ["occurred_at", "recorded_by", "topic"])
async def test_pages_of_one_give_the_whole_list_in_each_order(ix: Interactions, sort: str) -> None:
    await ix.given(contact(), contact("c2"))
    for number, who in enumerate([ERIKA, OHNE, ERIKA, OHNE, ERIKA]):
        async with ix.interactions() as service:
            await service.log(
                interaction(
                    "internal",
                    contact_id="c1" if number % 2 else "c2",
                    topic=f"Thema {number % 3}",
                    occurred_at=f"2026-03-0{number + 1}T09:00:00+01:00",
                ),
                who,
            )
    async with ix.interactions() as service:
        whole = await service.page(contact_id=None, kind=None, sort=sort, cursor=None, limit=50)  # type: ignore[arg-type]
    assert len(whole.items) == 5 and whole.next_cursor is None
    ones, cursor = [], None
    while True:
        async with ix.interactions() as service:
            page = await service.page(contact_id=None, kind=None, sort=sort, cursor=cursor, limit=1)  # type: ignore[arg-type]
        ones += page.items
        if (cursor := page.next_cursor) is None:
            break
    assert [i.id for i in ones] == [i.id for i in whole.items]
    if sort == "occurred_at":
        times = [i.occurred_at for i in whole.items]
        assert times == sorted(times, reverse=True)
    with pytest.raises(Unprocessable):
        async with ix.interactions() as service:
            await service.page(contact_id=None, kind=None, sort=sort, cursor="??", limit=1)  # type: ignore[arg-type]
