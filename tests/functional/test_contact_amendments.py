"""Amending a contact during screening (#13, usability review D8): a screener corrects a
subject's details, adds a person found by checks and adds case notes; each is kept,
append-only, with who, when and why; the contact as recorded is never overwritten;
partners with an open request see the amended subjects, never the notes."""

from __future__ import annotations

import html
import json
import re
import uuid

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DatabaseError

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role, Scope
from mash_hub.contacts.models import Contact, ContactAmendment, ContactSubject
from mash_hub.db import Database
from mash_hub.people.models import SubjectKey
from tests.functional.test_contacts_api import CONTACT, token
from tests.functional.test_requests import ask, rated_contact, researcher
from tests.helpers import csrf_token, sign_in

NOTE_CANARY = "canary-4b1d-case-note"
REASON_CANARY = "canary-88aa-correction-reason"


@pytest.fixture
def police(client, make_client):
    return token(
        client, make_client, "police", Scope.CONTACTS_WRITE, Scope.SCREENING_READ,
        Scope.SCREENING_WRITE,
    )  # fmt: skip


@pytest.fixture
def screener(app, make_account, clock):
    web = app.test_client()
    sign_in(web, make_account(Role.SCREENER, "csc"), clock)
    return web


def database(app) -> Database:
    return app.extensions["mash.db"]


def subject_ids(app, contact_id) -> list[str]:
    with database(app).transaction() as session:
        return [
            str(s)
            for s in session.scalars(
                select(ContactSubject.id)
                .where(ContactSubject.contact_id == uuid.UUID(contact_id))
                .order_by(ContactSubject.position)
            )
        ]


def post_page(web, path, data):
    page = web.get(path)
    assert page.status_code == 200, page.text
    fields = re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', page.text)
    form = {name: html.unescape(value) for name, value in fields}
    return web.post(path, data={**form, **data, "csrf_token": csrf_token(page.text)})


def correct(web, contact_id, subject_id, **data):
    return post_page(web, f"/contacts/{contact_id}/amend/people/{subject_id}", data)


SIBLING = {
    "role": "sibling",
    "given_name": "Ruby",
    "family_name": "Smith",
    "date_of_birth": "14/08/2018",
    "address": "1 High St, Brent",
    "reason": "The school named a younger sister living at the same address",
}


