"""contact name rows in name order

The substring search reads the contact_name rows its trigram matches are on. A fragment's
matches are neighbours in name order ("chho" only in "Schhof…"), so rows stored in name
order put them on a few pages: 15,000 matches of 1,000,000 read 173 pages instead of all
8,300 (7 ms instead of 44). The trigger now writes each statement's rows in name order
(an import batch of 2,000 rows lands sorted), and the rows so far are rewritten sorted.

Revision ID: 9916997adb5c
Revises: 08f621687ddd
Create Date: 2026-11-23 05:38:33.182038
"""

from collections.abc import Sequence

from alembic import op

revision: str = '9916997adb5c'
down_revision: str | None = '08f621687ddd'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FUNCTION = """
CREATE OR REPLACE FUNCTION contact_name_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO contact_name (id, sort_name)
        SELECT id, sort_name FROM new_rows {order};
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE contact_name n SET sort_name = r.sort_name
        FROM new_rows r JOIN old_rows o ON o.id = r.id
        WHERE n.id = r.id AND o.sort_name IS DISTINCT FROM r.sort_name;
    ELSE
        DELETE FROM contact_name n USING old_rows o WHERE n.id = o.id;
    END IF;
    RETURN NULL;
END $$"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION.format(order="ORDER BY sort_name, id"))
    # rewrite the rows so far in name order (the table is locked for the migration)
    op.execute(
        "CREATE TEMPORARY TABLE contact_name_sorted ON COMMIT DROP AS "
        "SELECT id, sort_name FROM contact_name"
    )
    op.execute("TRUNCATE contact_name")
    op.execute(
        "INSERT INTO contact_name (id, sort_name) "
        "SELECT id, sort_name FROM contact_name_sorted ORDER BY sort_name, id"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FUNCTION.format(order=""))
