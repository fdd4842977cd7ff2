"""The JSON shape of a contact in the API (shared/docs/api.md)."""

from __future__ import annotations

from datetime import date
from typing import Any

from mash_hub.casefile.services import ApiContact
from mash_hub.contacts.schemas import subject_json
from mash_hub.http.times import api_time, api_time_or_none
from mash_hub.referrals.schemas import summary_json as referral_json
from mash_hub.sharing.schemas import summary_json


def contact_json(found: ApiContact) -> dict[str, Any]:
    view = found.contact
    return {
        "id": view.id,
        "reference": view.reference,
        "received_at": api_time(view.received_at),
        "status": view.status,
        "rag": view.rag,
        "decision_due_at": api_time_or_none(view.decision_due_at),
        "rating_history": [
            {
                "rag": r.rag,
                "previous_rag": r.previous_rag,
                "rationale": r.rationale,
                "rated_at": api_time(r.rated_at),
                "rated_by": r.rated_by,
                "decision_due_at": api_time(r.decision_due_at),
            }
            for r in view.ratings
        ],
        "source": {
            "type": view.referrer_type,
            # The referring agency of the hub; null for every other kind of referrer.
            "agency": view.source_agency if view.referrer_type == "agency" else None,
            "referrer_name": view.referrer_name,
            "referrer_role": view.referrer_role,
            "profession": view.referrer_profession,
            "organisation": view.referrer_organisation,
            "phone": view.referrer_phone,
            "email": view.referrer_email,
        },
        "concern": view.concern,
        "warnings": found.warnings,
        "consent": {"status": view.consent_status, "reason": view.consent_reason},
        "subjects": [
            {
                "id": s.id,
                **subject_json(s),
                "equality": s.equality.as_document() if s.equality is not None else None,
            }
            for s in view.subjects
        ],
        "presenting_issues": list(view.presenting_issues),
        # A step-up from a receiving service (early help): the earlier contact.
        "stepped_up_from": (
            {"contact_id": view.stepped_up_from[0], "reference": view.stepped_up_from[1]}
            if view.stepped_up_from is not None
            else None
        ),
        "requests": [summary_json(s) for s in found.requests],
        # Onward referrals (step-down) made once its outcome was approved.
        "referrals": [referral_json(r) for r in found.referrals],
        # Amendments during screening, oldest first (a case note's kind is "note").
        "amendments": [
            {
                "sequence": a.sequence,
                "kind": "note" if a.kind == "note_added" else a.kind,
                "made_at": api_time(a.made_at),
                "made_by": a.made_by_id,
                "made_by_agency": a.made_by_agency,
                "subject_id": a.subject_id,
                "changes": {
                    c.field: {"before": _plain(c.before), "after": _plain(c.after)}
                    for c in a.changes
                },
                "text": a.note,
                "reason": a.reason,
            }
            for a in view.amendments
        ],
    }


def _plain(value: Any) -> Any:
    """A changed value as JSON: a date of birth as an ISO date."""
    return value.isoformat() if isinstance(value, date) else value
