"""Helpers for tests: sign in through the real forms, as a browser would."""

from __future__ import annotations

import re
from datetime import timedelta

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mash_hub.clock import FrozenClock
from mash_hub.identity import services as identity
from tests.accounts import Account

TOTP_STEP = timedelta(seconds=identity.TOTP_STEP_SECONDS)
CSRF_RE = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def current_code(seed: bytes, clock: FrozenClock) -> str:
    return identity.totp_code(seed, clock.now())


def submit_password(client: FlaskClient, email: str, password: str) -> TestResponse:
    page = client.get("/sign-in")
    return client.post(
        "/sign-in",
        data={"email": email, "password": password, "csrf_token": csrf_token(page.text)},
    )


def submit_code(
    client: FlaskClient, code: str, path: str = "/sign-in/security-code"
) -> TestResponse:
    page = client.get(path)
    return client.post(path, data={"code": code, "csrf_token": csrf_token(page.text)})


def sign_in(client: FlaskClient, account: Account, clock: FrozenClock) -> None:
    """Password, then a fresh TOTP code; then the clock moves past that code's time step."""
    assert account.seed is not None
    response = submit_password(client, account.email, account.password)
    assert response.status_code == 302, response.text
    assert response.headers["Location"].endswith("/sign-in/security-code")
    response = submit_code(client, current_code(account.seed, clock))
    assert response.status_code == 302, response.text
    assert response.headers["Location"] == "/"
    clock.advance(TOTP_STEP)


def sign_out(client: FlaskClient) -> TestResponse:
    home = client.get("/")
    return client.post("/sign-out", data={"csrf_token": csrf_token(home.text)})
