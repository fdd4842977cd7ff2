"""The policy layer: the ISA register, the Cedar rules over it, and the decision point.

Load once at start-up with `PolicyDecisionPoint.from_dir(policies_dir)`; the firewall
calls `decide(principal, action, resource, context)` and audits the `Decision`.
"""

from mash_hub.policy.pdp import (
    Actor,
    AuditLogResource,
    ContactResource,
    Context,
    ContributionResource,
    Decision,
    InfoRequestResource,
    PolicyConfigError,
    PolicyDecisionPoint,
    Principal,
    Resource,
    UserDirectoryResource,
)
from mash_hub.policy.register import Agreement, Finding, Register, RegisterError, load_register
from mash_hub.policy.types import Action

__all__ = [
    "Action",
    "Actor",
    "Agreement",
    "AuditLogResource",
    "ContactResource",
    "Context",
    "ContributionResource",
    "Decision",
    "Finding",
    "InfoRequestResource",
    "PolicyConfigError",
    "PolicyDecisionPoint",
    "Principal",
    "Register",
    "RegisterError",
    "Resource",
    "UserDirectoryResource",
    "load_register",
]
