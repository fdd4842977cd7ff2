"""Health and readiness for a load balancer (issue #18, item 2): public, free of data,
answering at any Host, and honest when the database is away."""

from __future__ import annotations

from mash_hub import create_app
from tests.conftest import make_settings


def test_healthz_answers_without_credentials_or_data(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json == {"status": "ok"}
    assert answer.headers["Cache-Control"] == "no-store"


def test_readyz_names_each_check(client):
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.json
    assert answer.json == {
        "status": "ready",
        "checks": {"database": "ok", "policies": "ok", "keys": "ok"},
    }


def test_readyz_is_503_while_the_database_is_away_and_healthz_still_answers(clock):
    away = make_settings("postgresql+psycopg://nobody@127.0.0.1:1/none")
    app = create_app(away, clock=clock)
    try:
        probe = app.test_client()
        answer = probe.get("/readyz")
        assert answer.status_code == 503
        assert answer.json["status"] == "not ready"
        assert answer.json["checks"]["database"] == "unreachable"
        assert answer.json["checks"]["keys"] == "not verified"
        assert probe.get("/healthz").status_code == 200
    finally:
        app.extensions["mash.db"].dispose()


def test_probes_answer_at_any_host_even_with_a_public_address(test_db_url, clock, tmp_path):
    settings = make_settings(
        test_db_url,
        MASH_APP__PUBLIC_URL="https://mash.example",
        MASH_APP__INSTANCE_PATH=str(tmp_path),
    )
    app = create_app(settings, clock=clock)
    try:
        probe = app.test_client()
        assert probe.get("/healthz", headers={"Host": "10.0.0.5:5000"}).status_code == 200
        assert probe.get("/", headers={"Host": "10.0.0.5:5000"}).status_code == 400
    finally:
        app.extensions["mash.db"].dispose()
