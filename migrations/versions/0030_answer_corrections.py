"""answer corrections: earlier versions of an answer, kept when it is corrected

A researcher may correct their agency's answer until the request's due time. The answer
row keeps the current version (with a count of corrections); each earlier version, its
items sealed again for their own rows, and the reason for replacing it are added to two
append-only tables, on the answering agency's side of the firewall as the answer is.

Revision ID: 0030
Revises: 0025
Create Date: 2026-12-05 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mash_hub.db

revision: str = "0030"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = "current_setting('app.agency_id', true)"
MASH_SIDE = (
    f"({CURRENT} = 'system' OR EXISTS "
    f"(SELECT 1 FROM agencies a WHERE a.code = {CURRENT} AND a.mash_core))"
)
OWN_SIDE = f"({MASH_SIDE} OR agency = {CURRENT})"
TABLES = ("contribution_revisions", "contribution_revision_items")


def _moment(name: str, *, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, mash_hub.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    # ADD COLUMN on both databases: SQLite keeps the table as it is (no batch rebuild).
    op.add_column(
        "contributions",
        sa.Column("corrections", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("contributions", _moment("corrected_at", nullable=True))
    op.create_table(
        "contribution_revisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contribution_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("agency", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        _moment("answered_at"),
        sa.Column("answered_by", sa.String(length=64), nullable=False),
        _moment("replaced_at"),
        sa.Column("replaced_by", sa.String(length=64), nullable=False),
        sa.Column("reason_sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contribution_id"],
            ["contributions.id"],
            name=op.f("fk_contribution_revisions_contribution_id_contributions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contribution_revisions")),
        sa.UniqueConstraint(
            "contribution_id",
            "version",
            name=op.f("uq_contribution_revisions_contribution_id_version"),
        ),
    )
    op.create_index(
        op.f("ix_contribution_revisions_contribution_id"),
        "contribution_revisions",
        ["contribution_id"],
    )
    op.create_table(
        "contribution_revision_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("revision_id", sa.Uuid(), nullable=False),
        sa.Column("agency", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("text_sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["contribution_revisions.id"],
            name=op.f("fk_contribution_revision_items_revision_id_contribution_revisions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contribution_revision_items")),
    )
    op.create_index(
        op.f("ix_contribution_revision_items_revision_id"),
        "contribution_revision_items",
        ["revision_id"],
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            # refuse_history_change() comes from 0006 (the rating history).
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE "
                f"ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_history_change()"
            )
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY {table}_agency_side ON {table} "
                f"USING ({OWN_SIDE}) WITH CHECK ({OWN_SIDE})"
            )
    else:
        for table in TABLES:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} "
                    f"ON {table} BEGIN "
                    f"SELECT RAISE(ABORT, '{table} is append-only'); END"
                )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in reversed(TABLES):
        if postgres:
            op.execute(f"DROP POLICY IF EXISTS {table}_agency_side ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    op.drop_index(
        op.f("ix_contribution_revision_items_revision_id"), table_name="contribution_revision_items"
    )
    op.drop_table("contribution_revision_items")
    op.drop_index(
        op.f("ix_contribution_revisions_contribution_id"), table_name="contribution_revisions"
    )
    op.drop_table("contribution_revisions")
    with op.batch_alter_table("contributions") as batch_op:
        batch_op.drop_column("corrected_at")
        batch_op.drop_column("corrections")
