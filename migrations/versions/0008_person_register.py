"""person register: persons (sealed), hashed blocking keys, candidates, merges

Adds contact_subjects.person_id (the screener's link) and contacts.closed_at (when a case
closed, for repeat-contact warnings). On PostgreSQL the register's tables are visible only
from the MASH side (the core agencies, or the system), like contacts (see 0005).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 19:59:04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mash_hub.db

CURRENT = "current_setting('app.agency_id', true)"
MASH_SIDE = (
    f"({CURRENT} = 'system' OR EXISTS "
    f"(SELECT 1 FROM agencies a WHERE a.code = {CURRENT} AND a.mash_core))"
)
RLS_TABLES = ("persons", "person_keys", "person_candidates", "person_merges")

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "persons",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("details_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("merged_into_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["persons.id"], name=op.f("fk_persons_merged_into_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
    )
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_persons_merged_into_id"), ["merged_into_id"], unique=False
        )

    op.create_table(
        "person_keys",
        sa.Column("key", sa.LargeBinary(length=16), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_person_keys_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", "person_id", name=op.f("pk_person_keys")),
    )
    with op.batch_alter_table("person_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_keys_person_id"), ["person_id"], unique=False)

    op.create_table(
        "person_merges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("survivor_id", sa.Uuid(), nullable=False),
        sa.Column("merged_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("proposed_by", sa.String(length=64), nullable=False),
        sa.Column("proposed_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", mash_hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sa.String(length=64), nullable=True),
        sa.Column("undone_at", mash_hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("moved_subjects", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_person_merges_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["merged_id"], ["persons.id"], name=op.f("fk_person_merges_merged_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["survivor_id"], ["persons.id"], name=op.f("fk_person_merges_survivor_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_merges")),
    )
    with op.batch_alter_table("person_merges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_merges_merged_id"), ["merged_id"], unique=False)
        batch_op.create_index("ix_person_merges_status", ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_person_merges_survivor_id"), ["survivor_id"], unique=False
        )

    op.create_table(
        "person_candidates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", sa.String(length=400), nullable=False),
        sa.Column("created_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_person_candidates_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["contact_subjects.id"],
            name=op.f("fk_person_candidates_subject_id_contact_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_candidates")),
    )
    with op.batch_alter_table("person_candidates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_person_candidates_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_person_candidates_subject_id"), ["subject_id"], unique=False
        )

    with op.batch_alter_table("contact_subjects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("person_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_contact_subjects_person_id"), ["person_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_contact_subjects_person_id_persons"), "persons", ["person_id"], ["id"]
        )

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("closed_at", mash_hub.db.UTCDateTime(timezone=True), nullable=True)
        )

    if op.get_bind().dialect.name == "postgresql":
        for table in RLS_TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY {table}_agency_side ON {table} "
                f"USING ({MASH_SIDE}) WITH CHECK ({MASH_SIDE})"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in RLS_TABLES:
            op.execute(f"DROP POLICY IF EXISTS {table}_agency_side ON {table}")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("closed_at")

    with op.batch_alter_table("contact_subjects", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_contact_subjects_person_id_persons"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_contact_subjects_person_id"))
        batch_op.drop_column("person_id")

    with op.batch_alter_table("person_candidates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_candidates_subject_id"))
        batch_op.drop_index(batch_op.f("ix_person_candidates_person_id"))

    op.drop_table("person_candidates")
    with op.batch_alter_table("person_merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_merges_survivor_id"))
        batch_op.drop_index("ix_person_merges_status")
        batch_op.drop_index(batch_op.f("ix_person_merges_merged_id"))

    op.drop_table("person_merges")
    with op.batch_alter_table("person_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_keys_person_id"))

    op.drop_table("person_keys")
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_persons_merged_into_id"))

    op.drop_table("persons")
