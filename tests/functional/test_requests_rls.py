"""The second layer (PostgreSQL) for requests: raw SQL as a partner sees its own requests
and answers, and a contact's subjects and sealing key only while a request to it is open."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from tests.functional.test_requests import ask, rated_contact, researcher, screening
from tests.functional.test_row_level_security import visible

pytestmark = pytest.mark.postgres


@pytest.fixture
def app_engine(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("row-level security is PostgreSQL's (set MASH_TEST_DATABASE_URL)")
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def police(client, make_client):
    return screening(client, make_client)


def test_partner_sees_only_its_own_requests_and_answers(app_engine, client, police, make_client):
    contact_id = rated_contact(client, police)
    health_id = ask(client, police, contact_id, "health").json["id"]
    ask(client, police, contact_id, "education")
    health = researcher(client, make_client, "health")
    answered = client.post(
        f"/api/v1/requests/{health_id}/response",
        json={"outcome": "information_held", "items": [{"kind": "fact", "text": "known"}]},
        headers=health,
    )
    assert answered.status_code == 201
    assert visible(app_engine, "csc", "info_requests") == 2
    assert visible(app_engine, "health", "info_requests") == 1
    assert visible(app_engine, "education", "info_requests") == 1
    assert visible(app_engine, "housing", "info_requests") == 0
    for table in ("contributions", "contribution_items"):
        assert visible(app_engine, "police", table) == 1
        assert visible(app_engine, "health", table) == 1
        assert visible(app_engine, "education", table) == 0
    assert visible(app_engine, None, "info_requests") == 0


def test_subjects_and_their_key_only_while_a_request_is_open(
    app_engine,
    client,
    police,
):
    contact_id = rated_contact(client, police)
    assert visible(app_engine, "education", "contact_subjects") == 0
    ask(client, police, contact_id, "education")
    assert visible(app_engine, "education", "contact_subjects") == 2
    assert visible(app_engine, "housing", "contact_subjects") == 0
    assert visible(app_engine, "education", "contacts") == 0  # never the concern
    with app_engine.begin() as conn:
        conn.execute(text("SELECT set_config('app.agency_id', 'education', true)"))
        keys = (
            conn.execute(
                text(
                    "SELECT a.code FROM data_keys d JOIN agencies a ON a.id = d.agency_id "
                    "WHERE d.contact_id = :c ORDER BY a.code"
                ),
                {"c": contact_id},
            )
            .scalars()
            .all()
        )
        agency_keys = conn.execute(text("SELECT count(*) FROM agency_keys")).scalar_one()
    # Its own key (the question) and the police key sealing the subjects; no other.
    assert keys == ["education", "police"]
    assert agency_keys == 2
    client.post(
        f"/api/v1/contacts/{contact_id}/rating",
        json={"rag": "green", "rationale": "stepped down"},
        headers=police,
    )
    assert visible(app_engine, "education", "contact_subjects") == 0
