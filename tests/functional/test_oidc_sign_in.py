"""Sign-in with an agency identity provider: an Authlib provider on 127.0.0.1 in a thread."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mash_hub import create_app
from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role
from mash_hub.clock import FrozenClock
from mash_hub.config import load_settings
from mash_hub.db import Database
from mash_hub.identity import services as identity
from mash_hub.identity.models import OidcIdentity, User
from tests.conftest import TEST_ENV
from tests.identity_provider import CLIENT_ID, CLIENT_SECRET, TestIdentityProvider

CALLBACK = "http://localhost/sign-in/oidc/police/callback"


@pytest.fixture
def provider(clock: FrozenClock) -> Iterator[TestIdentityProvider]:
    idp = TestIdentityProvider(clock, [CALLBACK])
    idp.start()
    yield idp
    idp.stop()


@pytest.fixture
def app(test_db_url: str, tmp_path: Path, clock: FrozenClock, provider: TestIdentityProvider):
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[oidc.providers.police]
display_name = "Police account"
issuer = "{provider.issuer}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
scopes = ["openid", "profile", "email", "groups"]
agency = "police"
mfa_amr = ["mfa", "otp"]
mfa_acr = ["urn:police:loa:mfa"]
algorithms = ["RS256"]

[oidc.providers.police.group_roles]
"MASH-PPD-Screeners" = "screener"
"MASH-PPD-Governance" = "governance_lead"
"""
    )
    env = {
        **TEST_ENV,
        "MASH_DATABASE__URL": test_db_url,
        "MASH_APP__INSTANCE_PATH": str(tmp_path / "instance"),
    }
    app = create_app(load_settings(config, env), clock=clock)
    with app.app_context():
        database: Database = app.extensions["mash.db"]
        with database.transaction() as db:
            identity.ensure_agencies(db)
    yield app
    app.extensions["mash.db"].dispose()


def sign_in_at_provider(client: FlaskClient, provider: TestIdentityProvider):  # type: ignore[no-untyped-def]
    """Start at the hub, approve at the provider, come back: the hub's final answer."""
    start = client.get("/sign-in/oidc/police")
    assert start.status_code == 302
    at_provider = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302, at_provider.text
    back = at_provider.headers["Location"]
    assert back.startswith(CALLBACK)
    return client.get(back.removeprefix("http://localhost"))


