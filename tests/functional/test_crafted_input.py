"""Crafted input is refused plainly, never answered with a 500 (security review V14)."""

from __future__ import annotations

import copy

from mash_hub.authz.permissions import Role, Scope
from tests.functional.test_contacts_api import CONTACT, token
from tests.helpers import sign_in


def test_json_nested_far_too_deep_is_a_400_in_the_contract_shape(client, make_client):
    police = token(client, make_client, "police", Scope.CONTACTS_WRITE)
    deep = "[" * 100_000 + "]" * 100_000
    answer = client.post(
        "/api/v1/contacts",
        data=deep,
        headers={**police, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json == {
        "error": "bad_request",
        "message": "the body is nested more than 32 levels deep",
    }


def test_json_nested_past_the_limit_is_refused_before_it_is_read(client, make_client):
    police = token(client, make_client, "police", Scope.CONTACTS_WRITE)
    body = copy.deepcopy(CONTACT)
    nest: dict = body
    for _ in range(40):
        nest["deeper"] = {}
        nest = nest["deeper"]
    answer = client.post("/api/v1/contacts", json=body, headers=police)
    assert answer.status_code == 400
    assert "nested more than 32 levels" in answer.json["message"]


def test_a_lone_surrogate_is_a_field_error(client, make_client):
    police = token(client, make_client, "police", Scope.CONTACTS_WRITE)
    raw = (
        '{"received_at": "2026-11-30T09:15:00Z",'
        ' "source": {"agency": "police", "referrer_name": "PC \\ud800 Jones"},'
        ' "concern": "Shouting late at night.", "consent": {"status": "given"},'
        ' "subjects": [{"role": "child", "given_name": "Sam", "family_name": "Smith"}]}'
    )
    answer = client.post(
        "/api/v1/contacts", data=raw, headers={**police, "Content-Type": "application/json"}
    )
    assert answer.status_code == 422
    assert answer.json["fields"] == {"source.referrer_name": "must be valid Unicode text"}


def test_a_person_id_of_the_right_letters_but_no_uuid_is_a_form_error(app, make_account, clock):
    web = app.test_client()
    sign_in(web, make_account(Role.GOVERNANCE_LEAD, "csc"), clock)
    for person in ("-" * 36, "0" * 31 + "-"):
        page = web.get("/governance/audit", query_string={"person": person})
        assert page.status_code == 200, person
        assert "Enter the person id, a UUID" in page.text


def test_a_token_over_plain_http_to_another_host_is_refused_not_a_500(client, make_client):
    client_id, secret = make_client("health", frozenset({Scope.REQUESTS_READ}))
    answer = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        headers={"Host": "mash.example.org"},
    )
    assert answer.status_code == 400
    assert answer.json == {"error": "invalid_request", "error_description": "use HTTPS"}


def test_a_digit_that_is_not_ascii_is_a_field_error(client, make_client):
    """Found by the reader fuzzing: "²" passes str.isdigit() and then breaks int()."""
    auditor = token(client, make_client, "csc", Scope.AUDIT_READ)
    for name, value in (("limit", "²"), ("cursor", "audit:²")):
        answer = client.get("/api/v1/audit/events", query_string={name: value}, headers=auditor)
        assert answer.status_code == 422, (name, answer.json)
        assert name in answer.json["fields"]
