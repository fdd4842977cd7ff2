"""onward referrals: a family stepped down from the MASH to a receiving service (Early Help
Family Support) once an outcome is approved, and the service's decision.

Row-level security, the firewall's second layer: the MASH side sees every referral; a
receiving service its own only. While a referral to it is open, or accepted and
within its read window, the service may also read the contact's subjects (with their
corrections, never a case note) and the data keys of the agency that sealed them, as a
partner may for an open request (0010, 0029). Nothing else of the contact.

Revision ID: 0035
Revises: 0037
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mash_hub.db

revision: str = "0035"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = "current_setting('app.agency_id', true)"
MASH_SIDE = (
    f"({CURRENT} = 'system' OR EXISTS "
    f"(SELECT 1 FROM agencies a WHERE a.code = {CURRENT} AND a.mash_core))"
)
OWN_SIDE = f"({MASH_SIDE} OR agency = {CURRENT})"


def live_referral_to_me(table: str, extra: str = "") -> str:
    """True for rows of a contact with a referral to the current agency that it may read."""
    return (
        f"EXISTS (SELECT 1 FROM onward_referrals o WHERE o.contact_id = {table}.contact_id "
        f"AND o.agency = {CURRENT} AND (o.status = 'open' OR "
        f"(o.status = 'accepted' AND o.readable_until > now())){extra})"
    )


READ_POLICIES = {
    "contact_subjects_live_referral": (
        "contact_subjects",
        live_referral_to_me("contact_subjects"),
    ),
    "contact_amendments_live_referral": (
        "contact_amendments",
        "contact_amendments.kind <> 'note_added' AND " + live_referral_to_me("contact_amendments"),
    ),
    "data_keys_live_referral": (
        "data_keys",
        live_referral_to_me(
            "data_keys",
            " AND data_keys.agency_id = "
            "(SELECT a.id FROM agencies a WHERE a.code = o.source_agency)",
        ),
    ),
}
OWN_TABLES = ("onward_referrals",)


def upgrade() -> None:
    op.create_table(
        "onward_referrals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("decision_id", sa.Uuid(), nullable=False),
        sa.Column("contact_reference", sa.String(length=20), nullable=False),
        sa.Column("agency", sa.String(length=16), nullable=False),
        sa.Column("source_agency", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("referred_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("referred_by", sa.String(length=64), nullable=False),
        sa.Column("referring_agency", sa.String(length=16), nullable=False),
        sa.Column("due_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", mash_hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decision_reason_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("readable_until", mash_hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'accepted', 'declined', 'expired')",
            name=op.f("ck_onward_referrals_known_status"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_onward_referrals_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["contact_decisions.id"],
            name=op.f("fk_onward_referrals_decision_id_contact_decisions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onward_referrals")),
        sa.UniqueConstraint("decision_id", name=op.f("uq_onward_referrals_decision_id")),
    )
    with op.batch_alter_table("onward_referrals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_onward_referrals_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index(
            "ix_onward_referrals_inbox", ["agency", "status", "due_at"], unique=False
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
    with op.batch_alter_table("onward_referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_onward_referrals_inbox")
        batch_op.drop_index(batch_op.f("ix_onward_referrals_contact_id"))
    op.drop_table("onward_referrals")
