"""audit chain: hash columns, signed checkpoints, and an append-only audit trail

The sealer fills each event's prev_hash and hash once, after the insert. The database
refuses every other change: on SQLite with triggers; on PostgreSQL with a trigger that
refuses UPDATE (except that one fill, with nothing else changing), DELETE and TRUNCATE.
The application role is granted only SELECT and INSERT on the audit tables, and UPDATE on
the two hash columns (see README, "PostgreSQL in production"). The sealer takes its lock
through audit_seal_lock(), a SECURITY DEFINER function, so the role needs no table-wide
UPDATE (which LOCK TABLE would otherwise demand).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 20:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mash_hub.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_COLUMNS = (
    "seq", "id", "at", "kind", "actor_type", "actor_id", "agency", "roles", "action",
    "object_type", "object_id", "contact_id", "decision", "isa_ids", "clauses", "policy_ids",
    "reason", "break_glass", "request_id", "client_address",
)  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_checkpoints",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head", sa.String(length=64), nullable=False),
        sa.Column("at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )

    if op.get_bind().dialect.name == "postgresql":
        # One fill of NULL hash columns is the only change allowed; compared as jsonb so
        # a column added later is covered without editing this function.
        op.execute(
            "CREATE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN "
            "IF TG_OP = 'UPDATE' AND OLD.hash IS NULL AND OLD.prev_hash IS NULL "
            "AND NEW.hash IS NOT NULL AND NEW.prev_hash IS NOT NULL "
            "AND (to_jsonb(NEW) - 'hash' - 'prev_hash') = (to_jsonb(OLD) - 'hash' - 'prev_hash') "
            "THEN RETURN NEW; END IF; "
            "RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP; "
            "END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_guard()"
        )
        op.execute(
            "CREATE FUNCTION refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only (TRUNCATE refused)', TG_TABLE_NAME; END $$"
        )
        for table in ("audit_events", "audit_checkpoints"):
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate()"
            )
        op.execute(
            "CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE "
            "ON audit_checkpoints FOR EACH ROW EXECUTE FUNCTION refuse_history_change()"
        )
        # Waits for every writer in flight, so no lower seq can commit after the sealer
        # has read the pending events, and keeps two sealers apart. Held to transaction end.
        op.execute(
            "CREATE FUNCTION audit_seal_lock() RETURNS void LANGUAGE plpgsql "
            "SECURITY DEFINER SET search_path = public AS $$ "
            "BEGIN LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE; END $$"
        )
        op.execute("REVOKE ALL ON FUNCTION audit_seal_lock() FROM PUBLIC")
    else:
        unchanged = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in EVENT_COLUMNS)
        op.execute(
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
            "WHEN NOT (OLD.hash IS NULL AND OLD.prev_hash IS NULL "
            f"AND NEW.hash IS NOT NULL AND NEW.prev_hash IS NOT NULL AND {unchanged}) "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        )
        for table in ("audit_events", "audit_checkpoints"):
            events = ("DELETE",) if table == "audit_events" else ("UPDATE", "DELETE")
            for event in events:
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_seal_lock()")
        op.execute("DROP TRIGGER IF EXISTS audit_checkpoints_append_only ON audit_checkpoints")
        for table in ("audit_events", "audit_checkpoints"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS refuse_truncate()")
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_guard()")
    else:
        for name in (
            "audit_events_no_update",
            "audit_events_no_delete",
            "audit_checkpoints_no_update",
            "audit_checkpoints_no_delete",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("audit_checkpoints")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
