"""Agency systems stay on their own side of the firewall (review rows 1-37, 91)."""

from __future__ import annotations

import uuid

import pytest

from tests.security.conftest import PARTNERS, leaked


def _same_refusal(answer, missing) -> None:
    """A record on another side answers exactly as one that does not exist."""
    assert answer.status_code == missing.status_code == 404
    assert answer.json == missing.json == {"error": "not_found", "message": "no such record"}
    drop = {"X-Request-Id", "Content-Security-Policy"}
    assert {k: v for k, v in answer.headers.items() if k not in drop} == {
        k: v for k, v in missing.headers.items() if k not in drop
    }


@pytest.mark.parametrize(
    ("reader", "owner"),
    [(a, "education") for a in ("health", "housing", "probation", "yos")]  # rows 2-5
    + [(a, "probation") for a in ("health", "education", "yos")]  # rows 6-8
    + [("education", "health")],  # row 9: another agency's answered request
)
def test_a_partner_cannot_read_another_agencys_request(client, scene, reader, owner):
    headers = scene.tokens[reader]
    answer = client.get(f"/api/v1/requests/{scene.requests[owner]}", headers=headers)
    missing = client.get(f"/api/v1/requests/{uuid.uuid4()}", headers=headers)
    _same_refusal(answer, missing)
    garbled = client.get("/api/v1/requests/not-a-uuid", headers=headers)
    assert garbled.status_code == 404 and garbled.json == missing.json  # row 91


def test_a_partner_reads_its_own_request_and_nothing_of_the_mash(client, scene):
    """Rows 1 and 10: its own request, its own answer, never the concern."""
    own = client.get(f"/api/v1/requests/{scene.requests['health']}", headers=scene.tokens["health"])
    assert own.status_code == 200
    assert leaked(scene, own.text, *scene.markers[1:]) == []  # no concern
    education = client.get(
        f"/api/v1/requests/{scene.requests['education']}", headers=scene.tokens["education"]
    )
    assert education.status_code == 200 and education.json["answer"] is None
    assert leaked(scene, education.text) == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/contacts/{contact}"),  # rows 11-15
        ("GET", "/api/v1/contacts/{contact}/contributions"),
        ("GET", "/api/v1/audit/events"),
        ("GET", "/api/v1/agencies"),
        ("POST", "/api/v1/contacts/{contact}/rating"),  # rows 16-20
        ("POST", "/api/v1/contacts/{contact}/requests"),
        ("POST", "/api/v1/contacts/{contact}/decision"),
        ("POST", "/api/v1/contacts"),
    ],
)
def test_a_partner_token_may_not_use_the_mash_endpoints(client, scene, method, path):
    answer = client.open(
        path.format(contact=scene.contact_id),
        method=method,
        json={},
        headers=scene.tokens["health"],
    )
    assert answer.status_code == 403
    assert answer.json["error"] == "insufficient_scope"
    assert leaked(scene, answer.text) == []


def test_a_partner_cannot_answer_another_agencys_request(client, scene):
    """Rows 21-22."""
    answer = client.post(
        f"/api/v1/requests/{scene.requests['education']}/response",
        json={"outcome": "not_known"},
        headers=scene.tokens["health"],
    )
    assert answer.status_code == 404
    still = client.get(
        f"/api/v1/requests/{scene.requests['education']}", headers=scene.tokens["education"]
    )
    assert still.json["status"] == "open"


@pytest.mark.parametrize("agency", PARTNERS)
def test_each_inbox_lists_only_its_own_requests(client, scene, agency):
    """Rows 23-26."""
    inbox = client.get("/api/v1/requests", headers=scene.tokens[agency]).json["requests"]
    assert {r["id"] for r in inbox} <= {scene.requests.get(agency)}


@pytest.mark.parametrize("agency", ["health", "police", "education", "CSC", "%"])
def test_an_audit_client_reads_only_its_own_agencys_trail(client, scene, agency):
    """Rows 27-31."""
    answer = client.get(
        "/api/v1/audit/events", query_string={"agency": agency}, headers=scene.tokens["csc audit"]
    )
    assert answer.status_code == 403


def test_a_partner_token_cannot_read_the_audit_trail(client, scene):
    """Rows 34-37."""
    answer = client.get("/api/v1/audit/events", headers=scene.tokens["housing"])
    assert answer.status_code == 403
