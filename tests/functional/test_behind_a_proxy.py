"""Behind a reverse proxy (the production layout), the client is the one the proxy names,
and only when the hub is told a proxy is there: otherwise anyone could claim any address
(and slip past the per-address sign-in limits, or write another address into the trail)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from mash_hub import create_app
from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Scope
from mash_hub.config import ConfigError
from mash_hub.identity import services as identity
from tests.conftest import make_settings

CLIENT = "203.0.113.7"


def _missing_contact_read(test_db_url, tmp_path, clock, **env) -> str | None:
    """Read a contact that does not exist (a refusal the firewall audits), through a
    proxy that names the client; the client address the trail recorded."""
    app = create_app(
        make_settings(test_db_url, MASH_APP__INSTANCE_PATH=str(tmp_path), **env), clock=clock
    )
    try:
        with app.app_context(), app.extensions["mash.db"].transaction() as db:
            identity.ensure_agencies(db)
            client, secret = identity.create_client(
                db, agency_code="police", scopes=frozenset({Scope.SCREENING_READ})
            )
            client_id = client.client_id
        web = app.test_client()
        forwarded = {"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https"}
        issued = web.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
            headers=forwarded,
        )
        bearer = {"Authorization": f"Bearer {issued.json['access_token']}", **forwarded}
        missing = uuid.uuid4()
        assert web.get(f"/api/v1/contacts/{missing}", headers=bearer).status_code == 404
        with app.extensions["mash.db"].transaction() as db:
            return db.scalar(
                select(AuditEvent.client_address).where(AuditEvent.object_id == str(missing))
            )
    finally:
        app.extensions["mash.db"].dispose()


def test_the_proxys_client_is_recorded_when_a_proxy_is_configured(test_db_url, tmp_path, clock):
    assert _missing_contact_read(test_db_url, tmp_path, clock, MASH_APP__TRUSTED_PROXIES="1") == (
        CLIENT
    )


def test_forwarded_headers_are_ignored_without_a_configured_proxy(test_db_url, tmp_path, clock):
    recorded = _missing_contact_read(test_db_url, tmp_path, clock)
    assert recorded != CLIENT
    assert recorded == "127.0.0.1"


def test_a_silly_number_of_proxies_is_refused(test_db_url):
    with pytest.raises(ConfigError, match="trusted_proxies"):
        make_settings(test_db_url, MASH_APP__TRUSTED_PROXIES="40")
