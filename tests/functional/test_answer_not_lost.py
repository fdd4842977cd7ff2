"""A researcher's typed items are never dropped by ticking "Not known to us" or "Unable to
respond" (#13, usability review D5), and sending an answer or a request is confirmed in a
success banner (m2)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mash_hub.authz.permissions import Role
from mash_hub.db import Database
from mash_hub.sharing.models import Contribution, InfoRequest
from tests.functional.test_requests import ask, rated_contact, screening
from tests.helpers import csrf_token, sign_in

TYPED = "Known to the school nurse since 2024"


@pytest.fixture
def police(client, make_client):
    return screening(client, make_client)


def _request_id(app) -> str:
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        return str(session.scalar(select(InfoRequest.id)))


def _answers(app) -> list[str]:
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        return list(session.scalars(select(Contribution.outcome)))


@pytest.mark.parametrize(
    ("outcome", "label"),
    [("not_known", "Not known to us"), ("unable_to_respond", "Unable to respond")],
)
def test_typed_items_with_nothing_held_ask_the_researcher_to_choose(
    app, client, clock, police, make_account, outcome, label
):
    contact_id = rated_contact(client, police)
    ask(client, police, contact_id, "education")
    sign_in(client, make_account(Role.AGENCY_RESEARCHER, "education"), clock)
    request_id = _request_id(app)
    page = client.get(f"/requests/{request_id}")
    sent = client.post(
        f"/requests/{request_id}",
        data={
            "outcome": outcome,
            "item1_text": TYPED,
            "item1_kind": "fact",
            "csrf_token": csrf_token(page.text),
        },
    )
    assert sent.status_code == 200
    assert "govuk-error-summary" in sent.text and sent.text.count("<title>Error:") == 1
    assert f"chose &#34;{label}&#34;" in sent.text or f"chose &quot;{label}&quot;" in sent.text
    assert "Choose &#34;Information held&#34; to send the items" in sent.text or (
        "Choose &quot;Information held&quot; to send the items" in sent.text
    )
    # Nothing is lost: the items are still in the form, and nothing was recorded.
    assert TYPED in sent.text
    assert _answers(app) == []
    assert client.get(f"/requests/{request_id}").status_code == 200

    # Clearing the items and saying not known is accepted, and confirmed.
    page = client.get(f"/requests/{request_id}")
    cleared = client.post(
        f"/requests/{request_id}",
        data={"outcome": outcome, "item1_text": "", "csrf_token": csrf_token(page.text)},
    )
    assert cleared.status_code == 302
    shown = client.get(cleared.headers["Location"]).text
    assert "govuk-notification-banner--success" in shown
    assert "Your answer has been sent to the MASH" in shown
    assert _answers(app) == [outcome]


def test_sending_a_request_is_confirmed(app, client, clock, police, make_account):
    contact_id = rated_contact(client, police)
    sign_in(client, make_account(Role.SCREENER, "police"), clock)
    form = client.get(f"/contacts/{contact_id}/requests/new")
    sent = client.post(
        f"/contacts/{contact_id}/requests/new",
        data={
            "agency": "health",
            "question": "Any A&E visits?",
            "csrf_token": csrf_token(form.text),
        },
    )
    assert sent.status_code == 302
    page = client.get(sent.headers["Location"]).text
    assert "Request sent to Health about MASH-" in page
    assert "govuk-notification-banner--success" in page
