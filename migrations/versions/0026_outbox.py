"""the transactional outbox: messages leaving the hub (email), written in the unit of work
of the event that causes them; on PostgreSQL anyone may add one, only the system (the
delivery process and operators' commands) reads or changes them

Revision ID: 0026
Revises: 0030
Create Date: 2026-12-05 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mash_hub.db

revision: str = "0026"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SYSTEM = "current_setting('app.agency_id', true) = 'system'"


def upgrade() -> None:
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("recipient_kind", sa.String(length=16), nullable=False),
        sa.Column("recipient_agency", sa.String(length=16), nullable=False),
        sa.Column("recipient_role", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("contact_reference", sa.String(length=20), nullable=True),
        sa.Column("about_agency", sa.String(length=16), nullable=True),
        sa.Column("due_at", mash_hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", mash_hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", mash_hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'sending', 'sent', 'dead')",
            name=op.f("ck_outbox_messages_known_state"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_messages_idempotency_key")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_messages_due", ["state", "next_attempt_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE outbox_messages ENABLE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY outbox_messages_send ON outbox_messages FOR INSERT WITH CHECK (true)"
        )
        op.execute(
            "CREATE POLICY outbox_messages_delivery ON outbox_messages FOR ALL "
            f"USING ({SYSTEM}) WITH CHECK ({SYSTEM})"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS outbox_messages_delivery ON outbox_messages")
        op.execute("DROP POLICY IF EXISTS outbox_messages_send ON outbox_messages")
    op.drop_table("outbox_messages")
