"""A request past its due time is closed to its agency, whatever the scheduler is doing
(review rows 95-103)."""

from __future__ import annotations

from datetime import timedelta

from tests.functional.test_requests import researcher
from tests.helpers import csrf_token


def test_past_its_due_time_a_request_is_gone_for_its_agency(client, clock, make_client, scene):
    request_id = scene.requests["education"]
    clock.advance(timedelta(days=3))  # far past Amber's six working hours; no scheduler ran
    education = researcher(client, make_client, "education")
    assert client.get(f"/api/v1/requests/{request_id}", headers=education).status_code == 404
    assert client.get("/api/v1/requests", headers=education).json["requests"] == []
    late = client.post(
        f"/api/v1/requests/{request_id}/response", json={"outcome": "not_known"}, headers=education
    )
    assert late.status_code == 409 and "expired" in late.json["message"]
    browser = scene.browser("education researcher")
    assert browser.get(f"/requests/{request_id}").status_code == 404
    inbox = browser.get("/requests")
    assert request_id not in inbox.text
    answer = browser.post(
        f"/requests/{request_id}", data={"csrf_token": csrf_token(inbox.text), "outcome": "x"}
    )
    assert answer.status_code in (404, 409)


def test_an_answered_request_closes_too(client, clock, make_client, scene):
    """Row 102: even the agency that answered cannot read it after the due time."""
    clock.advance(timedelta(days=3))
    health = researcher(client, make_client, "health")
    gone = client.get(f"/api/v1/requests/{scene.requests['health']}", headers=health)
    assert gone.status_code == 404
