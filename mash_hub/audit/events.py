"""Every kind of audit event, declared once with the fields it must carry.

The writer refuses an event of an undeclared kind or with a required field missing, so a
new code path cannot quietly log less than the governance leads rely on.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class EventKind:
    name: str
    description: str
    required: frozenset[str]


_DECISION_FIELDS = frozenset({"actor_id", "action", "object_type", "decision", "reason"})

_KINDS = (
    EventKind(
        "access.decision",
        "The firewall decided whether someone may act on protected data",
        _DECISION_FIELDS | {"agency"},
    ),
    EventKind(
        "access.break_glass",
        "Someone used emergency access outside the normal rules",
        _DECISION_FIELDS | {"agency", "object_id"},
    ),
    EventKind(
        "break_glass.opened",
        "Emergency access was opened, with its reason and window",
        frozenset({"actor_id", "agency", "action", "reason"}),
    ),
    EventKind(
        "break_glass.reviewed",
        "A governance lead recorded the outcome of a break-glass review",
        frozenset({"actor_id", "agency", "action", "object_id", "reason"}),
    ),
    EventKind(
        "sign_in.oidc_refused",
        "An agency identity provider's sign-in was refused (state, token, MFA or group)",
        frozenset({"actor_id", "action", "decision", "reason", "agency"}),
    ),
    EventKind(
        "client.revoked",
        "An operator revoked an agency system's API client and every live token it held",
        frozenset({"actor_id", "action", "decision", "reason", "agency", "object_id"}),
    ),
    EventKind(
        "sign_in.oidc_completed",
        "Someone signed in through their agency's identity provider (account created or found)",
        frozenset({"actor_id", "action", "decision", "reason", "agency", "object_id"}),
    ),
)

EVENT_KINDS: MappingProxyType[str, EventKind] = MappingProxyType({k.name: k for k in _KINDS})


class UndeclaredEventError(ValueError):
    """An audit event of an unknown kind, or missing a field its kind requires."""


def check_fields(kind: str, fields: dict[str, object]) -> None:
    declared = EVENT_KINDS.get(kind)
    if declared is None:
        raise UndeclaredEventError(f"audit event kind {kind!r} is not declared")
    missing = sorted(name for name in declared.required if fields.get(name) in (None, ""))
    if missing:
        raise UndeclaredEventError(f"audit event {kind!r} lacks {', '.join(missing)}")
