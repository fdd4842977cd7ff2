"""The canary: a contact with a unique marker in every field, taken through everything
that sends a message (request sent, due soon, expired, outcome returned and approved,
retention review due, and every other kind), delivered to a real SMTP server: no subject
or body of any kind holds any of the markers."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from mash_hub import scheduler
from mash_hub.authz.permissions import Role, Scope
from mash_hub.contacts.models import ContactDecision
from mash_hub.db import Database
from mash_hub.notifications.services import notify
from mash_hub.outbox import delivery
from mash_hub.outbox.messages import KINDS
from mash_hub.outbox.webhooks import KIND_SCOPES as WEBHOOK_KINDS
from mash_hub.sharing.models import InfoRequest
from tests.conftest import make_settings
from tests.functional.screening.conftest import Person
from tests.functional.test_contacts_api import token
from tests.functional.test_requests import researcher
from tests.smtp_sink import smtp_sink
from tests.webhook_receiver import webhook_receiver

MARKERS = {
    "referrer_name": "Brambleworth",
    "referrer_role": "Snarkhunter",
    "concern": "Glimmerquay",
    "consent_reason": "Wobblethorpe",
    "child_given": "Quenbyline",
    "family_name": "Tallowmere",
    "dob_iso": "2013-07-19",
    "dob_uk": "19 July 2013",
    "dob_slash": "19/07/2013",
    "address": "Fennimore",
    "town": "Xandercombe",
    "nhs": "943 476 5919",
    "nhs_digits": "9434765919",
    "parent_given": "Ysoldeline",
    "rating": "Tulgeywood",
    "question": "Vorpalwick",
    "answer": "Frumiousband",
    "proposal": "Mimsyborogove",
    "returned": "Outgrabewise",
    "referral_reason": "Jubjubhollow",
    "referral_decision": "Bandersnatchley",
}

CONTACT = {
    "received_at": "2026-11-30T09:15:00Z",
    "source": {
        "agency": "police",
        "referrer_name": f"Ofelia {MARKERS['referrer_name']}",
        "referrer_role": f"{MARKERS['referrer_role']} officer",
        "email": "duty.desk@police.example",
    },
    "concern": f"Shouting heard late at night near {MARKERS['concern']} park.",
    "consent": {"status": "not_sought", "reason": f"risk of harm {MARKERS['consent_reason']}"},
    "subjects": [
        {
            "role": "child",
            "given_name": MARKERS["child_given"],
            "family_name": MARKERS["family_name"],
            "date_of_birth": MARKERS["dob_iso"],
            "address": f"7 {MARKERS['address']} Lane, {MARKERS['town']}",
            "nhs_number": MARKERS["nhs"],
        },
        {"role": "parent", "given_name": MARKERS["parent_given"], "family_name": "Tallowmere"},
    ],
}


@pytest.fixture
def sink():
    with smtp_sink() as running:
        yield running


@pytest.fixture
def receiver():
    with webhook_receiver() as running:
        yield running


@pytest.fixture
def settings(test_db_url, tmp_path, sink, receiver):
    return make_settings(
        test_db_url,
        MASH_NOTIFICATIONS__WEBHOOK_ALLOW=receiver.url("hooks/"),
        MASH_APP__INSTANCE_PATH=str(tmp_path / "instance"),
        MASH_NOTIFICATIONS__SMTP_URL=sink.url,
        MASH_NOTIFICATIONS__MAILBOXES__HEALTH="mash-health@nhs.example",
        MASH_NOTIFICATIONS__MAILBOXES__HOUSING="mash-housing@housing.example",
    )


def _db(app) -> Database:
    return app.extensions["mash.db"]


def test_no_message_of_any_kind_holds_case_content(
    app, client, clock, make_client, make_account, sink, receiver
):
    for role, agency in [
        (Role.AGENCY_RESEARCHER, "health"),
        (Role.MASH_MANAGER, "csc"),
        (Role.GOVERNANCE_LEAD, "csc"),
        (Role.GOVERNANCE_LEAD, "police"),
        (Role.GOVERNANCE_LEAD, "health"),
        (Role.GOVERNANCE_LEAD, "housing"),
        (Role.AGENCY_RESEARCHER, "earlyhelp"),
    ]:
        make_account(role, agency)
    screener_account = make_account(Role.SCREENER, "police")
    manager_account = make_account(Role.MASH_MANAGER, "csc")
    api = token(
        client, make_client, "police", Scope.CONTACTS_WRITE, Scope.SCREENING_READ,
        Scope.SCREENING_WRITE,
    )  # fmt: skip

    # Agency systems subscribed to every kind they may have: their deliveries are checked too.
    health_system = researcher(client, make_client, "health")
    early_help_system = token(
        client, make_client, "earlyhelp", Scope.REFERRALS_READ, Scope.REFERRALS_WRITE
    )
    for headers, kinds in [
        (early_help_system, ["referral.sent"]),
        (health_system, ["request.sent", "request.due_soon", "request.overdue"]),
        (researcher(client, make_client, "housing"), ["request.due_soon", "request.overdue"]),
        (api, ["decision.returned", "decision.approved"]),
    ]:
        made = client.post(
            "/api/v1/subscriptions",
            json={"url": receiver.url("hooks/x"), "kinds": kinds},
            headers=headers,
        )
        assert made.status_code == 201, made.json

    created = client.post("/api/v1/contacts", json=CONTACT, headers=api)
    assert created.status_code == 201, created.json
    cid = created.json["id"]
    rated = client.post(
        f"/api/v1/contacts/{cid}/rating",
        json={"rag": "red", "rationale": f"Partner checks {MARKERS['rating']}"},
        headers=api,
    )
    assert rated.status_code == 200
    for agency in ("health", "housing"):
        asked = client.post(
            f"/api/v1/contacts/{cid}/requests",
            json={"agency": agency, "question": f"Known to you? {MARKERS['question']}"},
            headers=api,
        )
        assert asked.status_code == 201, asked.json
    with _db(app).transaction() as session:
        health_request = session.scalar(
            select(InfoRequest.id).where(InfoRequest.agency == "health")
        )
    answered = client.post(
        f"/api/v1/requests/{health_request}/response",
        json={
            "outcome": "information_held",
            "items": [{"kind": "fact", "text": f"Seen at clinic {MARKERS['answer']}"}],
        },
        headers=health_system,
    )
    assert answered.status_code == 201, answered.json
    clock.advance(timedelta(minutes=100))
    scheduler.run_all_once(app)  # housing's request is due soon
    clock.advance(timedelta(minutes=21))
    scheduler.run_all_once(app)  # and has expired

    path = f"/contacts/{cid}/decision"
    screener = Person(app, screener_account, clock)
    manager = Person(app, manager_account, clock)

    def propose(outcome="no_further_action"):
        proposed = screener.post_form(path, {"outcome": outcome, "rationale": MARKERS["proposal"]})
        assert proposed.status_code == 302, proposed.text
        with _db(app).transaction() as session:
            return str(
                session.scalar(
                    select(ContactDecision.id)
                    .where(ContactDecision.contact_id == uuid.UUID(cid))
                    .order_by(ContactDecision.sequence.desc())
                )
            )

    returned = manager.post_form(
        f"{path}/review",
        {"decision_id": propose(), "verdict": "returned", "reason": MARKERS["returned"]},
        page=path,
    )
    assert returned.status_code == 302, returned.text
    # Approved as early help: the family is referred on, and early help's system declines it.
    approved = manager.post_form(
        f"{path}/review",
        {
            "decision_id": propose("early_help"),
            "verdict": "approved",
            "referral_reason": MARKERS["referral_reason"],
        },
        page=path,
    )
    assert approved.status_code == 302, approved.text
    early_help_system = token(  # a fresh token: the clock has moved on
        client, make_client, "earlyhelp", Scope.REFERRALS_READ, Scope.REFERRALS_WRITE
    )
    listed = client.get("/api/v1/referrals", headers=early_help_system)
    assert listed.status_code == 200, listed.json
    declined = client.post(
        f"/api/v1/referrals/{listed.json['referrals'][0]['id']}/decision",
        json={"decision": "declined", "reason": MARKERS["referral_decision"]},
        headers=early_help_system,
    )
    assert declined.status_code == 200, declined.json
    clock.advance(timedelta(minutes=2))
    told = clock.now() - timedelta(minutes=1)
    acknowledged = screener.post_form(
        f"/contacts/{cid}/acknowledgement",
        {
            "method": "phone",
            "told_date": told.strftime("%d/%m/%Y"),
            "told_time": told.strftime("%H:%M"),
        },
        page=path,
    )
    assert acknowledged.status_code == 302, acknowledged.text
    # Listed once the longest period of what it holds (health's answer's) has run out.
    for _year in range(12):
        clock.advance(timedelta(days=366))
        if scheduler.run_all_once(app)["list_retention_due"]:
            break

    produced = {r.message["X-MASH-Kind"] for r in sink.received}
    assert produced >= {
        "request.sent",
        "request.due_soon",
        "request.overdue",
        "decision.returned",
        "decision.approved",
        "retention.review_due",
        "referral.sent",
        "referral.decided",
    }
    # The kinds whose events are not driven here are written about the same contact, as
    # their hooks would, so that every kind's message is checked.
    with app.app_context(), _db(app).transaction() as session:
        for kind in sorted(set(KINDS) - produced):
            notify(
                session,
                agency="csc",
                role=Role.MASH_MANAGER,
                kind=kind,
                object_type="Contact",
                object_id=cid,
                contact_reference=created.json["reference"],
                due_at=clock.now(),
            )
    with app.app_context():
        delivery.deliver_once(_db(app))

    assert {r.message["X-MASH-Kind"] for r in sink.received} == set(KINDS)
    for received in sink.received:
        text = received.text + "\n" + str(received.message)
        for field, marker in MARKERS.items():
            assert marker not in text, (field, received.message["X-MASH-Kind"])
        assert created.json["reference"] in received.message["Subject"]
    # The referrer's email went to the address they left (and holds no link).
    assert [r.message["X-MASH-Kind"] for r in sink.handler.to("duty.desk@police.example")] == [
        "referrer.outcome"
    ]
    hooks = receiver.received()
    assert {json.loads(d.body)["data"]["kind"] for d in hooks} == set(WEBHOOK_KINDS)
    for delivered in hooks:
        for field, marker in MARKERS.items():
            assert marker not in delivered.body.decode(), (field, delivered.body)
