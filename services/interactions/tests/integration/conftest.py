"""Fixtures of the interactions service's tests (through the gateway of a real stack)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from crm_dev.stack import Stack
from crm_dev.testing import Mailbox
from crm_shared.kafka import EventProducer

# The suite imports test modules in importlib mode: make ix_support importable.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def any_stack(any_api: Any, request: pytest.FixtureRequest) -> Stack:
    """The stack behind ``any_api`` (PostgreSQL or SQLite)."""
    which = request.node.callspec.params["any_api"]
    stack: Stack = request.getfixturevalue("stack" if which == "postgresql" else "sqlite_stack")
    return stack


@pytest.fixture
def any_mail(any_stack: Stack) -> Mailbox:
    """The SMTP sink mailbox of the stack behind ``any_api``."""
    assert any_stack.config.maildir is not None
    return Mailbox(any_stack.config.maildir)


@pytest.fixture
async def producer(stack: Stack) -> AsyncIterator[EventProducer]:
    """Publishes contract events straight to the PostgreSQL stack's Kafka."""
    events = EventProducer(stack.config.kafka_bootstrap, client_id="test")
    await events.start()
    try:
        yield events
    finally:
        await events.stop()
