"""Onward referrals (step-down, issue #15 item 4): an approved early-help outcome refers
the family on to Early Help Family Support, which sees what its agreement allows, accepts
or declines by its due time (pages and API), and the MASH is told; expiry; audit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from mash_hub import scheduler
from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role, Scope
from mash_hub.contacts.models import ContactDecision
from mash_hub.db import Database
from mash_hub.notifications.models import Notification
from mash_hub.referrals.models import OnwardReferral
from tests.functional.screening.conftest import Person
from tests.functional.test_contacts_api import CONTACT, token
from tests.functional.test_requests import researcher
from tests.helpers import csrf_token

REASON = "Family asked for help with school mornings and routines; consent to the offer given"
CONCERN_WORDS = "Shouting"  # in CONTACT's concern: never shown to the service
PARTNER_ANSWER = "Seen at the walk-in clinic twice this month"
RATIONALE = "Needs are below the threshold for statutory work; early help fits"
# Referred on Monday 30 November 2026 a little after 10:00 (the sign-ins move the clock):
# 24 working hours (3 working days of 9 to 5) later is Thursday 3 December, same time.
MONDAY = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _db(app) -> Database:
    return app.extensions["mash.db"]


def _referrals(app) -> list[OnwardReferral]:
    with _db(app).transaction() as session:
        rows = list(session.scalars(select(OnwardReferral)))
        session.expunge_all()
        return rows


def _notified(app, kind) -> list[tuple[str, str]]:
    with _db(app).transaction() as session:
        return [
            (n.recipient_agency, n.recipient_role)
            for n in session.scalars(select(Notification).where(Notification.kind == kind))
        ]


def _events(app, **where) -> list[AuditEvent]:
    with _db(app).transaction() as session:
        query = select(AuditEvent)
        for name, value in where.items():
            query = query.where(getattr(AuditEvent, name) == value)
        rows = list(session.scalars(query.order_by(AuditEvent.id)))
        session.expunge_all()
        return rows


@pytest.fixture
def team(app, make_account, clock):
    """The MASH screener and manager, early help's team member, and a health researcher."""
    return {
        "screener": Person(app, make_account(Role.SCREENER, "police"), clock),
        "manager": Person(app, make_account(Role.MASH_MANAGER, "csc"), clock),
        "early_help": Person(app, make_account(Role.AGENCY_RESEARCHER, "earlyhelp"), clock),
        "health": Person(app, make_account(Role.AGENCY_RESEARCHER, "health"), clock),
    }


@pytest.fixture
def screening_api(client, make_client):
    return token(
        client, make_client, "csc", Scope.CONTACTS_WRITE, Scope.SCREENING_READ,
        Scope.SCREENING_WRITE,
    )  # fmt: skip


def _contact_with_health_answer(client, make_client, app, api) -> str:
    """An Amber contact that health has answered (the service must never see the answer)."""
    created = client.post("/api/v1/contacts", json=CONTACT, headers=api)
    assert created.status_code == 201, created.json
    cid = created.json["id"]
    rated = client.post(
        f"/api/v1/contacts/{cid}/rating",
        json={"rag": "amber", "rationale": "Several agencies may know the family"},
        headers=api,
    )
    assert rated.status_code == 200, rated.json
    asked = client.post(
        f"/api/v1/contacts/{cid}/requests",
        json={"agency": "health", "question": "Is the family known to you?"},
        headers=api,
    )
    assert asked.status_code == 201, asked.json
    answered = client.post(
        f"/api/v1/requests/{asked.json['id']}/response",
        json={"outcome": "information_held", "items": [{"kind": "fact", "text": PARTNER_ANSWER}]},
        headers=researcher(client, make_client, "health"),
    )
    assert answered.status_code == 201, answered.json
    return cid


