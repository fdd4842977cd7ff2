"""Sign-in and token issuance under attack (security review V5, rows 173-175, 259, 261).

On dc1dfa7 ten wrong passwords from anyone locked the account for everyone, repeatably;
a spray of random emails from one address had every attempt hashed (argon2, 64 MiB),
slowing the API forty times; and a client could be issued tokens without limit."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mash_hub import create_app
from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role, Scope
from mash_hub.identity import services as identity
from tests.helpers import TOTP_STEP, csrf_token, current_code, sign_in, submit_code
from tests.served import run_command

WRONG = "not the password at all"
HELD_BY_NETWORK = "too many attempts to sign in from your network"
HELD_FOR_ACCOUNT = "too many attempts to sign in to this account"


def from_address(app, address: str) -> FlaskClient:
    """A browser at this address (a fresh cookie jar)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def attempt(client: FlaskClient, email: str, password: str):
    """What a browser does: the sign-in page, then the form posted; an address held back
    is turned away at the page already."""
    page = client.get("/sign-in")
    if page.status_code == 429:
        return page
    return client.post(
        "/sign-in", data={"email": email, "password": password, "csrf_token": csrf_token(page.text)}
    )


@pytest.fixture
def hashes(monkeypatch) -> list[int]:
    """How many passwords were hashed (each an argon2 run)."""
    seen: list[int] = []
    hasher = identity.password_hasher

    def counted():
        seen.append(1)
        return hasher()

    monkeypatch.setattr(identity, "password_hasher", counted)
    return seen


def _held(response, words: str) -> int:
    assert response.status_code == 429, response.status_code
    assert words in response.text
    assert "govuk-error-summary" in response.text
    return int(response.headers["Retry-After"])


def test_a_stranger_elsewhere_cannot_keep_the_person_out(app, make_account, clock):
    """Row 174: ten wrong passwords by anyone who knows the email refused the real user."""
    account = make_account()
    stranger = from_address(app, "203.0.113.66")
    for _ in range(12):
        attempt(stranger, account.email, WRONG)
    assert _held(attempt(stranger, account.email, WRONG), HELD_FOR_ACCOUNT) > 0
    person = from_address(app, "198.51.100.7")
    sign_in(person, account, clock)
    assert person.get("/").status_code == 200


def test_a_spray_from_one_address_is_held_back_before_any_hashing(app, clock, hashes):
    """Row 261: 38 attempts with random emails, all hashed and answered 200."""
    sprayer = from_address(app, "203.0.113.9")
    for n in range(10):
        response = attempt(sprayer, f"guess{n}@example.test", WRONG)
        assert response.status_code == 200
    assert len(hashes) == 10
    for n in range(20):
        retry = _held(attempt(sprayer, f"more{n}@example.test", WRONG), HELD_BY_NETWORK)
        assert 0 < retry <= 60
    assert len(hashes) == 10  # nothing hashed for the twenty held back
    # Someone at another address is not affected; the sprayer is, until the window passes.
    assert attempt(from_address(app, "198.51.100.1"), "a@b.test", WRONG).status_code == 200
    clock.advance(timedelta(seconds=61))
    assert attempt(sprayer, "again@example.test", WRONG).status_code == 200


def test_delays_for_one_account_from_one_address_double_and_stop_growing(app, make_account, clock):
    account = make_account()
    guesser = from_address(app, "203.0.113.20")
    for _ in range(5):
        assert "Enter a correct email" in attempt(guesser, account.email, WRONG).text
    waits = []
    for _ in range(7):
        retry = _held(attempt(guesser, account.email, account.password), HELD_FOR_ACCOUNT)
        waits.append(retry)
        clock.advance(timedelta(seconds=retry))
        attempt(guesser, account.email, WRONG)  # allowed again: one more failure
    assert waits == [30, 60, 120, 240, 480, 900, 900]


