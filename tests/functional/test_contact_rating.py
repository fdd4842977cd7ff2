"""Rating a contact: deadlines from the working calendar, a history nobody can edit."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DatabaseError

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Scope
from mash_hub.contacts.models import Contact, ContactRating
from mash_hub.db import Database
from tests.functional.test_contacts_api import CONTACT, token


@pytest.fixture
def screening(client, make_client):
    return token(
        client, make_client, "csc", Scope.CONTACTS_WRITE, Scope.SCREENING_READ,
        Scope.SCREENING_WRITE,
    )  # fmt: skip


@pytest.fixture
def contact_id(client, screening):
    # Received Monday 30 November 2026 at 09:15 (GMT).
    return client.post("/api/v1/contacts", json=CONTACT, headers=screening).json["id"]


def rate(client, headers, contact_id, rag, rationale="Reasons recorded here"):
    return client.post(
        f"/api/v1/contacts/{contact_id}/rating",
        json={"rag": rag, "rationale": rationale},
        headers=headers,
    )


def ratings_count(app) -> int:
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(ContactRating)) or 0


def test_amber_then_red_sets_deadlines_and_keeps_the_history(app, client, screening, contact_id):
    amber = rate(client, screening, contact_id, "amber", "Parental conflict; need partner checks")
    assert amber.status_code == 200, amber.json
    # 24 working hours on a 09:00-17:00 calendar: Monday 09:15 -> Thursday 09:15.
    assert amber.json == {"rag": "amber", "decision_due_at": "2026-12-03T09:15:00Z"}
    red = rate(client, screening, contact_id, "red", "New information: injury seen")
    # Red counts outside working hours: 4 real hours from receipt.
    assert red.json == {"rag": "red", "decision_due_at": "2026-11-30T13:15:00Z"}

    shown = client.get(f"/api/v1/contacts/{contact_id}", headers=screening).json
    assert shown["rag"] == "red"
    assert shown["status"] == "in_progress"
    assert shown["decision_due_at"] == "2026-11-30T13:15:00Z"
    history = [(r["rag"], r["previous_rag"], r["rationale"]) for r in shown["rating_history"]]
    assert history == [
        ("amber", None, "Parental conflict; need partner checks"),
        ("red", "amber", "New information: injury seen"),
    ]
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.decision == "allow").order_by(AuditEvent.seq)
        ).all()
    assert actions.count("contact:rate") == 2


def test_green_counts_elapsed_hours(client, screening, contact_id):
    green = rate(client, screening, contact_id, "green")
    assert green.json["decision_due_at"] == "2026-12-03T09:15:00Z"  # 72 real hours


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rag": "amber"}, "rationale"),
        ({"rag": "amber", "rationale": "   "}, "rationale"),
        ({"rag": "purple", "rationale": "why"}, "rag"),
        ({"rationale": "why"}, "rag"),
        ({"rag": "amber", "rationale": "x" * 5001}, "rationale"),
    ],
)
def test_bad_ratings_get_field_errors_and_change_nothing(
    app, client, screening, contact_id, body, field
):
    response = client.post(f"/api/v1/contacts/{contact_id}/rating", json=body, headers=screening)
    assert response.status_code == 422
    assert field in response.json["fields"]
    assert ratings_count(app) == 0
    shown = client.get(f"/api/v1/contacts/{contact_id}", headers=screening).json
    assert shown["rag"] is None and shown["status"] == "awaiting_screening"


def test_the_other_side_cannot_rate_and_gets_the_missing_answer(
    client, make_client, contact_id, app
):
    health = token(client, make_client, "health", Scope.SCREENING_WRITE)
    refused = rate(client, health, contact_id, "green")
    missing = rate(client, health, "00000000-0000-4000-8000-000000000000", "green")
    assert refused.status_code == missing.status_code == 404
    assert refused.data == missing.data
    assert ratings_count(app) == 0


def test_only_screening_write_may_rate(client, make_client, contact_id):
    reader = token(client, make_client, "police", Scope.SCREENING_READ)
    assert rate(client, reader, contact_id, "amber").status_code == 403


def test_the_rating_history_cannot_be_edited_even_in_the_database(
    app, client, screening, contact_id
):
    rate(client, screening, contact_id, "amber")
    database: Database = app.extensions["mash.db"]
    with pytest.raises(DatabaseError, match="append-only"), database.transaction() as session:
        session.execute(update(ContactRating).values(rag="green"))
    with pytest.raises(DatabaseError, match="append-only"), database.transaction() as session:
        session.execute(delete(ContactRating))
    with database.transaction() as session:
        assert session.scalar(select(ContactRating.rag)) == "amber"
        assert session.scalar(select(Contact.rag)) == "amber"


def test_the_contact_page_shows_the_deadline_and_history(
    client, screening, contact_id, make_account, clock, app
):
    from mash_hub.authz.permissions import Role
    from tests.helpers import sign_in

    rate(client, screening, contact_id, "amber", "Needs partner checks")
    web = app.test_client()
    sign_in(web, make_account(Role.SCREENER, "police"), clock)
    page = web.get(f"/contacts/{contact_id}")
    assert page.status_code == 200
    assert "3 December 2026 at 9:15am" in page.text
    assert "Needs partner checks" in page.text
