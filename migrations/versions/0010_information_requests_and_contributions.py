"""information requests and contributions, with row-level security for partner researchers

A partner agency sees its own requests and answers, and, while a request to it is open,
the subjects of that contact and the one data key (and its agency key) that seals them:
what a researcher needs to search the agency's own systems. Every new policy looks only
"downwards" (agency_keys -> data_keys -> info_requests -> agencies), never back, so no two
policies reference each other and PostgreSQL never recurses.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 19:57:38.399787
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
OWN_SIDE = f"({MASH_SIDE} OR agency = {CURRENT})"


def open_request_to_me(table: str, extra: str = "") -> str:
    """True for rows of a contact with an open request addressed to the current agency."""
    return (
        f"EXISTS (SELECT 1 FROM info_requests r WHERE r.contact_id = {table}.contact_id "
        f"AND r.agency = {CURRENT} AND r.status = 'open'{extra})"
    )


# Read-only widenings of 0005's policies (permissive policies are OR-ed).
READ_POLICIES = {
    "contact_subjects_open_request": (
        "contact_subjects",
        open_request_to_me("contact_subjects"),
    ),
    "data_keys_open_request": (
        "data_keys",
        open_request_to_me(
            "data_keys",
            " AND data_keys.agency_id = "
            "(SELECT a.id FROM agencies a WHERE a.code = r.source_agency)",
        ),
    ),
    # An agency key is readable wherever a data key wrapped under it is (data_keys' own
    # policies decide that).
    "agency_keys_wrapping_visible_key": (
        "agency_keys",
        "EXISTS (SELECT 1 FROM data_keys d WHERE d.agency_key_id = agency_keys.id)",
    ),
}
OWN_TABLES = ("info_requests", "contributions", "contribution_items")

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "info_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("agency", sa.String(length=16), nullable=False),
        sa.Column("source_agency", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("contact_rag", sa.String(length=8), nullable=False),
        sa.Column("question_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("requested_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("due_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", mash_hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'answered', 'expired', 'withdrawn')",
            name=op.f("ck_info_requests_known_status"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_info_requests_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_info_requests")),
    )
    with op.batch_alter_table("info_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_info_requests_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index(
            "ix_info_requests_inbox", ["agency", "status", "due_at"], unique=False
        )
        batch_op.create_index(
            "uq_info_requests_live",
            ["contact_id", "agency"],
            unique=True,
            sqlite_where=sa.text("status IN ('open', 'answered')"),
            postgresql_where=sa.text("status IN ('open', 'answered')"),
        )

    op.create_table(
        "contributions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("agency", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("answered_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["info_requests.id"],
            name=op.f("fk_contributions_request_id_info_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contributions")),
        sa.UniqueConstraint("request_id", name=op.f("uq_contributions_request_id")),
    )
    with op.batch_alter_table("contributions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contributions_contact_id"), ["contact_id"], unique=False
        )

    op.create_table(
        "contribution_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contribution_id", sa.Uuid(), nullable=False),
        sa.Column("agency", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("text_sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contribution_id"],
            ["contributions.id"],
            name=op.f("fk_contribution_items_contribution_id_contributions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contribution_items")),
    )
    with op.batch_alter_table("contribution_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contribution_items_contribution_id"), ["contribution_id"], unique=False
        )

    if op.get_bind().dialect.name == "postgresql":
        for table in OWN_TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY {table}_agency_side ON {table} "
                f"USING ({OWN_SIDE}) WITH CHECK ({OWN_SIDE})"
            )
        for name, (table, predicate) in READ_POLICIES.items():
            op.execute(f"CREATE POLICY {name} ON {table} FOR SELECT USING ({predicate})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, (table, _predicate) in READ_POLICIES.items():
            op.execute(f"DROP POLICY IF EXISTS {name} ON {table}")
        for table in OWN_TABLES:
            op.execute(f"DROP POLICY IF EXISTS {table}_agency_side ON {table}")
    with op.batch_alter_table("contribution_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contribution_items_contribution_id"))

    op.drop_table("contribution_items")
    with op.batch_alter_table("contributions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contributions_contact_id"))

    op.drop_table("contributions")
    with op.batch_alter_table("info_requests", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_info_requests_live",
            sqlite_where=sa.text("status IN ('open', 'answered')"),
            postgresql_where=sa.text("status IN ('open', 'answered')"),
        )
        batch_op.drop_index("ix_info_requests_inbox")
        batch_op.drop_index(batch_op.f("ix_info_requests_contact_id"))

    op.drop_table("info_requests")
