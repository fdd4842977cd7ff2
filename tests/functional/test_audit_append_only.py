"""The database itself keeps the audit trail append-only: the application may add and read
events, and fill an event's hash columns once (the sealer); nothing else, on SQLite
(triggers) and on PostgreSQL (grants for the application role, and triggers for all)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import create_engine, exc, text

from mash_hub.audit.sealer import run_once
from tests.functional.test_audit_chain import write_events

REFUSED = (exc.IntegrityError, exc.ProgrammingError, exc.OperationalError, exc.InternalError)


def run(url: str, statement: str, **params: object) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        engine.dispose()


@pytest.fixture
def urls(app, settings, admin_database_url) -> tuple[str, str]:
    """(the application's URL, the schema owner's URL)."""
    app_url = settings.database.url
    owner_url = admin_database_url if app_url.startswith("postgresql") else app_url
    return app_url, owner_url


def seal(app, settings, clock) -> None:
    clock.advance(timedelta(seconds=1))
    run_once(app.extensions["mash.db"], settings, clock.now(), force=True)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET reason = 'nothing happened' WHERE seq = 1",
        "UPDATE audit_events SET decision = 'allow'",
        "DELETE FROM audit_events WHERE seq = 1",
        "DELETE FROM audit_events",
        "UPDATE audit_checkpoints SET head = 'x'",
        "DELETE FROM audit_checkpoints",
    ],
)
def test_the_application_cannot_change_or_remove_audit_rows(app, settings, clock, urls, statement):
    write_events(app, 2)
    seal(app, settings, clock)
    app_url, owner_url = urls
    for url in dict.fromkeys((app_url, owner_url)):  # the owner is stopped by the triggers
        with pytest.raises(REFUSED):
            run(url, statement)


def test_pending_hash_columns_can_be_filled_once_and_only_alone(app, settings, clock, urls):
    write_events(app, 1)
    app_url, _ = urls
    fill = "UPDATE audit_events SET prev_hash = :p, hash = :h"
    with pytest.raises(REFUSED):  # a fill that also changes content
        run(app_url, fill + ", reason = 'other'", p="0" * 64, h="1" * 64)
    run(app_url, fill + " WHERE hash IS NULL", p="0" * 64, h="1" * 64)
    with pytest.raises(REFUSED):  # once filled, never again
        run(app_url, fill, p="0" * 64, h="2" * 64)
    with pytest.raises(REFUSED):
        run(app_url, "UPDATE audit_events SET hash = NULL, prev_hash = NULL")


def test_truncate_is_refused_on_postgresql(app, urls):
    app_url, owner_url = urls
    if not app_url.startswith("postgresql"):
        pytest.skip("SQLite has no TRUNCATE")
    write_events(app, 1)
    for url in (app_url, owner_url):
        for table in ("audit_events", "audit_checkpoints"):
            with pytest.raises(REFUSED):
                run(url, f"TRUNCATE {table}")
