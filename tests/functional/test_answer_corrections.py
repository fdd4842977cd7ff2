"""An answer can be corrected until the request's due time, with its history (#13 item 4,
usability review D5): the earlier version, who gave it, when, and why it was replaced are
kept and shown to the answering agency and to the MASH, restricted items still withheld
from those who may not see them; after the due time, or before any answer, or for another
agency's request, nothing changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role
from mash_hub.db import Database
from mash_hub.sharing.models import (
    Contribution,
    ContributionItem,
    ContributionRevision,
    InfoRequest,
)
from tests.functional.test_requests import ask, rated_contact, screening
from tests.helpers import csrf_token, sign_in


@pytest.fixture
def police(client, make_client):
    return screening(client, make_client)


def _db(app) -> Database:
    return app.extensions["mash.db"]


def scalar(app, query):
    with _db(app).transaction() as session:
        return session.scalar(query)


def post_form(client, path, data):
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return client.post(path, data={**data, "csrf_token": csrf_token(page.text)})


@pytest.fixture
def answered(app, client, clock, police, make_account):
    """An Amber contact, a request to education, and education's first answer: one
    ordinary item and one restricted item."""
    contact_id = rated_contact(client, police)
    assert ask(client, police, contact_id, "education").status_code == 201
    researcher = make_account(Role.AGENCY_RESEARCHER, "education")
    sign_in(client, researcher, clock)
    request_id = str(scalar(app, select(InfoRequest.id)))
    sent = post_form(
        client,
        f"/requests/{request_id}",
        {
            "outcome": "information_held",
            "item1_text": "Attendance 82% this year",
            "item1_kind": "fact",
            "item2_text": "Designated lead worried about bruising",
            "item2_kind": "opinion",
            "item2_restricted": "y",
        },
    )
    assert sent.status_code == 302
    return contact_id, request_id, researcher


def test_a_researcher_corrects_the_answer_and_the_earlier_one_is_kept(app, client, answered):
    contact_id, request_id, _researcher = answered
    page = client.get(f"/requests/{request_id}")
    assert "Correct your answer" in page.text
    form = client.get(f"/requests/{request_id}/correct")
    assert "Attendance 82% this year" in form.text  # the answer as it stands, to edit

    missing = post_form(
        client,
        f"/requests/{request_id}/correct",
        {"outcome": "information_held", "item1_text": "Attendance 62% this year"},
    )
    assert missing.status_code == 200
    assert "govuk-error-summary" in missing.text
    assert "Enter why you are correcting the answer" in missing.text
    assert scalar(app, select(func.count()).select_from(ContributionRevision)) == 0

    corrected = post_form(
        client,
        f"/requests/{request_id}/correct",
        {
            "outcome": "information_held",
            "item1_text": "Attendance 62% this year",
            "item1_kind": "fact",
            "reason": "Typed 82 for 62",
        },
    )
    assert corrected.status_code == 302
    shown = client.get(corrected.headers["Location"]).text
    assert "Your corrected answer has been sent to the MASH" in shown
    assert "Attendance 62% this year" in shown
    assert "Earlier answers (1)" in shown and "Typed 82 for 62" in shown
    assert "Attendance 82% this year" in shown
    assert "Designated lead worried about bruising" in shown  # their own restricted item

    contribution = scalar(app, select(Contribution))
    assert (contribution.outcome, contribution.corrections) == ("information_held", 1)
    assert contribution.corrected_at is not None
    assert scalar(app, select(func.count()).select_from(ContributionItem)) == 1
    revision = scalar(app, select(ContributionRevision))
    assert revision.version == 1 and revision.outcome == "information_held"
    assert b"Typed 82" not in revision.reason_sealed  # sealed like the items
    corrections = scalar(
        app,
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "request:correct", AuditEvent.decision == "allow"),
    )
    assert corrections == 1

    # A second correction keeps both earlier versions, in order.
    again = post_form(
        client,
        f"/requests/{request_id}/correct",
        {"outcome": "not_known", "reason": "Wrong child: same name, other school"},
    )
    assert again.status_code == 302
    shown = client.get(f"/requests/{request_id}").text
    assert "Earlier answers (2)" in shown
    assert "Version 2" in shown and "Version 1" in shown


def test_the_mash_sees_the_correction_and_restricted_items_stay_withheld(
    app, client, clock, answered, make_account
):
    contact_id, request_id, _researcher = answered
    assert (
        post_form(
            client,
            f"/requests/{request_id}/correct",
            {
                "outcome": "information_held",
                "item1_text": "Attendance 62% this year",
                "item1_kind": "fact",
                "reason": "Typed 82 for 62",
            },
        ).status_code
        == 302
    )
    screener = app.test_client()
    sign_in(screener, make_account(Role.SCREENER, "csc"), clock)
    page = screener.get(f"/contacts/{contact_id}").text
    assert "Corrected" in page and "Attendance 62% this year" in page
    assert "Earlier answers (1)" in page and "Typed 82 for 62" in page
    assert "Attendance 82% this year" in page
    # Education restricted the second item of the first answer: a screener of csc is not
    # a MASH manager nor of education, so it stays withheld in the history too.
    assert "Designated lead worried about bruising" not in page
    assert "Confidential information held by Education" in page
    manager = app.test_client()
    sign_in(manager, make_account(Role.MASH_MANAGER, "police"), clock)
    assert "Designated lead worried about bruising" in manager.get(f"/contacts/{contact_id}").text


def test_no_correction_after_the_due_time_or_for_another_agency(
    app, client, clock, answered, make_account
):
    _contact_id, request_id, researcher = answered
    other = app.test_client()
    sign_in(other, make_account(Role.AGENCY_RESEARCHER, "health"), clock)
    assert other.get(f"/requests/{request_id}/correct").status_code == 404
    refused = other.post(
        f"/requests/{request_id}/correct",
        data={"outcome": "not_known", "reason": "x", "csrf_token": csrf_token(other.get("/").text)},
    )
    assert refused.status_code == 404

    due = scalar(app, select(InfoRequest.due_at))
    clock.set(due + timedelta(seconds=1))
    late = app.test_client()
    sign_in(late, researcher, clock)  # sessions end after 15 minutes idle
    assert late.get(f"/requests/{request_id}/correct").status_code == 404
    refused = late.post(
        f"/requests/{request_id}/correct",
        data={
            "outcome": "not_known",
            "reason": "Too late",
            "csrf_token": csrf_token(late.get("/").text),
        },
    )
    assert refused.status_code == 409
    assert "can no longer be corrected" in refused.text
    assert scalar(app, select(func.count()).select_from(ContributionRevision)) == 0
    assert scalar(app, select(Contribution.outcome)) == "information_held"


def test_an_unanswered_request_has_nothing_to_correct(app, client, clock, police, make_account):
    contact_id = rated_contact(client, police)
    assert ask(client, police, contact_id, "housing").status_code == 201
    sign_in(client, make_account(Role.AGENCY_RESEARCHER, "housing"), clock)
    request_id = str(scalar(app, select(InfoRequest.id)))
    assert "Correct your answer" not in client.get(f"/requests/{request_id}").text
    page = client.get(f"/requests/{request_id}/correct")
    assert page.status_code == 409
    assert "Nothing was changed" in page.text
    token = csrf_token(client.get(f"/requests/{request_id}").text)
    refused = client.post(
        f"/requests/{request_id}/correct",
        data={"outcome": "not_known", "reason": "Oops", "csrf_token": token},
    )
    assert refused.status_code == 409
    assert "has not been answered yet" in refused.text
    assert scalar(app, select(func.count()).select_from(Contribution)) == 0


def test_earlier_versions_are_append_only(app, client, answered):
    _contact_id, request_id, _researcher = answered
    post_form(
        client,
        f"/requests/{request_id}/correct",
        {"outcome": "not_known", "reason": "Wrong family"},
    )
    with pytest.raises(DBAPIError, match="append-only"), _db(app).transaction() as session:
        session.execute(update(ContributionRevision).values(outcome="unable_to_respond"))
