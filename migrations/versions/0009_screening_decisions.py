"""screening: claims, decision proposals, manager reviews and referrer acknowledgements

Every table is append-only (the database refuses updates and deletes) and, on
PostgreSQL, visible only from the MASH side, like the contacts they belong to.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 20:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mash_hub.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = "current_setting('app.agency_id', true)"
MASH_SIDE = (
    f"({CURRENT} = 'system' OR EXISTS "
    f"(SELECT 1 FROM agencies a WHERE a.code = {CURRENT} AND a.mash_core))"
)
TABLES = ("contact_claims", "contact_decisions", "decision_reviews", "referrer_acknowledgements")


def _moment(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, mash_hub.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "contact_claims",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=False),
        _moment("claimed_at"),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name=op.f("fk_contact_claims_assignee_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_contact_claims_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_claims")),
    )
    op.create_index(
        op.f("ix_contact_claims_assignee_id"), "contact_claims", ["assignee_id"], unique=False
    )
    op.create_index(
        op.f("ix_contact_claims_contact_id"), "contact_claims", ["contact_id"], unique=False
    )
    op.create_table(
        "contact_decisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("rationale_sealed", sa.LargeBinary(), nullable=False),
        _moment("proposed_at"),
        sa.Column("proposed_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_contact_decisions_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_decisions")),
        sa.UniqueConstraint(
            "contact_id", "sequence", name=op.f("uq_contact_decisions_contact_id_sequence")
        ),
    )
    op.create_index(
        op.f("ix_contact_decisions_contact_id"), "contact_decisions", ["contact_id"], unique=False
    )
    op.create_table(
        "decision_reviews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("decision_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reason_sealed", sa.LargeBinary(), nullable=True),
        _moment("reviewed_at"),
        sa.Column("reviewed_by", sa.String(length=64), nullable=False),
        _moment("acknowledgement_due_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_decision_reviews_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["contact_decisions.id"],
            name=op.f("fk_decision_reviews_decision_id_contact_decisions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_reviews")),
        sa.UniqueConstraint("decision_id", name=op.f("uq_decision_reviews_decision_id")),
    )
    op.create_index(
        op.f("ix_decision_reviews_contact_id"), "decision_reviews", ["contact_id"], unique=False
    )
    op.create_table(
        "referrer_acknowledgements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("decision_id", sa.Uuid(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        _moment("told_at"),
        _moment("recorded_at"),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_referrer_acknowledgements_contact_id_contacts"),
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["contact_decisions.id"],
            name=op.f("fk_referrer_acknowledgements_decision_id_contact_decisions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrer_acknowledgements")),
        sa.UniqueConstraint("contact_id", name=op.f("uq_referrer_acknowledgements_contact_id")),
    )

    if op.get_bind().dialect.name == "postgresql":
        # refuse_history_change() comes from 0006 (the rating history).
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE "
                f"ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_history_change()"
            )
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY {table}_agency_side ON {table} "
                f"USING ({MASH_SIDE}) WITH CHECK ({MASH_SIDE})"
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
    op.drop_table("referrer_acknowledgements")
    op.drop_index(op.f("ix_decision_reviews_contact_id"), table_name="decision_reviews")
    op.drop_table("decision_reviews")
    op.drop_index(op.f("ix_contact_decisions_contact_id"), table_name="contact_decisions")
    op.drop_table("contact_decisions")
    op.drop_index(op.f("ix_contact_claims_contact_id"), table_name="contact_claims")
    op.drop_index(op.f("ix_contact_claims_assignee_id"), table_name="contact_claims")
    op.drop_table("contact_claims")
