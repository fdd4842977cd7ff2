"""webhook subscriptions: an agency system's callback URL, the kinds it wants and its
sealed signing secret. On PostgreSQL an agency sees and changes only its own systems'
subscriptions; the delivery process (the system) reads them all.

Revision ID: 0031
Revises: 0029
Create Date: 2026-12-05 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mash_hub.db

revision: str = "0031"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = "current_setting('app.agency_id', true)"
OWN_OR_SYSTEM = f"({CURRENT} = 'system' OR webhook_subscriptions.agency = {CURRENT})"


def upgrade() -> None:
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("agency", sa.String(length=16), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("kinds", sa.String(length=500), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("ended_at", mash_hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )
    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_subscriptions_agency", ["agency", "ended_at"])
        batch_op.create_index(
            batch_op.f("ix_webhook_subscriptions_client_id"), ["client_id"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE webhook_subscriptions ENABLE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY webhook_subscriptions_own ON webhook_subscriptions FOR ALL "
            f"USING ({OWN_OR_SYSTEM}) WITH CHECK ({OWN_OR_SYSTEM})"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS webhook_subscriptions_own ON webhook_subscriptions")
    op.drop_table("webhook_subscriptions")
