"""oidc identities, client assertions and rate windows

Agency sign-in keys people by (issuer, subject); private_key_jwt clients register a public
JWK and their assertion ids are kept against replay; per-client request counts live in
the database so every worker shares one rate limit. None of these rows hold case data
or belong to one agency's side of the firewall, so they need no row-level security.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 19:57:25.354346
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mash_hub.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_rate_windows",
        sa.Column("client_pk", sa.Uuid(), nullable=False),
        sa.Column("window_start", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_pk"],
            ["api_clients.id"],
            name=op.f("fk_api_rate_windows_client_pk_api_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_pk", "window_start", name=op.f("pk_api_rate_windows")),
    )
    op.create_table(
        "client_assertion_uses",
        sa.Column("client_pk", sa.Uuid(), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_pk"],
            ["api_clients.id"],
            name=op.f("fk_client_assertion_uses_client_pk_api_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_pk", "jti", name=op.f("pk_client_assertion_uses")),
    )
    with op.batch_alter_table("client_assertion_uses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_client_assertion_uses_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "oidc_identities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("created_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_oidc_identities_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_identities")),
        sa.UniqueConstraint("issuer", "subject", name="uq_oidc_identities_iss_sub"),
    )
    with op.batch_alter_table("oidc_identities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_identities_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "auth_method",
                sa.String(length=32),
                server_default="client_secret_basic",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("public_jwk", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.drop_column("public_jwk")
        batch_op.drop_column("auth_method")

    with op.batch_alter_table("oidc_identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_identities_user_id"))

    op.drop_table("oidc_identities")
    with op.batch_alter_table("client_assertion_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_assertion_uses_expires_at"))

    op.drop_table("client_assertion_uses")
    op.drop_table("api_rate_windows")
