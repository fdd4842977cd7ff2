"""row-level security: the second layer of the firewall, on PostgreSQL

Every transaction states its agency with set_config('app.agency_id', ..., true) (see
mash_hub.db). These policies let the application's role see contact rows only from the
MASH side (the core agencies) or as the system (jobs and operators' commands), key rows
only for the MASH side or the owning agency, and break-glass and notification rows only
for the agencies they concern. Table owners (who run migrations) are not subject to them;
the application must connect as a role that is neither owner nor superuser.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 18:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = "current_setting('app.agency_id', true)"
SYSTEM = f"{CURRENT} = 'system'"
MASH_SIDE = (
    f"({SYSTEM} OR EXISTS (SELECT 1 FROM agencies a WHERE a.code = {CURRENT} AND a.mash_core))"
)
OWN_AGENCY = f"agency_id = (SELECT a.id FROM agencies a WHERE a.code = {CURRENT})"

POLICIES = {
    "contacts": MASH_SIDE,
    "contact_subjects": MASH_SIDE,
    "reference_counters": MASH_SIDE,
    "data_keys": f"({MASH_SIDE} OR {OWN_AGENCY})",
    "agency_keys": f"({MASH_SIDE} OR {OWN_AGENCY})",
    "break_glass_grants": f"({SYSTEM} OR agency = {CURRENT} OR owning_agency = {CURRENT})",
}

# Anyone on any side may tell another agency something; only the recipient reads it.
NOTIFICATIONS_READ = f"({SYSTEM} OR recipient_agency = {CURRENT})"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, predicate in POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_agency_side ON {table} "
            f"USING ({predicate}) WITH CHECK ({predicate})"
        )
    op.execute("ALTER TABLE notifications ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY notifications_recipient ON notifications FOR SELECT "
        f"USING ({NOTIFICATIONS_READ})"
    )
    op.execute(
        "CREATE POLICY notifications_recipient_changes ON notifications FOR UPDATE "
        f"USING ({NOTIFICATIONS_READ}) WITH CHECK ({NOTIFICATIONS_READ})"
    )
    op.execute(
        "CREATE POLICY notifications_recipient_deletes ON notifications FOR DELETE "
        f"USING ({NOTIFICATIONS_READ})"
    )
    op.execute("CREATE POLICY notifications_send ON notifications FOR INSERT WITH CHECK (true)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in POLICIES:
        op.execute(f"DROP POLICY IF EXISTS {table}_agency_side ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for name in (
        "notifications_recipient",
        "notifications_recipient_changes",
        "notifications_recipient_deletes",
        "notifications_send",
    ):
        op.execute(f"DROP POLICY IF EXISTS {name} ON notifications")
    op.execute("ALTER TABLE notifications DISABLE ROW LEVEL SECURITY")
