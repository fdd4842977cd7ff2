"""Signing in: password then TOTP, enrolment, lockout, and what a bad input gets."""

from __future__ import annotations

import base64
import re

from mash_hub.authz.permissions import Role
from tests.helpers import (
    csrf_token,
    current_code,
    sign_in,
    submit_code,
    submit_password,
)

CSRF_OR_NONCE = re.compile(r'(value|nonce)="[^"]+"')


def test_password_and_code_reach_the_role_home_page(client, make_account, clock):
    account = make_account(Role.SCREENER, "police")
    sign_in(client, account, clock)
    home = client.get("/")
    assert home.status_code == 200
    assert "Screening queue" in home.text
    assert "Police (Public Protection Desk)" in home.text


def test_each_role_lands_on_its_own_home_section(client, make_account, clock):
    expectations = {
        Role.MASH_MANAGER: ("csc", "Decisions to sign off"),
        Role.AGENCY_RESEARCHER: ("health", "Information requests for Health"),
        Role.GOVERNANCE_LEAD: ("education", "Emergency access to review"),
        Role.ADMIN: ("csc", "Accounts by agency"),
    }
    for role, (agency, heading) in expectations.items():
        account = make_account(role, agency)
        sign_in(client, account, clock)
        home = client.get("/")
        assert heading in home.text, role
        client.post("/sign-out", data={"csrf_token": csrf_token(home.text)})


def test_a_password_alone_never_reaches_a_role_page(client, make_account):
    account = make_account(Role.SCREENER)
    response = submit_password(client, account.email, account.password)
    assert response.headers["Location"].endswith("/sign-in/security-code")
    for path in ("/", "/admin/users"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/sign-in")


def test_wrong_code_is_refused_with_a_field_error(client, make_account):
    account = make_account()
    submit_password(client, account.email, account.password)
    response = submit_code(client, "000000")
    assert response.status_code == 200
    assert "govuk-error-summary" in response.text
    assert "security code is not correct" in response.text
    assert client.get("/").status_code == 302


def test_a_code_is_accepted_only_once(app, make_account, clock):
    account = make_account()
    code = current_code(account.seed, clock)
    first = app.test_client()
    submit_password(first, account.email, account.password)
    assert submit_code(first, code).status_code == 302
    second = app.test_client()
    submit_password(second, account.email, account.password)
    replay = submit_code(second, code)
    assert replay.status_code == 200
    assert "already been used" in replay.text
    assert second.get("/").status_code == 302


def test_first_sign_in_enrols_an_authenticator(client, make_account, clock, app):
    account = make_account(Role.AGENCY_RESEARCHER, "health", enrolled=False)
    response = submit_password(client, account.email, account.password)
    assert response.headers["Location"].endswith("/sign-in/set-up-authenticator")
    page = client.get("/sign-in/set-up-authenticator")
    assert "<svg" in page.text  # the QR code
    secret_text = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text).group(1)
    raw = secret_text.replace(" ", "")
    seed = base64.b32decode(raw + "=" * (-len(raw) % 8))
    # The key shown must match the QR code's otpauth URI and produce working codes.
    response = client.post(
        "/sign-in/set-up-authenticator",
        data={"code": current_code(seed, clock), "csrf_token": csrf_token(page.text)},
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_enrolment_page_needs_the_password_step_first(client):
    assert client.get("/sign-in/set-up-authenticator").headers["Location"].endswith("/sign-in")
    assert client.get("/sign-in/security-code").headers["Location"].endswith("/sign-in")


def test_unknown_user_and_wrong_password_get_the_same_answer(client, make_account):
    account = make_account()
    wrong_password = submit_password(client, account.email, "not the password at all")
    unknown_user = submit_password(client, "nobody@example.test", "not the password at all")
    assert wrong_password.status_code == unknown_user.status_code == 200
    assert "Enter a correct email address and password" in wrong_password.text
    strip = lambda html: CSRF_OR_NONCE.sub("", html).replace(  # noqa: E731
        account.email, "nobody@example.test"
    )
    assert strip(wrong_password.text) == strip(unknown_user.text)


def test_overlong_and_malformed_input_gets_field_errors_not_500(client):
    page = client.get("/sign-in")
    huge = "a" * 100_000
    cases = [
        ({"email": huge + "@example.test", "password": "x"}, "254 characters or fewer"),
        ({"email": "someone@example.test", "password": huge}, "128 characters or fewer"),
        ({"email": "not-an-email", "password": "whatever"}, "like name@example.org"),
        ({"email": "", "password": ""}, "Enter your email address"),
        ({"email": "\x00@\x00", "password": "\x00"}, "There is a problem"),
    ]
    for data, message in cases:
        response = client.post("/sign-in", data={**data, "csrf_token": csrf_token(page.text)})
        assert response.status_code == 200, data
        assert "govuk-error-summary" in response.text
        assert message in response.text


def test_code_field_rejects_non_digits(client, make_account):
    account = make_account()
    submit_password(client, account.email, account.password)
    response = submit_code(client, "12ab56")
    assert "The security code is 6 digits" in response.text


def test_session_is_renewed_at_sign_in(client, make_account, clock):
    account = make_account()
    client.get("/sign-in")
    before = client.get_cookie("mash_session").value
    sign_in(client, account, clock)
    after = client.get_cookie("mash_session").value
    assert before != after
