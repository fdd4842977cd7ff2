"""An answer item may carry one measure and its value, such as attendance 82% this year
(#15 item 3): given over the API or on the answer page, sealed like the item's text,
shown beside the item to those who may see the item, kept in a correction's earlier
version, and handed to the programme criteria check by `measures_given` under the same
firewall decisions as the contact page."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from flask import g
from sqlalchemy import func, select

from mash_hub import db, firewall
from mash_hub.authz.gate import Principal
from mash_hub.authz.permissions import Role
from mash_hub.contacts.models import Contact
from mash_hub.firewall.release import ReleaseRefused
from mash_hub.policy import Action, ContactResource
from mash_hub.sharing import services as sharing
from mash_hub.sharing.models import (
    Contribution,
    ContributionItem,
    ContributionRevisionItem,
    InfoRequest,
)
from tests.functional.test_answer_corrections import post_form, scalar
from tests.functional.test_contacts_api import audit
from tests.functional.test_requests import ask, rated_contact, researcher, screening
from tests.helpers import sign_in

ATTENDANCE = "school_attendance_percent"
BENEFIT_CAP = "benefit_cap_weekly_loss_pounds"
ATTENDANCE_SHOWN = "School attendance, as a percentage: 82.375"


@pytest.fixture
def police(client, make_client):
    return screening(client, make_client)


def _answer(client, headers, request_id, items):
    return client.post(
        f"/api/v1/requests/{request_id}/response",
        json={"outcome": "information_held", "items": items},
        headers=headers,
    )


@pytest.fixture
def answered(client, police, make_client):
    """Education's answer over the API: an ordinary item with its attendance, and a
    restricted one with the family's loss to the benefit cap."""
    contact_id = rated_contact(client, police)
    request_id = ask(client, police, contact_id, "education").json["id"]
    education = researcher(client, make_client, "education")
    sent = _answer(
        client,
        education,
        request_id,
        [
            {
                "kind": "fact",
                "text": "Attendance this school year",
                "measure": {"code": ATTENDANCE, "value": 82.375},
            },
            {
                "kind": "fact",
                "text": "Housing benefit capped since March",
                "restricted": True,
                "measure": {"code": BENEFIT_CAP, "value": 61.5},
            },
            {"kind": "opinion", "text": "Seems tired in lessons"},
        ],
    )
    assert sent.status_code == 201, sent.json
    return contact_id, request_id


def _principal(role: Role, agency: str) -> Principal:
    return Principal(
        kind="user",
        id=str(uuid.uuid4()),
        agency=agency,
        roles=frozenset({role}),
        scopes=frozenset(),
        permissions=frozenset(),
    )


def _measures(app, principal: Principal, contact_id: str, action=Action.CONTACT_READ):
    """measures_given as the criteria check calls it: the contact opened by its caller."""
    with app.test_request_context("/"):
        g.principal = principal  # as the gate sets it: PostgreSQL's row-level security reads it
        contact = db.session().get(Contact, uuid.UUID(contact_id))
        resource = ContactResource(contact_id, contact.rag or "none", "open")
        access = firewall.require(principal, action, resource, contact_id=contact_id)
        return sharing.measures_given(db.session(), principal, access)


def test_an_answer_with_a_measure_reaches_the_mash(app, client, police, make_client, answered):
    contact_id, request_id = answered
    police = screening(client, make_client)
    listed = client.get(f"/api/v1/contacts/{contact_id}/contributions", headers=police)
    assert listed.status_code == 200
    [answer] = listed.json["contributions"]
    first, restricted, plain = answer["items"]
    assert first["measure"] == {
        "code": ATTENDANCE,
        "label": "School attendance, as a percentage",
        "value": 82.375,
    }
    # A restricted item withheld from a screener says nothing of its measure either.
    assert restricted == {
        "kind": "fact",
        "restricted": True,
        "withheld": True,
        "agency": "education",
    }
    assert "measure" not in plain
    assert "61.5" not in listed.text and BENEFIT_CAP not in listed.text

    # The answering agency reads its own answer whole.
    education = researcher(client, make_client, "education")
    own = client.get(f"/api/v1/requests/{request_id}", headers=education).json["answer"]
    assert own["items"][1]["measure"]["value"] == 61.5
    assert own["items"][1]["measure"]["code"] == BENEFIT_CAP

    # A whole number round-trips as one.
    contact2 = rated_contact(client, police)
    request2 = ask(client, police, contact2, "health").json["id"]
    health = researcher(client, make_client, "health")
    sent = _answer(
        client,
        health,
        request2,
        [{"kind": "fact", "text": "Known", "measure": {"code": ATTENDANCE, "value": 82}}],
    )
    assert sent.status_code == 201
    again = client.get(f"/api/v1/contacts/{contact2}/contributions", headers=police).json
    assert again["contributions"][0]["items"][0]["measure"]["value"] == 82


