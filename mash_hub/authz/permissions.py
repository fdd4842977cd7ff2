"""What each role and each API scope may do, as `scope:resource:action` permissions.

The enum is the vocabulary of the gate: an endpoint names one permission, a principal
holds a set. Unknown names fail loudly (Permission("x") raises ValueError).
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    # Pages for people signed in with MFA.
    HOME_VIEW = "web:home:view"
    USERS_READ = "admin:users:read"
    CONTACTS_VIEW = "web:contacts:view"
    CONTACTS_CREATE = "web:contacts:create"
    CONTACTS_RATE = "web:contacts:rate"
    CONTACTS_AMEND = "web:contacts:amend"
    SCREENING_QUEUE_VIEW = "web:screening:queue"
    DECISIONS_PROPOSE = "web:decisions:propose"
    DECISIONS_APPROVE = "web:decisions:approve"
    BREAK_GLASS_OPEN = "web:break_glass:open"
    BREAK_GLASS_REVIEW = "governance:break_glass:review"
    GOVERNANCE_VIEW = "governance:audit:read"
    GOVERNANCE_EXPORT = "governance:audit:export"
    PERSONS_LINK = "web:persons:link"
    PERSONS_MERGE_PROPOSE = "web:persons:merge_propose"
    PERSONS_MERGE_DECIDE = "web:persons:merge_decide"
    REQUESTS_SEND = "web:requests:send"
    REQUESTS_ANSWER = "web:requests:answer"
    DISCLOSURES_MAKE = "web:disclosures:make"
    DISCLOSURES_APPROVE = "web:disclosures:approve"
    BREACHES_MANAGE = "governance:breaches:manage"
    REPORTS_VIEW = "governance:reports:read"
    # A receiving service's staff: the onward referrals addressed to their agency.
    REFERRALS_DECIDE = "web:referrals:decide"
    # JSON API for agency systems.
    API_TOKEN_READ = "api:token:read"  # noqa: S105 - a permission name, not a secret
    API_AGENCIES_READ = "api:agencies:read"
    API_CONTACTS_WRITE = "api:contacts:write"
    API_CONTACTS_READ = "api:contacts:read"
    API_CONTACTS_RATE = "api:contacts:rate"
    API_AUDIT_READ = "api:audit:read"
    API_CONTACTS_DECIDE = "api:contacts:decide"
    API_REQUESTS_CREATE = "api:requests:create"
    API_CONTRIBUTIONS_READ = "api:contributions:read"
    API_REQUESTS_READ = "api:requests:read"
    API_RESPONSES_WRITE = "api:responses:write"
    API_REFERRALS_READ = "api:referrals:read"
    API_REFERRALS_DECIDE = "api:referrals:decide"
    # A client's own webhook subscriptions (the kinds it may want follow its scopes).
    API_SUBSCRIPTIONS_MANAGE = "api:subscriptions:manage"


class Role(StrEnum):
    SCREENER = "screener"
    MASH_MANAGER = "mash_manager"
    AGENCY_RESEARCHER = "agency_researcher"
    GOVERNANCE_LEAD = "governance_lead"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.SCREENER: "Screener",
    Role.MASH_MANAGER: "MASH manager",
    Role.AGENCY_RESEARCHER: "Agency researcher",
    Role.GOVERNANCE_LEAD: "Governance lead",
    Role.ADMIN: "Administrator",
}


class Scope(StrEnum):
    """OAuth2 scopes of the API contract (shared/docs/api.md)."""

    CONTACTS_WRITE = "contacts:write"
    SCREENING_WRITE = "screening:write"
    SCREENING_READ = "screening:read"
    REQUESTS_READ = "requests:read"
    CONTRIBUTIONS_WRITE = "contributions:write"
    AUDIT_READ = "audit:read"
    # A receiving service's system (an early-help case system): its onward referrals.
    REFERRALS_READ = "referrals:read"
    REFERRALS_WRITE = "referrals:write"


_EVERY_SIGNED_IN_USER = frozenset({Permission.HOME_VIEW})
# The screening team's pages; only a MASH manager signs decisions off.
_SCREENING = frozenset(
    {
        Permission.CONTACTS_VIEW,
        Permission.CONTACTS_CREATE,
        Permission.CONTACTS_RATE,
        Permission.CONTACTS_AMEND,
        Permission.SCREENING_QUEUE_VIEW,
        Permission.DECISIONS_PROPOSE,
    }
)
# Linking a contact's subjects to the person register and proposing merges; the firewall
# still decides each on the contact (MASH staff of the core agencies only).
_PERSON_SCREENING = frozenset({Permission.PERSONS_LINK, Permission.PERSONS_MERGE_PROPOSE})
# Asking partner agencies what they know about a Red or Amber contact.
_REQUESTS = frozenset({Permission.REQUESTS_SEND})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.SCREENER: _EVERY_SIGNED_IN_USER | _SCREENING | _PERSON_SCREENING | _REQUESTS,
    Role.MASH_MANAGER: _EVERY_SIGNED_IN_USER
    | _SCREENING
    | _PERSON_SCREENING
    | _REQUESTS
    | {
        Permission.DECISIONS_APPROVE,
        Permission.BREAK_GLASS_OPEN,
        Permission.PERSONS_MERGE_DECIDE,
        Permission.DISCLOSURES_MAKE,
        Permission.BREACHES_MANAGE,
        # The MASH's performance figures; the firewall decides (core agencies only).
        Permission.REPORTS_VIEW,
    },
    # The staff of a partner agency: they answer its requests, and in a receiving service
    # (early help) accept or decline the families referred to it.
    Role.AGENCY_RESEARCHER: _EVERY_SIGNED_IN_USER
    | {Permission.REQUESTS_ANSWER, Permission.REFERRALS_DECIDE},
    Role.GOVERNANCE_LEAD: _EVERY_SIGNED_IN_USER
    | {
        Permission.BREAK_GLASS_REVIEW,
        Permission.GOVERNANCE_VIEW,
        Permission.GOVERNANCE_EXPORT,
        # An originating agency's governance lead decides on releasing its restricted items.
        Permission.DISCLOSURES_APPROVE,
        Permission.BREACHES_MANAGE,
        Permission.REPORTS_VIEW,
    },
    Role.ADMIN: _EVERY_SIGNED_IN_USER | {Permission.USERS_READ},
}

_EVERY_CLIENT = frozenset({Permission.API_TOKEN_READ, Permission.API_SUBSCRIPTIONS_MANAGE})

SCOPE_PERMISSIONS: dict[Scope, frozenset[Permission]] = {
    Scope.CONTACTS_WRITE: _EVERY_CLIENT
    | {Permission.API_AGENCIES_READ, Permission.API_CONTACTS_WRITE},
    Scope.SCREENING_WRITE: _EVERY_CLIENT
    | {
        Permission.API_AGENCIES_READ,
        Permission.API_CONTACTS_RATE,
        Permission.API_CONTACTS_DECIDE,
        Permission.API_REQUESTS_CREATE,
    },
    Scope.SCREENING_READ: _EVERY_CLIENT
    | {
        Permission.API_AGENCIES_READ,
        Permission.API_CONTACTS_READ,
        Permission.API_CONTRIBUTIONS_READ,
    },
    Scope.REQUESTS_READ: _EVERY_CLIENT | {Permission.API_REQUESTS_READ},
    Scope.CONTRIBUTIONS_WRITE: _EVERY_CLIENT | {Permission.API_RESPONSES_WRITE},
    Scope.AUDIT_READ: _EVERY_CLIENT | {Permission.API_AUDIT_READ},
    Scope.REFERRALS_READ: _EVERY_CLIENT | {Permission.API_REFERRALS_READ},
    Scope.REFERRALS_WRITE: _EVERY_CLIENT | {Permission.API_REFERRALS_DECIDE},
}


def permissions_for_roles(roles: frozenset[Role]) -> frozenset[Permission]:
    granted: frozenset[Permission] = frozenset()
    for role in roles:
        granted |= ROLE_PERMISSIONS[role]
    return granted


def permissions_for_scopes(scopes: frozenset[Scope]) -> frozenset[Permission]:
    granted: frozenset[Permission] = frozenset()
    for scope in scopes:
        granted |= SCOPE_PERMISSIONS[scope]
    return granted
