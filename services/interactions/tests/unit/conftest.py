"""Fixtures of the interactions service's unit tests (the fast lane)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from crm_dev.testing import RulesDb
from crm_interactions.main import MIGRATIONS

# The suite imports test modules in importlib mode: make interactions_support importable.
sys.path.insert(0, str(Path(__file__).parent))

from interactions_support import Interactions, open_interactions


@pytest.fixture
async def ix(rules_db: RulesDb) -> Interactions:
    """The interactions service on a fresh migrated SQLite (``interactions_support.py``)."""
    return open_interactions(await rules_db(MIGRATIONS))
