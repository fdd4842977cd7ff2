"""The second layer (PostgreSQL) for onward referrals: raw SQL as the receiving service sees
its own referrals, and the family's subjects and their sealing key only while a referral
to it is open (or accepted and within its read window); another partner sees none of it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from mash_hub.authz.permissions import Scope
from tests.functional import test_referrals as flow
from tests.functional.test_contacts_api import token
from tests.functional.test_row_level_security import visible

pytestmark = pytest.mark.postgres

# The referral flow's own fixtures: a contact approved as early help, and its people.
team = flow.team
screening_api = flow.screening_api
referred = flow.referred


@pytest.fixture
def app_engine(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("row-level security is PostgreSQL's (set MASH_TEST_DATABASE_URL)")
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def _keys(engine, agency, contact_id):
    with engine.begin() as conn:
        conn.execute(text("SELECT set_config('app.agency_id', :a, true)"), {"a": agency})
        return (
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


def test_only_the_mash_and_the_receiving_service_see_a_referral(app_engine, referred):
    assert visible(app_engine, "csc", "onward_referrals") == 1
    assert visible(app_engine, "police", "onward_referrals") == 1
    assert visible(app_engine, "earlyhelp", "onward_referrals") == 1
    assert visible(app_engine, "health", "onward_referrals") == 0
    assert visible(app_engine, None, "onward_referrals") == 0


def test_the_family_and_its_key_while_open_then_gone_once_declined(
    app_engine, client, make_client, referred
):
    contact_id, referral_id = referred
    assert visible(app_engine, "earlyhelp", "contact_subjects") == 2
    assert visible(app_engine, "earlyhelp", "contacts") == 0  # never the concern
    assert visible(app_engine, "earlyhelp", "contributions") == 0  # nor health's answer
    # Its own key (the reason) and the key of the agency the contact came from (police),
    # sealing the subjects; no other.
    assert _keys(app_engine, "earlyhelp", contact_id) == ["earlyhelp", "police"]
    assert _keys(app_engine, "education", contact_id) == []
    system = token(client, make_client, "earlyhelp", Scope.REFERRALS_READ, Scope.REFERRALS_WRITE)
    declined = client.post(
        f"/api/v1/referrals/{referral_id}/decision",
        json={"decision": "declined", "reason": "Already known to a family worker"},
        headers=system,
    )
    assert declined.status_code == 200, declined.json
    assert visible(app_engine, "earlyhelp", "contact_subjects") == 0
    assert _keys(app_engine, "earlyhelp", contact_id) == ["earlyhelp"]


def test_an_accepted_referral_keeps_the_family_visible_within_its_window(
    app, app_engine, client, make_client, referred
):
    _contact_id, referral_id = referred
    system = token(client, make_client, "earlyhelp", Scope.REFERRALS_READ, Scope.REFERRALS_WRITE)
    accepted = client.post(
        f"/api/v1/referrals/{referral_id}/decision",
        json={"decision": "accepted"},
        headers=system,
    )
    assert accepted.status_code == 200, accepted.json
    assert visible(app_engine, "earlyhelp", "contact_subjects") == 2
    # Past the window (the database's own clock decides), the rows go with it.
    with app_engine.begin() as conn:
        conn.execute(text("SELECT set_config('app.agency_id', 'system', true)"))
        conn.execute(
            text("UPDATE onward_referrals SET readable_until = now() - :gone"),
            {"gone": timedelta(minutes=1)},
        )
    assert visible(app_engine, "earlyhelp", "contact_subjects") == 0
