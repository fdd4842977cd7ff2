"""Reading an audit search from query parameters, and writing events as the API shows them."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from mash_hub.audit.models import AuditEvent
from mash_hub.audit.services import EventFilter
from mash_hub.http.times import api_time
from mash_hub.http.validation import Reader

DECISIONS = ("allow", "deny")


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"audit:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    prefix, _, number = text.partition(":")
    # isdigit() alone takes "²" and other digits int() refuses: ASCII digits only.
    if prefix != "audit" or not (number.isascii() and number.isdigit()) or len(number) > 19:
        return None
    return int(number)


def read_filter(
    args: dict[str, Any], own_agency: str, default_limit: int, max_limit: int
) -> EventFilter:
    """The filters of GET /api/v1/audit/events; raises ValidationFailed listing every bad one.
    Without ``agency`` the caller's own agency's trail is searched."""
    reader = Reader()
    agency = reader.text(args, "agency", "agency", max_length=16, required=False) or own_agency
    texts = {
        name: reader.text(args, name, name, max_length=64, required=False)
        for name in ("contact_id", "actor", "action")
    }
    decision = None
    if args.get("decision") is not None:
        decision = reader.choice(args, "decision", "decision", DECISIONS)
    since = reader.moment(args, "since", "since") if args.get("since") is not None else None
    until = reader.moment(args, "until", "until") if args.get("until") is not None else None
    after = 0
    if args.get("cursor") is not None:
        position = decode_cursor(str(args["cursor"]))
        if position is None:
            reader.fail("cursor", "is not a cursor this list gave out")
        else:
            after = position
    limit = default_limit
    if args.get("limit") is not None:
        raw = str(args["limit"])
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= max_limit:
            reader.fail("limit", f"must be a whole number from 1 to {max_limit}")
        else:
            limit = int(raw)
    reader.check()
    return EventFilter(
        agency=agency,
        contact_id=texts["contact_id"],
        actor=texts["actor"],
        action=texts["action"],
        decision=decision,
        since=since,
        until=until,
        after_seq=after,
        limit=limit,
    )


def _or_none(text: str) -> str | None:
    return text or None


def event_json(event: AuditEvent) -> dict[str, Any]:
    """One event as api.md lists it (isa_id and clause hold every id, space-separated)."""
    return {
        "seq": event.seq,
        "id": str(event.id),
        "at": api_time(event.at),
        "kind": event.kind,
        "actor": event.actor_id,
        "actor_type": event.actor_type,
        "agency": event.agency,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "contact_id": event.contact_id,
        "decision": event.decision,
        "isa_id": _or_none(event.isa_ids),
        "clause": _or_none(event.clauses),
        "policy_ids": event.policy_ids.split(),
        "reason": event.reason,
        "break_glass": event.break_glass,
        "hash": event.hash,
    }