def _propose(app, team, cid, outcome) -> str:
    path = f"/contacts/{cid}/decision"
    proposed = team["screener"].post_form(path, {"outcome": outcome, "rationale": RATIONALE})
    assert proposed.status_code == 302, proposed.text
    with _db(app).transaction() as session:
        return str(
            session.scalar(
                select(ContactDecision.id)
                .where(ContactDecision.contact_id == uuid.UUID(cid))
                .order_by(ContactDecision.sequence.desc())
            )
        )


def _approve(app, team, cid, outcome="early_help", reason=REASON):
    path = f"/contacts/{cid}/decision"
    decision_id = _propose(app, team, cid, outcome)
    form = {"decision_id": decision_id, "verdict": "approved"}
    if reason is not None:
        form["referral_reason"] = reason
    return team["manager"].post_form(f"{path}/review", form, page=path)


@pytest.fixture
def referred(app, client, make_client, team, screening_api):
    """A contact approved as early help: (contact id, referral id)."""
    cid = _contact_with_health_answer(client, make_client, app, screening_api)
    approved = _approve(app, team, cid)
    assert approved.status_code == 302, approved.text
    (referral,) = _referrals(app)
    return cid, str(referral.id)


# --- making one ------------------------------------------------------------------------


def test_an_approved_early_help_outcome_refers_the_family_once_due_in_three_working_days(
    app, referred, team
):
    cid, referral_id = referred
    (referral,) = _referrals(app)
    assert referral.agency == "earlyhelp"
    assert referral.status == "open"
    assert referral.outcome == "early_help"
    assert str(referral.contact_id) == cid
    assert referral.referring_agency == "csc"
    assert MONDAY <= referral.referred_at < MONDAY + timedelta(minutes=10)
    assert referral.due_at == referral.referred_at + timedelta(days=3)
    assert REASON.encode() not in referral.reason_sealed  # sealed, not stored as text
    # Early help's team (and its mailbox) is told; the approval and the referral are one.
    assert _notified(app, "referral.sent") == [("earlyhelp", "agency_researcher")]
    made = _events(app, action="referral:create", kind="access.decision")
    assert [(e.decision, e.isa_ids, e.clauses) for e in made] == [
        ("allow", "ISA-MASH-EARLYHELP", "4.1")
    ]
    assert made[0].contact_id == cid
    page = team["manager"].get(f"/contacts/{cid}/decision")
    assert page.status_code == 200


def test_no_further_action_refers_nobody_and_asks_for_no_referral_reason(
    app, client, make_client, team, screening_api
):
    cid = _contact_with_health_answer(client, make_client, app, screening_api)
    approved = _approve(app, team, cid, outcome="no_further_action", reason=None)
    assert approved.status_code == 302, approved.text
    assert _referrals(app) == []
    assert _notified(app, "referral.sent") == []


def test_approving_early_help_without_a_reason_for_the_service_writes_nothing(
    app, client, make_client, team, screening_api
):
    cid = _contact_with_health_answer(client, make_client, app, screening_api)
    path = f"/contacts/{cid}/decision"
    page = team["manager"].get(path)
    decision_id = _propose(app, team, cid, "early_help")
    page = team["manager"].get(path)
    assert "Reason for the referral to Early Help Family Support" in page.text
    refused = team["manager"].post_form(
        f"{path}/review", {"decision_id": decision_id, "verdict": "approved"}, page=path
    )
    assert refused.status_code == 200
    assert "Write the reason for the referral to Early Help Family Support" in refused.text
    assert _referrals(app) == []
    # Still waiting for sign-off: nothing of the approval was kept.
    assert "Sign off the proposed outcome" in team["manager"].get(path).text


# --- what the receiving service sees ---------------------------------------------------


