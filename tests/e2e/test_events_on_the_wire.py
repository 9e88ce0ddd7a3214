"""Every event the suite left on the PostgreSQL stack's topics, read as an outside
subscriber would: key = subject, the contact id wherever an event names a contact,
strictly increasing versions per contact, each a known event whose data fits its
schema, readable by the official CloudEvents SDK, and listed in the README.

Runs after every other test of the session (``after_everything``), so it judges what the
whole suite made the services publish. Records a test published itself (no
``crm-position`` header: not relayed by a service) are not the services' and are left
out.
"""

from __future__ import annotations

import json
from collections import defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_structured_event

from crm_dev.stack import Stack
from crm_dev.testing import read_all
from crm_shared.consistency import POSITION_HEADER
from crm_shared.events import Topic, parse_cloudevent, registered_events

README = Path(__file__).parents[2] / "README.md"
SDK_SAMPLES_PER_TYPE = 20  # the official SDK is slow: a sample of each type is enough


@pytest.mark.after_everything(2)
async def test_every_relayed_event_is_keyed_subjected_and_versioned_right(stack: Stack) -> None:
    records = [
        r
        for r in await read_all(stack.config.kafka_bootstrap, [t.value for t in Topic])
        if any(name == POSITION_HEADER for name, _ in r.headers or ())
    ]
    assert records, "every start announces the first admin and the CRM lists at least"
    unique: dict[str, Any] = {}  # a relay may publish a record twice: one event id
    for record in records:
        unique.setdefault(json.loads(record.value)["id"], record)
    records = list(unique.values())
    classes = registered_events()
    sampled: dict[str, int] = defaultdict(int)
    versions: dict[str, list[tuple[int, int, int, str]]] = defaultdict(list)
    problems: list[str] = []
    for record in records:
        body = json.loads(record.value)
        name = body["type"].split(".")[1]
        where = f"{record.topic}@{record.partition}/{record.offset} {name}"
        if name not in classes or classes[name].kafka_topic.value != record.topic:
            problems.append(f"{where}: not an event of this topic")
            continue
        parse_cloudevent(record.value).payload()  # the data fits its schema
        subject, data = body.get("subject"), body["data"]
        if record.key is None or record.key.decode() != subject:
            problems.append(f"{where}: key {record.key!r} is not the subject {subject!r}")
        if data.get("contact_id") and subject != data["contact_id"]:
            problems.append(f"{where}: subject {subject} is not the contact {data['contact_id']}")
        if record.topic == Topic.CONTACTS.value and data.get("version") is not None:
            versions[data["contact_id"]].append(
                (record.partition, record.offset, data["version"], name)
            )
        if sampled[name] < SDK_SAMPLES_PER_TYPE:
            sampled[name] += 1
            headers = dict(record.headers)
            sdk = from_structured_event(
                KafkaMessage(headers=headers, key=record.key, value=record.value)
            )
            if sdk.get_subject() != subject or sdk.get_type() != body["type"]:
                problems.append(f"{where}: the official SDK reads it otherwise")
    for contact_id, seen in versions.items():
        assert len({partition for partition, *_ in seen}) == 1, contact_id
        in_order = [(version, name) for _, _, version, name in sorted(seen)]
        numbers = [version for version, _ in in_order]
        if any(b <= a for a, b in pairwise(numbers)):
            problems.append(f"contact {contact_id}: versions not strictly increasing {in_order}")
    assert problems == [], "\n".join(problems[:50])
    # every event on the wire is listed in the README
    listed = README.read_text()
    unlisted = sorted(n for n in {body_name(r) for r in records} if f"`{n}`" not in listed)
    assert unlisted == [], f"events missing from the README's list: {unlisted}"


def body_name(record: Any) -> str:
    name: str = json.loads(record.value)["type"].split(".")[1]
    return name
