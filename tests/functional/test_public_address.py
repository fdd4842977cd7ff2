"""The hub's own address comes from configuration, never from the Host a caller sends
(security review V3): the private_key_jwt audience, redirect URIs and links."""

from __future__ import annotations

import base64
import os

import pytest

from mash_hub import create_app
from mash_hub.config import ConfigError, load_settings
from tests.functional.test_api_clients import (
    ASSERTION_TYPE,
    assertion,
    register_key_client,
    rsa_key,  # noqa: F401 - a fixture
)


def test_an_assertion_signed_for_another_server_is_refused_whatever_the_host(
    app,
    clock,
    rsa_key,  # noqa: F811
):
    """On dc1dfa7, naming the other server in Host made its audience the hub's own."""
    client_id = register_key_client(app, rsa_key)
    other = "http://127.0.0.9:8443/oauth/token"
    signed = assertion(client_id, rsa_key, clock, aud=other)
    answer = app.test_client().post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed,
        },
        headers={"Host": "127.0.0.9:8443"},
    )
    assert answer.status_code == 401
    assert "aud" in answer.json["error_description"]


def test_production_refuses_to_start_without_its_https_address():
    env = {
        "MASH_APP__MODE": "production",
        "MASH_APP__SECRET_KEY": "s" * 40,
        "MASH_KEYS__MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
    with pytest.raises(ConfigError, match=r"\[app\] public_url: production mode needs"):
        load_settings(None, env)
    with pytest.raises(ConfigError, match=r"public_url"):
        load_settings(None, {**env, "MASH_APP__PUBLIC_URL": "http://mash.example"})
    assert load_settings(None, {**env, "MASH_APP__PUBLIC_URL": "https://mash.example"})


def test_a_request_to_another_host_is_a_400_never_a_500(test_db_url, clock):
    from tests.conftest import make_settings

    app = create_app(
        make_settings(test_db_url, MASH_APP__PUBLIC_URL="https://mash.example"), clock=clock
    )
    try:
        web = app.test_client()
        page = web.get("/sign-in", headers={"Host": "evil.example"})
        assert page.status_code == 400
        api = web.get("/api/v1/whoami", headers={"Host": "evil.example"})
        assert api.status_code == 400
        assert api.json["error"] == "bad_request"
        served = web.get("/sign-in", base_url="https://mash.example")
        assert served.status_code == 200
    finally:
        app.extensions["mash.db"].dispose()
