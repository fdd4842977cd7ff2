"""No one does more than their role and scopes allow (review rows 141-168, 220-247)."""

from __future__ import annotations

import pytest

from tests.helpers import csrf_token

WRITES = [
    "/contacts/{contact}/rating",
    "/contacts/{contact}/decision",
    "/contacts/{contact}/claim",
    "/contacts/new",
    "/contacts/{contact}/requests/new",
]


@pytest.mark.parametrize("person", ["health researcher", "csc lead", "csc admin"])
@pytest.mark.parametrize("path", WRITES)
def test_those_outside_screening_cannot_screen(scene, person, path):
    """Rows 141-155."""
    browser = scene.browser(person)
    token = csrf_token(browser.get("/").text)
    answer = browser.post(
        path.format(contact=scene.contact_id),
        data={"csrf_token": token, "rag": "green", "rationale": "escalation attempt"},
    )
    assert answer.status_code == 403


def test_a_screener_cannot_approve_a_decision(scene):
    """Rows 156, 162: only a manager signs off."""
    browser = scene.browser("csc screener")
    token = csrf_token(browser.get("/").text)
    answer = browser.post(
        f"/contacts/{scene.contact_id}/decision/review",
        data={"csrf_token": token, "outcome": "approve"},
    )
    assert answer.status_code == 403


@pytest.mark.parametrize(
    "scope",
    [
        "screening:read",
        "audit:read",
        "requests:read screening:read",
        "contacts:write",
        "REQUESTS:READ",
        "requests:read\tscreening:read",
        "requests:read,screening:read",
        "*",
    ],
)
def test_a_client_cannot_ask_for_scopes_it_was_not_given(client, make_client, scope):
    """Rows 225-234."""
    from mash_hub.authz.permissions import Scope

    client_id, secret = make_client("health", frozenset({Scope.REQUESTS_READ}))
    answer = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client_id, secret),
    )
    assert answer.status_code == 400
    assert answer.json["error"] == "invalid_scope"


@pytest.mark.parametrize(
    "grant", ["password", "authorization_code", "refresh_token", "implicit", "jwt-bearer"]
)
def test_only_client_credentials_are_granted(client, make_client, grant):
    """Rows 238-242."""
    client_id, secret = make_client("health")
    answer = client.post("/oauth/token", data={"grant_type": grant}, auth=(client_id, secret))
    assert answer.status_code == 400
    assert answer.json["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(
    "authorization",
    ["Basic !!!", "Basic //46eA==", "Bearer x", "Basic " + "a" * 7],
)
def test_unreadable_client_credentials_are_refused(client, authorization):
    """Rows 243-247."""
    answer = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": authorization},
    )
    assert answer.status_code in (400, 401)
    assert "access_token" not in answer.text


@pytest.mark.parametrize("bearer", ["random-token", "x" * 200, "", "null", "' OR 1=1 --"])
def test_malformed_bearer_tokens_are_refused(client, bearer):
    """Rows 250-254."""
    answer = client.get("/api/v1/requests", headers={"Authorization": f"Bearer {bearer}"})
    assert answer.status_code == 401
