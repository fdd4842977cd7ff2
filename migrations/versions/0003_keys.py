"""keys: agency keys wrapped under the master key, data keys per (contact, agency)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 18:32:33.844842
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mash_hub.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agency_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("master_key_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", mash_hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "retired_at IS NOT NULL OR wrapped IS NOT NULL",
            name=op.f("ck_agency_keys_active_has_key"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_agency_keys_version_positive")),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_agency_keys_agency_id_agencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_keys")),
        sa.UniqueConstraint("agency_id", "version", name=op.f("uq_agency_keys_agency_id_version")),
    )
    with op.batch_alter_table("agency_keys", schema=None) as batch_op:
        # One active version per agency.
        batch_op.create_index(
            "uq_agency_keys_agency_id_active",
            ["agency_id"],
            unique=True,
            sqlite_where=sa.text("retired_at IS NULL"),
            postgresql_where=sa.text("retired_at IS NULL"),
        )

    op.create_table(
        "data_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("agency_key_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_data_keys_agency_id_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["agency_key_id"],
            ["agency_keys.id"],
            name=op.f("fk_data_keys_agency_key_id_agency_keys"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_keys")),
        # Also the index for lookups and shredding by contact (contact_id leads).
        sa.UniqueConstraint(
            "contact_id", "agency_id", name=op.f("uq_data_keys_contact_id_agency_id")
        ),
    )
    with op.batch_alter_table("data_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_data_keys_agency_key_id"), ["agency_key_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("data_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_keys_agency_key_id"))

    op.drop_table("data_keys")
    with op.batch_alter_table("agency_keys", schema=None) as batch_op:
        batch_op.drop_index("uq_agency_keys_agency_id_active")

    op.drop_table("agency_keys")
