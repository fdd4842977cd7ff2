"""Every endpoint declared; anonymous probes refused; headers on every answer; CSRF."""

from __future__ import annotations

import re

import pytest
from flask import Blueprint

from mash_hub import create_app
from mash_hub.authz import UndeclaredEndpointError, public
from mash_hub.authz.gate import declared_permission, is_public
from mash_hub.authz.permissions import Role
from tests.helpers import csrf_token, sign_in

PUBLIC_ENDPOINTS = {
    "static",
    "identity.sign_in",
    "identity.security_code",
    "identity.enrol",
    "identity.sign_out",
    "identity.oidc_start",
    "identity.oidc_callback",
    "oauth.issue_token",
    "api.openapi",
    "operations.healthz",
    "operations.readyz",
    "metrics.metrics",  # no session: checked against [metrics] token itself
    "home.accessibility",  # the footer's statements: no case data
    "home.privacy",
}


def test_every_endpoint_declares_a_permission_or_public(app):
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        assert is_public(view) or declared_permission(view) is not None, rule.endpoint
        # Public is the exception, and each one is listed here on purpose.
        if is_public(view):
            assert rule.endpoint in PUBLIC_ENDPOINTS, f"{rule.endpoint} is unexpectedly public"


def test_an_undeclared_endpoint_stops_the_app_from_being_created(settings, monkeypatch):
    from mash_hub.home import views as home_views

    original = home_views.init_app
    stray = Blueprint("stray", __name__)

    @stray.route("/forgotten")
    def forgotten() -> str:
        return "nobody checked me"

    def init_with_stray(app):
        original(app)
        app.register_blueprint(stray)

    monkeypatch.setattr(home_views, "init_app", init_with_stray)
    with pytest.raises(UndeclaredEndpointError, match="stray.forgotten"):
        create_app(settings)


def test_anonymous_probe_of_every_rule_and_method_is_refused(app, client):
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if is_public(view):
            continue
        path = re.sub(r"<[^>]+>", "x", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method)
            if path.startswith("/api/"):
                assert response.status_code == 401, (method, path)
                assert response.json["error"] == "invalid_token"
            else:
                assert response.status_code in (302, 400), (method, path)
                if response.status_code == 302:
                    assert response.headers["Location"].endswith("/sign-in")


def test_a_role_without_the_permission_gets_403(client, make_account, clock):
    sign_in(client, make_account(Role.SCREENER), clock)
    response = client.get("/admin/users")
    assert response.status_code == 403
    assert "You do not have permission" in response.text


def test_admin_sees_the_users_list(client, make_account, clock):
    admin = make_account(Role.ADMIN)
    sign_in(client, admin, clock)
    response = client.get("/admin/users")
    assert response.status_code == 200
    assert admin.email in response.text


def _assert_security_headers(response):
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert re.search(r"script-src 'self' 'nonce-[A-Za-z0-9_-]{20,}'", csp)
    assert "object-src 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response.headers["Cache-Control"] == "no-store"
    assert "Server" not in response.headers
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"])


def test_headers_on_a_page(client):
    response = client.get("/sign-in")
    assert response.status_code == 200
    _assert_security_headers(response)
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    assert f'nonce="{nonce}"' in response.text  # the inline script carries this request's nonce


def test_headers_and_correlation_id_on_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    _assert_security_headers(response)
    assert response.headers["X-Request-Id"] in response.text
    api = client.get("/api/v1/nothing-here")
    assert api.status_code == 404
    assert api.json == {"error": "not_found", "message": "no such record"}
    _assert_security_headers(api)


def test_headers_and_correlation_id_on_500_without_a_trace(app, client):
    @public
    def explode() -> str:
        raise RuntimeError("secret internals: Traceback")

    app.add_url_rule("/explode", view_func=explode)
    response = client.get("/explode")
    assert response.status_code == 500
    _assert_security_headers(response)
    assert response.headers["X-Request-Id"] in response.text
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    assert "Sorry, there is a problem with the service" in response.text


def test_signed_in_pages_are_not_cached(client, make_account, clock):
    sign_in(client, make_account(), clock)
    response = client.get("/")
    assert response.headers["Cache-Control"] == "no-store"


def test_missing_csrf_token_gives_400_and_changes_nothing(client, make_account, clock):
    account = make_account()
    response = client.post("/sign-in", data={"email": account.email, "password": account.password})
    assert response.status_code == 400
    assert "Your form could not be sent" in response.text
    _assert_security_headers(response)
    sign_in(client, account, clock)
    response = client.post("/sign-out")
    assert response.status_code == 400
    assert client.get("/").status_code == 200  # still signed in: the forged sign-out failed


def test_wrong_csrf_token_gives_400(client):
    page = client.get("/sign-in")
    token = csrf_token(page.text)
    response = client.post(
        "/sign-in", data={"email": "a@b.test", "password": "x" * 10, "csrf_token": token[::-1]}
    )
    assert response.status_code == 400


def test_unknown_method_gives_405(client):
    response = client.delete("/sign-in")
    assert response.status_code == 405
    _assert_security_headers(response)