def refusals(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        database: Database = app.extensions["mash.db"]
        with database.transaction() as db:
            events = list(
                db.scalars(select(AuditEvent).where(AuditEvent.kind == "sign_in.oidc_refused"))
            )
            db.expunge_all()
    return events


def users(app: Flask) -> list[User]:
    with app.app_context():
        database: Database = app.extensions["mash.db"]
        with database.transaction() as db:
            found = list(db.scalars(select(User)))
            for user in found:
                _ = user.roles, user.agency.code
            db.expunge_all()
    return found


def assert_refused(app, response, reason: str, capsys, words: str = "could not confirm"):  # type: ignore[no-untyped-def]
    assert response.status_code == 403
    assert "You cannot sign in to MASH Hub" in response.text
    assert words in response.text
    assert [e.reason for e in refusals(app)] == [reason]
    assert refusals(app)[0].decision == "deny"
    assert refusals(app)[0].agency == "police"
    logged = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    assert any(
        line["event"] == "oidc_sign_in_refused" and line["reason"] == reason for line in logged
    )


def test_sign_in_page_offers_the_provider(client):
    page = client.get("/sign-in")
    assert "Sign in with Police account" in page.text
    assert 'href="/sign-in/oidc/police"' in page.text


def test_first_sign_in_creates_the_account_with_the_mapped_role_and_agency(client, app, provider):
    response = sign_in_at_provider(client, provider)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "Ada Jones" in home.text
    # PKCE with S256 and a nonce went to the provider.
    sent = provider.authorize_requests[-1]
    assert sent["code_challenge_method"] == "S256"
    assert sent["code_challenge"] and sent["nonce"] and sent["state"]
    [user] = users(app)
    assert user.email == "ada.jones@police.example"
    assert user.roles == frozenset({Role.SCREENER})
    assert user.agency.code == "police"
    assert user.totp_enrolled_at is None
    # No password was set, so the password form never signs this account in.
    with app.app_context():
        database: Database = app.extensions["mash.db"]
        with database.transaction() as db:
            assert identity.verify_password(db, user.email, "!oidc-no-password") is None
            kinds = [e.reason for e in db.scalars(select(AuditEvent))]
    assert "account_created" in kinds


def test_second_sign_in_finds_the_same_person_by_issuer_and_subject(client, app, provider, clock):
    assert sign_in_at_provider(client, provider).status_code == 302
    other = app.test_client()
    provider.person.email = "ada.smith@police.example"
    provider.person.groups = ["MASH-PPD-Governance"]
    assert sign_in_at_provider(other, provider).status_code == 302
    [user] = users(app)
    assert user.email == "ada.smith@police.example"
    assert user.roles == frozenset({Role.GOVERNANCE_LEAD})
    with app.app_context():
        database: Database = app.extensions["mash.db"]
        with database.transaction() as db:
            assert db.scalar(select(OidcIdentity.subject)) == "officer-0001"


def test_same_email_with_another_subject_is_not_the_same_person(client, app, provider):
    assert sign_in_at_provider(client, provider).status_code == 302
    provider.person.sub = "someone-else"
    response = sign_in_at_provider(app.test_client(), provider)
    assert response.status_code == 403
    assert len(users(app)) == 1
    assert [e.reason for e in refusals(app)] == ["email_in_use"]


def test_tampered_state_is_refused(client, app, provider, capsys):
    start = client.get("/sign-in/oidc/police")
    at_provider = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    back = urlsplit(at_provider.headers["Location"])
    code = parse_qs(back.query)["code"][0]
    response = client.get(f"{back.path}?code={code}&state=forged-state")
    assert_refused(app, response, "state_mismatch", capsys)
    assert users(app) == []
    assert client.get("/").status_code == 302  # not signed in


def test_wrong_nonce_is_refused(client, app, provider, capsys):
    provider.tamper = lambda header, claims: claims.update(nonce="not-the-nonce-we-sent")
    assert_refused(app, sign_in_at_provider(client, provider), "nonce_mismatch", capsys)
    assert users(app) == []


def test_unsigned_alg_none_id_token_is_refused(client, app, provider, capsys):
    provider.unsigned = True
    assert_refused(app, sign_in_at_provider(client, provider), "unexpected_algorithm", capsys)
    assert users(app) == []


def test_hmac_signed_id_token_is_refused(client, app, provider, capsys):
    """Signed with the client secret (which the hub also knows): not an algorithm allowed."""
    provider.hs256_secret = CLIENT_SECRET
    assert_refused(app, sign_in_at_provider(client, provider), "unexpected_algorithm", capsys)
    assert users(app) == []


def test_an_expired_sign_in_state_is_refused(client, app, provider, capsys, monkeypatch):
    import time

    start = client.get("/sign-in/oidc/police")
    at_provider = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    real = time.time()
    monkeypatch.setattr(time, "time", lambda: real + 3601)  # Authlib's state lasts an hour
    response = client.get(at_provider.headers["Location"].removeprefix("http://localhost"))
    monkeypatch.undo()
    assert_refused(app, response, "state_expired", capsys)


def test_id_token_signed_by_another_key_is_refused(client, app, provider, capsys):
    from joserfc.jwk import RSAKey

    # Same key id as the published key, but a stranger's private key signs.
    provider.signing_key = RSAKey.generate_key(2048, parameters={"kid": "test-key-1"})
    assert_refused(app, sign_in_at_provider(client, provider), "bad_signature", capsys)
    assert users(app) == []


def test_sign_in_without_mfa_evidence_is_refused_with_a_clear_page(client, app, provider, capsys):
    provider.person.amr = ["pwd"]
    response = sign_in_at_provider(client, provider)
    assert_refused(app, response, "no_mfa_evidence", capsys, words="second factor")
    assert users(app) == []


def test_acr_in_the_configured_list_is_mfa_evidence(client, app, provider):
    provider.person.amr = None
    provider.person.acr = "urn:police:loa:mfa"
    assert sign_in_at_provider(client, provider).status_code == 302


def test_unmapped_group_creates_no_account(client, app, provider, capsys):
    provider.person.groups = ["Everyone", "Traffic"]
    response = sign_in_at_provider(client, provider)
    assert_refused(app, response, "no_mapped_group", capsys, words="not in a group")
    assert users(app) == []


def test_wrong_audience_is_refused(client, app, provider, capsys):
    provider.tamper = lambda header, claims: claims.update(aud=["another-service"])
    assert_refused(app, sign_in_at_provider(client, provider), "wrong_audience", capsys)


def test_wrong_issuer_is_refused(client, app, provider, capsys):
    provider.tamper = lambda header, claims: claims.update(iss="https://evil.example")
    assert_refused(app, sign_in_at_provider(client, provider), "wrong_issuer", capsys)


def test_expired_id_token_is_refused(client, app, provider, capsys):
    def expire(header: dict, claims: dict) -> None:
        claims.update(iat=claims["iat"] - 3600, exp=claims["iat"] - 600)

    provider.tamper = expire
    assert_refused(app, sign_in_at_provider(client, provider), "id_token_expired", capsys)


def test_disabled_account_cannot_come_back_through_the_provider(client, app, provider, capsys):
    assert sign_in_at_provider(client, provider).status_code == 302
    with app.app_context():
        database: Database = app.extensions["mash.db"]
        with database.transaction() as db:
            identity.disable_user(db, "ada.jones@police.example")
    capsys.readouterr()
    response = sign_in_at_provider(app.test_client(), provider)
    assert_refused(app, response, "account_disabled", capsys, words="disabled")


def test_unknown_provider_is_not_found(client):
    assert client.get("/sign-in/oidc/nobody").status_code == 404
    assert client.get("/sign-in/oidc/nobody/callback?state=x&code=y").status_code == 404


def test_a_callback_works_once(client, app, provider):
    start = client.get("/sign-in/oidc/police")
    at_provider = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    back = at_provider.headers["Location"].removeprefix("http://localhost")
    assert client.get(back).status_code == 302
    replayed = app.test_client().get(back)  # someone else's browser, same code and state
    assert replayed.status_code == 403
    assert [e.reason for e in refusals(app)] == ["state_mismatch"]


def test_a_forged_code_is_refused_by_the_provider_and_here(client, app, provider, capsys):
    start = client.get("/sign-in/oidc/police")
    at_provider = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    back = urlsplit(at_provider.headers["Location"])
    state = parse_qs(back.query)["state"][0]
    response = client.get(f"{back.path}?code=made-up-code&state={state}")
    assert_refused(app, response, "token_exchange_failed", capsys)


def test_the_redirect_uri_uses_the_public_url(test_db_url, tmp_path, clock, provider):
    from tests.conftest import make_settings

    settings = make_settings(
        test_db_url,
        MASH_APP__PUBLIC_URL="https://mash.example",
        MASH_OIDC__PROVIDERS__POLICE__ISSUER=provider.issuer,
        MASH_OIDC__PROVIDERS__POLICE__CLIENT_ID=CLIENT_ID,
        MASH_OIDC__PROVIDERS__POLICE__CLIENT_SECRET=CLIENT_SECRET,
        MASH_OIDC__PROVIDERS__POLICE__AGENCY="police",
        MASH_OIDC__PROVIDERS__POLICE__GROUP_ROLES__SCREENERS="screener",
    )
    app = create_app(settings, clock=clock)
    try:
        start = app.test_client().get("/sign-in/oidc/police", base_url="https://mash.example")
        sent = parse_qs(urlsplit(start.headers["Location"]).query)
        assert sent["redirect_uri"] == ["https://mash.example/sign-in/oidc/police/callback"]
    finally:
        app.extensions["mash.db"].dispose()
