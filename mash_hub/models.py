"""Every model, imported in one place so the metadata (and Alembic) sees every table."""

from mash_hub.audit.models import AuditCheckpoint, AuditEvent
from mash_hub.breaches.models import Breach, BreachEntry
from mash_hub.break_glass.models import BreakGlassGrant
from mash_hub.contacts.models import (
    Contact,
    ContactAmendment,
    ContactClaim,
    ContactDecision,
    ContactPresentingIssue,
    ContactRating,
    ContactSubject,
    DecisionReview,
    ReferenceCounter,
    ReferrerAcknowledgement,
)
from mash_hub.criteria.models import CriteriaCheck
from mash_hub.crypto.models import AgencyKey, DataKey
from mash_hub.disclosure.models import (
    Disclosure,
    DisclosureApproval,
    DisclosureCompletion,
    DisclosureItem,
)
from mash_hub.firewall.records import Tables
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
from mash_hub.notifications.models import Notification, NotificationPreference
from mash_hub.outbox.models import OutboxMessage
from mash_hub.people.models import (
    Person,
    PersonCandidate,
    PersonKey,
    PersonMerge,
    PossibleRepeat,
    SubjectKey,
)
from mash_hub.referrals.models import OnwardReferral
from mash_hub.retention.models import RetentionReview
from mash_hub.sharing.models import (
    Contribution,
    ContributionItem,
    ContributionRevision,
    ContributionRevisionItem,
    InfoRequest,
)


def firewall_tables() -> Tables:
    """The tables of the records the firewall guards, for `firewall.records.install`."""
    return Tables(
        contact=Contact,
        contact_subject=ContactSubject,
        info_request=InfoRequest,
        person=Person,
        person_merge=PersonMerge,
        disclosure=Disclosure,
        break_glass_grant=BreakGlassGrant,
        retention_review=RetentionReview,
        onward_referral=OnwardReferral,
    )


__all__ = [
    "firewall_tables",
    "AgencyKey",
    "DataKey",
    "AuditCheckpoint",
    "AuditEvent",
    "Breach",
    "BreachEntry",
    "BreakGlassGrant",
    "Contact",
    "ContactAmendment",
    "CriteriaCheck",
    "ContactClaim",
    "ContactDecision",
    "ContactPresentingIssue",
    "ContactRating",
    "DecisionReview",
    "ReferrerAcknowledgement",
    "ContactSubject",
    "Contribution",
    "Disclosure",
    "DisclosureApproval",
    "DisclosureCompletion",
    "DisclosureItem",
    "ContributionItem",
    "ContributionRevision",
    "ContributionRevisionItem",
    "InfoRequest",
    "Notification",
    "NotificationPreference",
    "OnwardReferral",
    "OutboxMessage",
    "Person",
    "PersonCandidate",
    "PersonKey",
    "PersonMerge",
    "PossibleRepeat",
    "SubjectKey",
    "ReferenceCounter",
    "RetentionReview",
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
