"""The policy layer: the ISA register, the Cedar rules over it, and the decision point.

Load once at start-up with `PolicyDecisionPoint.from_dir(policies_dir)`; the firewall
calls `decide(principal, action, resource, context)` and audits the `Decision`.
"""

from mash_hub.policy.pdp import (
    Actor,
    AgencyPerformanceResource,
    AuditLogResource,
    BreachLogResource,
    BreachResource,
    BreakGlassGrantResource,
    ContactResource,
    Context,
    ContributionResource,
    Decision,
    DisclosureResource,
    InfoRequestResource,
    MashReportsResource,
    OnwardReferralResource,
    PolicyConfigError,
    PolicyDecisionPoint,
    Principal,
    Resource,
    RetentionListResource,
    ScreeningQueueResource,
    TrailContactResource,
    UserDirectoryResource,
)
from mash_hub.policy.register import Agreement, Finding, Register, RegisterError, load_register
from mash_hub.policy.types import Action

__all__ = [
    "Action",
    "Actor",
    "AgencyPerformanceResource",
    "Agreement",
    "AuditLogResource",
    "BreachLogResource",
    "BreachResource",
    "BreakGlassGrantResource",
    "ContactResource",
    "Context",
    "ContributionResource",
    "Decision",
    "DisclosureResource",
    "Finding",
    "InfoRequestResource",
    "MashReportsResource",
    "OnwardReferralResource",
    "RetentionListResource",
    "PolicyConfigError",
    "PolicyDecisionPoint",
    "Principal",
    "Register",
    "RegisterError",
    "Resource",
    "ScreeningQueueResource",
    "TrailContactResource",
    "UserDirectoryResource",
    "load_register",
]