def test_measures_given_follows_the_firewall(app, answered):
    contact_id, request_id = answered
    answered_at = scalar(app, select(Contribution.answered_at))

    screener = _principal(Role.SCREENER, "csc")
    before = len(audit(app))
    assert _measures(app, screener, contact_id) == [
        sharing.MeasureGiven(
            agency="education",
            code=ATTENDANCE,
            value=82.375,
            answered_at=answered_at,
            request_id=request_id,
        )
    ]
    decided = [(action, decision) for action, decision, _reason in audit(app)[before:]]
    # Each request and each kind of item decided and audited as on the contact page: the
    # restricted items refused to a screener.
    assert ("request:read", "allow") in decided
    assert ("contribution:read", "allow") in decided
    assert ("contribution:read", "deny") in decided

    # A MASH manager may read restricted items, so sees both; under contact:decide too,
    # the sign-off's own read.
    manager = _principal(Role.MASH_MANAGER, "police")
    for action in (Action.CONTACT_READ, Action.CONTACT_DECIDE):
        given = _measures(app, manager, contact_id, action)
        assert [(m.agency, m.code, m.value) for m in given] == [
            ("education", ATTENDANCE, 82.375),
            ("education", BENEFIT_CAP, 61.5),
        ]
        assert all(isinstance(m.answered_at, datetime) for m in given)

    # Another screener's access opens nothing.
    with pytest.raises(ReleaseRefused), app.test_request_context("/"):
        g.principal = screener
        contact = db.session().get(Contact, uuid.UUID(contact_id))
        resource = ContactResource(contact_id, contact.rag or "none", "open")
        access = firewall.require(manager, Action.CONTACT_READ, resource, contact_id=contact_id)
        sharing.measures_given(db.session(), screener, access)


def test_the_value_is_sealed_and_the_code_is_in_clear(app, answered):
    rows = []
    with app.extensions["mash.db"].transaction() as session:
        for code, sealed in session.execute(
            select(ContributionItem.measure_code, ContributionItem.measure_sealed).order_by(
                ContributionItem.position
            )
        ):
            rows.append((code, sealed))
    (code1, sealed1), (code2, sealed2), (code3, sealed3) = rows
    assert (code1, code2, code3) == (ATTENDANCE, BENEFIT_CAP, None)
    assert sealed3 is None
    assert b"82.375" not in sealed1
    assert b"61.5" not in sealed2
    assert len(sealed1) > len(b"82.375")  # an envelope, not the value


@pytest.mark.parametrize(
    ("measure", "field"),
    [
        ({"code": "attendance", "value": 82}, "items[0].measure.code"),
        ({"value": 82}, "items[0].measure.code"),
        ({"code": ATTENDANCE, "value": 101}, "items[0].measure.value"),
        ({"code": ATTENDANCE, "value": -1}, "items[0].measure.value"),
        ({"code": ATTENDANCE, "value": "82"}, "items[0].measure.value"),
        ({"code": ATTENDANCE, "value": True}, "items[0].measure.value"),
        ({"code": ATTENDANCE}, "items[0].measure.value"),
        ({"code": BENEFIT_CAP, "value": 1000.5}, "items[0].measure.value"),
        ({"code": BENEFIT_CAP, "value": 10**400}, "items[0].measure.value"),
        ("82%", "items[0].measure"),
    ],
)
def test_a_bad_measure_is_a_422_naming_the_field(app, client, police, make_client, measure, field):
    contact_id = rated_contact(client, police)
    request_id = ask(client, police, contact_id, "education").json["id"]
    education = researcher(client, make_client, "education")
    refused = _answer(
        client,
        education,
        request_id,
        [{"kind": "fact", "text": "Attendance", "measure": measure}],
    )
    assert refused.status_code == 422, refused.json
    assert list(refused.json["fields"]) == [field]
    assert scalar(app, select(func.count()).select_from(Contribution)) == 0


