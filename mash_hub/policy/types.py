"""The policy layer's shared vocabulary: the actions, the types Cedar requests use, and the
policies as read from policies/. Both the checker and the decision point build on it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from cedarpy import pst

from mash_hub.policy.programmes import Programme
from mash_hub.policy.register import Register

PRINCIPAL_TYPE = "Actor"
ACTION_TYPE = "Action"


class Action(StrEnum):
    """The actions the firewall decides, as named in policies/schema.cedarschema."""

    CONTACT_READ = "contact:read"
    CONTACT_CREATE = "contact:create"
    CONTACT_RATE = "contact:rate"
    CONTACT_DECIDE = "contact:decide"
    CONTACT_HISTORY = "contact:history"
    CONTACT_REVIEW = "contact:review"
    REQUEST_CREATE = "request:create"
    REQUEST_READ = "request:read"
    REQUEST_ANSWER = "request:answer"
    REQUEST_CORRECT = "request:correct"
    CONTRIBUTION_READ = "contribution:read"
    AUDIT_READ = "audit:read"
    USERS_MANAGE = "users:manage"
    PERFORMANCE_READ = "performance:read"
    AUDIT_FIND_CONTACT = "audit:find_contact"
    AUDIT_LINKED_CHILDREN = "audit:linked_children"
    AUDIT_FIND_CHILD = "audit:find_child"
    BREAK_GLASS_OPEN = "break_glass:open"
    BREAK_GLASS_REVIEW = "break_glass:review"
    DISCLOSURE_MAKE = "disclosure:make"
    DISCLOSURE_APPROVE = "disclosure:approve"
    SCREENING_READ = "screening:read"
    RETENTION_REVIEW = "retention:review"
    BREACH_RECORD = "breach:record"
    BREACH_READ = "breach:read"
    BREACH_UPDATE = "breach:update"
    REPORT_READ = "report:read"
    REFERRAL_CREATE = "referral:create"
    REFERRAL_READ = "referral:read"
    REFERRAL_DECIDE = "referral:decide"


# The one resource type each action applies to (the schema's `appliesTo`).
ACTION_RESOURCE_TYPES: Mapping[Action, str] = MappingProxyType(
    {
        Action.CONTACT_READ: "Contact",
        Action.CONTACT_CREATE: "Contact",
        Action.CONTACT_RATE: "Contact",
        Action.CONTACT_DECIDE: "Contact",
        Action.CONTACT_HISTORY: "Contact",
        Action.CONTACT_REVIEW: "Contact",
        Action.REQUEST_CREATE: "InfoRequest",
        Action.REQUEST_READ: "InfoRequest",
        Action.REQUEST_ANSWER: "InfoRequest",
        Action.REQUEST_CORRECT: "InfoRequest",
        Action.CONTRIBUTION_READ: "Contribution",
        Action.AUDIT_READ: "AuditLog",
        Action.USERS_MANAGE: "UserDirectory",
        Action.PERFORMANCE_READ: "AgencyPerformance",
        Action.AUDIT_FIND_CONTACT: "TrailContact",
        Action.AUDIT_LINKED_CHILDREN: "TrailContact",
        Action.AUDIT_FIND_CHILD: "TrailContact",
        Action.BREAK_GLASS_OPEN: "Contact",
        Action.BREAK_GLASS_REVIEW: "BreakGlassGrant",
        Action.DISCLOSURE_MAKE: "Disclosure",
        Action.DISCLOSURE_APPROVE: "Disclosure",
        Action.SCREENING_READ: "ScreeningQueue",
        Action.RETENTION_REVIEW: "RetentionList",
        Action.BREACH_RECORD: "BreachLog",
        Action.BREACH_READ: "Breach",
        Action.BREACH_UPDATE: "Breach",
        Action.REPORT_READ: "MashReports",
        Action.REFERRAL_CREATE: "OnwardReferral",
        Action.REFERRAL_READ: "OnwardReferral",
        Action.REFERRAL_DECIDE: "OnwardReferral",
    }
)


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """One Cedar policy as written: its annotations and where it is."""

    policy_id: str
    effect: Literal["permit", "forbid"]
    isa_id: str
    clause: str
    break_glass: bool
    file: str
    line: int
    node: pst.Template


@dataclass(frozen=True, slots=True)
class PolicySources:
    """Everything under policies/, read once."""

    register: Register
    policies: tuple[PolicyInfo, ...]
    # The early-help programmes' criteria (programmes/*.toml): not rules the decision
    # point runs, but reviewed files loaded and refused like them.
    programmes: tuple[Programme, ...] = ()
