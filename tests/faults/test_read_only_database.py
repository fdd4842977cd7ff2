"""The database made read-only and then writable again (fault review, scenario 6c and
finding 5): the hub fails closed while it lasts and recovers by itself afterwards; on
dc1dfa7 its pooled sessions stayed read-only and it answered 500 until someone ended them."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from mash_hub.contacts.models import Contact
from tests.functional.test_contacts_api import CONTACT
from tests.functional.test_scheduler import police  # noqa: F401 - a fixture


def _as_owner(admin_url: str, *statements: str) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SET default_transaction_read_only = off"))  # the owner's own
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def _contacts(app) -> int:
    with app.extensions["mash.db"].transaction() as db:
        return int(db.scalar(select(func.count()).select_from(Contact)) or 0)


def test_the_hub_recovers_by_itself_when_the_database_is_writable_again(
    app,
    client,
    police,  # noqa: F811
    test_db_url,
    admin_database_url,
):
    if not test_db_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL database setting")
    name = make_url(admin_database_url).database
    app_role = make_url(test_db_url).username
    assert client.post("/api/v1/contacts", json=CONTACT, headers=police).status_code == 201
    before = _contacts(app)
    end_sessions = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "  # noqa: S608 - our names
        f"WHERE usename = '{app_role}' AND datname = '{name}'"
    )
    try:
        _as_owner(
            admin_database_url,
            f'ALTER DATABASE "{name}" SET default_transaction_read_only = on',
            end_sessions,
        )
        for _ in range(3):
            refused = client.post("/api/v1/contacts", json=CONTACT, headers=police)
            assert refused.status_code == 500
            assert refused.json["error"] == "server_error"
    finally:
        _as_owner(
            admin_database_url, f'ALTER DATABASE "{name}" RESET default_transaction_read_only'
        )
    # No one ends the hub's sessions this time: it must come back on its own.
    created = client.post("/api/v1/contacts", json=CONTACT, headers=police)
    assert created.status_code == 201, created.json
    assert _contacts(app) == before + 1
