"""contacts, break-glass grants and notifications

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 18:44:09.647757
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mash_hub.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recipient_agency", sa.String(length=16), nullable=False),
        sa.Column("recipient_role", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notifications_recipient",
            ["recipient_agency", "recipient_role", "created_at"],
            unique=False,
        )

    op.create_table(
        "reference_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_reference_counters")),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column("received_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source_agency_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("rag", sa.String(length=8), nullable=True),
        sa.Column("consent_status", sa.String(length=16), nullable=False),
        sa.Column("concern_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("referrer_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("consent_reason_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_agency_id"],
            ["agencies.id"],
            name=op.f("fk_contacts_source_agency_id_agencies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("reference", name=op.f("uq_contacts_reference")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contacts_received_at"), ["received_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_contacts_source_agency_id"), ["source_agency_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_contacts_status"), ["status"], unique=False)

    op.create_table(
        "break_glass_grants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("agency", sa.String(length=16), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("owning_agency", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("opened_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", mash_hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.Uuid(), nullable=True),
        sa.Column("review_outcome", sa.String(length=16), nullable=True),
        sa.Column("review_notes", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_break_glass_grants_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by"], ["users.id"], name=op.f("fk_break_glass_grants_reviewed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_break_glass_grants_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_break_glass_grants")),
    )
    with op.batch_alter_table("break_glass_grants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_break_glass_grants_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_break_glass_grants_owning_agency"), ["owning_agency"], unique=False
        )
        batch_op.create_index(
            "ix_break_glass_grants_user_contact", ["user_id", "contact_id"], unique=False
        )

    op.create_table(
        "contact_subjects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.Column("details_sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_subjects_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_subjects")),
    )
    with op.batch_alter_table("contact_subjects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_subjects_contact_id"), ["contact_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("contact_subjects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_subjects_contact_id"))

    op.drop_table("contact_subjects")
    with op.batch_alter_table("break_glass_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_break_glass_grants_user_contact")
        batch_op.drop_index(batch_op.f("ix_break_glass_grants_owning_agency"))
        batch_op.drop_index(batch_op.f("ix_break_glass_grants_contact_id"))

    op.drop_table("break_glass_grants")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_status"))
        batch_op.drop_index(batch_op.f("ix_contacts_source_agency_id"))
        batch_op.drop_index(batch_op.f("ix_contacts_received_at"))

    op.drop_table("contacts")
    op.drop_table("reference_counters")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_recipient")

    op.drop_table("notifications")
