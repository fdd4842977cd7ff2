"""A person sees their own messages in the hub (their agency, their roles) with how the
email to them stands, and chooses which kinds also come by email; an agency's shared
mailbox gets its agency's requests whatever its people choose."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role
from mash_hub.db import Database
from mash_hub.notifications.models import NotificationPreference
from mash_hub.notifications.services import MESSAGES, PAGE_SIZE, kinds_for
from mash_hub.notifications.services import notify as hub_notify
from mash_hub.outbox.models import OutboxMessage
from tests.conftest import make_settings
from tests.helpers import csrf_token, sign_in

HEALTH_MAILBOX = "mash-health@nhs.example"
CHECKBOX = re.compile(r'<input[^>]*type="checkbox"[^>]*>')
CONTACT_LINK = re.compile(r'href="/contacts/[0-9a-f-]{36}"')
REFERENCE = "MASH-2026-000042"


@pytest.fixture
def settings(test_db_url, tmp_path):
    return make_settings(
        test_db_url,
        MASH_APP__INSTANCE_PATH=str(tmp_path / "instance"),
        MASH_NOTIFICATIONS__MAILBOXES__HEALTH=HEALTH_MAILBOX,
    )


def _db(app) -> Database:
    return app.extensions["mash.db"]


def notify(app, agency: str, role: Role, kind: str, object_type: str = "InfoRequest") -> str:
    """Tell `role` in `agency`, as the hub's features do; the object's id."""
    object_id = str(uuid.uuid4())
    with app.app_context(), _db(app).transaction() as session:
        hub_notify(
            session,
            agency=agency,
            role=role,
            kind=kind,
            object_type=object_type,
            object_id=object_id,
            contact_reference=REFERENCE if object_type in ("InfoRequest", "Contact") else None,
            about_agency=agency,
        )
    return object_id


def recipients(app, object_id: str) -> set[tuple[str, str]]:
    with _db(app).transaction() as session:
        return {
            (m.recipient, m.recipient_kind)
            for m in session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.object_id == object_id, OutboxMessage.channel == "email"
                )
            )
        }


def preferences(app) -> list[tuple[str, bool]]:
    with _db(app).transaction() as session:
        return [
            (p.kind, p.email)
            for p in session.scalars(
                select(NotificationPreference).order_by(NotificationPreference.kind)
            )
        ]


def choice_events(app) -> list[AuditEvent]:
    with _db(app).transaction() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.kind == "notifications.email_chosen")
            )
        )


def save(web, kinds: list[str]):
    page = web.get("/account/messages/email")
    assert page.status_code == 200
    return web.post(
        "/account/messages/email",
        data={"kinds": kinds, "csrf_token": csrf_token(page.text)},
    )


def test_the_list_shows_only_the_persons_own_agency_and_roles(app, clock, make_account):
    health_lead = make_account(Role.GOVERNANCE_LEAD, "health", email="lead@nhs.example")
    police_lead = make_account(Role.GOVERNANCE_LEAD, "police", email="lead@police.example")
    overdue = notify(app, "health", Role.GOVERNANCE_LEAD, "request.overdue")
    clock.advance(timedelta(minutes=5))
    glass = notify(app, "police", Role.GOVERNANCE_LEAD, "break_glass.opened", "BreakGlassGrant")
    asked = notify(app, "health", Role.AGENCY_RESEARCHER, "request.sent")  # another role

    web = app.test_client()
    sign_in(web, health_lead, clock)
    home = web.get("/").text
    assert 'href="/account/messages"' in home and "Your messages" in home
    page = web.get("/account/messages")
    assert page.status_code == 200
    assert MESSAGES["request.overdue"] in page.text
    assert f'href="/requests/{overdue}"' in page.text
    assert REFERENCE in page.text
    assert "10:00am" in page.text  # 10:00 UTC on 30 November is 10am in the UK
    assert "Waiting to be sent" in page.text  # the lead's own email, not yet delivered
    assert glass not in page.text and MESSAGES["break_glass.opened"] not in page.text
    assert asked not in page.text and MESSAGES["request.sent"] not in page.text

    other = app.test_client()
    sign_in(other, police_lead, clock)
    page = other.get("/account/messages").text
    assert f'href="/governance/break-glass/{glass}"' in page
    assert overdue not in page and MESSAGES["request.overdue"] not in page
    assert REFERENCE not in page  # break-glass messages name no contact


def test_a_person_who_turns_off_a_kind_gets_no_email_but_others_and_the_mailbox_do(
    app, clock, make_account
):
    chooser = make_account(Role.AGENCY_RESEARCHER, "health", email="a@nhs.example")
    make_account(Role.AGENCY_RESEARCHER, "health", email="b@nhs.example")
    web = app.test_client()
    sign_in(web, chooser, clock)

    saved = save(web, [])  # request.sent unticked: the researcher's only kind
    assert saved.status_code == 302
    assert saved.headers["Location"] == "/account/messages/email"
    shown = web.get("/account/messages/email").text
    assert "Your email choices are saved" in shown
    assert "govuk-notification-banner--success" in shown
    assert preferences(app) == [("request.sent", False)]
    [event] = choice_events(app)
    assert (event.actor_id, event.agency, event.object_id) == (
        str(chooser.user_id),
        "health",
        str(chooser.user_id),
    )
    assert (event.action, event.decision) == ("notifications:choose_email", "allow")
    assert event.reason == "email off: request.sent"

    asked = notify(app, "health", Role.AGENCY_RESEARCHER, "request.sent")
    assert recipients(app, asked) == {("b@nhs.example", "user"), (HEALTH_MAILBOX, "mailbox")}
    page = web.get("/account/messages").text
    assert f'href="/requests/{asked}"' in page
    assert "Not emailed to you" in page
    assert REFERENCE in page  # named by the email the others got

    # Turned on again, the next one reaches them.
    assert save(web, ["request.sent"]).status_code == 302
    assert preferences(app) == [("request.sent", True)]
    assert choice_events(app)[-1].reason == "email on: request.sent"
    again = notify(app, "health", Role.AGENCY_RESEARCHER, "request.sent")
    assert ("a@nhs.example", "user") in recipients(app, again)


def test_email_is_on_until_a_person_chooses(app, clock, make_account):
    lead = make_account(Role.GOVERNANCE_LEAD, "health", email="lead@nhs.example")
    web = app.test_client()
    sign_in(web, lead, clock)
    page = web.get("/account/messages/email").text
    offered = kinds_for(frozenset({Role.GOVERNANCE_LEAD}))
    boxes = CHECKBOX.findall(page)
    assert len(boxes) == len(offered) and all(" checked" in box for box in boxes)
    assert "Information request expired without an answer" in page  # the subject, as label
    assert MESSAGES["request.overdue"] in page  # the summary, as hint
    assert "shared MASH mailbox of the agency asked still receives these" in page
    assert "Decision recorded on your disclosure" not in page  # a MASH manager's kind
    assert preferences(app) == []
    overdue = notify(app, "health", Role.GOVERNANCE_LEAD, "request.overdue")
    assert ("lead@nhs.example", "user") in recipients(app, overdue)


@pytest.mark.parametrize("posted", ["no.such.kind", "breach.recorded"])
def test_a_kind_the_person_does_not_receive_is_refused_and_nothing_saved(
    app, clock, make_account, posted
):
    researcher = make_account(Role.AGENCY_RESEARCHER, "health")
    web = app.test_client()
    sign_in(web, researcher, clock)
    response = save(web, [posted])
    assert response.status_code == 200
    assert "govuk-error-summary" in response.text
    assert "Choose only from the messages listed" in response.text
    assert "<title>Error: " in response.text
    assert preferences(app) == []
    assert choice_events(app) == []


def test_the_pages_need_sign_in(app, client, make_account):
    for path in ("/account/messages", "/account/messages/email"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/sign-in")
    refused = client.post("/account/messages/email", data={"kinds": []})
    assert refused.status_code in (302, 400)
    assert preferences(app) == []


def test_fifty_messages_a_page(app, clock, make_account):
    screener = make_account(Role.SCREENER, "csc")
    for _ in range(PAGE_SIZE + 1):
        notify(app, "csc", Role.SCREENER, "decision.returned", "Contact")
        clock.advance(timedelta(seconds=1))
    web = app.test_client()
    sign_in(web, screener, clock)
    first = web.get("/account/messages").text
    assert len(CONTACT_LINK.findall(first)) == PAGE_SIZE
    assert "govuk-pagination" in first and 'href="/account/messages?page=2"' in first
    assert f"Messages 1 to {PAGE_SIZE} of {PAGE_SIZE + 1}" in first
    second = web.get("/account/messages?page=2").text
    assert len(CONTACT_LINK.findall(second)) == 1
    beyond = web.get("/account/messages?page=99").text  # past the last: the last
    assert len(CONTACT_LINK.findall(beyond)) == 1


@pytest.mark.postgres
def test_an_agency_reads_only_its_own_peoples_emails_on_postgresql(app, make_account, database_url):
    """The outbox rows addressed to an agency's people are readable by that agency's
    sessions (the messages page); a shared mailbox's and other agencies' stay unread."""
    from sqlalchemy import create_engine

    from tests.functional.test_row_level_security import visible

    if not database_url.startswith("postgresql"):
        pytest.skip("row-level security is PostgreSQL's (set MASH_TEST_DATABASE_URL)")
    make_account(Role.AGENCY_RESEARCHER, "health", email="a@nhs.example")
    make_account(Role.AGENCY_RESEARCHER, "housing", email="a@housing.example")
    notify(app, "health", Role.AGENCY_RESEARCHER, "request.sent")  # a@nhs and the mailbox
    notify(app, "housing", Role.AGENCY_RESEARCHER, "request.sent")
    engine = create_engine(database_url)
    try:
        # The two people, health's mailbox, and each event once for its agency's systems
        # (webhooks): the systems' rows, like the mailbox's, stay the system's.
        assert visible(engine, "system", "outbox_messages") == 5
        assert visible(engine, "health", "outbox_messages") == 1
        assert visible(engine, "housing", "outbox_messages") == 1
        for agency in ("police", "csc", None):
            assert visible(engine, agency, "outbox_messages") == 0
    finally:
        engine.dispose()


def test_every_kind_is_offered_to_some_role_and_no_role_is_offered_an_undeclared_one():
    from mash_hub.notifications.services import RECEIVED_BY
    from mash_hub.outbox.messages import KINDS, OUTSIDE_KINDS

    offered = set().union(*RECEIVED_BY.values())
    assert offered == set(KINDS) - OUTSIDE_KINDS  # the referrer's email is no one's choice
    assert set(RECEIVED_BY) == set(Role)


def test_only_a_receiving_services_team_is_offered_the_referral_message(app):
    """referral.sent goes to the team of a service the MASH refers families to (early
    help); another partner's researchers never get it, so are not offered a choice."""
    researchers = frozenset({Role.AGENCY_RESEARCHER})
    with app.app_context():
        assert "referral.sent" in kinds_for(researchers, "earlyhelp")
        assert "referral.sent" not in kinds_for(researchers, "health")
        assert "request.sent" in kinds_for(researchers, "health")
