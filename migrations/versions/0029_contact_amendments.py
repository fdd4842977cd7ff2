"""contact amendments: a screener's corrections, added people and case notes, kept
append-only with who, when and why. On PostgreSQL the MASH side reads and adds them; a
partner with an open request on the contact reads its subject amendments (never its case
notes), like the subjects themselves (0010). The hub's role is granted only SELECT and
INSERT on the table (mash_hub.operations.roles), and a trigger refuses changes besides.

Revision ID: 0029
Revises: 0026
Create Date: 2026-12-05 16:30:00
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
# A partner reads a contact's subject amendments while a request to it is open; notes
# are the MASH's own.
OPEN_REQUEST_SUBJECTS = (
    "contact_amendments.kind <> 'note_added' AND EXISTS (SELECT 1 FROM info_requests r "
    "WHERE r.contact_id = contact_amendments.contact_id "
    f"AND r.agency = {CURRENT} AND r.status = 'open')"
)

revision: str = "0029"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contact_amendments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("payload_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("reason_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("made_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("made_by", sa.String(length=64), nullable=False),
        sa.Column("made_by_agency", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "kind = 'note_added' OR (subject_id IS NOT NULL AND reason_sealed IS NOT NULL)",
            name=op.f("ck_contact_amendments_subject_needs_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_contact_amendments_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["contact_subjects.id"],
            name=op.f("fk_contact_amendments_subject_id_contact_subjects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_amendments")),
        sa.UniqueConstraint(
            "contact_id", "sequence", name=op.f("uq_contact_amendments_contact_id_sequence")
        ),
    )
    with op.batch_alter_table("contact_amendments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_amendments_contact_id"), ["contact_id"])

    # The history can never be edited: the database itself refuses updates and deletes.
    if op.get_bind().dialect.name == "postgresql":
        # refuse_history_change() is 0006's.
        op.execute(
            "CREATE TRIGGER contact_amendments_append_only BEFORE UPDATE OR DELETE "
            "ON contact_amendments FOR EACH ROW EXECUTE FUNCTION refuse_history_change()"
        )
        op.execute("ALTER TABLE contact_amendments ENABLE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY contact_amendments_agency_side ON contact_amendments "
            f"USING ({MASH_SIDE}) WITH CHECK ({MASH_SIDE})"
        )
        op.execute(
            "CREATE POLICY contact_amendments_open_request ON contact_amendments "
            f"FOR SELECT USING ({OPEN_REQUEST_SUBJECTS})"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER contact_amendments_no_{event.lower()} BEFORE {event} "
                "ON contact_amendments BEGIN "
                "SELECT RAISE(ABORT, 'contact_amendments is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS contact_amendments_open_request ON contact_amendments")
        op.execute("DROP POLICY IF EXISTS contact_amendments_agency_side ON contact_amendments")
        op.execute("DROP TRIGGER IF EXISTS contact_amendments_append_only ON contact_amendments")
    else:
        op.execute("DROP TRIGGER IF EXISTS contact_amendments_no_update")
        op.execute("DROP TRIGGER IF EXISTS contact_amendments_no_delete")
    op.drop_table("contact_amendments")
