"""The AsyncAPI 3.0 document of every CRM event, generated from :mod:`crm_shared.events`.

    uv run python -m crm_shared.asyncapi > docs/asyncapi.json

A test checks that the committed document matches the event classes.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import models_json_schema

from crm_shared.events import CLOUDEVENTS_CONTENT_TYPE, Topic, event_type, registered_events

REF = "#/components/schemas/{model}"


def _envelope(name: str, topic: Topic, subject_is: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": f"CloudEvents 1.0, structured mode, on {topic.value}; key = subject "
        f"= {subject_is}. Kafka header crm-position: <owner>/<clock>.<seq> (the "
        "consistency position; grows in log order per owner and partition).",
        "required": ["specversion", "id", "source", "type", "subject", "time", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "format": "uuid", "description": "idempotency key"},
            "source": {"type": "string", "pattern": "^/crm/[a-z]+$"},
            "type": {"const": event_type(name)},
            "subject": {"type": "string", "description": f"{subject_is} (also the key)"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "data": {"$ref": REF.format(model=name)},
        },
    }


def document() -> dict[str, Any]:
    """The AsyncAPI document as a dict."""
    events = registered_events()
    _, schema = models_json_schema(
        [(cls, "validation") for cls in events.values()], ref_template=REF
    )
    schemas: dict[str, Any] = dict(schema.get("$defs", {}))
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, cls in sorted(events.items()):
        topic = cls.kafka_topic
        schemas[f"{name}Event"] = _envelope(name, topic, cls.subject_is)
        messages[name] = {
            "name": name,
            "title": event_type(name),
            "summary": (cls.__doc__ or "").strip().splitlines()[0],
            "contentType": CLOUDEVENTS_CONTENT_TYPE,
            "payload": {"$ref": REF.format(model=f"{name}Event")},
        }
        channel_id = topic.value.replace(".", "_")
        channel = channels.setdefault(channel_id, {"address": topic.value, "messages": {}})
        channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
    for channel_id, channel in channels.items():
        operations[f"publish_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [
                {"$ref": f"#/channels/{channel_id}/messages/{m}"} for m in channel["messages"]
            ],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "CRM events",
            "version": "1.0.0",
            "description": "Every event the CRM publishes on Kafka. Dead letters of a topic "
            "go to <topic>.dlq with crm-dlq-* headers.",
        },
        "defaultContentType": CLOUDEVENTS_CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render() -> str:
    """The document as stable, pretty JSON."""
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
