"""commit clock and copy positions

The consistency token: every outbox row gets the commit clock of its transaction, and the
consumers record how far they got (crm_shared.migrations, the same step in every service).

Revision ID: 66f9e528e80d
Revises: f4c7e5ca0a94
Create Date: 2026-12-03 09:30:00
"""

from collections.abc import Sequence

from crm_shared.migrations import (
    add_commit_clock_and_copy_positions,
    drop_commit_clock_and_copy_positions,
)

revision: str = '66f9e528e80d'
down_revision: str | None = 'f4c7e5ca0a94'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_commit_clock_and_copy_positions()


def downgrade() -> None:
    drop_commit_clock_and_copy_positions()
