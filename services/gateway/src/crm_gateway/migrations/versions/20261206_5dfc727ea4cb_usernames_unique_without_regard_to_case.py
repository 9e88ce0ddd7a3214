"""usernames unique without regard to case

A unique index on ``lower(username)``: ``ADMIN`` beside ``admin`` can no longer be
created, and login finds a staff member in any case. Usernames that already differ only
in case are told apart first: the oldest (by ``created_at``) keeps its name, each later
one gets ``-2``, ``-3``, ... appended (the first free one; its password stays), logged
as a warning. No event announces the renaming: the other services' staff copies show
the old username until the staff member next changes (they show names, not usernames).

Revision ID: 5dfc727ea4cb
Revises: 7e68ff170a0e
Create Date: 2026-12-06 10:05:39.591042
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5dfc727ea4cb'
down_revision: str | None = '7e68ff170a0e'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")
USERNAME_LENGTH = 100


def renamed_duplicates(rows: Sequence[tuple[str, str]]) -> dict[str, str]:
    """``{id: new username}`` for the staff whose username only differs in case from an
    older one's; ``rows`` are (id, username), oldest first."""
    taken = {username.lower() for _, username in rows}
    kept: set[str] = set()
    renames: dict[str, str] = {}
    for staff_id, username in rows:
        if username.lower() not in kept:
            kept.add(username.lower())
            continue
        number = 2
        while True:
            suffix = f"-{number}"
            candidate = username[: USERNAME_LENGTH - len(suffix)] + suffix
            if candidate.lower() not in taken:
                break
            number += 1
        taken.add(candidate.lower())
        kept.add(candidate.lower())
        renames[staff_id] = candidate
    return renames


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, username FROM staff ORDER BY created_at, id")).all()
    renames = renamed_duplicates([(row[0], row[1]) for row in rows])
    for staff_id, username in renames.items():
        log.warning("username differs only in case from an older one: renamed to %r", username)
        bind.execute(
            sa.text("UPDATE staff SET username = :username WHERE id = :id"),
            {"username": username, "id": staff_id},
        )
    op.create_index(
        "uq_staff_username_lower", "staff", [sa.text("lower(username)")], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_staff_username_lower", table_name="staff")