def test_each_kind_of_amendment_is_kept_with_who_when_and_why(app, client, police, screener, clock):
    contact_id = client.post("/api/v1/contacts", json=CONTACT, headers=police).json["id"]
    child, parent = subject_ids(app, contact_id)

    corrected = correct(
        screener,
        contact_id,
        child,
        date_of_birth="02/04/2016",
        reason=f"Year checked with the school {REASON_CANARY}",
    )
    assert corrected.status_code == 302, corrected.text
    assert corrected.headers["Location"].endswith(f"/contacts/{contact_id}#amendments")
    added = post_page(screener, f"/contacts/{contact_id}/amend/add-person", SIBLING)
    assert added.status_code == 302, added.text
    noted = post_page(
        screener, f"/contacts/{contact_id}/amend/note", {"note": f"Spoke to HV. {NOTE_CANARY}"}
    )
    assert noted.status_code == 302, noted.text

    page = screener.get(f"/contacts/{contact_id}")
    assert "Case note added to MASH-2026-000001" in page.text  # the last confirmation
    history = page.text.split('id="amendment-history"')[1].split("<tbody")[1].split("</table>")[0]
    rows = history.split('<tr class="govuk-table__row">')[1:]
    assert len(rows) == 3
    assert "Test Screener, Children&#39;s social care" in rows[0]  # who: name and agency
    assert "Date of birth: 2 April 2015 changed to 2 April 2016" in rows[0]
    assert REASON_CANARY in rows[0]
    assert "Added Ruby Smith (sibling)" in rows[1]
    assert "younger sister" in rows[1]
    assert NOTE_CANARY in rows[2] and "Case note" in rows[2]
    # UK time: the frozen clock's moment, as the rest of the page shows it.
    assert re.search(r"\d{1,2} \w+ 2026 at \d{1,2}:\d{2}(am|pm)", rows[0])
    # The people shown are the corrected child, the parent and the added sister.
    people = page.text.split("People named in this contact</caption>")[1].split("</table>")[0]
    assert "2 April 2016" in people and "2 April 2015" not in people
    assert "Ruby Smith" in people

    with database(app).transaction() as session:
        kept = session.execute(
            select(
                ContactAmendment.sequence,
                ContactAmendment.kind,
                ContactAmendment.subject_id,
                ContactAmendment.made_by_agency,
                ContactAmendment.payload_sealed,
                ContactAmendment.reason_sealed,
            ).order_by(ContactAmendment.sequence)
        ).all()
        events = session.execute(
            select(AuditEvent.reason, AuditEvent.object_id).where(
                AuditEvent.kind == "contact.amended"
            )
        ).all()
        rates = session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.kind == "access.decision",
                AuditEvent.action == "contact:rate",
                AuditEvent.decision == "allow",
            )
        ).all()
    assert [(k.sequence, k.kind, k.made_by_agency) for k in kept] == [
        (1, "subject_corrected", "csc"),
        (2, "subject_added", "csc"),
        (3, "note_added", "csc"),
    ]
    assert str(kept[0].subject_id) == child
    assert kept[2].subject_id is None and kept[2].reason_sealed is None
    # Sealed like the rest of the contact: no words in clear in the database or the trail.
    for row in kept:
        for sealed in (row.payload_sealed, row.reason_sealed or b""):
            assert b"2016" not in sealed and NOTE_CANARY.encode() not in sealed
            assert REASON_CANARY.encode() not in sealed and b"Ruby" not in sealed
    assert [reason.split(" ")[0] for reason, _id in events] == [
        "subject_corrected",
        "subject_added",
        "note_added",
    ]
    assert all(NOTE_CANARY not in reason and "2016" not in reason for reason, _id in events)
    assert len(rates) == 3  # each decided by the firewall as screening work


def test_the_original_is_preserved_and_the_api_shows_the_subjects_as_corrected(
    app, client, police, screener
):
    contact_id = client.post("/api/v1/contacts", json=CONTACT, headers=police).json["id"]
    child, _parent = subject_ids(app, contact_id)
    with database(app).transaction() as session:
        recorded = session.scalar(select(ContactSubject.details_sealed).where(
            ContactSubject.id == uuid.UUID(child)))  # fmt: skip
    correct(screener, contact_id, child, given_name="Samuel", reason="Full name on the school roll")
    correct(screener, contact_id, child, nhs_number="", reason="The NHS number was another child's")
    with database(app).transaction() as session:
        assert (
            session.scalar(
                select(ContactSubject.details_sealed).where(ContactSubject.id == uuid.UUID(child))
            )
            == recorded
        )
    shown = client.get(f"/api/v1/contacts/{contact_id}", headers=police).json
    assert [(s["given_name"], s["nhs_number"]) for s in shown["subjects"]] == [
        ("Samuel", None),
        ("Jo", None),
    ]
    page = screener.get(f"/contacts/{contact_id}").text
    assert "Given name: Sam changed to Samuel" in page
    assert "NHS number: 9434765919 changed to not known" in page


def test_amendments_cannot_be_changed_even_in_the_database(app, client, police, screener):
    contact_id = client.post("/api/v1/contacts", json=CONTACT, headers=police).json["id"]
    post_page(screener, f"/contacts/{contact_id}/amend/note", {"note": "First note"})
    postgres = database(app).engine.dialect.name == "postgresql"
    # On PostgreSQL the hub's role holds only SELECT and INSERT on the table; a trigger
    # refuses changes besides (and is all SQLite has).
    refused = "permission denied" if postgres else "append-only"
    with pytest.raises(DatabaseError, match=refused), database(app).transaction() as session:
        session.execute(update(ContactAmendment).values(kind="subject_added"))
    with pytest.raises(DatabaseError, match=refused), database(app).transaction() as session:
        session.execute(delete(ContactAmendment))
    with database(app).transaction() as session:
        assert session.scalar(select(ContactAmendment.kind)) == "note_added"


