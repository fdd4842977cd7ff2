"""Many workers at once: the rate-limit count and the assertion jti hold under a race."""

from __future__ import annotations

import os
import threading
import uuid
from datetime import timedelta

import pytest
from flask import Flask

from mash_hub import create_app
from mash_hub.authz.permissions import Scope
from mash_hub.db import Database
from mash_hub.identity import services as identity
from tests.conftest import make_settings

on_postgres = pytest.mark.skipif(
    not os.environ.get("MASH_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="needs PostgreSQL (MASH_TEST_DATABASE_URL): concurrent writers",
)

THREADS = 8
CALLS_EACH = 25
LIMIT = 100


@pytest.fixture
def limited_app(test_db_url, tmp_path, clock):  # type: ignore[no-untyped-def]
    settings = make_settings(test_db_url, MASH_API__RATE_LIMIT=str(LIMIT))
    app = create_app(settings, clock=clock)
    yield app
    app.extensions["mash.db"].dispose()


def _client(app: Flask):  # type: ignore[no-untyped-def]
    with app.app_context():
        database: Database = app.extensions["mash.db"]
        with database.transaction() as db:
            identity.ensure_agencies(db)
            client, _ = identity.create_client(
                db, agency_code="csc", scopes=frozenset({Scope.SCREENING_READ})
            )
            db.expunge(client)
            return client


def _race(target, count: int) -> None:  # type: ignore[no-untyped-def]
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            target()
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors


@on_postgres
@pytest.mark.postgres
def test_racing_calls_are_each_counted_once(limited_app):
    client = _client(limited_app)
    allowed: list[bool] = []

    def calls() -> None:
        with limited_app.app_context():
            for _ in range(CALLS_EACH):
                allowed.append(identity.take_rate_slot(client.id).allowed)

    _race(calls, THREADS)
    assert len(allowed) == THREADS * CALLS_EACH
    assert allowed.count(True) == LIMIT  # not one more, not one fewer


@on_postgres
@pytest.mark.postgres
def test_a_racing_replay_of_one_assertion_wins_once(limited_app, clock):
    client = _client(limited_app)
    jti = uuid.uuid4().hex
    expires = clock.now() + timedelta(minutes=2)
    accepted: list[bool] = []

    def use() -> None:
        with limited_app.app_context():
            accepted.append(identity.use_assertion_once(client, jti, expires))

    _race(use, THREADS)
    assert accepted.count(True) == 1
    assert len(accepted) == THREADS
