"""The committed AsyncAPI document is the one the event classes generate."""

from pathlib import Path

from crm_shared.asyncapi import document, render
from crm_shared.events import registered_events

DOC = Path(__file__).parents[2] / "docs" / "asyncapi.json"


def test_committed_document_is_current() -> None:
    assert DOC.read_text() == render(), (
        "docs/asyncapi.json is stale: run `uv run python -m crm_shared.asyncapi > "
        "docs/asyncapi.json`"
    )


def test_every_event_has_a_message_on_its_topic() -> None:
    doc = document()
    for name, cls in registered_events().items():
        channel = doc["channels"][cls.kafka_topic.value.replace(".", "_")]
        assert name in channel["messages"]
        envelope = doc["components"]["schemas"][f"{name}Event"]
        assert envelope["properties"]["type"]["const"] == f"crm.{name}.v1"