def test_many_addresses_against_one_account_hold_back_only_unfamiliar_places(
    app, make_account, clock
):
    account = make_account(Role.SCREENER, "health")
    lead = make_account(Role.GOVERNANCE_LEAD, "health")
    home = from_address(app, "198.51.100.50")
    sign_in(home, account, clock)  # the person's usual address
    for n in range(20):
        attempt(from_address(app, f"203.0.113.{n + 1}"), account.email, WRONG)
    newcomer = from_address(app, "203.0.113.200")
    _held(attempt(newcomer, account.email, account.password), HELD_FOR_ACCOUNT)
    again = from_address(app, "198.51.100.50")
    sign_in(again, account, clock)
    page = again.get("/").text
    assert "Since you last signed in, there were 20 failed attempts" in page
    # Their governance lead is told in the hub, once.
    lead_client = from_address(app, "198.51.100.60")
    sign_in(lead_client, lead, clock)
    lead_home = lead_client.get("/").text
    assert "Accounts held back" in lead_home
    assert "Many failed sign-ins to their account from elsewhere" in lead_home
    assert lead_home.count("Many failed sign-ins") == 1


def test_the_security_code_step_is_held_back_too(app, make_account, clock):
    account = make_account()
    browser = from_address(app, "203.0.113.30")
    assert attempt(browser, account.email, account.password).status_code == 302
    for _ in range(5):
        assert "security code is not correct" in submit_code(browser, "000000").text
    held = submit_code(browser, current_code(account.seed, clock))
    _held(held, HELD_FOR_ACCOUNT)
    assert browser.get("/").status_code == 302


def test_unlock_lets_the_person_in_at_once(app, make_account, clock, settings, tmp_path):
    account = make_account()
    browser = from_address(app, "203.0.113.40")
    for _ in range(8):
        attempt(browser, account.email, WRONG)
    _held(attempt(browser, account.email, account.password), HELD_FOR_ACCOUNT)
    output = run_command(tmp_path, settings.database.url, "users", "unlock", account.email)
    assert "5 failed attempt(s) forgotten" in output  # the rest were held back
    clock.advance(TOTP_STEP)
    sign_in(browser, account, clock)
    with app.extensions["mash.db"].transaction() as db:
        unlocked = db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.kind == "user.unlocked", AuditEvent.object_id == str(account.user_id))
        )
    assert unlocked == 1


def test_the_counts_are_shared_by_every_worker(app, settings, clock, make_account):
    account = make_account()
    other_worker = create_app(settings, clock=clock)
    try:
        for n in range(5):
            attempt(from_address(app, "203.0.113.50"), account.email, f"{WRONG} {n}")
        held = attempt(from_address(other_worker, "203.0.113.50"), account.email, account.password)
        _held(held, HELD_FOR_ACCOUNT)
    finally:
        other_worker.extensions["mash.db"].dispose()


def test_a_flood_held_back_is_audited_once_per_window(app, clock):
    sprayer = from_address(app, "203.0.113.60")
    for n in range(40):
        attempt(sprayer, f"flood{n}@example.test", WRONG)
    with app.extensions["mash.db"].transaction() as db:
        held = db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.kind == "sign_in.held_back")
        )
        refused = db.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.kind == "sign_in.refused")
        )
    assert (held, refused) == (1, 10)


def test_a_client_is_issued_a_bounded_number_of_tokens(app, client, clock, make_client):
    """Row 259: 60 of 60 tokens were issued back to back, each a stored row."""
    client_id, secret = make_client("health", frozenset({Scope.REQUESTS_READ}))

    def ask():
        return client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )

    assert all(ask().status_code == 200 for _ in range(30))
    held = ask()
    assert held.status_code == 429
    assert held.json["error"] == "rate_limited"
    assert 0 < int(held.headers["Retry-After"]) <= 60
    clock.advance(timedelta(seconds=61))
    assert ask().status_code == 200


def test_failed_client_authentication_holds_back_the_address(app, make_client):
    client_id, secret = make_client("health", frozenset({Scope.REQUESTS_READ}))
    guesser = from_address(app, "203.0.113.70")
    for _ in range(10):
        wrong = guesser.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, uuid.uuid4().hex),
        )
        assert wrong.status_code == 401
    held = guesser.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert held.status_code == 429 and "Retry-After" in held.headers
    # The client's own system, elsewhere, is not held back.
    own = from_address(app, "198.51.100.70").post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert own.status_code == 200