def test_partner_sees_the_corrected_and_added_subjects_never_the_note(
    app, client, police, screener, make_client, make_account, clock
):
    contact_id = rated_contact(client, police)
    child, _parent = subject_ids(app, contact_id)
    request_id = ask(client, police, contact_id, "health").json["id"]
    correct(screener, contact_id, child, date_of_birth="02/04/2016", reason="Checked with GP")
    post_page(screener, f"/contacts/{contact_id}/amend/add-person", SIBLING)
    post_page(screener, f"/contacts/{contact_id}/amend/note", {"note": f"MASH only {NOTE_CANARY}"})

    health = researcher(client, make_client, "health")
    shown = client.get(f"/api/v1/requests/{request_id}", headers=health)
    assert shown.status_code == 200, shown.json
    subjects = [(s["given_name"], s["role"], s["date_of_birth"]) for s in shown.json["subjects"]]
    assert subjects == [
        ("Sam", "child", "2016-04-02"),
        ("Jo", "parent", None),
        ("Ruby", "sibling", "2018-08-14"),
    ]
    assert NOTE_CANARY not in json.dumps(shown.json)

    # The health researcher's page shows the same, and no note.
    web = app.test_client()
    sign_in(web, make_account(Role.AGENCY_RESEARCHER, "health"), clock)
    page = web.get(f"/requests/{request_id}")
    assert page.status_code == 200
    assert "Ruby" in page.text and "2 April 2016" in page.text
    assert NOTE_CANARY not in page.text and "Checked with GP" not in page.text
    # Partners cannot reach the amendment pages or the contact at all.
    assert web.get(f"/contacts/{contact_id}/amend/note").status_code in (403, 404)


def test_a_closed_contact_cannot_be_amended(app, client, police, screener):
    contact_id = client.post("/api/v1/contacts", json=CONTACT, headers=police).json["id"]
    child, _parent = subject_ids(app, contact_id)
    form_page = screener.get(f"/contacts/{contact_id}/amend/note")
    token_value = csrf_token(form_page.text)
    with database(app).transaction() as session:
        session.execute(
            update(Contact).where(Contact.id == uuid.UUID(contact_id)).values(status="closed")
        )
    refused = screener.post(
        f"/contacts/{contact_id}/amend/note", data={"note": "late", "csrf_token": token_value}
    )
    assert refused.status_code == 404
    assert screener.get(f"/contacts/{contact_id}/amend/people/{child}").status_code == 404
    with database(app).transaction() as session:
        assert session.scalar(select(ContactAmendment.id)) is None
        last = (
            select(AuditEvent.decision)
            .where(AuditEvent.action.in_(["contact:read", "contact:rate"]))
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )
        assert session.scalar(last) == "deny"


@pytest.mark.parametrize(
    ("data", "messages"),
    [
        (
            {"date_of_birth": "31/02/2016", "reason": ""},
            ["Date of birth must be a real date", "Enter why the details are being corrected"],
        ),
        ({"date_of_birth": "01/01/1850", "reason": "typo"}, ["Date of birth must be in 1906"]),
        ({"date_of_birth": "01/01/2099", "reason": "typo"}, ["Date of birth must be today"]),
        ({"given_name": "", "reason": "typo"}, ["Enter the person’s given name"]),
        ({"nhs_number": "9434765918", "reason": "typo"}, ["Enter a 10-digit NHS number"]),
        ({"reason": "nothing changed"}, ["Change at least one of the person’s details"]),
    ],
)
def test_bad_corrections_get_the_error_summary_and_change_nothing(
    app, client, police, screener, data, messages
):
    contact_id = client.post("/api/v1/contacts", json=CONTACT, headers=police).json["id"]
    child, _parent = subject_ids(app, contact_id)
    response = correct(screener, contact_id, child, **data)
    assert response.status_code == 200
    assert "govuk-error-summary" in response.text
    assert "<title>Error: " in response.text
    for message in messages:
        assert message in response.text.replace("&#39;", "’").replace("'", "’"), message
    with database(app).transaction() as session:
        assert session.scalar(select(ContactAmendment.id)) is None


