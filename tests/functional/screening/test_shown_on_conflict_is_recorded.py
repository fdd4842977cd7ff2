"""A page that answers a refused or conflicting form still shows the contact's sealed
rationales, so its read is in the audit trail under that response's request id, even
though the response's writes roll back (security review, V1)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from mash_hub.audit.models import AuditEvent
from mash_hub.db import Database
from tests.functional.screening.test_decisions import rate


def reads(app, response) -> list[tuple[str, str | None, str]]:
    """The firewall's events for one response, found by its X-Request-Id."""
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.object_id, AuditEvent.decision).where(
                AuditEvent.request_id == response.headers["X-Request-Id"]
            )
        ).all()
    return [tuple(row) for row in rows]


def test_rating_page_shown_again_after_a_refused_rating_records_the_read(
    app, client, api, screener, contact_id
):
    rate(client, api, contact_id)  # the sealed rationale "Partner checks needed"
    path = f"/contacts/{contact_id}/rating"
    shown = screener.post_form(path, {"rag": "amber", "rationale": "   ", "seen_ratings": "1"})
    assert shown.status_code == 200
    assert "Partner checks needed" in shown.text
    assert "Give the reason for this rating" in shown.text
    assert reads(app, shown).count(("contact:read", contact_id, "allow")) == 1


def test_decision_page_409_with_a_proposal_waiting_records_the_read(
    app, client, api, screener, contact_id
):
    rate(client, api, contact_id)
    path = f"/contacts/{contact_id}/decision"
    first = screener.post_form(path, {"outcome": "signpost", "rationale": "Universal services"})
    assert first.status_code == 302
    again = screener.post_form(path, {"outcome": "early_help", "rationale": "x"})
    assert again.status_code == 409
    assert "Universal services" in again.text
    assert reads(app, again).count(("contact:read", contact_id, "allow")) == 1


def test_review_409_records_the_read(app, client, api, screener, manager, contact_id):
    rate(client, api, contact_id)
    path = f"/contacts/{contact_id}/decision"
    screener.post_form(path, {"outcome": "signpost", "rationale": "Universal services"})
    stale = manager.post_form(
        f"{path}/review", {"decision_id": str(uuid.uuid4()), "verdict": "approved"}, page=path
    )
    assert stale.status_code == 409
    assert "Universal services" in stale.text
    assert ("contact:read", contact_id, "allow") in reads(app, stale)


def test_acknowledgement_409_records_the_read(app, client, api, screener, contact_id):
    rate(client, api, contact_id)
    path = f"/contacts/{contact_id}/decision"
    screener.post_form(path, {"outcome": "signpost", "rationale": "Universal services"})
    early = screener.post_form(
        f"/contacts/{contact_id}/acknowledgement",
        {"method": "phone", "told_date": "30/11/2026", "told_time": "09:30"},
        page=path,
    )
    assert early.status_code == 409
    assert "Universal services" in early.text
    assert ("contact:read", contact_id, "allow") in reads(app, early)
