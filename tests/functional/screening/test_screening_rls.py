"""PostgreSQL: raw SQL through the application's role sees claims, decisions, reviews and
acknowledgements only from the MASH side."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.postgres

TABLES = ("contact_claims", "contact_decisions", "decision_reviews")


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


def test_partners_see_no_screening_rows(app_engine, client, api, screener, manager, contact_id):
    client.post(
        f"/api/v1/contacts/{contact_id}/rating",
        json={"rag": "amber", "rationale": "why"},
        headers=api,
    )
    screener.post_form(f"/contacts/{contact_id}/claim", {}, page="/queue")
    path = f"/contacts/{contact_id}/decision"
    screener.post_form(path, {"outcome": "signpost", "rationale": "Universal services"})
    with app_engine.begin() as conn:
        conn.execute(text("SELECT set_config('app.agency_id', 'csc', true)"))
        decision_id = conn.execute(text("SELECT id FROM contact_decisions")).scalar_one()
    manager.post_form(
        f"{path}/review", {"decision_id": str(decision_id), "verdict": "approved"}, page=path
    )
    for table in TABLES:
        assert visible(app_engine, "csc", table) == 1, table
        assert visible(app_engine, "police", table) == 1, table
        for partner in ("health", "education", "probation", "housing", "yos"):
            assert visible(app_engine, partner, table) == 0, (partner, table)
        assert visible(app_engine, None, table) == 0, table


def test_a_partner_cannot_write_a_decision(app_engine, contact_id):
    with pytest.raises(Exception, match="row-level security"), app_engine.begin() as conn:
        conn.execute(text("SELECT set_config('app.agency_id', 'health', true)"))
        conn.execute(
            text(
                "INSERT INTO contact_decisions (id, contact_id, outcome, rationale_sealed, "
                "proposed_at, proposed_by) VALUES (gen_random_uuid(), :c, 'signpost', "
                "'\\x00', now(), 'x')"
            ),
            {"c": contact_id},
        )
