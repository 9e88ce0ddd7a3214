"""What each service publishes (crm_ops.kafka_access.PUBLISHES) against its code: the
topics of the event classes each service constructs, found in its source."""

from __future__ import annotations

import ast
from pathlib import Path

from crm_ops.catalog import SERVICES
from crm_ops.kafka_access import PUBLISHES, service_access
from crm_shared.events import dead_letter_topic, registered_events

ROOT = Path(__file__).resolve().parents[2]
NOT_AN_EMIT = {"payload_as", "isinstance"}  # reading a delivered event, not making one


def _constructed_topics(package: Path) -> set[str]:
    """Topics of the registered events a package names outside type checks and hints."""
    events = registered_events()
    topics: set[str] = set()
    for path in package.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        ignored: set[int] = set()
        for node in ast.walk(tree):
            hints: list[ast.AST] = []
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in NOT_AN_EMIT:
                    hints.append(node)
            if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
                hints.append(node.annotation)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns:
                hints.append(node.returns)
            ignored.update(id(sub) for hint in hints for sub in ast.walk(hint))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Name)
                and isinstance(node.ctx, ast.Load)
                and node.id in events
                and id(node) not in ignored
            ):
                topics.add(events[node.id].kafka_topic.value)
    return topics


def test_declared_publications_match_the_events_each_service_makes() -> None:
    for name in SERVICES:
        package = ROOT / "services" / name / "src" / f"crm_{name}"
        declared = {topic.value for topic in PUBLISHES[name]}
        assert declared == _constructed_topics(package), name


def test_a_consumer_may_dead_letter_what_it_reads() -> None:
    for name, access in service_access().items():
        if name == "ops":
            continue
        for topic in access.reads:
            assert dead_letter_topic(topic) in access.writes, (name, topic)
        assert set(access.writes) - {dead_letter_topic(t) for t in access.reads} == {
            t.value for t in PUBLISHES[name]
        }