def test_bad_additions_and_empty_notes_get_the_error_summary(app, client, police, screener):
    contact_id = client.post("/api/v1/contacts", json=CONTACT, headers=police).json["id"]
    added = post_page(screener, f"/contacts/{contact_id}/amend/add-person", {"given_name": "Ruby"})
    assert added.status_code == 200
    text = added.text.replace("&#39;", "’").replace("'", "’")
    assert "govuk-error-summary" in text
    assert "Select the person’s role" in text
    assert "Enter the person’s family name" in text
    assert "Enter why this person is being added" in text
    noted = post_page(screener, f"/contacts/{contact_id}/amend/note", {"note": "   "})
    assert noted.status_code == 200 and "Enter the case note" in noted.text
    assert len(subject_ids(app, contact_id)) == 2


def test_a_stale_form_does_not_overwrite_someone_elses_correction(
    app, client, police, screener, make_account, clock
):
    contact_id = client.post("/api/v1/contacts", json=CONTACT, headers=police).json["id"]
    child, _parent = subject_ids(app, contact_id)
    path = f"/contacts/{contact_id}/amend/people/{child}"
    stale = screener.get(path).text
    other = app.test_client()
    sign_in(other, make_account(Role.SCREENER, "police"), clock)
    assert correct(other, contact_id, child, given_name="Samuel", reason="roll").status_code == 302
    late = screener.post(
        path,
        data={
            "csrf_token": csrf_token(stale),
            "seen": "0",
            "given_name": "Sam",
            "family_name": "Smith",
            "date_of_birth": "02/04/2017",
            "reason": "mine",
        },
    )
    assert late.status_code == 200
    assert "Someone else changed this contact" in late.text
    with database(app).transaction() as session:
        assert session.scalar(select(ContactAmendment.id).where(
            ContactAmendment.sequence == 2)) is None  # fmt: skip


def test_corrected_and_added_people_are_indexed_for_repeat_warnings(app, client, police, screener):
    first = client.post("/api/v1/contacts", json=CONTACT, headers=police).json["id"]
    child, _parent = subject_ids(app, first)
    correct(screener, first, child, given_name="Liam", nhs_number="", reason="Wrong child named")
    post_page(
        screener,
        f"/contacts/{first}/amend/add-person",
        {**SIBLING, "given_name": "Noah", "family_name": "Reid", "address": "",
         "date_of_birth": "03/03/2019"},
    )  # fmt: skip
    with database(app).transaction() as session:
        assert session.scalar(
            select(SubjectKey.kind).where(SubjectKey.subject_id == uuid.UUID(child))
        )
    # A later contact about Noah Reid (born 3 March 2019) warns of the first.
    later = {
        **CONTACT,
        "subjects": [
            {"role": "child", "given_name": "Noah", "family_name": "Reid",
             "date_of_birth": "2019-03-03"},
        ],
    }  # fmt: skip
    second = client.post("/api/v1/contacts", json=later, headers=police).json["id"]
    warnings = client.get(f"/api/v1/contacts/{second}", headers=police).json["warnings"]
    assert [(w["basis"], w["previous_contact_id"]) for w in warnings] == [("name_and_birth", first)]


