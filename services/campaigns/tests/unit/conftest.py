"""Fixtures of the campaigns service's rules tests: a fresh migrated SQLite and the
runtime its services take, without servers (no consistency token is ever seen, so reads
of the contact copy wait for nothing but the rows)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crm_campaigns.main import MIGRATIONS
from crm_campaigns.settings import Settings
from crm_dev.testing import RulesDb
from crm_shared.events import Topic
from crm_shared.kafka import EventProducer
from crm_shared.outbox import Outbox
from crm_shared.service import Runtime

# the tests' helpers module, importable without making tests a package
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
async def runtime(rules_db: RulesDb) -> AsyncIterator[Runtime[Settings]]:
    settings = Settings(copy_wait_seconds=0.2)  # how long an unknown contact is waited for
    producer = EventProducer(settings.kafka_bootstrap, client_id="rules")  # never started
    yield Runtime(
        settings=settings,
        producer=producer,
        outbox=Outbox(settings.source),
        db=await rules_db(MIGRATIONS),
        consumed={(settings.service_name, Topic.CONTACTS)},
    )
    await producer.stop()
