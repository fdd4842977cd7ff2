"""The onward-referral payloads of the API contract (shared/docs/api.md, the additions of
the 2026-12 round)."""

from __future__ import annotations

from typing import Any

from mash_hub.http.times import api_time, api_time_or_none
from mash_hub.http.validation import Reader
from mash_hub.referrals.models import REFERRAL_DECISIONS
from mash_hub.referrals.services import (
    REASON_MAX,
    FamilyMember,
    InboxRow,
    ReferralSummary,
    ReferralView,
)


def read_decision(body: Any) -> tuple[str, str | None]:
    """(decision, reason), or ValidationFailed: a decline needs its reason."""
    reader = Reader()
    root = reader.obj(body, "")
    decision = reader.choice(root, "decision", "decision", REFERRAL_DECISIONS)
    reason = reader.text(
        root, "reason", "reason", max_length=REASON_MAX, required=False, multiline=True
    )
    if decision == "declined" and reason is None and "reason" not in reader.errors:
        reader.fail("reason", "is required to decline a referral")
    reader.check()
    assert decision is not None  # noqa: S101 - checked above
    return decision, reason


def member_json(member: FamilyMember) -> dict[str, Any]:
    born = member.date_of_birth
    return {
        "role": member.role,
        "given_name": member.given_name,
        "family_name": member.family_name,
        "date_of_birth": born.isoformat() if born else None,
        "address": member.address,
    }


def inbox_row_json(row: InboxRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "contact_reference": row.contact_reference,
        "status": row.status,
        "referred_at": api_time(row.referred_at),
        "due_at": api_time(row.due_at),
        "decided_at": api_time_or_none(row.decided_at),
    }


def referral_json(view: ReferralView) -> dict[str, Any]:
    """What the receiving service's agreement allows, with the criteria check the MASH
    recorded before approving (programme, version, whether the rule is met, and each
    criterion met with its evidence), or null if none was recorded."""
    return {
        "id": view.id,
        "contact_reference": view.contact_reference,
        "agency": view.agency,
        "outcome": view.outcome,
        "status": view.status,
        "reason": view.reason,
        "subjects": [member_json(m) for m in view.family],
        "referred_at": api_time(view.referred_at),
        "due_at": api_time(view.due_at),
        "decided_at": api_time_or_none(view.decided_at),
        "decision_reason": view.decision_reason,
        "readable_until": api_time_or_none(view.readable_until),
        "criteria_check": _criteria_json(view.criteria),
    }


def _criteria_json(criteria: dict[str, Any] | None) -> dict[str, Any] | None:
    if criteria is None:
        return None
    return {
        "checked_at": criteria["checked_at"],
        "programmes": [
            {
                "id": p["id"],
                "name": p["name"],
                "version": p["version"],
                "meets_rule": p["qualifies"],
                "rule": p["rule"],
                "criteria_met": [
                    {
                        "code": m["code"],
                        "label": m["label"],
                        "presenting_issues": m["issues"],
                        "measure": (
                            {"label": m["measure"], "value": m["value"], "agency": m["agency"]}
                            if m.get("measure")
                            else None
                        ),
                    }
                    for m in p["met"]
                ],
            }
            for p in criteria["programmes"]
        ],
    }


def summary_json(summary: ReferralSummary) -> dict[str, Any]:
    """A referral on the MASH's contact (GET /api/v1/contacts/{id})."""
    return {
        "id": summary.id,
        "agency": summary.agency,
        "outcome": summary.outcome,
        "status": summary.status,
        "reason": summary.reason,
        "referred_at": api_time(summary.referred_at),
        "due_at": api_time(summary.due_at),
        "decided_at": api_time_or_none(summary.decided_at),
        "decision_reason": summary.decision_reason,
    }
