"""breach log: suspected personal data breaches and what followed, append-only

Both tables refuse UPDATE and DELETE (triggers on both databases). On PostgreSQL a breach
is visible to the agency that recorded it and to the agencies whose data it concerns (and
to the system, for the clocks' escalations); its entries follow their breach.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 16:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mash_hub.db

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = "current_setting('app.agency_id', true)"
SYSTEM = f"{CURRENT} = 'system'"
BREACH_VISIBLE = (
    f"({SYSTEM} OR recorded_by_agency = {CURRENT} OR agencies LIKE '%,' || {CURRENT} || ',%')"
)
ENTRY_VISIBLE = f"({SYSTEM} OR EXISTS (SELECT 1 FROM breaches b WHERE b.id = breach_id))"
TABLES = ("breaches", "breach_entries")


def _moment(name: str, *, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, mash_hub.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "breaches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=False),
        _moment("recorded_at"),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_by_name", sa.String(length=200), nullable=False),
        sa.Column("recorded_by_agency", sa.String(length=16), nullable=False),
        _moment("discovered_at"),
        _moment("occurred_at", nullable=True),
        sa.Column("what_happened", sa.Text(), nullable=False),
        sa.Column("how_discovered", sa.Text(), nullable=False),
        sa.Column("agencies", sa.String(length=200), nullable=False),
        sa.Column("record_types", sa.String(length=300), nullable=False),
        sa.Column("subject_kinds", sa.String(length=200), nullable=False),
        sa.Column("people_affected", sa.Integer(), nullable=True),
        sa.Column("records_affected", sa.Integer(), nullable=True),
        sa.Column("consequences", sa.Text(), nullable=True),
        sa.Column("isa_ids", sa.String(length=300), nullable=False),
        sa.Column("parties_to_tell", sa.String(length=200), nullable=False),
        sa.Column("partner_hours", sa.Integer(), nullable=False),
        _moment("partner_due_at"),
        _moment("ico_due_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breaches")),
        sa.UniqueConstraint("reference", name=op.f("uq_breaches_reference")),
    )
    op.create_index(op.f("ix_breaches_recorded_by_agency"), "breaches", ["recorded_by_agency"])
    op.create_index(op.f("ix_breaches_ico_due_at"), "breaches", ["ico_due_at"])
    op.create_table(
        "breach_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("breach_id", sa.Uuid(), nullable=False),
        _moment("at"),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("by_name", sa.String(length=200), nullable=False),
        sa.Column("by_agency", sa.String(length=16), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        _moment("happened_at", nullable=True),
        sa.Column("agencies", sa.String(length=200), nullable=True),
        sa.Column("audit_seqs", sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["breach_id"], ["breaches.id"], name=op.f("fk_breach_entries_breach_id_breaches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breach_entries")),
    )
    op.create_index(op.f("ix_breach_entries_breach_id"), "breach_entries", ["breach_id"])
    op.create_index(
        "uq_breach_entries_escalation",
        "breach_entries",
        ["breach_id", "outcome"],
        unique=True,
        sqlite_where=sa.text("kind = 'escalated'"),
        postgresql_where=sa.text("kind = 'escalated'"),
    )

    if op.get_bind().dialect.name == "postgresql":
        # refuse_history_change() comes from 0006 (the rating history).
        for table, predicate in (("breaches", BREACH_VISIBLE), ("breach_entries", ENTRY_VISIBLE)):
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE "
                f"ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_history_change()"
            )
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY {table}_concerned ON {table} "
                f"USING ({predicate}) WITH CHECK ({predicate})"
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
            op.execute(f"DROP POLICY IF EXISTS {table}_concerned ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    op.drop_index("uq_breach_entries_escalation", table_name="breach_entries")
    op.drop_index(op.f("ix_breach_entries_breach_id"), table_name="breach_entries")
    op.drop_table("breach_entries")
    op.drop_index(op.f("ix_breaches_ico_due_at"), table_name="breaches")
    op.drop_index(op.f("ix_breaches_recorded_by_agency"), table_name="breaches")
    op.drop_table("breaches")