def test_the_service_sees_the_family_and_reason_never_the_concern_rating_or_answers(
    app, referred, team
):
    cid, referral_id = referred
    inbox = team["early_help"].get("/referrals")
    assert inbox.status_code == 200
    assert "MASH-2026-000001" in inbox.text
    assert "Waiting for your decision" in inbox.text
    page = team["early_help"].get(f"/referrals/{referral_id}")
    assert page.status_code == 200
    assert REASON in page.text
    for subject in CONTACT["subjects"]:
        assert subject["given_name"] in page.text
    assert "3 December 2026" in page.text  # the due time, UK time
    for hidden in (CONCERN_WORDS, PARTNER_ANSWER, RATIONALE, "Amber", "AMBER", "943 476 5919"):
        assert hidden not in page.text, hidden
    # Nor the contact itself, whose pages are the MASH staff's alone.
    assert team["early_help"].get(f"/contacts/{cid}").status_code == 403
    reads = _events(app, action="referral:read", actor_id=str(team["early_help"].account.user_id))
    assert reads and {e.decision for e in reads} == {"allow"}
    assert {(e.isa_ids, e.clauses) for e in reads} == {("ISA-MASH-EARLYHELP", "4.3")}


def test_another_partner_sees_nothing_of_a_referral(app, referred, team):
    _cid, referral_id = referred
    other = team["health"].get(f"/referrals/{referral_id}")
    missing = team["health"].get(f"/referrals/{uuid.uuid4()}")
    assert other.status_code == missing.status_code == 404
    assert team["health"].get("/referrals").status_code == 200
    assert referral_id not in team["health"].get("/referrals").text
    refused = _events(app, action="referral:read", actor_id=str(team["health"].account.user_id))
    assert [e.decision for e in refused] == ["deny", "deny"]
    # Refused by the policy, or (PostgreSQL) not even found: row-level security hides
    # another service's referral from a partner's session.
    reasons = {e.reason for e in refused}
    assert "not_found" in reasons
    assert reasons <= {"forbidden by forbid-read-other-agency-referral", "not_found"}


# --- deciding ---------------------------------------------------------------------------


def test_accepting_tells_the_mash_and_shows_the_decision_on_the_contact(app, referred, team):
    cid, referral_id = referred
    path = f"/referrals/{referral_id}"
    accepted = team["early_help"].post_form(path, {"decision": "accepted"})
    assert accepted.status_code == 302, accepted.text
    after = team["early_help"].get(path)
    assert "Referral MASH-2026-000001 accepted" in after.text
    assert "You can see this referral until" in after.text
    (referral,) = _referrals(app)
    assert referral.status == "accepted"
    assert referral.decided_by == str(team["early_help"].account.user_id)
    assert referral.readable_until == referral.decided_at + timedelta(days=30)
    assert _notified(app, "referral.decided") == [("csc", "mash_manager")]
    decided = _events(app, action="referral:decide", kind="access.decision")
    assert [(e.decision, e.clauses) for e in decided] == [("allow", "4.4")]
    assert [e.reason for e in _events(app, kind="referral.decided")] == ["accepted"]
    # A second decision is refused: the first is final.
    again = team["early_help"].post_form(
        path, {"decision": "declined", "reason": "changed our mind"}, page="/referrals"
    )
    assert again.status_code == 409
    assert "already been accepted" in again.text
    contact = team["manager"].get(f"/contacts/{cid}")
    assert "Onward referrals" in contact.text
    assert "Accepted" in contact.text and REASON in contact.text


def test_declining_needs_a_reason_which_the_mash_sees(app, referred, team):
    cid, referral_id = referred
    path = f"/referrals/{referral_id}"
    blank = team["early_help"].post_form(path, {"decision": "declined"})
    assert blank.status_code == 200
    assert "There is a problem" in blank.text
    assert "Give the reason for declining the referral" in blank.text
    assert _referrals(app)[0].status == "open"
    declined = team["early_help"].post_form(
        path, {"decision": "declined", "reason": "Family already has a lead practitioner"}
    )
    assert declined.status_code == 302
    assert _referrals(app)[0].status == "declined"
    contact = team["manager"].get(f"/contacts/{cid}")
    assert "Family already has a lead practitioner" in contact.text
    # Declined: the family's details are no longer the service's to read.
    assert team["early_help"].get(path).status_code == 404


