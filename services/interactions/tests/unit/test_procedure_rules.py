"""Procedures' rules (Kontaktvorgänge, seed 004) on SQLite without servers: the state
machine, measures and campaigns, and the codes the staff pages word themselves."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from interactions_support import Interactions, staff_claims

from crm_dev.rules import emitted
from crm_interactions.models import CampaignCopy, ContactCopy, StaffCopy
from crm_interactions.procedures.schemas import (
    ProcedureComplete,
    ProcedureCreate,
    ProcedurePublic,
    ProcedureUpdate,
)
from crm_shared.contact_status import ContactRestricted
from crm_shared.errors import Conflict, Problem, Unprocessable

ERIKA = staff_claims()
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def given(ix: Interactions) -> Interactions:
    await ix.given(
        ContactCopy(contact_id="firma", name="Firma GmbH", kind="company", status="customer"),
        ContactCopy(contact_id="anna", name="Anna", status="customer", company_id="firma"),
        ContactCopy(contact_id="neu", name="Neu", status="inbox"),
        ContactCopy(contact_id="alt", name="Alt", status="archived"),
        StaffCopy(staff_id="staff-rita", name="Rita Rückruf", email="rita@firma.example"),
        CampaignCopy(campaign_id="fruehjahr", name="Frühjahr"),
        CampaignCopy(campaign_id="herbst", name="Herbst", retired=True),
    )
    return ix


def body(**fields: Any) -> ProcedureCreate:
    return ProcedureCreate.model_validate(
        {
            "contact_id": "anna",
            "type": "call",
            "direction": "outgoing",
            "state": "planned",
            "starts_at": START,
            "duration_minutes": 0,
            "reminder": True,
            "subject": "Rückruf",
            **fields,
        }
    )


async def plan(ix: Interactions, **fields: Any) -> ProcedurePublic:
    async with ix.procedures() as service:
        return await service.plan(body(**fields), ERIKA)


async def refusal(ix: Interactions, action: str, *args: Any) -> Problem:
    """The problem ``ProcedureService.<action>(*args)`` raises."""
    with pytest.raises(Problem) as refused:
        async with ix.procedures() as service:
            await getattr(service, action)(*args)
    return refused.value


def rule(problem: Problem) -> tuple[int, str, str | None]:
    """Status, field and code of a refusal."""
    assert problem.errors is not None
    return problem.status, problem.errors[0]["field"], problem.extra.get("code")


async def test_planned_then_done_with_its_duration(given: Interactions) -> None:
    planned = await plan(given, responsible_id="staff-rita")
    assert (planned.state, planned.duration_minutes) == ("planned", 0)
    assert planned.contact_person_id == "anna"  # a person is its own contact person
    missing = await refusal(given, "complete", planned.id, ProcedureComplete(outcome="done"), ERIKA)
    assert rule(missing) == (422, "duration_minutes", None)
    moved = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)
    async with given.procedures() as service:
        done = await service.complete(
            planned.id,
            ProcedureComplete(outcome="done", duration_minutes=25, starts_at=moved),
            ERIKA,
        )
    assert (done.state, done.duration_minutes, done.starts_at) == ("done", 25, moved)
    assert done.completed_at is not None
    (event,) = await emitted(given.db, "ProcedureCompleted")
    assert event.data["outcome"] == "done"  # type: ignore[index]
    assert event.data["responsible"]["name"] == "Rita Rückruf"  # type: ignore[index]
    # completed once: again, or a change, is a conflict
    again = await refusal(
        given, "complete", planned.id, ProcedureComplete(outcome="not_done"), ERIKA
    )
    assert isinstance(again, Conflict)
    change = await refusal(given, "update", planned.id, ProcedureUpdate(subject="Neu"))
    assert isinstance(change, Conflict)


async def test_not_done_keeps_its_data_and_takes_a_note(given: Interactions) -> None:
    planned = await plan(given)
    changed = await refusal(
        given,
        "complete",
        planned.id,
        ProcedureComplete(outcome="not_done", duration_minutes=5),
        ERIKA,
    )
    assert rule(changed) == (422, "duration_minutes", None)
    async with given.procedures() as service:
        not_done = await service.complete(
            planned.id, ProcedureComplete(outcome="not_done", note="nicht erreicht"), ERIKA
        )
    assert (not_done.state, not_done.note) == ("not_done", "nicht erreicht")
    assert (not_done.duration_minutes, not_done.starts_at) == (0, START)


async def test_planned_with_a_duration_is_refused_with_its_code(given: Interactions) -> None:
    problem = await refusal(given, "plan", body(duration_minutes=30), ERIKA)
    assert rule(problem) == (422, "duration_minutes", "planned_without_duration")
    assert problem.errors is not None and problem.errors[0]["type"] == "planned_without_duration"
    done = await plan(given, state="done", duration_minutes=30)  # recorded as done: fine
    assert done.state == "done"


async def test_a_measure_needs_a_campaign_to_be_done(given: Interactions) -> None:
    as_done = await refusal(
        given, "plan", body(type="measure", state="done", duration_minutes=60), ERIKA
    )
    assert rule(as_done) == (422, "campaign_id", "measure_needs_campaign")
    measure = await plan(given, type="measure")  # planned without one: fine
    for outcome in ("done", "not_done"):
        refused = await refusal(
            given,
            "complete",
            measure.id,
            ProcedureComplete(outcome=outcome, duration_minutes=60 if outcome == "done" else None),
            ERIKA,
        )
        assert rule(refused) == (422, "campaign_id", "measure_needs_campaign")
    async with given.procedures() as service:
        await service.update(measure.id, ProcedureUpdate(campaign_id="fruehjahr"))
        done = await service.complete(
            measure.id, ProcedureComplete(outcome="done", duration_minutes=60), ERIKA
        )
    assert (done.state, done.campaign_id) == ("done", "fruehjahr")


async def test_a_retired_or_unknown_campaign_is_not_chosen(given: Interactions) -> None:
    retired = await refusal(given, "plan", body(campaign_id="herbst"), ERIKA)
    assert rule(retired) == (422, "campaign_id", "campaign_retired")
    unknown = await refusal(given, "plan", body(campaign_id="nirgends"), ERIKA)
    assert rule(unknown) == (422, "campaign_id", None)
    linked = await plan(given, type="measure", campaign_id="fruehjahr")
    change = await refusal(given, "update", linked.id, ProcedureUpdate(campaign_id="herbst"))
    assert rule(change) == (422, "campaign_id", "campaign_retired")
    # retired after it was linked: the link stays and the measure can still be completed
    async with given.db.unit_of_work() as session:
        campaign = await session.get(CampaignCopy, "fruehjahr")
        assert campaign is not None
        campaign.retired = True
    async with given.procedures() as service:
        done = await service.complete(
            linked.id, ProcedureComplete(outcome="done", duration_minutes=10), ERIKA
        )
    assert (done.state, done.campaign_id) == ("done", "fruehjahr")


@pytest.mark.parametrize("contact_id", ["neu", "alt"])
async def test_a_limited_contact_gets_no_procedure(given: Interactions, contact_id: str) -> None:
    problem = await refusal(given, "plan", body(contact_id=contact_id), ERIKA)
    assert isinstance(problem, ContactRestricted)
    assert problem.status == 409
    assert problem.extra["contact_status"] == {"neu": "inbox", "alt": "archived"}[contact_id]


async def test_a_company_s_contact_person_is_one_of_its_persons(given: Interactions) -> None:
    await given.given(ContactCopy(contact_id="fremd", name="Fremd", status="customer"))
    refused = await refusal(
        given, "plan", body(contact_id="firma", contact_person_id="fremd"), ERIKA
    )
    assert rule(refused) == (422, "contact_person_id", None)
    planned = await plan(given, contact_id="firma", contact_person_id="anna")
    assert planned.contact_person_id == "anna"
    company = await plan(given, contact_id="firma")
    assert company.contact_person_id is None  # a company is no contact person


async def test_a_change_of_a_planned_procedure_reschedules_it(given: Interactions) -> None:
    planned = await plan(given)
    later = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
    async with given.procedures() as service:
        moved = await service.update(
            planned.id, ProcedureUpdate(starts_at=later, responsible_id="staff-rita")
        )
    assert moved.starts_at == later
    (event,) = await emitted(given.db, "ProcedureRescheduled")
    assert event.data["changed"] == ["responsible_id", "starts_at"]  # type: ignore[index]
    assert datetime.fromisoformat(event.data["old_starts_at"]) == START  # type: ignore[index]


async def test_the_contact_search_takes_one_or_two_terms(given: Interactions) -> None:
    async with given.procedures() as service:
        found = await service.search_contacts("firm", "company")
    assert [m.id for m in found.items] == ["firma"]
    for q in ("   ", "a b c"):
        assert rule(await refusal(given, "search_contacts", q, None))[:2] == (422, "q")


async def test_pages_of_one_by_start_time(given: Interactions) -> None:
    for day in (4, 2, 3):
        await plan(given, starts_at=datetime(2026, 3, day, 9, 0, tzinfo=UTC))
    ones, cursor = [], None
    while True:
        async with given.procedures() as service:
            page = await service.page(
                contact_id="anna", state="planned", responsible_id=None, cursor=cursor, limit=1
            )
        ones += page.items
        if (cursor := page.next_cursor) is None:
            break
    assert [p.starts_at.day for p in ones] == [2, 3, 4]
    with pytest.raises(Unprocessable):
        async with given.procedures() as service:
            await service.page(
                contact_id=None, state=None, responsible_id=None, cursor="nonsense", limit=1
            )
