"""The second layer (PostgreSQL): raw SQL through the application's role sees only the side
of the firewall its transaction states."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from mash_hub.authz.permissions import Scope
from tests.functional.test_contacts_api import CONTACT, token

pytestmark = pytest.mark.postgres


@pytest.fixture
def app_engine(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("row-level security is PostgreSQL's (set MASH_TEST_DATABASE_URL)")
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def visible(engine, agency: str | None, table: str) -> int:
    with engine.begin() as conn:
        if agency is not None:
            conn.execute(text("SELECT set_config('app.agency_id', :a, true)"), {"a": agency})
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608


def test_the_app_role_is_not_superuser_and_cannot_bypass(app_engine):
    with app_engine.begin() as conn:
        row = conn.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()
    assert tuple(row) == (False, False)


def test_raw_sql_with_a_partner_agency_set_sees_no_mash_rows(app_engine, client, make_client):
    police = token(client, make_client, "police", Scope.CONTACTS_WRITE)
    assert client.post("/api/v1/contacts", json=CONTACT, headers=police).status_code == 201
    for table in ("contacts", "contact_subjects"):
        assert visible(app_engine, "police", table) >= 1, table
        assert visible(app_engine, "csc", table) >= 1, table
        for partner in ("health", "education", "probation", "housing", "yos"):
            assert visible(app_engine, partner, table) == 0, (partner, table)
        assert visible(app_engine, None, table) == 0, table  # nothing stated: nothing seen
    # Police's data key for the contact is the MASH side's and police's, nobody else's.
    assert visible(app_engine, "police", "data_keys") == 1
    assert visible(app_engine, "health", "data_keys") == 0


def test_a_partner_cannot_write_onto_the_mash_side(app_engine):
    with app_engine.begin() as conn:
        conn.execute(text("SELECT set_config('app.agency_id', 'health', true)"))
        with pytest.raises(Exception, match="row-level security"):
            conn.execute(text("INSERT INTO reference_counters (year, last) VALUES (1999, 1)"))
