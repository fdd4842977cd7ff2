"""Server-side sessions: idle and absolute expiry, sign-out, disabled users, cookies."""

from __future__ import annotations

from datetime import timedelta

from mash_hub.authz.permissions import Role
from mash_hub.db import Database
from mash_hub.identity import services as identity
from tests.helpers import sign_in, sign_out


def test_idle_session_expires_after_fifteen_minutes(client, make_account, clock):
    sign_in(client, make_account(), clock)
    clock.advance(timedelta(minutes=14))
    assert client.get("/").status_code == 200  # activity renews the idle timer
    clock.advance(timedelta(minutes=14))
    assert client.get("/").status_code == 200
    clock.advance(timedelta(minutes=15, seconds=1))
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/sign-in")
    page = client.get("/sign-in")
    assert "You were signed out because you had not used MASH Hub for a while" in page.text


def test_session_ends_after_twelve_hours_however_active(client, make_account, clock):
    sign_in(client, make_account(), clock)
    for _ in range(12 * 6):
        clock.advance(timedelta(minutes=10))
        if client.get("/").status_code != 200:
            break
    assert client.get("/").status_code == 302


def test_idle_and_absolute_limits_are_configurable(settings, tmp_path, clock, app):
    from mash_hub import create_app
    from tests.conftest import make_settings
    from tests.helpers import csrf_token, current_code

    short = make_settings(
        settings.database.url,
        MASH_SESSION__IDLE_TIMEOUT="2 minutes",
        MASH_APP__INSTANCE_PATH=str(tmp_path / "other"),
    )
    short_app = create_app(short, clock=clock)
    with short_app.app_context():
        database: Database = short_app.extensions["mash.db"]
        with database.transaction() as db:
            user = identity.create_user(
                db,
                email="short@example.test",
                display_name="Short",
                agency_code="csc",
                roles=frozenset({Role.SCREENER}),
                password="correct horse battery staple",
                totp_seed=b"0" * 20,
            )
            assert user.id
    web = short_app.test_client()
    page = web.get("/sign-in")
    web.post(
        "/sign-in",
        data={
            "email": "short@example.test",
            "password": "correct horse battery staple",
            "csrf_token": csrf_token(page.text),
        },
    )
    page = web.get("/sign-in/security-code")
    web.post(
        "/sign-in/security-code",
        data={"code": current_code(b"0" * 20, clock), "csrf_token": csrf_token(page.text)},
    )
    assert web.get("/").status_code == 200
    clock.advance(timedelta(minutes=2, seconds=1))
    assert web.get("/").status_code == 302
    short_app.extensions["mash.db"].dispose()


def test_sign_out_kills_the_server_session_and_clears_site_data(client, make_account, clock):
    sign_in(client, make_account(), clock)
    cookie = client.get_cookie("mash_session").value
    response = sign_out(client)
    assert response.status_code == 200
    assert response.headers["Clear-Site-Data"] == '"cache", "cookies", "storage"'
    assert "You have signed out" in response.text
    # A copy of the old cookie, replayed, lands on the sign-in page.
    client.set_cookie("mash_session", cookie)
    replay = client.get("/")
    assert replay.status_code == 302
    assert replay.headers["Location"].endswith("/sign-in")


def test_disabling_a_user_ends_their_sessions_on_the_next_request(app, client, make_account, clock):
    account = make_account(Role.SCREENER)
    sign_in(client, account, clock)
    assert client.get("/").status_code == 200
    with app.app_context():
        database: Database = app.extensions["mash.db"]
        with database.transaction() as db:
            identity.disable_user(db, account.email)
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/sign-in")


def test_disabled_user_cannot_sign_in_and_gets_the_generic_answer(app, client, make_account):
    from tests.helpers import submit_password

    account = make_account()
    with app.app_context():
        database: Database = app.extensions["mash.db"]
        with database.transaction() as db:
            identity.disable_user(db, account.email)
    response = submit_password(client, account.email, account.password)
    assert "Enter a correct email address and password" in response.text


def test_session_cookie_flags(client):
    response = client.get("/sign-in")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/" in cookie


def test_production_cookie_is_secure_with_host_prefix(test_db_url, tmp_path):
    import base64
    import os

    from mash_hub import create_app
    from tests.conftest import make_settings

    settings = make_settings(
        test_db_url,
        MASH_APP__MODE="production",
        MASH_APP__PUBLIC_URL="https://hub.example.test",
        MASH_APP__SECRET_KEY="x" * 48,
        MASH_KEYS__MASTER_KEY=base64.b64encode(os.urandom(32)).decode(),
        MASH_APP__INSTANCE_PATH=str(tmp_path),
    )
    prod = create_app(settings)
    response = prod.test_client().get("/sign-in", base_url="https://hub.example.test")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-mash_session=")
    assert "Secure" in cookie
    prod.extensions["mash.db"].dispose()


def test_a_request_racing_a_sign_in_does_not_wipe_the_new_cookie(app, make_account, clock):
    """A browser's parallel request (a favicon, say) may still carry the pre-sign-in cookie."""
    web = app.test_client()
    web.get("/sign-in")
    stale = web.get_cookie("mash_session").value
    sign_in(web, make_account(), clock)
    racer = app.test_client()
    racer.set_cookie("mash_session", stale)
    response = racer.get("/no-such-page")
    assert response.status_code == 404
    assert "mash_session" not in response.headers.get("Set-Cookie", "")
    assert web.get("/").status_code == 200
