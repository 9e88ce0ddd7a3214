"""Event contracts: the CloudEvents 1.0 envelope, parsing, the typed payload registry."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event
from pydantic import ValidationError

from crm_shared.events import (
    CLOUDEVENTS_CONTENT_TYPE,
    CloudEvent,
    ContactCopy,
    ContactCreated,
    ContactDeleted,
    ContactUpdated,
    EmailFailed,
    EmailSent,
    EventTemplate,
    HistoryEntryCreated,
    InteractionDeleted,
    InteractionLogged,
    InteractionUpdated,
    MalformedEventError,
    StaffRef,
    Topic,
    UnknownEventError,
    all_topics,
    dead_letter_topic,
    derived_event_id,
    event_type,
    make_event,
    parse_cloudevent,
    parse_typed,
    registered_events,
    uuid5_str,
)

CONTACT_ID = "5b0c3f1e-7a49-4e55-9d3b-3f4f6c1d2e10"


def interaction() -> InteractionLogged:
    return InteractionLogged(
        interaction_id="i-1",
        contact_id=CONTACT_ID,
        topic="Offer",
        kind="outgoing",
        text="Sent the offer",
        occurred_at=datetime(2025, 3, 1, 9, 30, tzinfo=UTC),
        follow_up_on=date(2025, 3, 8),
        recorded_by=StaffRef(staff_id="s-1", name="Grace Hopper", initials="GH"),
        contact=ContactCopy(name="Ada Lovelace", email="ada@example.org"),
    )


def valid_body(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/crm/contacts",
        "type": "crm.ContactDeleted.v1",
        "subject": CONTACT_ID,
        "time": "2025-03-01T09:30:00Z",
        "datacontenttype": "application/json",
        "data": {"contact_id": CONTACT_ID},
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


# --- the envelope ---------------------------------------------------------------------


def test_make_event_builds_a_cloudevents_1_0_envelope() -> None:
    before = datetime.now(UTC)
    event = make_event(ContactDeleted(contact_id=CONTACT_ID), source="/crm/contacts")
    after = datetime.now(UTC)

    assert event.specversion == "1.0"
    assert uuid.UUID(event.id).version == 4
    assert event.source == "/crm/contacts"
    assert event.type == "crm.ContactDeleted.v1"
    assert event.name == "ContactDeleted"
    assert event.subject == CONTACT_ID
    assert event.time.tzinfo is not None and event.time.utcoffset() == timedelta(0)
    assert before <= event.time <= after
    assert event.datacontenttype == "application/json"
    assert event.data == {"contact_id": CONTACT_ID, "version": None, "actor": None}
    assert event.key == CONTACT_ID.encode()


def test_make_event_gives_every_event_a_new_id() -> None:
    data = ContactDeleted(contact_id=CONTACT_ID)
    ids = {make_event(data, source="/crm/x").id for _ in range(100)}
    assert len(ids) == 100


def test_make_event_takes_an_explicit_id_and_time() -> None:
    when = datetime(2024, 12, 24, 18, 0, tzinfo=timezone(timedelta(hours=1)))
    event = make_event(
        ContactDeleted(contact_id=CONTACT_ID), source="/crm/x", event_id="fixed-id", time=when
    )
    assert event.id == "fixed-id"
    assert event.time == when


def test_data_is_json_ready() -> None:
    event = make_event(interaction(), source="/crm/interactions")
    assert event.type == "crm.InteractionLogged.v1"
    assert event.data["occurred_at"] == "2025-03-01T09:30:00Z"
    assert event.data["follow_up_on"] == "2025-03-08"
    assert event.data["recorded_by"]["initials"] == "GH"
    json.dumps(event.data)  # no datetime objects left


def test_to_bytes_and_parse_round_trip() -> None:
    original = make_event(interaction(), source="/crm/interactions")
    body = original.to_bytes()
    assert isinstance(body, bytes)

    parsed = parse_cloudevent(body)
    assert parsed == original
    assert parsed.payload() == interaction()

    raw = json.loads(body)
    assert raw["specversion"] == "1.0"
    assert raw["time"].endswith("Z") or raw["time"].endswith("+00:00")


def test_to_bytes_leaves_out_absent_optional_attributes() -> None:
    event = CloudEvent(
        specversion="1.0",
        id="e-1",
        source="/crm/x",
        type="crm.ContactDeleted.v1",
        time=datetime.now(UTC),
    )
    raw = json.loads(event.to_bytes())
    assert "subject" not in raw
    assert event.key is None


def test_bytes_are_readable_by_the_official_cloudevents_sdk() -> None:
    event = make_event(interaction(), source="/crm/interactions")
    sdk_event = from_kafka_event(
        KafkaMessage(
            headers={"content-type": CLOUDEVENTS_CONTENT_TYPE.encode()},
            key=event.key,
            value=event.to_bytes(),
        )
    )
    assert sdk_event.get_specversion() == "1.0"
    assert sdk_event.get_id() == event.id
    assert sdk_event.get_source() == "/crm/interactions"
    assert sdk_event.get_type() == "crm.InteractionLogged.v1"
    assert sdk_event.get_subject() == CONTACT_ID
    assert sdk_event.get_time() == event.time
    assert sdk_event.get_data() == event.data


def test_parse_accepts_unknown_extension_attributes() -> None:
    body = json.dumps(valid_body(traceparent="00-abc-def-01")).encode()
    assert parse_cloudevent(body).model_extra == {"traceparent": "00-abc-def-01"}


def test_parse_typed_reads_envelope_and_payload_in_one_pass() -> None:
    original = make_event(interaction(), source="/crm/interactions")
    body = json.dumps({**json.loads(original.to_bytes()), "traceparent": "00-abc-def-01"})

    typed = parse_typed(body.encode(), InteractionLogged)
    untyped = parse_cloudevent(body.encode())
    assert isinstance(typed, CloudEvent)
    assert isinstance(typed.data, InteractionLogged)
    assert typed.payload() is typed.data
    assert typed.payload() == untyped.payload() == interaction()
    assert typed.model_dump(exclude={"data"}) == untyped.model_dump(exclude={"data"})
    assert typed.model_extra == {"traceparent": "00-abc-def-01"}
    assert parse_cloudevent(typed.to_bytes()).payload() == interaction()


def test_parse_typed_rejects_a_payload_that_breaks_its_schema() -> None:
    body = json.dumps(valid_body(data={"contact_id": 42})).encode()
    with pytest.raises(ValidationError):
        parse_typed(body, ContactDeleted)
    with pytest.raises(ValidationError):  # and an envelope that breaks the envelope's
        parse_typed(json.dumps(valid_body(specversion="0.3")).encode(), ContactDeleted)


# --- malformed input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b'{"id": ', b"\xff\xfe\x00", b"[]", b"42", b"null"],
    ids=["empty", "text", "truncated", "binary", "array", "number", "null"],
)
def test_parse_refuses_bodies_that_are_no_json_object(body: bytes) -> None:
    with pytest.raises(MalformedEventError):
        parse_cloudevent(body)


@pytest.mark.parametrize("missing", ["id", "source", "type", "time"])
def test_parse_refuses_json_without_a_required_attribute(missing: str) -> None:
    body = valid_body()
    del body[missing]
    with pytest.raises(MalformedEventError, match=missing):
        parse_cloudevent(json.dumps(body).encode())


@pytest.mark.parametrize(
    "changes",
    [
        {"specversion": "0.3"},
        {"time": "yesterday"},
        {"data": "not an object"},
        {"id": 17},
    ],
    ids=["old-specversion", "bad-time", "data-not-object", "id-not-string"],
)
def test_parse_refuses_wrong_attribute_values(changes: dict[str, object]) -> None:
    with pytest.raises(MalformedEventError):
        parse_cloudevent(json.dumps(valid_body(**changes)).encode())


def test_parse_refuses_json_without_specversion() -> None:
    body = valid_body()
    del body["specversion"]
    with pytest.raises(MalformedEventError):
        parse_cloudevent(json.dumps(body).encode())


@pytest.mark.parametrize("attribute", ["id", "source", "type"])
def test_parse_refuses_empty_required_attributes(attribute: str) -> None:
    with pytest.raises(MalformedEventError):
        parse_cloudevent(json.dumps(valid_body(**{attribute: ""})).encode())


# --- typed payloads --------------------------------------------------------------------------


def test_payload_returns_the_registered_class() -> None:
    data = ContactDeleted(contact_id=CONTACT_ID)
    payload = make_event(data, source="/crm/contacts").payload()
    assert type(payload) is ContactDeleted
    assert payload == data
    assert payload.event_subject == CONTACT_ID


def test_payload_of_a_parsed_event_is_typed() -> None:
    created = ContactCreated(
        contact_id=CONTACT_ID, kind="company", name="ACME", status="customer", version=3
    )
    parsed = parse_cloudevent(make_event(created, source="/crm/contacts").to_bytes())
    payload = parsed.payload()
    assert isinstance(payload, ContactCreated)
    assert payload.version == 3
    assert payload.assignment.mode == "all"


@pytest.mark.parametrize(
    "type_", ["crm.NoSuchEvent.v1", "crm.ContactDeleted.v2", "com.example.thing", "ContactDeleted"]
)
def test_payload_of_an_unknown_type_raises_unknown_event(type_: str) -> None:
    event = CloudEvent.model_validate(valid_body(type=type_))
    with pytest.raises(UnknownEventError):
        event.payload()


def test_payload_that_breaks_the_schema_raises_validation_error() -> None:
    event = CloudEvent.model_validate(valid_body(data={"contact": "wrong"}))
    with pytest.raises(ValidationError):
        event.payload()


def test_payload_keeps_fields_added_by_newer_producers() -> None:
    event = CloudEvent.model_validate(valid_body(data={"contact_id": "c", "reason": "gdpr"}))
    payload = event.payload()
    assert payload.event_subject == "c"
    assert payload.model_extra == {"reason": "gdpr"}


def test_payloads_are_immutable() -> None:
    data = ContactDeleted(contact_id=CONTACT_ID)
    with pytest.raises(ValidationError):
        data.contact_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("type_", "name"),
    [
        ("crm.ContactDeleted.v1", "ContactDeleted"),
        ("crm.ContactDeleted.v2", None),
        ("crm.a.b.v1", None),
        ("org.ContactDeleted.v1", None),
    ],
)
def test_event_name_from_type(type_: str, name: str | None) -> None:
    assert CloudEvent.model_validate(valid_body(type=type_)).name == name


# --- ids, topics, registry -----------------------------------------------------------------


def test_derived_event_id_is_deterministic_uuid() -> None:
    first = derived_event_id("reminder", "r-1", "2025-03-01")
    assert first == derived_event_id("reminder", "r-1", "2025-03-01")
    assert uuid.UUID(first).version == 5
    assert first != derived_event_id("reminder", "r-1", "2025-03-02")
    assert first != derived_event_id("reminder", "r-12025-03-01")
    assert len(first) == 36


def test_event_type_names() -> None:
    assert event_type("InteractionLogged") == "crm.InteractionLogged.v1"


def test_dead_letter_topics() -> None:
    assert Topic.CONTACTS.dlq == "crm.contacts.dlq"
    assert Topic.NOTIFICATIONS.dlq == "crm.notifications.dlq"
    assert dead_letter_topic("crm.custom") == "crm.custom.dlq"
    topics = all_topics()
    assert len(topics) == 2 * len(Topic) == len(set(topics))
    for topic in Topic:
        assert topic.value in topics and topic.dlq in topics


def test_topics_of_the_contract_exist() -> None:
    assert {t.value for t in Topic} >= {
        "crm.contacts",
        "crm.history",
        "crm.interactions",
        "crm.procedures",
        "crm.campaigns",
        "crm.opportunities",
        "crm.reminders",
        "crm.notifications",
    }
    assert all(t.value.startswith("crm.") and not t.value.endswith(".dlq") for t in Topic)


@pytest.mark.parametrize(
    ("name", "cls", "topic"),
    [
        ("ContactCreated", ContactCreated, Topic.CONTACTS),
        ("ContactUpdated", ContactUpdated, Topic.CONTACTS),
        ("ContactDeleted", ContactDeleted, Topic.CONTACTS),
        ("InteractionLogged", InteractionLogged, Topic.INTERACTIONS),
        ("InteractionUpdated", InteractionUpdated, Topic.INTERACTIONS),
        ("InteractionDeleted", InteractionDeleted, Topic.INTERACTIONS),
        ("EmailSent", EmailSent, Topic.NOTIFICATIONS),
        ("EmailFailed", EmailFailed, Topic.NOTIFICATIONS),
    ],
)
def test_registry_has_the_contract_events(name: str, cls: type, topic: Topic) -> None:
    registry = registered_events()
    assert registry[name] is cls
    assert cls.event_name == name  # type: ignore[attr-defined]
    assert cls.kafka_topic is topic  # type: ignore[attr-defined]


def test_registered_events_is_a_copy() -> None:
    registry = registered_events()
    registry.pop("ContactDeleted")
    assert "ContactDeleted" in registered_events()


def test_every_registered_class_carries_its_name_and_topic() -> None:
    for name, cls in registered_events().items():
        assert cls.event_name == name
        assert isinstance(cls.kafka_topic, Topic)


def test_an_event_name_cannot_be_registered_twice() -> None:
    from crm_shared.events import EventData, event

    class Impostor(EventData):
        contact_id: str

    with pytest.raises(ValueError, match="registered twice"):
        event("ContactDeleted", Topic.HISTORY)(Impostor)
    assert registered_events()["ContactDeleted"] is ContactDeleted
    assert ContactDeleted.kafka_topic is Topic.CONTACTS


# --- bulk helpers: the same bytes as the one-by-one path -----------------------------


@pytest.mark.parametrize("name", ["crm:history:job:j:c", "", 'ümlaut ✓ \n"quote"', "x" * 500])
def test_uuid5_str_is_uuid5(name: str) -> None:
    for namespace in (uuid.NAMESPACE_URL, uuid.NAMESPACE_DNS, uuid.uuid4()):
        assert uuid5_str(namespace, name) == str(uuid.uuid5(namespace, name))


def test_uuid5_str_is_uuid5_for_every_variant_digit() -> None:
    names = [str(uuid.uuid4()) for _ in range(2000)]
    got = [uuid5_str(uuid.NAMESPACE_URL, name) for name in names]
    assert got == [str(uuid.uuid5(uuid.NAMESPACE_URL, name)) for name in names]
    assert {value[19] for value in got} == set("89ab")


def test_derived_event_id_is_the_uuid5_it_always_was() -> None:
    expected = uuid.uuid5(uuid.NAMESPACE_URL, "crm:history:created:e-1")
    assert derived_event_id("history", "created", "e-1") == str(expected)


def _entry(**changes: object) -> HistoryEntryCreated:
    fields: dict[str, object] = {
        "entry_id": "template",
        "contact_id": "template",
        "date": date(2026, 11, 23),
        "staff_initials": "BE",
        "field5": True,
        "text": 'Katalog „2026“ verschickt\n{"x": 1} \\ ✓',
        "created_by": StaffRef(staff_id="s-1", name="Bärbel"),
        "job_id": "job-1",
    }
    return HistoryEntryCreated.model_validate({**fields, **changes})


@pytest.mark.parametrize(
    "values",
    [
        {"entry_id": str(uuid.uuid4()), "contact_id": str(uuid.uuid4())},
        {"entry_id": 'e-"quoted"', "contact_id": "c\\back\nslash\u0001ü{}"},
    ],
)
def test_event_template_renders_what_make_event_serialises(values: dict[str, str]) -> None:
    at = datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=UTC)
    template = EventTemplate(
        _entry(), source="/crm/history", time=at, fields=("entry_id", "contact_id")
    )
    event_id = str(uuid.uuid4())
    body, subject = template.render(event_id, **values)

    expected = make_event(_entry(**values), source="/crm/history", event_id=event_id, time=at)
    assert body == expected.to_bytes().decode()
    assert subject == values["contact_id"] == expected.subject
    assert template.topic == "crm.history"
    assert parse_cloudevent(body.encode()).payload() == _entry(**values)


def test_event_template_with_a_fixed_subject_and_bad_fields() -> None:
    at = datetime(2026, 11, 23, tzinfo=UTC)
    template = EventTemplate(_entry(), source="/crm/history", time=at, fields=("entry_id",))
    body, subject = template.render("ev-1", entry_id="e-9")
    assert subject == "template"
    assert json.loads(body)["data"]["entry_id"] == "e-9"
    with pytest.raises(ValueError, match="must hold strings"):
        EventTemplate(_entry(), source="/crm/history", time=at, fields=("field5",))
    with pytest.raises(ValueError, match="event id"):
        EventTemplate(_entry(), source="/crm/history", time=at, fields=("id",))
