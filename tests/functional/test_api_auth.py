"""OAuth2 client credentials, bearer tokens, scopes, and the contract's JSON errors."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest

from mash_hub.api.openapi import OPERATIONS
from mash_hub.authz.gate import is_public
from mash_hub.authz.permissions import Scope


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def get_token(client, client_id, secret, scope=None):
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    return client.post("/oauth/token", data=data, headers=basic(client_id, secret))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_for_good_credentials_has_the_contract_shape(client, make_client):
    client_id, secret = make_client("police")
    response = get_token(client, client_id, secret)
    assert response.status_code == 200
    body = response.json
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert set(body["scope"].split()) == {"contacts:write", "screening:read"}
    assert response.headers["Cache-Control"] == "no-store"
    me = client.get("/api/v1/whoami", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json == {
        "client_id": client_id,
        "agency": "police",
        "scopes": ["contacts:write", "screening:read"],
    }


def test_token_with_a_narrower_scope(client, make_client):
    client_id, secret = make_client("police")
    response = get_token(client, client_id, secret, scope="screening:read")
    assert response.json["scope"] == "screening:read"


def test_wrong_secret_is_invalid_client_401(client, make_client):
    client_id, _ = make_client("police")
    response = get_token(client, client_id, "not-the-secret")
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"
    unknown = get_token(client, "nobody", "nothing")
    assert unknown.status_code == 401
    assert unknown.json["error"] == "invalid_client"


def test_scope_the_client_does_not_hold_is_invalid_scope(client, make_client):
    client_id, secret = make_client("health", frozenset({Scope.REQUESTS_READ}))
    response = get_token(client, client_id, secret, scope="audit:read")
    assert response.status_code == 400
    assert response.json["error"] == "invalid_scope"
    response = get_token(client, client_id, secret, scope="made:up")
    assert response.status_code == 400
    assert response.json["error"] == "invalid_scope"


def test_unsupported_grant_type(client, make_client):
    client_id, secret = make_client()
    response = client.post(
        "/oauth/token", data={"grant_type": "password"}, headers=basic(client_id, secret)
    )
    assert response.status_code == 400
    assert response.json["error"] == "unsupported_grant_type"


def test_missing_scope_gives_403_in_the_contract_shape(client, make_client):
    client_id, secret = make_client("health", frozenset({Scope.REQUESTS_READ}))
    token = get_token(client, client_id, secret).json["access_token"]
    response = client.get("/api/v1/agencies", headers=bearer(token))
    assert response.status_code == 403
    assert response.json["error"] == "insufficient_scope"
    assert set(response.json) == {"error", "message"}


def test_scope_that_allows_it_lists_the_agencies(client, make_client):
    client_id, secret = make_client("csc")
    token = get_token(client, client_id, secret).json["access_token"]
    response = client.get("/api/v1/agencies", headers=bearer(token))
    assert response.status_code == 200
    codes = [a["code"] for a in response.json["agencies"]]
    assert codes == sorted(
        ["csc", "police", "health", "education", "probation", "housing", "yos", "earlyhelp"]
    )
    assert response.json["next_cursor"] is None


def test_expired_token_gives_401(client, make_client, clock):
    client_id, secret = make_client()
    token = get_token(client, client_id, secret).json["access_token"]
    clock.advance(timedelta(minutes=4, seconds=59))
    assert client.get("/api/v1/whoami", headers=bearer(token)).status_code == 200
    clock.advance(timedelta(seconds=1))
    response = client.get("/api/v1/whoami", headers=bearer(token))
    assert response.status_code == 401
    assert response.json == {"error": "invalid_token", "message": "the access token has expired"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_missing_or_garbage_token_gives_401(client):
    assert client.get("/api/v1/whoami").json["error"] == "invalid_token"
    response = client.get("/api/v1/whoami", headers=bearer("garbage"))
    assert response.status_code == 401
    assert response.json["error"] == "invalid_token"
    huge = client.get("/api/v1/whoami", headers=bearer("x" * 5000))
    assert huge.status_code == 401


def test_the_api_never_accepts_a_browser_session(client, make_account, clock):
    from tests.helpers import sign_in

    sign_in(client, make_account(), clock)
    assert client.get("/api/v1/whoami").status_code == 401


def test_revoked_client_tokens_stop_working(app, client, make_client, clock):
    from mash_hub.db import Database
    from mash_hub.identity.models import ApiClient

    client_id, secret = make_client()
    token = get_token(client, client_id, secret).json["access_token"]
    with app.app_context():
        database: Database = app.extensions["mash.db"]
        with database.transaction() as db:
            row = db.query(ApiClient).filter_by(client_id=client_id).one()
            row.revoked_at = clock.now()
    assert client.get("/api/v1/whoami", headers=bearer(token)).status_code == 401
    assert get_token(client, client_id, secret).status_code == 401


def test_tokens_are_stored_hashed(app, client, make_client):
    from sqlalchemy import select

    from mash_hub.db import Database
    from mash_hub.identity.models import ApiClient, ApiToken

    client_id, secret = make_client()
    token = get_token(client, client_id, secret).json["access_token"]
    with app.app_context():
        database: Database = app.extensions["mash.db"]
        with database.transaction() as db:
            stored = db.scalars(select(ApiToken.token_hash)).all()
            secrets = db.scalars(select(ApiClient.secret_hash)).all()
    assert token not in stored and len(stored) == 1
    assert secret not in secrets


def test_body_over_one_megabyte_gets_413_json(client, make_client):
    client_id, secret = make_client()
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "pad": "x" * (1024 * 1024 + 10)},
        headers=basic(client_id, secret),
    )
    assert response.status_code == 413
    assert response.json["error"] == "payload_too_large"


def test_openapi_document_lists_exactly_the_api_operations(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.json
    assert doc["openapi"] == "3.1.0"
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/", "/oauth/")):
            path = re.sub(r"<[^>]+>", "{id}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                served.add((path, method.lower()))
    assert documented == served == set(OPERATIONS)
    for (path, method), operation in OPERATIONS.items():
        concrete = path.replace("{id}", "some-id")
        view = app.view_functions[app.url_map.bind("x").match(concrete, method.upper())[0]]
        if is_public(view):
            continue
        assert "401" in operation["responses"] and "403" in operation["responses"], path


@pytest.mark.parametrize(
    "header", ["Basic ", "Basic /w==", "Basic !!!", "Basic bm8tY29sb24=", "Basic w4Q6w4Q="]
)
def test_unreadable_basic_credentials_are_a_failed_authentication(client, header):
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": header}
    )
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"
