"""Query parameters of `GET /api/v1/audit/events` (shared/docs/api.md), read and checked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mash_hub.api.validation import Reader
from mash_hub.audit.models import AuditEvent
from mash_hub.governance.services import MAX_PAGE_SIZE, AuditFilters
from mash_hub.identity.models import AGENCY_CODES
from mash_hub.policy.pdp import Action

DEFAULT_LIMIT = 100
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_CURSOR = re.compile(r"^\d{1,19}$")


@dataclass(frozen=True)
class EventQuery:
    filters: AuditFilters
    cursor: str | None
    limit: int


def read_event_query(args: dict[str, Any]) -> EventQuery:
    """The filters in the query string, or ValidationFailed naming each bad parameter."""
    reader = Reader()
    unknown = sorted(set(args) - {"contact_id", "actor", "agency", "action", "decision",
                                  "since", "until", "cursor", "limit"})  # fmt: skip
    for name in unknown:
        reader.fail(name, "is not a filter of this list")
    for name in ("contact_id", "actor", "cursor"):
        value = args.get(name)
        if value is not None and not (_CURSOR if name == "cursor" else _ID).fullmatch(value):
            reader.fail(
                name,
                "is not an id this list knows"
                if name != "cursor"
                else "is not a cursor from this list",
            )
    agency = args.get("agency")
    if agency is not None:
        reader.choice(args, "agency", "agency", AGENCY_CODES)
    action = args.get("action")
    if action is not None:
        reader.choice(args, "action", "action", (*(a.value for a in Action), "audit:export"))
    decision = args.get("decision")
    if decision is not None:
        reader.choice(args, "decision", "decision", ("allow", "deny"))
    since = reader.moment(args, "since", "since") if "since" in args else None
    until = reader.moment(args, "until", "until") if "until" in args else None
    limit = DEFAULT_LIMIT
    raw_limit = args.get("limit")
    if raw_limit is not None:
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE_SIZE:
            reader.fail("limit", f"must be a whole number from 1 to {MAX_PAGE_SIZE}")
        else:
            limit = int(raw_limit)
    reader.check()
    return EventQuery(
        AuditFilters(
            contact_ids=(args["contact_id"],) if args.get("contact_id") else (),
            actor=args.get("actor"),
            agency=agency,
            action=action,
            decision=decision,
            since=since,
            until=until,
        ),
        args.get("cursor"),
        limit,
    )


def _first(spaced: str) -> str | None:
    return spaced.split()[0] if spaced else None


def event_document(event: AuditEvent) -> dict[str, Any]:
    """One event as the contract shows it. Ids and decisions only, never personal data."""
    return {
        "id": str(event.id),
        "seq": event.seq,
        "at": event.at.isoformat(),
        "kind": event.kind,
        "actor": event.actor_id,
        "actor_type": event.actor_type,
        "agency": event.agency,
        "roles": event.roles.split(),
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "contact_id": event.contact_id,
        "decision": event.decision,
        "isa_id": _first(event.isa_ids),
        "clause": _first(event.clauses),
        "isa_ids": event.isa_ids.split(),
        "clauses": event.clauses.split(),
        "policy_ids": event.policy_ids.split(),
        "reason": event.reason,
        "break_glass": event.break_glass,
        "request_id": event.request_id,
        "hash": getattr(event, "hash", None),
    }