def test_an_agency_system_amends_over_the_api(app, client, police, make_client):
    contact_id = client.post("/api/v1/contacts", json=CONTACT, headers=police).json["id"]
    child, _parent = subject_ids(app, contact_id)
    url = f"/api/v1/contacts/{contact_id}/amendments"
    corrected = client.post(
        url,
        json={
            "kind": "subject_corrected",
            "subject_id": child,
            "subject": {"date_of_birth": "2016-04-02"},
            "reason": "Checked with the school",
        },
        headers=police,
    )
    assert corrected.status_code == 201, corrected.json
    assert corrected.json["sequence"] == 1 and corrected.json["subject_id"] == child
    added = client.post(
        url,
        json={
            "kind": "subject_added",
            "subject": {"role": "household_member", "given_name": "Lee", "family_name": "Brown"},
            "reason": "Lodger named by the housing officer",
        },
        headers=police,
    )
    assert added.status_code == 201, added.json
    noted = client.post(url, json={"kind": "note", "text": NOTE_CANARY}, headers=police)
    assert noted.status_code == 201, noted.json

    shown = client.get(f"/api/v1/contacts/{contact_id}", headers=police).json
    assert [(s["given_name"], s["date_of_birth"]) for s in shown["subjects"]] == [
        ("Sam", "2016-04-02"),
        ("Jo", None),
        ("Lee", None),
    ]
    assert [(a["kind"], a["reason"]) for a in shown["amendments"]] == [
        ("subject_corrected", "Checked with the school"),
        ("subject_added", "Lodger named by the housing officer"),
        ("note", None),
    ]
    assert shown["amendments"][0]["changes"] == {
        "date_of_birth": {"before": "2015-04-02", "after": "2016-04-02"}
    }
    assert shown["amendments"][2]["text"] == NOTE_CANARY


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "rename"}, "kind"),
        ({"kind": "note", "text": "  "}, "text"),
        ({"kind": "note", "text": 7}, "text"),
        (
            {"kind": "subject_added", "subject": {"role": "child"}, "reason": "x"},
            "subject.given_name",
        ),
        ({"kind": "subject_added", "subject": [], "reason": "x"}, "subject"),
        ({"kind": "subject_corrected", "subject": {"upn": "X"}, "reason": "x"}, "subject_id"),
        (
            {"kind": "subject_corrected", "subject_id": "nobody", "subject": {}, "reason": "x"},
            "subject_id",
        ),
    ],
)
def test_bad_api_amendments_get_field_errors(app, client, police, body, field):
    contact_id = client.post("/api/v1/contacts", json=CONTACT, headers=police).json["id"]
    response = client.post(f"/api/v1/contacts/{contact_id}/amendments", json=body, headers=police)
    assert response.status_code == 422, response.json
    assert field in response.json["fields"]
    with database(app).transaction() as session:
        assert session.scalar(select(ContactAmendment.id)) is None


def test_the_other_side_and_closed_contacts_get_the_missing_answer(
    app, client, police, make_client
):
    contact_id = client.post("/api/v1/contacts", json=CONTACT, headers=police).json["id"]
    note = {"kind": "note", "text": "x"}
    health = token(client, make_client, "health", Scope.SCREENING_WRITE)
    refused = client.post(f"/api/v1/contacts/{contact_id}/amendments", json=note, headers=health)
    assert refused.status_code == 404
    with database(app).transaction() as session:
        session.execute(
            update(Contact).where(Contact.id == uuid.UUID(contact_id)).values(status="closed")
        )
    closed = client.post(f"/api/v1/contacts/{contact_id}/amendments", json=note, headers=police)
    assert closed.status_code == 404
    with database(app).transaction() as session:
        assert session.scalar(select(ContactAmendment.id)) is None


def test_on_postgresql_a_partner_row_sees_subject_amendments_only_while_asked(
    app, client, police, screener, database_url
):
    """The second layer: raw SQL as a partner agency sees a contact's subject amendments
    while a request to it is open, and its case notes never."""
    if not database_url.startswith("postgresql"):
        pytest.skip("row-level security is PostgreSQL's (set MASH_TEST_DATABASE_URL)")
    from sqlalchemy import create_engine

    from tests.functional.test_row_level_security import visible

    engine = create_engine(database_url)
    try:
        contact_id = rated_contact(client, police)
        child, _parent = subject_ids(app, contact_id)
        correct(screener, contact_id, child, given_name="Samuel", reason="School roll")
        post_page(screener, f"/contacts/{contact_id}/amend/note", {"note": "MASH only"})
        assert visible(engine, "csc", "contact_amendments") == 2
        assert visible(engine, "health", "contact_amendments") == 0
        ask(client, police, contact_id, "health")
        assert visible(engine, "health", "contact_amendments") == 1  # the correction only
        assert visible(engine, "education", "contact_amendments") == 0
        assert visible(engine, None, "contact_amendments") == 0
    finally:
        engine.dispose()
