"""disclosures out of the MASH: the disclosure, its sealed items, originators' approvals
and the completion

Every table is append-only (the database refuses updates and deletes). On PostgreSQL the
rows are visible from the MASH side only, except that an originating agency sees the
disclosures holding its restricted items, those items' rows and its own approvals (to
decide on them), and may add its own approval.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 21:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mash_hub.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = "current_setting('app.agency_id', true)"
MASH_SIDE = (
    f"({CURRENT} = 'system' OR EXISTS "
    f"(SELECT 1 FROM agencies a WHERE a.code = {CURRENT} AND a.mash_core))"
)
ORIGINATOR_OF = (
    "EXISTS (SELECT 1 FROM disclosure_items i WHERE i.disclosure_id = {column} "
    f"AND i.restricted AND i.agency = {CURRENT})"
)
TABLES = ("disclosures", "disclosure_items", "disclosure_approvals", "disclosure_completions")
# Widenings for the originating agency (permissive policies are OR-ed with the MASH side).
ORIGINATOR_POLICIES = {
    "disclosures_originator": (
        "disclosures",
        "FOR SELECT USING (" + ORIGINATOR_OF.format(column="disclosures.id") + ")",
    ),
    "disclosure_items_originator": (
        "disclosure_items",
        f"FOR SELECT USING (restricted AND agency = {CURRENT})",
    ),
    "disclosure_approvals_originator": (
        "disclosure_approvals",
        f"USING (agency = {CURRENT}) WITH CHECK (agency = {CURRENT})",
    ),
}


def _moment(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, mash_hub.db.UTCDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "disclosures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_organisation", sa.String(length=200), nullable=False),
        sa.Column("recipient_person", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=2000), nullable=False),
        sa.Column("isa_id", sa.String(length=64), nullable=False),
        sa.Column("lawful_basis", sa.String(length=500), nullable=False),
        _moment("started_at"),
        sa.Column("started_by", sa.String(length=64), nullable=False),
        sa.Column("started_by_agency", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_disclosures_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosures")),
    )
    op.create_index(op.f("ix_disclosures_contact_id"), "disclosures", ["contact_id"])
    op.create_table(
        "disclosure_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("disclosure_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_item_id", sa.Uuid(), nullable=True),
        sa.Column("agency", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("text_sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["disclosure_id"],
            ["disclosures.id"],
            name=op.f("fk_disclosure_items_disclosure_id_disclosures"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_items")),
    )
    op.create_index(
        op.f("ix_disclosure_items_disclosure_id"), "disclosure_items", ["disclosure_id"]
    )
    op.create_table(
        "disclosure_approvals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("disclosure_id", sa.Uuid(), nullable=False),
        sa.Column("agency", sa.String(length=16), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        _moment("decided_at"),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_by_name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["disclosure_id"],
            ["disclosures.id"],
            name=op.f("fk_disclosure_approvals_disclosure_id_disclosures"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_approvals")),
        sa.UniqueConstraint("disclosure_id", "agency", name="uq_disclosure_approvals_agency"),
    )
    op.create_index(
        op.f("ix_disclosure_approvals_disclosure_id"), "disclosure_approvals", ["disclosure_id"]
    )
    op.create_table(
        "disclosure_completions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("disclosure_id", sa.Uuid(), nullable=False),
        _moment("completed_at"),
        sa.Column("completed_by", sa.String(length=64), nullable=False),
        sa.Column("completed_by_name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["disclosure_id"],
            ["disclosures.id"],
            name=op.f("fk_disclosure_completions_disclosure_id_disclosures"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_completions")),
        sa.UniqueConstraint("disclosure_id", name=op.f("uq_disclosure_completions_disclosure_id")),
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
        for name, (table, rule) in ORIGINATOR_POLICIES.items():
            op.execute(f"CREATE POLICY {name} ON {table} {rule}")
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
    if postgres:
        for name, (table, _rule) in ORIGINATOR_POLICIES.items():
            op.execute(f"DROP POLICY IF EXISTS {name} ON {table}")
    for table in reversed(TABLES):
        if postgres:
            op.execute(f"DROP POLICY IF EXISTS {table}_agency_side ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    op.drop_table("disclosure_completions")
    op.drop_index(op.f("ix_disclosure_approvals_disclosure_id"), table_name="disclosure_approvals")
    op.drop_table("disclosure_approvals")
    op.drop_index(op.f("ix_disclosure_items_disclosure_id"), table_name="disclosure_items")
    op.drop_table("disclosure_items")
    op.drop_index(op.f("ix_disclosures_contact_id"), table_name="disclosures")
    op.drop_table("disclosures")
