"""sort key index: (lower(name) COLLATE "C", id) on PostgreSQL

Revision ID: 5d1c0a7e9b21
Revises: 93720489921f
Create Date: 2026-11-22 23:55:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5d1c0a7e9b21"
down_revision: str | None = "93720489921f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # The list order and the prefix search in one index: a first page reads `limit`
        # entries instead of sorting every match.
        op.execute('CREATE INDEX ix_contact_sort ON contact ((lower(name) COLLATE "C"), id)')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_contact_sort")
