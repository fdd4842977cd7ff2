"""The early-help criteria check at the front door (issue #15 item 3): from a contact's
presenting issues and the measures in partners' answers, the programmes in force show
which criteria the family appears to meet, with the evidence; a screener records the
check with the criteria versions, sealed and audited; partners never see it."""

from __future__ import annotations

import copy
from datetime import date

import pytest
from sqlalchemy import select

from mash_hub import runtime
from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role
from mash_hub.criteria import services
from mash_hub.criteria.models import CriteriaCheck
from mash_hub.db import Database
from mash_hub.sharing.services import MeasureGiven
from tests.functional.screening.conftest import Person
from tests.functional.test_contacts_api import CONTACT
from tests.functional.test_requests import ask, researcher, screening


@pytest.fixture
def police(client, make_client):
    return screening(client, make_client)


def _db(app) -> Database:
    return app.extensions["mash.db"]


def contact_with_issues(client, police, issues) -> str:
    body = copy.deepcopy(CONTACT)
    body["presenting_issues"] = issues
    created = client.post("/api/v1/contacts", json=body, headers=police)
    assert created.status_code == 201, created.json
    rated = client.post(
        f"/api/v1/contacts/{created.json['id']}/rating",
        json={"rag": "amber", "rationale": "Partner checks needed"},
        headers=police,
    )
    assert rated.status_code == 200
    return created.json["id"]


def answer_attendance(client, make_client, police, contact_id, value, restricted=False):
    request_id = ask(client, police, contact_id, "education").json["id"]
    answered = client.post(
        f"/api/v1/requests/{request_id}/response",
        json={
            "outcome": "information_held",
            "items": [
                {
                    "kind": "fact",
                    "text": "Attendance this school year",
                    "restricted": restricted,
                    "measure": {"code": "school_attendance_percent", "value": value},
                }
            ],
        },
        headers=researcher(client, make_client, "education"),
    )
    assert answered.status_code == 201, answered.json


def test_the_family_appears_to_meet_supporting_families_from_issues_and_attendance(
    app, client, clock, make_client, make_account, police
):
    contact_id = contact_with_issues(client, police, ["domestic_abuse", "debt"])
    answer_attendance(client, make_client, police, contact_id, 82)
    screener = Person(app, make_account(Role.SCREENER, "police"), clock)

    page = screener.get(f"/contacts/{contact_id}/criteria")
    assert page.status_code == 200
    text = page.text
    assert "Supporting Families" in text
    assert "Troubled Families" not in text  # those criteria ended before today
    assert "Appears to meet the criteria" in text  # 3 of 10: education, abuse, money
    assert "School attendance, as a percentage: 82, from Education" in text
    assert "Presenting issues: Domestic abuse" in text
    assert "Criteria version" in text
    decision = screener.get(f"/contacts/{contact_id}/decision").text
    assert 'id="criteria-link"' in decision

    recorded = screener.post_form(f"/contacts/{contact_id}/criteria", {})
    assert recorded.status_code == 302
    shown = screener.get(recorded.headers["Location"]).text
    assert "Criteria check recorded" in shown
    assert "meets the rule; 3 criteria met" in shown
    with _db(app).transaction() as session:
        (check,) = session.scalars(select(CriteriaCheck)).all()
        assert check.programmes.startswith("supporting-families ")
        # Phrases long enough that random ciphertext cannot hold them by chance (a bare
        # b"82" turned up in about one run in three hundred).
        for secret in (b'"value": 82', b"School attendance", b"Domestic abuse", b"Education"):
            assert secret not in check.result_sealed
        (event,) = session.scalars(
            select(AuditEvent).where(AuditEvent.kind == "criteria.checked")
        ).all()
    assert event.contact_id == contact_id
    assert "supporting-families: meets the rule" in event.reason


def test_attendance_above_the_threshold_meets_nothing_and_fewer_criteria_do_not_qualify(
    app, client, clock, make_client, make_account, police
):
    contact_id = contact_with_issues(client, police, ["domestic_abuse"])
    answer_attendance(client, make_client, police, contact_id, 96)
    screener = Person(app, make_account(Role.SCREENER, "police"), clock)
    text = screener.get(f"/contacts/{contact_id}/criteria").text
    assert "Does not appear to meet the criteria" in text
    assert "School attendance, as a percentage: 96 (Education)" in text  # used, not met
    assert "from Education" not in text


def test_a_restricted_measure_withheld_from_the_screener_is_not_used(
    app, client, clock, make_client, make_account, police
):
    contact_id = contact_with_issues(client, police, ["domestic_abuse", "debt"])
    answer_attendance(client, make_client, police, contact_id, 70, restricted=True)
    screener = Person(app, make_account(Role.SCREENER, "police"), clock)
    text = screener.get(f"/contacts/{contact_id}/criteria").text
    assert (
        "School attendance"
        not in text.split("Criteria that appear to be met")[0].split("What the check uses")[1]
    )
    assert "Does not appear to meet the criteria" in text  # 2 of the 3 needed


def test_partners_never_see_the_check(app, client, clock, make_client, make_account, police):
    contact_id = contact_with_issues(client, police, ["domestic_abuse"])
    ask(client, police, contact_id, "education")
    partner = Person(app, make_account(Role.AGENCY_RESEARCHER, "education"), clock)
    assert partner.get(f"/contacts/{contact_id}/criteria").status_code in (403, 404)


def test_the_programmes_in_force_follow_their_dates(app):
    with app.app_context():
        programmes = runtime.programmes()
    in_2013 = [p.id for p in services.in_force(programmes, date(2013, 6, 1))]
    in_2026 = [p.id for p in services.in_force(programmes, date(2026, 12, 5))]
    assert in_2013 == ["troubled-families-2012"]
    assert in_2026 == ["supporting-families"]


def test_the_latest_measure_counts_and_the_troubled_families_rule_needs_its_national_group(app):
    from datetime import UTC, datetime

    with app.app_context():
        programmes = {p.id: p for p in runtime.programmes()}
    old, new = (
        MeasureGiven("education", "school_attendance_percent", value, at, "r1")
        for value, at in (
            (70.0, datetime(2013, 1, 1, tzinfo=UTC)),
            (95.0, datetime(2013, 3, 1, tzinfo=UTC)),
        )
    )
    (result,) = services.evaluate(
        [programmes["troubled-families-2012"]], ["youth_crime"], [new, old]
    )
    assert [m.code for m in result.met] == ["crime_asb"]  # 95% is not below 85%
    assert not result.qualifies
    (result,) = services.evaluate([programmes["troubled-families-2012"]], ["youth_crime"], [old])
    assert [m.code for m in result.met] == ["crime_asb", "education"]
    assert result.qualifies and result.met[1].agency == "Education"
