"""An allowed access whose request then fails (fault review, finding 7): on dc1dfa7 the
allow rolled back with the failed request, so governance could not see bursts of
accesses that ended in errors. The allow is now in the trail however the request ends."""

from __future__ import annotations

from sqlalchemy import select

from mash_hub.audit.models import AuditEvent
from mash_hub.casefile import views as casefile_views
from tests.functional.test_requests import rated_contact
from tests.functional.test_scheduler import police  # noqa: F401 - a fixture


def _reads(app, contact_id: str) -> list[tuple[str, str]]:
    with app.extensions["mash.db"].transaction() as db:
        return [
            (row.action, row.decision)
            for row in db.scalars(
                select(AuditEvent)
                .where(AuditEvent.contact_id == contact_id, AuditEvent.action == "contact:read")
                .order_by(AuditEvent.seq)
            )
        ]


def test_a_read_allowed_then_failing_leaves_its_allow_in_the_trail(
    app,
    client,
    police,  # noqa: F811
    monkeypatch,
):
    contact_id = rated_contact(client, police)
    before = _reads(app, contact_id)

    def breaks(_found):
        raise RuntimeError("the answer could not be written")

    monkeypatch.setattr(casefile_views, "contact_json", breaks)
    failed = client.get(f"/api/v1/contacts/{contact_id}", headers=police)
    assert failed.status_code == 500
    assert failed.json == {
        "error": "server_error",
        "message": "the hub could not complete the request",
    }
    assert _reads(app, contact_id) == [*before, ("contact:read", "allow")]
