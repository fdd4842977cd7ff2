"""notification preferences: each person chooses, per kind, whether a notification also
reaches them by email (no row: it does). An agency's shared mailbox is not a person and
has no choice: it still receives its agency's requests.

The table holds no case content and, like users and their roles, has no row-level
security: the unit of work of whoever causes a notification reads the recipients'
choices, whichever agency they are in. The hub's role gets its usual grants on it
(mash_hub.operations.roles grants every table not named there).

So that a person can see, on their messages page, whether an email went to them, an
agency's sessions may now read the outbox rows addressed to its own people (never a
shared mailbox's, never another agency's); changing them stays the system's alone.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mash_hub.db

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = "current_setting('app.agency_id', true)"
OWN_PEOPLE = f"recipient_kind = 'user' AND recipient_agency = {CURRENT}"


def upgrade() -> None:
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.Column("updated_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_preferences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "kind", name=op.f("pk_notification_preferences")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE POLICY outbox_messages_own_people ON outbox_messages FOR SELECT "
            f"USING ({OWN_PEOPLE})"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS outbox_messages_own_people ON outbox_messages")
    op.drop_table("notification_preferences")
