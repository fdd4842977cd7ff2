"""Emerging harm at once (issue #16 item 2): a new contact warns as it comes in, before
anyone links anybody, when one of its people has the NHS number, unique pupil number, full
name and date of birth or home of someone in an earlier contact, or a register candidate
scores above the configured line; adults and households too. "Possible" until a screener
links the person (then "confirmed") or says it is someone else."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role, Scope
from tests.functional.screening.test_intake_page import GOOD
from tests.functional.test_contacts_api import token
from tests.functional.test_people import (
    CHILD,
    add_as_new_person,
    intake,
    link,
    post_form,
    session,
    variant,
)
from tests.helpers import sign_in

SAM = {"role": "child", "given_name": "Sam", "family_name": "Okafor", "date_of_birth": "2017-03-01"}
AMY = {"role": "child", "given_name": "Amy", "family_name": "Brown", "date_of_birth": "2019-08-20"}
JO = {"role": "parent", "given_name": "Jo", "family_name": "Reilly", "date_of_birth": "1985-01-01"}


@pytest.fixture
def police(client, make_client):
    return token(client, make_client, "police", Scope.CONTACTS_WRITE, Scope.SCREENING_READ)


@pytest.fixture
def screener(app, make_account, clock):
    web = app.test_client()
    sign_in(web, make_account(Role.SCREENER, "csc"), clock)
    return web


def warnings_of(client, police, contact_id) -> list[dict]:
    response = client.get(f"/api/v1/contacts/{contact_id}", headers=police)
    assert response.status_code == 200
    return response.json["warnings"]


def test_the_same_nhs_number_warns_on_intake_before_any_link(client, police, screener):
    first = intake(client, police, CHILD, received_at="2026-06-01T10:00:00Z")
    renamed = variant(given_name="Liam", family_name="Carter", address=None)  # same NHS number
    second = intake(client, police, renamed)
    warnings = warnings_of(client, police, second)
    assert {
        "kind": "repeat_contact",
        "status": "possible",
        "subject_role": "child",
        "person_id": None,
        "previous_contact_id": first,
        "previous_received_at": "2026-06-01T10:00:00Z",
        "basis": "nhs_number",
    } in warnings
    page = screener.get(f"/contacts/{second}").text
    assert "Possible repeat contact" in page and "The same NHS number" in page


def test_the_same_unique_pupil_number_warns(client, police):
    pupil = {**SAM, "upn": "H801200001001"}
    first = intake(client, police, pupil)
    second = intake(client, police, {**AMY, "upn": "H801200001001"})
    assert [
        (w["previous_contact_id"], w["basis"]) for w in warnings_of(client, police, second)
    ] == [(first, "upn")]


def test_a_contact_recorded_on_the_page_warns_against_one_from_the_api(
    app, client, police, screener
):
    first = intake(client, police, CHILD, received_at="2026-06-01T10:00:00Z")
    saved = post_form(screener, "/contacts/new", "/contacts/new", GOOD)  # Sam Smith, 943 476 5919
    assert saved.status_code == 302, saved.text
    page = screener.get(saved.headers["Location"]).text
    assert "Possible repeat contact" in page
    assert "The same NHS number" in page
    assert first  # the API's contact is the earlier one the page names


def test_a_close_register_match_warns_before_the_link(app, client, police, screener):
    first = intake(client, police, CHILD, received_at="2026-06-01T10:00:00Z")
    add_as_new_person(app, screener, first)  # William Thornbury joins the register
    typo = variant(family_name="Thornbuyr", nhs_number=None)  # no identifier, a typo
    second = intake(client, police, typo)
    bases = {w["basis"] for w in warnings_of(client, police, second)}
    assert "register" in bases
    assert "name_and_birth" not in bases  # the names differ: only the register's score saw it


def test_an_adult_named_on_two_childrens_contacts_warns(client, police):
    first = intake(client, police, SAM, JO)
    second = intake(client, police, AMY, JO)
    found = warnings_of(client, police, second)
    assert [(w["subject_role"], w["basis"], w["previous_contact_id"]) for w in found] == [
        ("parent", "name_and_birth", first)
    ]


def test_one_home_across_contacts_warns_as_a_household(client, police):
    first = intake(client, police, {**SAM, "address": "Flat 3, 14 Mill Lane, Harrow HA1 2BB"})
    second = intake(client, police, {**AMY, "address": "14 Mill Lane, flat 3, HA1 2BB"})
    found = warnings_of(client, police, second)
    assert [(w["basis"], w["previous_contact_id"]) for w in found] == [("address", first)]


def test_an_earlier_contact_outside_the_window_does_not_warn(client, police):
    intake(client, police, CHILD, received_at="2025-03-01T10:00:00Z")  # 21 months before
    second = intake(client, police, variant(given_name="Liam"))
    assert warnings_of(client, police, second) == []


def test_a_stranger_raises_nothing(client, police):
    intake(client, police, SAM)
    second = intake(client, police, AMY)
    assert warnings_of(client, police, second) == []


def test_a_screener_says_it_is_someone_else_and_it_is_recorded(app, client, police, screener):
    first = intake(client, police, SAM, JO)
    second = intake(client, police, AMY, JO)
    page = screener.get(f"/contacts/{second}/people").text
    actions = [part.split('"')[0] for part in page.split('action="')[1:]]
    target = next(action for action in actions if "/repeats/" in action)
    rejected = post_form(screener, f"/contacts/{second}/people", target, {})
    assert rejected.status_code == 302
    shown = screener.get(rejected.headers["Location"]).text
    assert "Recorded: not the person in the earlier contact" in shown  # the confirmation
    assert warnings_of(client, police, second) == []
    assert "Possible repeat contact" not in screener.get(f"/contacts/{second}").text
    with session(app) as db:
        events = db.scalars(
            select(AuditEvent.reason).where(AuditEvent.kind == "person.possible_repeat_rejected")
        ).all()
    assert events == ["not the person named in an earlier contact (name_and_birth)"]
    assert warnings_of(client, police, first) == []  # the first came before: nothing to warn


def test_linking_confirms_it(app, client, police, screener):
    first = intake(client, police, CHILD, received_at="2026-06-01T10:00:00Z")
    person_id = add_as_new_person(app, screener, first)
    second = intake(client, police, variant(given_name="Will", nhs_number=None))
    assert {w["status"] for w in warnings_of(client, police, second)} == {"possible"}
    assert link(app, screener, second, person_id).status_code == 302
    found = warnings_of(client, police, second)
    assert [(w["status"], w["previous_contact_id"]) for w in found] == [("confirmed", first)]


def test_partners_see_no_warnings(client, police, make_client):
    intake(client, police, SAM, JO)
    second = intake(client, police, AMY, JO)
    partner = token(client, make_client, "health", Scope.SCREENING_READ)
    assert client.get(f"/api/v1/contacts/{second}", headers=partner).status_code == 404


@pytest.mark.parametrize("percent", ["101", "10"])
def test_the_score_line_is_checked_at_start(percent):
    from mash_hub.config import ConfigError, load_settings
    from tests.conftest import TEST_ENV

    with pytest.raises(ConfigError, match="repeat_match_percent"):
        load_settings(None, {**TEST_ENV, "MASH_SCREENING__REPEAT_MATCH_PERCENT": percent})
