"""Every model, imported in one place so the metadata (and Alembic) sees every table."""

from mash_hub.audit.models import AuditEvent
from mash_hub.identity.models import (
    Agency,
    ApiClient,
    ApiToken,
    LoginAttempt,
    User,
    UserRole,
    WebSession,
)

__all__ = [
    "AuditEvent",
    "Agency",
    "ApiClient",
    "ApiToken",
    "LoginAttempt",
    "User",
    "UserRole",
    "WebSession",
]
