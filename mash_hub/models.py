"""Every model, imported in one place so the metadata (and Alembic) sees every table."""

from mash_hub.audit.models import AuditEvent
from mash_hub.contacts.models import Contact, ContactRating, ContactSubject, ReferenceCounter
from mash_hub.crypto.models import AgencyKey, DataKey
from mash_hub.firewall.models import BreakGlassGrant
from mash_hub.identity.models import (
    Agency,
    ApiClient,
    ApiRateWindow,
    ApiToken,
    ClientAssertionUse,
    LoginAttempt,
    OidcIdentity,
    User,
    UserRole,
    WebSession,
)
from mash_hub.notifications.models import Notification

__all__ = [
    "AgencyKey",
    "DataKey",
    "AuditEvent",
    "BreakGlassGrant",
    "Contact",
    "ContactRating",
    "ContactSubject",
    "Notification",
    "ReferenceCounter",
    "Agency",
    "ApiClient",
    "ApiToken",
    "ApiRateWindow",
    "ClientAssertionUse",
    "OidcIdentity",
    "LoginAttempt",
    "User",
    "UserRole",
    "WebSession",
]
