"""A scheduler that was down past a time box (fault review, finding 9): the requests it
expires late are closed as of their due time, not of the catch-up."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from mash_hub import scheduler
from mash_hub.sharing.models import InfoRequest
from tests.functional.test_requests import ask, rated_contact
from tests.functional.test_scheduler import police  # noqa: F401 - a fixture


def test_a_late_catch_up_closes_requests_at_their_due_time(app, client, clock, police):  # noqa: F811
    contact_id = rated_contact(client, police, "red")
    request_id = ask(client, police, contact_id, "health").json["id"]
    clock.advance(timedelta(hours=5))  # the scheduler was down well past the 2-hour box
    assert scheduler.run_all_once(app)["expire_requests"] == 1
    with app.extensions["mash.db"].transaction() as db:
        request = db.scalars(
            select(InfoRequest).where(InfoRequest.id == uuid.UUID(request_id))
        ).one()
        assert request.status == "expired"
        assert request.closed_at == request.due_at
        assert request.due_at < clock.now() - timedelta(hours=2)