def test_past_its_due_time_a_referral_cannot_be_decided_and_the_job_expires_it(
    app, client, make_client, clock, referred, team
):
    _cid, referral_id = referred
    clock.advance(_referrals(app)[0].due_at - clock.now())
    # Signed in afresh (three days idle ended the session); the page's form is gone, so the
    # decision is posted as a stale tab would post it.
    member = Person(app, team["early_help"].account, clock)
    form = csrf_token(member.get("/referrals").text)
    late = member.client.post(
        f"/referrals/{referral_id}", data={"decision": "accepted", "csrf_token": form}
    )
    assert late.status_code == 409
    assert "due time has passed" in late.text
    system = token(client, make_client, "earlyhelp", Scope.REFERRALS_READ, Scope.REFERRALS_WRITE)
    by_api = client.post(
        f"/api/v1/referrals/{referral_id}/decision", json={"decision": "accepted"}, headers=system
    )
    assert by_api.status_code == 409
    assert member.get(f"/referrals/{referral_id}").status_code == 404
    assert scheduler.run_all_once(app)["expire_referrals"] == 1
    assert scheduler.run_all_once(app)["expire_referrals"] == 0  # once each
    assert _referrals(app)[0].status == "expired"
    assert _notified(app, "referral.expired") == [("csc", "mash_manager")]
    assert [e.reason for e in _events(app, kind="referral.expired")] == ["due time passed"]


# --- the API ------------------------------------------------------------------------------


def test_the_api_lists_shows_and_decides_for_the_services_system(
    app, client, make_client, referred
):
    cid, referral_id = referred
    reader = token(client, make_client, "earlyhelp", Scope.REFERRALS_READ)
    listed = client.get("/api/v1/referrals?limit=1", headers=reader)
    assert listed.status_code == 200
    (row,) = listed.json["referrals"]
    assert listed.json["next_cursor"] is None
    assert row["id"] == referral_id
    assert row["contact_reference"] == "MASH-2026-000001"
    assert (row["status"], row["due_at"][:13], row["decided_at"]) == ("open", "2026-12-03T10", None)
    shown = client.get(f"/api/v1/referrals/{referral_id}", headers=reader)
    assert shown.status_code == 200
    body = shown.json
    assert body["reason"] == REASON
    assert body["status"] == "open" and body["due_at"] == row["due_at"]
    assert [s["given_name"] for s in body["subjects"]] == [
        s["given_name"] for s in CONTACT["subjects"]
    ]
    assert "concern" not in body and "rag" not in body and "nhs_number" not in body["subjects"][0]
    assert PARTNER_ANSWER not in shown.text and CONCERN_WORDS not in shown.text
    # Reading is not deciding: the read-only system may not decide.
    refused = client.post(
        f"/api/v1/referrals/{referral_id}/decision", json={"decision": "accepted"}, headers=reader
    )
    assert refused.status_code == 403
    writer = token(client, make_client, "earlyhelp", Scope.REFERRALS_READ, Scope.REFERRALS_WRITE)
    unreasoned = client.post(
        f"/api/v1/referrals/{referral_id}/decision", json={"decision": "declined"}, headers=writer
    )
    assert unreasoned.status_code == 422
    assert unreasoned.json["fields"] == {"reason": "is required to decline a referral"}
    decided = client.post(
        f"/api/v1/referrals/{referral_id}/decision",
        json={"decision": "accepted", "reason": "Allocated to the north team"},
        headers=writer,
    )
    assert decided.status_code == 200, decided.json
    assert decided.json["status"] == "accepted"
    twice = client.post(
        f"/api/v1/referrals/{referral_id}/decision", json={"decision": "accepted"}, headers=writer
    )
    assert twice.status_code == 409
    # Another service's or a missing id: one answer, both audited as refused.
    health = token(client, make_client, "health", Scope.REFERRALS_READ, Scope.REFERRALS_WRITE)
    other = client.get(f"/api/v1/referrals/{referral_id}", headers=health)
    missing = client.get(f"/api/v1/referrals/{uuid.uuid4()}", headers=writer)
    assert other.status_code == missing.status_code == 404
    assert other.json == missing.json
    assert client.get("/api/v1/referrals", headers=health).json["referrals"] == []
    # The MASH's screening system sees the referral and its outcome on the contact.
    mash = token(client, make_client, "csc", Scope.SCREENING_READ)
    contact = client.get(f"/api/v1/contacts/{cid}", headers=mash)
    assert contact.status_code == 200
    (on_contact,) = contact.json["referrals"]
    assert on_contact["id"] == referral_id
    assert on_contact["agency"] == "earlyhelp"
    assert on_contact["status"] == "accepted"
    assert on_contact["reason"] == REASON
    assert on_contact["decision_reason"] == "Allocated to the north team"


