"""contact ratings: an append-only history of who rated a contact what, when and why

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 19:23:08.941988
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mash_hub.db

CURRENT = "current_setting('app.agency_id', true)"
MASH_SIDE = (
    f"({CURRENT} = 'system' OR EXISTS "
    f"(SELECT 1 FROM agencies a WHERE a.code = {CURRENT} AND a.mash_core))"
)


revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contact_ratings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("rag", sa.String(length=8), nullable=False),
        sa.Column("previous_rag", sa.String(length=8), nullable=True),
        sa.Column("rationale_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("rated_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rated_by", sa.String(length=64), nullable=False),
        sa.Column("decision_due_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_contact_ratings_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_ratings")),
    )
    with op.batch_alter_table("contact_ratings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_ratings_contact_id"), ["contact_id"], unique=False
        )

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("decision_due_at", mash_hub.db.UTCDateTime(timezone=True), nullable=True)
        )

    # The history can never be edited: the database itself refuses updates and deletes.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        op.execute(
            "CREATE TRIGGER contact_ratings_append_only BEFORE UPDATE OR DELETE "
            "ON contact_ratings FOR EACH ROW EXECUTE FUNCTION refuse_history_change()"
        )
        op.execute("ALTER TABLE contact_ratings ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY contact_ratings_agency_side ON contact_ratings "
            f"USING ({MASH_SIDE}) WITH CHECK ({MASH_SIDE})"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER contact_ratings_no_{event.lower()} BEFORE {event} "
                "ON contact_ratings BEGIN "
                "SELECT RAISE(ABORT, 'contact_ratings is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS contact_ratings_agency_side ON contact_ratings")
        op.execute("DROP TRIGGER IF EXISTS contact_ratings_append_only ON contact_ratings")
        op.execute("DROP FUNCTION IF EXISTS refuse_history_change()")
    else:
        op.execute("DROP TRIGGER IF EXISTS contact_ratings_no_update")
        op.execute("DROP TRIGGER IF EXISTS contact_ratings_no_delete")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("decision_due_at")

    with op.batch_alter_table("contact_ratings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_ratings_contact_id"))

    op.drop_table("contact_ratings")
