"""Pure rules: the timeline projection and the mailing templates."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from crm_history.mailings import compile_template
from crm_history.timeline import timeline_item
from crm_shared.errors import Unprocessable
from crm_shared.events import (
    CampaignCreated,
    CampaignMemberRemoved,
    ContactStatusChanged,
    ProcedureCompleted,
    StaffRef,
    make_event,
)

CONTACT = str(uuid.uuid4())


def test_same_event_gives_the_same_item() -> None:
    event = make_event(
        CampaignMemberRemoved(campaign_id="c1", campaign_name="Frühjahr", contact_id=CONTACT),
        source="/crm/campaigns",
    )
    first = timeline_item(event, event.payload())
    again = timeline_item(event, event.payload())
    assert first is not None
    assert first == again
    assert first.id == event.id
    assert first.at == event.time
    assert (first.type, first.source, first.ref_id) == ("campaign", "campaigns", "c1")
    assert first.summary == "Kampagne „Frühjahr“ nicht mehr zugeordnet"


def test_german_summaries() -> None:
    status = make_event(
        ContactStatusChanged(
            contact_id=CONTACT, old_status="prospect", status="customer", version=2
        ),
        source="/crm/contacts",
    )
    item = timeline_item(status, status.payload())
    assert item is not None
    assert item.summary == "Status geändert: Interessent → Kunde"
    done = make_event(
        ProcedureCompleted(
            procedure_id="p1",
            contact_id=CONTACT,
            created_by=StaffRef(staff_id="s", name="S"),
            completed_by=StaffRef(staff_id="s", name="S"),
            type="call",
            direction="outgoing",
            state="not_done",
            outcome="not_done",
            starts_at=datetime(2026, 1, 1, tzinfo=UTC),
            duration_minutes=0,
            reminder=False,
            subject="Rückruf",
        ),
        source="/crm/interactions",
    )
    item = timeline_item(done, done.payload())
    assert item is not None
    assert item.summary == "Kontaktvorgang (Anruf) nicht durchgeführt: Rückruf"


def test_events_without_a_contact_add_nothing() -> None:
    event = make_event(
        CampaignCreated(
            campaign_id="c",
            name="X",
            starts_on=datetime(2026, 1, 1).date(),
            ends_on=datetime(2026, 2, 1).date(),
        ),
        source="/crm/campaigns",
    )
    assert timeline_item(event, event.payload()) is None


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("Hallo {{ vorname }}", "unknown placeholder"),
        ("{{ name.__class__.__mro__ }}", "not allowed"),
        ("{% for %}", "template error"),
    ],
)
def test_bad_templates_are_refused_naming_the_field(source: str, reason: str) -> None:
    with pytest.raises(Unprocessable) as caught:
        compile_template("body", source)
    assert caught.value.errors is not None
    assert caught.value.errors[0]["field"] == "body"
    assert reason in caught.value.errors[0]["message"]


def test_known_placeholders_render() -> None:
    template = compile_template("subject", "Angebot für {{ name }} ({{ customer_number }})")
    assert template.render(name="A", customer_number="K1") == "Angebot für A (K1)"