def test_a_system_without_the_referral_scopes_is_refused(client, make_client, referred):
    _cid, referral_id = referred
    partner = researcher(client, make_client, "earlyhelp")  # requests scopes only
    assert client.get("/api/v1/referrals", headers=partner).status_code == 403
    assert client.get(f"/api/v1/referrals/{referral_id}", headers=partner).status_code == 403


def test_the_referral_carries_the_criteria_check_recorded_before_the_approval(
    app, client, make_client, team, screening_api
):
    """#15 item 3 meets item 4: the MASH records the criteria check, approves early help,
    and the service sees the check (programme, version, criteria met with their evidence)
    on its page and over the API, sealed for it like the reason."""
    import copy

    body = copy.deepcopy(CONTACT)
    body["presenting_issues"] = ["domestic_abuse", "debt", "school_attendance"]
    created = client.post("/api/v1/contacts", json=body, headers=screening_api)
    cid = created.json["id"]
    client.post(
        f"/api/v1/contacts/{cid}/rating",
        json={"rag": "amber", "rationale": "Early help may fit"},
        headers=screening_api,
    )
    recorded = team["screener"].post_form(f"/contacts/{cid}/criteria", {})
    assert recorded.status_code == 302
    assert _approve(app, team, cid).status_code == 302
    (referral,) = _referrals(app)
    assert (
        referral.criteria_sealed is not None and b"Domestic abuse" not in referral.criteria_sealed
    )

    page = team["early_help"].get(f"/referrals/{referral.id}").text
    assert "Supporting Families" in page and "appears to meet the criteria" in page
    assert "presenting issues: Domestic abuse" in page
    reader = token(client, make_client, "earlyhelp", Scope.REFERRALS_READ)
    shown = client.get(f"/api/v1/referrals/{referral.id}", headers=reader).json
    (programme,) = shown["criteria_check"]["programmes"]
    assert programme["id"] == "supporting-families" and programme["meets_rule"] is True
    assert {m["code"] for m in programme["criteria_met"]} == {
        "good_education",
        "safe_from_domestic_abuse",
        "financial_stability",
    }
    assert shown["criteria_check"]["checked_at"].endswith("Z")


def test_without_a_recorded_check_the_referral_says_so(app, referred, team, client, make_client):
    _cid, referral_id = referred
    page = team["early_help"].get(f"/referrals/{referral_id}").text
    assert "The MASH recorded no criteria check for this family" in page
    reader = token(client, make_client, "earlyhelp", Scope.REFERRALS_READ)
    assert (
        client.get(f"/api/v1/referrals/{referral_id}", headers=reader).json["criteria_check"]
        is None
    )


# --- step-up ---------------------------------------------------------------------------


def _step_up(client, headers, referral_id):
    import copy

    body = copy.deepcopy(CONTACT)
    body["source"] = {
        "agency": "earlyhelp",
        "referrer_name": "Jo Keyworker",
        "referrer_role": "Family support worker",
    }
    body["concern"] = "Since the support began, the children have said they are afraid at home."
    body["stepped_up_from_referral"] = referral_id
    return client.post("/api/v1/contacts", json=body, headers=headers)


