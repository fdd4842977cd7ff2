"""Agency systems in production: private_key_jwt, revocation, shared rate limits, and the
token refusals of api.md (401/403/429 in the JSON error shape)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey
from sqlalchemy import select

from mash_hub import create_app
from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Scope
from mash_hub.db import Database
from mash_hub.identity import services as identity
from tests.conftest import make_settings
from tests.functional.test_api_auth import bearer, get_token
from tests.functional.test_cli import run
from tests.functional.test_contacts_api import CONTACT

TOKEN_URL = "http://localhost/oauth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def register_key_client(app: Flask, key, agency: str = "police") -> str:  # type: ignore[no-untyped-def]
    with app.app_context():
        database: Database = app.extensions["mash.db"]
        with database.transaction() as db:
            client, secret = identity.create_client(
                db,
                agency_code=agency,
                scopes=frozenset({Scope.CONTACTS_WRITE, Scope.SCREENING_READ}),
                public_jwk=json.dumps(key.as_dict(private=False)),
            )
            assert secret == ""
            return client.client_id


def assertion(client_id: str, key, clock, *, alg: str = "RS256", **changes) -> str:  # type: ignore[no-untyped-def]
    now = int(clock.now().timestamp())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        **changes,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return str(jwt.encode({"alg": alg}, claims, key))


def token_with_assertion(client, signed: str, scope: str | None = None, **request):  # type: ignore[no-untyped-def]
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": signed,
    }
    if scope:
        data["scope"] = scope
    return client.post("/oauth/token", data=data, **request)


@pytest.fixture
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048)


# ----------------------------------------------------------------- private_key_jwt


def test_private_key_jwt_gets_a_token_that_works(app, client, clock, rsa_key):
    client_id = register_key_client(app, rsa_key)
    response = token_with_assertion(client, assertion(client_id, rsa_key, clock))
    assert response.status_code == 200, response.json
    assert set(response.json) == {"access_token", "token_type", "expires_in", "scope"}
    me = client.get("/api/v1/whoami", headers=bearer(response.json["access_token"]))
    assert me.json["client_id"] == client_id
    assert me.json["agency"] == "police"


def test_an_elliptic_curve_key_works_too(app, client, clock):
    key = ECKey.generate_key("P-256")
    client_id = register_key_client(app, key)
    response = token_with_assertion(client, assertion(client_id, key, clock, alg="ES256"))
    assert response.status_code == 200, response.json


def test_a_replayed_assertion_is_refused(app, client, clock, rsa_key):
    client_id = register_key_client(app, rsa_key)
    signed = assertion(client_id, rsa_key, clock)
    assert token_with_assertion(client, signed).status_code == 200
    again = token_with_assertion(client, signed)
    assert again.status_code == 401
    assert again.json["error"] == "invalid_client"
    # Even a failed first use (a scope it does not hold) spends the jti.
    other = assertion(client_id, rsa_key, clock)
    assert token_with_assertion(client, other, scope="audit:read").status_code == 400
    assert token_with_assertion(client, other).status_code == 401


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "https://another-server.example/oauth/token"},
        {"aud": None},
        {"exp": None},
        {"jti": None},
        {"iss": "someone-else"},
    ],
    ids=["wrong-aud", "no-aud", "no-exp", "no-jti", "iss-is-not-sub"],
)
def test_assertions_with_bad_claims_are_invalid_client(app, client, clock, rsa_key, changes):
    client_id = register_key_client(app, rsa_key)
    response = token_with_assertion(client, assertion(client_id, rsa_key, clock, **changes))
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"


def test_an_expired_or_long_lived_assertion_is_refused(app, client, clock, rsa_key):
    client_id = register_key_client(app, rsa_key)
    now = int(clock.now().timestamp())
    expired = assertion(client_id, rsa_key, clock, iat=now - 600, exp=now - 120)
    assert token_with_assertion(client, expired).status_code == 401
    long_lived = assertion(client_id, rsa_key, clock, exp=now + 86400)
    assert token_with_assertion(client, long_lived).status_code == 401


def test_an_assertion_signed_by_another_key_or_unsigned_is_refused(app, client, clock, rsa_key):
    client_id = register_key_client(app, rsa_key)
    stranger = RSAKey.generate_key(2048)
    assert token_with_assertion(client, assertion(client_id, stranger, clock)).status_code == 401
    now = int(clock.now().timestamp())
    claims = {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "exp": now + 60, "jti": "j1"}

    def b64(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    unsigned = f"{b64({'alg': 'none'})}.{b64(claims)}."
    response = token_with_assertion(client, unsigned)
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"


def test_each_client_uses_only_its_own_method(app, client, clock, rsa_key, make_client):
    key_client = register_key_client(app, rsa_key)
    # A key-based client has no secret to guess: Basic with any secret is refused.
    assert get_token(client, key_client, "").status_code == 401
    assert get_token(client, key_client, "anything").status_code == 401
    # A secret-based client cannot switch to an assertion.
    secret_client, _ = make_client()
    signed = assertion(secret_client, rsa_key, clock)
    assert token_with_assertion(client, signed).status_code == 401


def _short_rsa_jwk() -> dict:
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(65537, 1024)  # noqa: S505 - the key that must be refused
    numbers = weak.public_key().public_numbers()

    def b64(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8)
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return {"kty": "RSA", "n": b64(numbers.n), "e": b64(numbers.e)}


@pytest.mark.parametrize(
    ("jwk", "problem"),
    [
        (lambda: RSAKey.generate_key(2048).as_dict(private=True), "private or secret"),
        (lambda: OctKey.generate_key(256).as_dict(), "private or secret"),
        (lambda: _short_rsa_jwk(), "at least 2048 bits"),
        (lambda: {"keys": []}, "kty must be"),
        (lambda: ["not", "a", "key"], "one JSON object"),
    ],
    ids=["private-rsa", "symmetric", "short-rsa", "key-set", "not-an-object"],
)
def test_only_a_strong_public_key_can_be_registered(jwk, problem):
    with pytest.raises(identity.IdentityError, match=problem):
        identity.checked_public_jwk(json.dumps(jwk()))


# --------------------------------------------------------------------- revocation


def test_revoking_a_client_stops_its_live_tokens_on_the_next_call(app, client, make_client):
    client_id, secret = make_client()
    token = get_token(client, client_id, secret).json["access_token"]
    assert client.get("/api/v1/whoami", headers=bearer(token)).status_code == 200
    with app.app_context():
        database: Database = app.extensions["mash.db"]
        with database.transaction() as db:
            identity.revoke_client(db, client_id)
    response = client.get("/api/v1/whoami", headers=bearer(token))
    assert response.status_code == 401
    assert response.json == {
        "error": "invalid_token",
        "message": "the access token has been revoked",
    }
    refused = get_token(client, client_id, secret)
    assert refused.status_code == 401
    assert refused.json["error"] == "invalid_client"
    with app.app_context():
        database = app.extensions["mash.db"]
        with database.transaction() as db:
            [event] = db.scalars(select(AuditEvent).where(AuditEvent.kind == "client.revoked"))
            assert (event.object_id, event.agency, event.actor_type) == (
                client_id,
                "police",
                "system",
            )


def test_clients_list_and_revoke_from_the_command_line(tmp_path, clean_database, app):
    key_file = tmp_path / "system.jwk"
    key = RSAKey.generate_key(2048)
    key_file.write_text(json.dumps(key.as_dict(private=False)))
    created = run(
        [
            "clients",
            "create",
            "--agency",
            "police",
            "--scopes",
            "screening:read",
            "--jwk",
            str(key_file),
        ],
        tmp_path,
        clean_database,
    )
    assert created.returncode == 0, created.stderr
    assert "client_secret" not in created.stdout
    client_id = created.stdout.split("client_id: ", 1)[1].split()[0]
    listed = run(["clients", "list"], tmp_path, clean_database)
    assert listed.returncode == 0, listed.stderr
    [row] = [line.split("\t") for line in listed.stdout.splitlines()]
    assert row[:5] == [client_id, "police", "screening:read", "private_key_jwt", "active"]
    revoked = run(["clients", "revoke", client_id], tmp_path, clean_database)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in run(["clients", "list"], tmp_path, clean_database).stdout.split("\t")[4]
    unknown = run(["clients", "revoke", "nobody"], tmp_path, clean_database)
    assert unknown.returncode != 0
    assert "no client with that client id" in unknown.stderr


def test_clients_create_refuses_a_private_jwk(tmp_path, clean_database, app):
    key_file = tmp_path / "system.jwk"
    key_file.write_text(json.dumps(RSAKey.generate_key(2048).as_dict(private=True)))
    result = run(
        [
            "clients",
            "create",
            "--agency",
            "police",
            "--scopes",
            "screening:read",
            "--jwk",
            str(key_file),
        ],
        tmp_path,
        clean_database,
    )
    assert result.returncode != 0
    assert "private or secret" in result.stderr


# ------------------------------------------------------------------- token refusals


def test_a_token_meant_for_another_audience_is_not_a_token_here(
    client, make_client, rsa_key, clock
):
    """Hub tokens are opaque and only valid at this hub (no audience to confuse); a signed
    JWT access token issued elsewhere, for another audience, is refused like any stranger."""
    now = int(clock.now().timestamp())
    foreign = jwt.encode(
        {"alg": "RS256"},
        {
            "iss": "https://idp.example",
            "aud": "another-api",
            "sub": "x",
            "exp": now + 300,
            "scope": "screening:read",
        },
        rsa_key,
    )
    response = client.get("/api/v1/whoami", headers=bearer(str(foreign)))
    assert response.status_code == 401
    assert response.json["error"] == "invalid_token"
    assert set(response.json) == {"error", "message"}


def test_expired_token_gives_401_in_the_json_shape(client, make_client, clock):
    client_id, secret = make_client()
    token = get_token(client, client_id, secret).json["access_token"]
    clock.advance(timedelta(minutes=5))
    response = client.get("/api/v1/agencies", headers=bearer(token))
    assert response.status_code == 401
    assert response.json == {"error": "invalid_token", "message": "the access token has expired"}


def test_missing_scope_gives_403_in_the_json_shape(client, make_client):
    client_id, secret = make_client("health", frozenset({Scope.REQUESTS_READ}))
    token = get_token(client, client_id, secret).json["access_token"]
    response = client.post("/api/v1/contacts", json={}, headers=bearer(token))
    assert response.status_code == 403
    assert response.json["error"] == "insufficient_scope"
    assert set(response.json) == {"error", "message"}


# --------------------------------------------------------------------- rate limits


@pytest.fixture
def limited_settings(test_db_url, tmp_path):  # type: ignore[no-untyped-def]
    return make_settings(
        test_db_url,
        MASH_APP__INSTANCE_PATH=str(tmp_path / "instance"),
        MASH_API__RATE_LIMIT="3",
        MASH_API__RATE_LIMIT_WINDOW="1 minute",
    )


@pytest.fixture
def limited_app(limited_settings, clock):  # type: ignore[no-untyped-def]
    app = create_app(limited_settings, clock=clock)
    with app.app_context():
        database: Database = app.extensions["mash.db"]
        with database.transaction() as db:
            identity.ensure_agencies(db)
    yield app
    app.extensions["mash.db"].dispose()


def _client_in(app: Flask, scopes=frozenset({Scope.SCREENING_READ})) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with app.app_context():
        database: Database = app.extensions["mash.db"]
        with database.transaction() as db:
            api_client, secret = identity.create_client(db, agency_code="csc", scopes=scopes)
            return api_client.client_id, secret


def test_rate_limit_gives_429_with_retry_after_until_the_window_ends(limited_app, clock):
    client = limited_app.test_client()
    client_id, secret = _client_in(limited_app)
    token = get_token(client, client_id, secret).json["access_token"]
    clock.advance(timedelta(seconds=10))  # 10:00:10, inside the 10:00 window
    for _ in range(3):
        assert client.get("/api/v1/whoami", headers=bearer(token)).status_code == 200
    limited = client.get("/api/v1/whoami", headers=bearer(token))
    assert limited.status_code == 429
    assert limited.json["error"] == "rate_limited"
    assert set(limited.json) == {"error", "message"}
    assert limited.headers["Retry-After"] == "50"
    # Another client has its own allowance.
    other_id, other_secret = _client_in(limited_app)
    other = get_token(client, other_id, other_secret).json["access_token"]
    assert client.get("/api/v1/whoami", headers=bearer(other)).status_code == 200
    clock.advance(timedelta(seconds=50))
    assert client.get("/api/v1/whoami", headers=bearer(token)).status_code == 200


def test_refused_calls_count_too(limited_app):
    client = limited_app.test_client()
    client_id, secret = _client_in(limited_app)
    token = get_token(client, client_id, secret).json["access_token"]
    for _ in range(3):  # 403: screening:read does not allow creating contacts
        assert client.post("/api/v1/contacts", json={}, headers=bearer(token)).status_code == 403
    assert client.get("/api/v1/whoami", headers=bearer(token)).status_code == 429


def test_the_limit_is_shared_by_every_worker(limited_app, limited_settings, clock):
    """Two app instances (as two gunicorn workers) on one database share one count."""
    second_worker = create_app(limited_settings, clock=clock)
    try:
        client_id, secret = _client_in(limited_app)
        first, second = limited_app.test_client(), second_worker.test_client()
        token = get_token(first, client_id, secret).json["access_token"]
        assert first.get("/api/v1/whoami", headers=bearer(token)).status_code == 200
        assert second.get("/api/v1/whoami", headers=bearer(token)).status_code == 200
        assert first.get("/api/v1/whoami", headers=bearer(token)).status_code == 200
        assert second.get("/api/v1/whoami", headers=bearer(token)).status_code == 429
        assert first.get("/api/v1/whoami", headers=bearer(token)).status_code == 429
    finally:
        second_worker.extensions["mash.db"].dispose()


def test_the_assertion_audience_is_the_public_token_url(test_db_url, tmp_path, clock, rsa_key):
    settings = make_settings(test_db_url, MASH_APP__PUBLIC_URL="https://mash.example")
    app = create_app(settings, clock=clock)
    try:
        with app.app_context():
            database: Database = app.extensions["mash.db"]
            with database.transaction() as db:
                identity.ensure_agencies(db)
        client_id = register_key_client(app, rsa_key)
        client = app.test_client()
        # Behind its proxy the hub is https://mash.example; other Hosts are refused.
        hub = "https://mash.example"
        internal = assertion(client_id, rsa_key, clock)  # aud http://localhost/oauth/token
        assert token_with_assertion(client, internal, base_url=hub).status_code == 401
        public = assertion(client_id, rsa_key, clock, aud="https://mash.example/oauth/token")
        assert token_with_assertion(client, public, base_url=hub).status_code == 200
        another = assertion(client_id, rsa_key, clock, aud="https://mash.example/oauth/token")
        assert token_with_assertion(client, another).status_code == 400  # Host: localhost
    finally:
        app.extensions["mash.db"].dispose()


# ------------------------------------------------------- the firewall's 404 for partners


def test_a_partner_reading_another_agencys_request_gets_the_missing_record_404(
    app, client, make_client
):
    """Education's system cannot tell health's request from one that does not exist: the
    same status and byte-identical body, for a read and for an answer; each attempt is a
    refusal in the hub's trail. (On PostgreSQL row-level security already hides the row
    from education's session, so that refusal's reason is not_found there too.)"""
    screening = bearer(
        get_token(
            client, *make_client("csc", frozenset({Scope.SCREENING_READ, Scope.SCREENING_WRITE}))
        ).json["access_token"]
    )
    contact_id = client.post(
        "/api/v1/contacts", json=CONTACT, headers=police_token(client, make_client)
    ).json["id"]
    rated = client.post(
        f"/api/v1/contacts/{contact_id}/rating",
        json={"rag": "red", "rationale": "injury to a baby"},
        headers=screening,
    )
    assert rated.status_code == 200, rated.json
    sent = client.post(
        f"/api/v1/contacts/{contact_id}/requests",
        json={"agency": "health", "question": "Known to the health visitor?"},
        headers=screening,
    )
    assert sent.status_code == 201, sent.json
    health_request = sent.json["id"]
    partner = frozenset({Scope.REQUESTS_READ, Scope.CONTRIBUTIONS_WRITE})
    education = bearer(get_token(client, *make_client("education", partner)).json["access_token"])
    health = bearer(get_token(client, *make_client("health", partner)).json["access_token"])
    assert client.get(f"/api/v1/requests/{health_request}", headers=health).status_code == 200

    other = client.get(f"/api/v1/requests/{health_request}", headers=education)
    missing = client.get(f"/api/v1/requests/{uuid.uuid4()}", headers=education)
    garbage = client.get("/api/v1/requests/not-an-id", headers=education)
    assert other.status_code == missing.status_code == garbage.status_code == 404
    assert other.data == missing.data == garbage.data
    assert set(other.json) == {"error", "message"}
    answer = {"outcome": "not_known"}
    other_answer = client.post(
        f"/api/v1/requests/{health_request}/response", json=answer, headers=education
    )
    missing_answer = client.post(
        f"/api/v1/requests/{uuid.uuid4()}/response", json=answer, headers=education
    )
    assert other_answer.status_code == missing_answer.status_code == 404
    assert other_answer.data == missing_answer.data == other.data
    assert client.get("/api/v1/requests", headers=education).json == {
        "requests": [],
        "next_cursor": None,
    }

    with app.app_context():
        database: Database = app.extensions["mash.db"]
        with database.transaction() as db:
            refusals = db.scalars(
                select(AuditEvent).where(
                    AuditEvent.agency == "education", AuditEvent.decision == "deny"
                )
            ).all()
    assert [e.action for e in refusals if e.object_id == health_request] == [
        "request:read",
        "request:answer",
    ]
    assert sum(e.reason == "not_found" for e in refusals) >= 3


def police_token(client, make_client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    pair = make_client("police", frozenset({Scope.CONTACTS_WRITE}))
    return bearer(get_token(client, *pair).json["access_token"])
