"""commit clock and copy positions

The consistency token: every outbox row gets the commit clock of its transaction, and the
consumers record how far they got (crm_shared.migrations, the same step in every service).

Revision ID: 53733a588a7f
Revises: 4cec87897538
Create Date: 2026-12-03 09:30:00
"""

from collections.abc import Sequence

from crm_shared.migrations import (
    add_commit_clock_and_copy_positions,
    drop_commit_clock_and_copy_positions,
)

revision: str = '53733a588a7f'
down_revision: str | None = '4cec87897538'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_commit_clock_and_copy_positions()


def downgrade() -> None:
    drop_commit_clock_and_copy_positions()
