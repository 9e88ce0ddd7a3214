"""Alembic environment of the history service."""

from sqlmodel import SQLModel

import crm_history.models  # noqa: F401 - registers the tables
import crm_shared.consumer
import crm_shared.outbox  # noqa: F401 - outbox_message
from crm_shared.migrations import run_env

run_env(SQLModel.metadata)