def _researcher_on_a_request(app, client, clock, police, make_account):
    contact_id = rated_contact(client, police)
    assert ask(client, police, contact_id, "education").status_code == 201
    sign_in(client, make_account(Role.AGENCY_RESEARCHER, "education"), clock)
    return contact_id, str(scalar(app, select(InfoRequest.id)))


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (
            {"item1_text": "Attendance", "item1_measure": ATTENDANCE},
            "Enter a school attendance percentage from 0 to 100",
        ),
        (
            {"item1_text": "Attendance", "item1_measure": ATTENDANCE, "item1_value": "150"},
            "Enter a school attendance percentage from 0 to 100",
        ),
        (
            {"item1_text": "Attendance", "item1_measure": ATTENDANCE, "item1_value": "most"},
            "Enter a school attendance percentage from 0 to 100",
        ),
        (
            {"item2_text": "Capped", "item2_measure": BENEFIT_CAP, "item2_value": "1001"},
            "Enter the income lost to the benefit cap in pounds a week from 0 to 1000",
        ),
        (
            {"item1_text": "Attendance", "item1_value": "82"},
            "Choose the measure of the first item&#39;s value, or clear the value",
        ),
        (
            {"item3_measure": ATTENDANCE, "item3_value": "82"},
            "Enter the third item, or remove its measure",
        ),
    ],
)
def test_the_answer_page_explains_a_wrong_measure(
    app, client, clock, police, make_account, typed, message
):
    _contact_id, request_id = _researcher_on_a_request(app, client, clock, police, make_account)
    page = client.get(f"/requests/{request_id}")
    assert "Measure in item 1 (optional)" in page.text
    assert "from 0 to 100" in page.text  # the value's hint gives each range
    shown = post_form(client, f"/requests/{request_id}", {"outcome": "information_held", **typed})
    assert shown.status_code == 200
    assert "govuk-error-summary" in shown.text
    assert message in shown.text
    assert scalar(app, select(func.count()).select_from(Contribution)) == 0


def test_a_measure_given_on_the_page_is_shown_to_those_who_may_see_it(
    app, client, clock, police, make_account
):
    contact_id, request_id = _researcher_on_a_request(app, client, clock, police, make_account)
    sent = post_form(
        client,
        f"/requests/{request_id}",
        {
            "outcome": "information_held",
            "item1_text": "Attendance this school year",
            "item1_kind": "fact",
            "item1_measure": ATTENDANCE,
            "item1_value": "82.375%",
            "item2_text": "Benefit capped",
            "item2_kind": "fact",
            "item2_restricted": "y",
            "item2_measure": BENEFIT_CAP,
            "item2_value": "£61.50",
        },
    )
    assert sent.status_code == 302
    own = client.get(f"/requests/{request_id}").text
    assert ATTENDANCE_SHOWN in own
    assert "Income lost to the benefit cap, pounds a week: 61.5" in own

    screener = app.test_client()
    sign_in(screener, make_account(Role.SCREENER, "csc"), clock)
    page = screener.get(f"/contacts/{contact_id}").text
    assert ATTENDANCE_SHOWN in page
    assert "Confidential information held by Education" in page
    assert "benefit cap" not in page and "61.5" not in page
    assert ATTENDANCE_SHOWN in screener.get(f"/contacts/{contact_id}/decision").text

    manager = app.test_client()
    sign_in(manager, make_account(Role.MASH_MANAGER, "police"), clock)
    page = manager.get(f"/contacts/{contact_id}").text
    assert "Income lost to the benefit cap, pounds a week: 61.5" in page


def test_a_correction_keeps_the_earlier_measure(app, client, clock, police, make_account):
    contact_id, request_id = _researcher_on_a_request(app, client, clock, police, make_account)
    assert (
        post_form(
            client,
            f"/requests/{request_id}",
            {
                "outcome": "information_held",
                "item1_text": "Attendance this school year",
                "item1_kind": "fact",
                "item1_measure": ATTENDANCE,
                "item1_value": "82.375",
            },
        ).status_code
        == 302
    )
    form = client.get(f"/requests/{request_id}/correct").text
    # The answer as it stands, to edit: its measure chosen and its value typed.
    assert f'value="{ATTENDANCE}" selected' in form
    assert 'value="82.375"' in form

    clock.advance(timedelta(minutes=5))
    corrected = post_form(
        client,
        f"/requests/{request_id}/correct",
        {
            "outcome": "information_held",
            "item1_text": "Attendance this school year",
            "item1_kind": "fact",
            "item1_measure": ATTENDANCE,
            "item1_value": "62",
            "reason": "Typed 82 for 62",
        },
    )
    assert corrected.status_code == 302
    shown = client.get(f"/requests/{request_id}").text
    assert "School attendance, as a percentage: 62" in shown
    assert "Earlier answers (1)" in shown and ATTENDANCE_SHOWN in shown

    with app.extensions["mash.db"].transaction() as session:
        kept = session.execute(
            select(ContributionRevisionItem.measure_code, ContributionRevisionItem.measure_sealed)
        ).one()
    assert kept.measure_code == ATTENDANCE
    assert kept.measure_sealed is not None and b"82.375" not in kept.measure_sealed

    screener = app.test_client()
    sign_in(screener, make_account(Role.SCREENER, "csc"), clock)
    page = screener.get(f"/contacts/{contact_id}").text
    assert "School attendance, as a percentage: 62" in page and ATTENDANCE_SHOWN in page

    # The criteria check counts the answer as it stands, as of its correction.
    corrected_at = scalar(app, select(Contribution.corrected_at))
    [given] = _measures(app, _principal(Role.SCREENER, "csc"), contact_id)
    assert (given.value, given.answered_at) == (62.0, corrected_at)
