"""The firewall: the only way to protected data. Decide, audit, then release.

Every read or change of protected data asks `require()` (or `decide()`), which evaluates
the Cedar policies, writes one audit event, and hands back an `Access` that names that
event. Only `release()` turns ciphertext into text, and only for an `Access`.
"""

from mash_hub.firewall.decisions import (
    Access,
    AccessDenied,
    allowed_in_request,
    decide,
    decide_all,
    decide_many,
    decide_within,
    policy_actor,
    record_not_found,
    require,
)

__all__ = [
    "Access",
    "AccessDenied",
    "allowed_in_request",
    "decide",
    "decide_all",
    "decide_many",
    "decide_within",
    "policy_actor",
    "record_not_found",
    "require",
]
