"""criteria checks: the early-help programme criteria a family appeared to meet, as a
screener or manager recorded it, with its evidence sealed under the contact's keys and
the criteria versions in clear. Append-only (the database refuses changes); on
PostgreSQL the MASH side alone reads and adds them, like the contact's other records.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-05 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mash_hub.db

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = "current_setting('app.agency_id', true)"
MASH_SIDE = (
    f"({CURRENT} = 'system' OR EXISTS "
    f"(SELECT 1 FROM agencies a WHERE a.code = {CURRENT} AND a.mash_core))"
)


def upgrade() -> None:
    op.create_table(
        "criteria_checks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("checked_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checked_by", sa.String(length=64), nullable=False),
        sa.Column("programmes", sa.String(length=1000), nullable=False),
        sa.Column("result_sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_criteria_checks_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_criteria_checks")),
    )
    with op.batch_alter_table("criteria_checks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_criteria_checks_contact_id"), ["contact_id"])
    if op.get_bind().dialect.name == "postgresql":
        # refuse_history_change() is 0006's.
        op.execute(
            "CREATE TRIGGER criteria_checks_append_only BEFORE UPDATE OR DELETE "
            "ON criteria_checks FOR EACH ROW EXECUTE FUNCTION refuse_history_change()"
        )
        op.execute("ALTER TABLE criteria_checks ENABLE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY criteria_checks_mash_side ON criteria_checks "
            f"USING ({MASH_SIDE}) WITH CHECK ({MASH_SIDE})"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER criteria_checks_no_{event.lower()} BEFORE {event} "
                "ON criteria_checks BEGIN "
                "SELECT RAISE(ABORT, 'criteria_checks is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS criteria_checks_mash_side ON criteria_checks")
        op.execute("DROP TRIGGER IF EXISTS criteria_checks_append_only ON criteria_checks")
    op.drop_table("criteria_checks")