def test_a_family_stepped_up_from_early_help_is_a_new_contact_linked_to_the_earlier_one(
    app, client, make_client, referred, team, screening_api
):
    """Early help tells the MASH things have got worse; the MASH records the new contact
    (contacts stay with the MASH's own staff and systems, hard line 6.1), naming the
    referral the family came through."""
    cid, referral_id = referred
    # Not yet accepted: the family never reached the service, so no step-up through it.
    early = _step_up(client, screening_api, referral_id)
    assert early.status_code == 422
    assert "accepted" in early.json["fields"]["stepped_up_from_referral"]
    service = token(client, make_client, "earlyhelp", Scope.REFERRALS_READ, Scope.REFERRALS_WRITE)
    accepted = client.post(
        f"/api/v1/referrals/{referral_id}/decision",
        json={"decision": "accepted", "reason": "Family support worker allocated"},
        headers=service,
    )
    assert accepted.status_code == 200, accepted.json
    made = _step_up(client, screening_api, referral_id)
    assert made.status_code == 201, made.json
    new_id = made.json["id"]

    shown = client.get(f"/api/v1/contacts/{new_id}", headers=screening_api).json
    assert shown["stepped_up_from"] == {"contact_id": cid, "reference": "MASH-2026-000001"}
    assert shown["source"]["agency"] == "earlyhelp"
    page = team["screener"].get(f"/contacts/{new_id}").text
    assert "Stepped up to the MASH from early help" in page and "MASH-2026-000001" in page


def test_a_step_up_through_an_unknown_or_unreadable_referral_is_refused(
    client, make_client, referred, screening_api
):
    _cid, referral_id = referred
    # Early help itself records no contact: that stays with the MASH (hard line 6.1).
    service = token(client, make_client, "earlyhelp", Scope.CONTACTS_WRITE, Scope.REFERRALS_READ)
    assert _step_up(client, service, referral_id).status_code == 403
    unknown = _step_up(client, screening_api, str(uuid.uuid4()))
    assert unknown.status_code == 422
    assert "no onward referral" in unknown.json["fields"]["stepped_up_from_referral"]
    bad = _step_up(client, screening_api, "not-an-id")
    assert bad.status_code == 422 and "stepped_up_from_referral" in bad.json["fields"]


def test_a_closed_contact_still_shows_its_referral_read_only(app, clock, referred, team):
    """Once the referrer is told the contact closes; its page, read only under
    contact:review, still shows where the family went and what became of it."""
    cid, _referral_id = referred
    path = f"/contacts/{cid}/decision"
    told = clock.now()
    acknowledged = team["screener"].post_form(
        f"/contacts/{cid}/acknowledgement",
        {
            "method": "phone",
            "told_date": told.strftime("%d/%m/%Y"),
            "told_time": told.strftime("%H:%M"),
        },
        page=path,
    )
    assert acknowledged.status_code == 302, acknowledged.text
    page = team["manager"].get(f"/contacts/{cid}")
    assert page.status_code == 200
    assert 'id="read-only"' in page.text
    assert "Onward referrals" in page.text and REASON in page.text
    reads = _events(app, action="referral:read", actor_id=str(team["manager"].account.user_id))
    assert reads and {(e.decision, e.clauses) for e in reads} == {("allow", "4.2")}


def test_the_mash_is_not_offered_early_help_as_an_agency_to_ask(
    client, make_client, app, team, screening_api
):
    """Early help takes referrals, not information requests: the "Ask an agency" form does
    not offer it (its agreement has no request clauses, so a request would be refused)."""
    cid = _contact_with_health_answer(client, make_client, app, screening_api)
    page = team["screener"].get(f"/contacts/{cid}/requests/new")
    assert page.status_code == 200
    assert 'value="health"' in page.text
    assert 'value="earlyhelp"' not in page.text
    asked = client.post(
        f"/api/v1/contacts/{cid}/requests",
        json={"agency": "earlyhelp", "question": "Known to you?"},
        headers=screening_api,
    )
    assert asked.status_code == 409
