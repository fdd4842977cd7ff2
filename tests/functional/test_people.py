"""The person register as screeners and managers use it: candidates on intake, links,
new persons, merges (proposed, approved, undone) and repeat-contact warnings."""

from __future__ import annotations

import copy
import re
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role, Scope
from mash_hub.contacts.models import Contact, ContactSubject
from mash_hub.db import Database
from mash_hub.people.models import Person, PersonCandidate, PersonKey, PersonMerge
from tests.functional.test_contacts_api import token
from tests.helpers import csrf_token, sign_in

CHILD = {
    "role": "child",
    "given_name": "William",
    "family_name": "Thornbury",
    "date_of_birth": "2015-04-02",
    "address": "12 Oak Road, Brent NW10 4AB",
    "nhs_number": "943 476 5919",
}


def contact_body(*subjects, received_at="2026-11-30T09:15:00Z"):
    return {
        "received_at": received_at,
        "source": {"agency": "police", "referrer_name": "PC Ada Jones", "referrer_role": "PPD"},
        "concern": "Neighbour reports shouting and a child crying late at night.",
        "consent": {"status": "not_sought", "reason": "child at risk of significant harm"},
        "subjects": list(subjects),
    }


def variant(**changes):
    subject = copy.deepcopy(CHILD)
    subject.update(changes)
    return {k: v for k, v in subject.items() if v is not None}


@pytest.fixture
def police(client, make_client):
    return token(client, make_client, "police", Scope.CONTACTS_WRITE, Scope.SCREENING_READ)


@pytest.fixture
def screener(app, make_account, clock):
    web = app.test_client()
    sign_in(web, make_account(Role.SCREENER, "csc"), clock)
    return web


@pytest.fixture
def manager(app, make_account, clock):
    web = app.test_client()
    sign_in(web, make_account(Role.MASH_MANAGER, "police"), clock)
    return web


def intake(client, headers, *subjects, **kwargs) -> str:
    response = client.post(
        "/api/v1/contacts", json=contact_body(*subjects, **kwargs), headers=headers
    )
    assert response.status_code == 201, response.json
    return response.json["id"]


def session(app):
    database: Database = app.extensions["mash.db"]
    return database.transaction()


def subject_ids(app, contact_id) -> list[str]:
    with session(app) as db:
        rows = db.scalars(
            select(ContactSubject.id)
            .where(ContactSubject.contact_id == uuid.UUID(contact_id))
            .order_by(ContactSubject.position)
        ).all()
    return [str(r) for r in rows]


def linked_person(app, subject_id) -> str | None:
    with session(app) as db:
        found = db.scalar(
            select(ContactSubject.person_id).where(ContactSubject.id == uuid.UUID(subject_id))
        )
    return str(found) if found else None


def candidates_of(app, subject_id) -> list[tuple[str, float, str]]:
    with session(app) as db:
        rows = db.execute(
            select(PersonCandidate.person_id, PersonCandidate.score, PersonCandidate.reasons)
            .where(PersonCandidate.subject_id == uuid.UUID(subject_id))
            .order_by(PersonCandidate.score.desc())
        ).all()
    return [(str(p), s, r) for p, s, r in rows]


def post_form(web, page_path, action, data):
    page = web.get(page_path)
    assert page.status_code == 200, page.text
    return web.post(action, data={**data, "csrf_token": csrf_token(page.text)})


def add_as_new_person(app, web, contact_id, position=0) -> str:
    sid = subject_ids(app, contact_id)[position]
    response = post_form(
        web, f"/contacts/{contact_id}/people", f"/contacts/{contact_id}/people/{sid}/new", {}
    )
    assert response.status_code == 302, response.text
    assert "Person added to the register" in web.get(response.headers["Location"]).text
    person = linked_person(app, sid)
    assert person is not None
    return person


def link(app, web, contact_id, person_id, position=0):
    sid = subject_ids(app, contact_id)[position]
    return post_form(
        web,
        f"/contacts/{contact_id}/people",
        f"/contacts/{contact_id}/people/{sid}/link",
        {"person_id": person_id},
    )


def known_child(app, client, police, screener) -> tuple[str, str]:
    """A first contact whose child the screener adds to the register."""
    first = intake(client, police, CHILD, received_at="2026-06-01T10:00:00Z")
    return first, add_as_new_person(app, screener, first)


# ---------------------------------------------------------------------- candidates


def test_a_new_person_is_sealed_and_indexed_without_clear_identifiers(
    app, client, police, screener
):
    _first, person_id = known_child(app, client, police, screener)
    with session(app) as db:
        person = db.get(Person, uuid.UUID(person_id))
        keys = db.scalars(select(PersonKey.key).where(PersonKey.person_id == person.id)).all()
        events = db.scalars(select(AuditEvent.kind).where(AuditEvent.object_id == person_id)).all()
    assert b"Thornbury" not in person.details_sealed and b"9434765919" not in person.details_sealed
    assert len(keys) >= 5 and all(len(k) == 16 for k in keys)
    assert not any(b"943" in k or b"NW10" in k for k in keys)
    assert "person.created" in events


def test_exact_nhs_number_with_matching_birth_date_is_the_top_candidate_but_not_linked(
    app, client, police, screener
):
    _first, person_id = known_child(app, client, police, screener)
    second = intake(
        client,
        police,
        variant(given_name="Bill", family_name="Thornberry", address="Flat 2, 9 Elm Close"),
    )
    sid = subject_ids(app, second)[0]
    found = candidates_of(app, sid)
    assert found[0][0] == person_id and "nhs_number" in found[0][2].split()
    assert linked_person(app, sid) is None  # nothing links by itself
    page = screener.get(f"/contacts/{second}")
    assert "NHS number and date of birth match" in page.text
    assert "William Thornbury" in page.text  # the register's record, for comparison
    # Why, in a screener's words (usability review m7: "given name phonetic, dob missing").
    assert "Same NHS number, first name is a short form of the other" in page.text
    assert "nhs number" not in page.text and "_phonetic" not in page.text
    with session(app) as db:
        shown = db.scalars(
            select(AuditEvent.object_id).where(
                AuditEvent.kind == "person.read", AuditEvent.contact_id == second
            )
        ).all()
    assert shown == [person_id]  # who saw which register record, and from which contact
    with session(app) as db:
        decisions = db.scalars(
            select(AuditEvent.decision).where(
                AuditEvent.kind == "access.decision",
                AuditEvent.action == "contact:read",
                AuditEvent.contact_id == second,
            )
        ).all()
    assert decisions == ["allow"]  # one page view, one decision, its parts share it


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"given_name": "Will", "nhs_number": None}, id="nickname"),
        pytest.param({"date_of_birth": "2015-02-04", "nhs_number": None}, id="swapped-day-month"),
        pytest.param({"family_name": "Thornbuyr", "nhs_number": None}, id="typo"),
        pytest.param(
            {"address": "Flat 7, 40 Mill Lane, Harrow HA1 1AA", "nhs_number": None},
            id="changed-address",
        ),
    ],
)
def test_fuzzy_candidates_on_intake(app, client, police, screener, changes):
    _first, person_id = known_child(app, client, police, screener)
    second = intake(client, police, variant(**changes))
    found = candidates_of(app, subject_ids(app, second)[0])
    assert [p for p, _s, _r in found] == [person_id]
    assert 0.7 <= found[0][1] < 1.0
    page = screener.get(f"/contacts/{second}")
    assert f"{round(found[0][1] * 100)}%" in page.text or f"{int(found[0][1] * 100)}%" in page.text


def test_someone_else_is_not_a_candidate(app, client, police, screener):
    known_child(app, client, police, screener)
    other = intake(
        client,
        police,
        {
            "role": "child",
            "given_name": "Priya",
            "family_name": "Okafor",
            "date_of_birth": "2019-09-30",
        },
    )
    assert candidates_of(app, subject_ids(app, other)[0]) == []
    assert (
        "No one in the register looks like this person" in screener.get(f"/contacts/{other}").text
    )


# ------------------------------------------------------------------------- linking


def test_screener_links_a_subject_to_a_candidate(app, client, police, screener):
    _first, person_id = known_child(app, client, police, screener)
    second = intake(client, police, variant(given_name="Will", nhs_number=None))
    response = link(app, screener, second, person_id)
    assert response.status_code == 302
    sid = subject_ids(app, second)[0]
    assert linked_person(app, sid) == person_id
    assert "Linked to the register" in screener.get(f"/contacts/{second}").text
    with session(app) as db:
        event = db.scalar(select(AuditEvent).where(AuditEvent.kind == "person.linked"))
    assert event.object_id == person_id and event.contact_id == second


@pytest.mark.parametrize("person_id", ["", "not-a-person", str(uuid.uuid4())])
def test_linking_to_no_candidate_is_an_error_and_links_nothing(
    app, client, police, screener, person_id
):
    known_child(app, client, police, screener)
    second = intake(client, police, variant(given_name="Will", nhs_number=None))
    response = link(app, screener, second, person_id)
    assert response.status_code == 200
    assert "govuk-error-summary" in response.text
    assert "Choose a person from the list" in response.text
    assert linked_person(app, subject_ids(app, second)[0]) is None


def test_a_person_not_suggested_for_this_contact_cannot_be_linked(app, client, police, screener):
    _first, person_id = known_child(app, client, police, screener)
    other = intake(
        client,
        police,
        {
            "role": "child",
            "given_name": "Priya",
            "family_name": "Okafor",
            "date_of_birth": "2019-09-30",
        },
    )
    response = link(app, screener, other, person_id)
    assert "Choose a person from the list" in response.text
    assert linked_person(app, subject_ids(app, other)[0]) is None


def test_partners_cannot_reach_the_register(app, client, police, screener, make_account, clock):
    first, _person = known_child(app, client, police, screener)
    partner = app.test_client()
    sign_in(partner, make_account(Role.AGENCY_RESEARCHER, "health"), clock)
    assert partner.get(f"/contacts/{first}/people").status_code in (403, 404)
    assert partner.get("/people/merges").status_code == 403


# -------------------------------------------------------------------------- merges


@pytest.fixture
def duplicates(app, client, police, screener):
    """Two register records of one child (made before anyone spotted it), and a third
    contact on which both come up as candidates."""
    first = intake(client, police, variant(nhs_number=None), received_at="2026-05-01T10:00:00Z")
    kept = add_as_new_person(app, screener, first)
    second = intake(
        client,
        police,
        variant(given_name="Bill", nhs_number=None, address="3 Ash Way, Ealing W5 2XY"),
        received_at="2026-06-01T10:00:00Z",
    )
    dropped = add_as_new_person(app, screener, second)
    third = intake(client, police, variant(given_name="Will", nhs_number=None))
    found = {p for p, _s, _r in candidates_of(app, subject_ids(app, third)[0])}
    assert found == {kept, dropped}
    return {"contact": third, "second": second, "kept": kept, "dropped": dropped}


def propose(app, web, contact_id, kept, dropped, reason="Same child: nickname, same birth date"):
    return post_form(
        web,
        f"/contacts/{contact_id}/people",
        f"/contacts/{contact_id}/people/merge",
        {"survivor_id": kept, "merged_id": dropped, "reason": reason},
    )


def confirmation(web, response) -> str:
    """The success banner on the page a form's redirect leads to (usability review m2)."""
    page = web.get(response.headers["Location"]).text
    start = page.index("govuk-notification-banner--success")
    return page[start : page.index("</div>", page.index("govuk-notification-banner__content"))]


def merge_row(app) -> PersonMerge:
    with session(app) as db:
        merge = db.scalar(select(PersonMerge))
        db.expunge(merge)
    return merge


def test_the_merge_proposal_says_what_to_keep_and_what_never_to_merge(screener, duplicates):
    """Usability review m26: both lists of radios came with no guidance."""
    page = screener.get(f"/contacts/{duplicates['contact']}/people").text
    assert "Keep the record with the fuller, verified details" in page
    assert "never a parent and a child" in page
    assert "A manager approves it." in page


def test_merge_is_proposed_approved_by_a_manager_and_undone(
    app, client, police, screener, manager, duplicates
):
    kept, dropped = duplicates["kept"], duplicates["dropped"]
    proposed = propose(app, screener, duplicates["contact"], kept, dropped)
    assert proposed.status_code == 302
    assert "Merge proposed" in confirmation(screener, proposed)
    merge = merge_row(app)
    assert merge.status == "proposed"
    second_subject = subject_ids(app, duplicates["second"])[0]
    assert linked_person(app, second_subject) == dropped  # a proposal changes nothing

    # A screener cannot approve, by page or by posting the form.
    assert screener.get("/people/merges").status_code == 403
    assert screener.post(
        f"/people/merges/{merge.id}/decision", data={"decision": "approve"}
    ).status_code in (400, 403)
    assert merge_row(app).status == "proposed"

    assert "Person merges to approve" not in screener.get(f"/contacts/{duplicates['contact']}").text
    assert "Person merges to approve" in manager.get(f"/contacts/{duplicates['contact']}").text
    listing = manager.get("/people/merges")
    assert f"/people/merges/{merge.id}" in listing.text
    page = manager.get(f"/people/merges/{merge.id}")
    assert "Same child: nickname, same birth date" in page.text
    assert "Bill Thornbury" in page.text and "William Thornbury" in page.text
    approved = post_form(
        manager,
        f"/people/merges/{merge.id}",
        f"/people/merges/{merge.id}/decision",
        {"decision": "approve"},
    )
    assert approved.status_code == 302
    assert "Merge approved" in confirmation(manager, approved)
    assert merge_row(app).status == "approved"
    assert linked_person(app, second_subject) == kept
    with session(app) as db:
        assert str(db.get(Person, uuid.UUID(dropped)).merged_into_id) == kept

    # While merged, the dropped record's search keys find the record that was kept.
    later = intake(client, police, variant(given_name="Bill", nhs_number=None))
    assert [p for p, _s, _r in candidates_of(app, subject_ids(app, later)[0])] == [kept]

    undone = post_form(manager, f"/people/merges/{merge.id}", f"/people/merges/{merge.id}/undo", {})
    assert undone.status_code == 302
    assert "Merge undone" in confirmation(manager, undone)
    assert merge_row(app).status == "undone"
    assert linked_person(app, second_subject) == dropped
    with session(app) as db:
        assert db.get(Person, uuid.UUID(dropped)).merged_into_id is None
        kinds = db.scalars(
            select(AuditEvent.kind)
            .where(AuditEvent.kind.like("person.merge%"))
            .order_by(AuditEvent.seq)
        ).all()
    assert kinds == ["person.merge_proposed", "person.merge_approved", "person.merge_undone"]


def test_manager_rejects_a_merge(app, screener, manager, duplicates):
    propose(app, screener, duplicates["contact"], duplicates["kept"], duplicates["dropped"])
    merge = merge_row(app)
    post_form(
        manager,
        f"/people/merges/{merge.id}",
        f"/people/merges/{merge.id}/decision",
        {"decision": "reject"},
    )
    assert merge_row(app).status == "rejected"
    with session(app) as db:
        assert db.get(Person, uuid.UUID(duplicates["dropped"])).merged_into_id is None


def test_merge_decision_needs_a_choice(app, screener, manager, duplicates):
    propose(app, screener, duplicates["contact"], duplicates["kept"], duplicates["dropped"])
    merge = merge_row(app)
    response = post_form(
        manager, f"/people/merges/{merge.id}", f"/people/merges/{merge.id}/decision", {}
    )
    assert "govuk-error-summary" in response.text
    assert "Choose whether to approve or reject the merge" in response.text
    assert merge_row(app).status == "proposed"


@pytest.mark.parametrize(
    ("kept_key", "dropped_key", "reason", "message"),
    [
        ("kept", "dropped", "", "Give the reason for the merge"),
        ("kept", "dropped", "x" * 501, "The reason must be 500 characters or fewer"),
        ("kept", "kept", "Same child", "Choose two different people"),
    ],
)
def test_bad_merge_proposals_are_field_errors(
    app, screener, duplicates, kept_key, dropped_key, reason, message
):
    response = propose(
        app, screener, duplicates["contact"], duplicates[kept_key], duplicates[dropped_key], reason
    )
    assert response.status_code == 200
    assert "govuk-error-summary" in response.text and message in response.text
    with session(app) as db:
        assert db.scalar(select(PersonMerge)) is None


# ------------------------------------------------------------------------ warnings


def repeat(app, client, police, screener, **kwargs) -> tuple[str, str, str]:
    first, person_id = known_child(app, client, police, screener)
    second = intake(client, police, variant(given_name="Will", nhs_number=None), **kwargs)
    assert link(app, screener, second, person_id).status_code == 302
    return first, second, person_id


def test_repeat_contact_warning_on_the_page_for_mash_roles(app, client, police, screener, manager):
    first, second, _person = repeat(app, client, police, screener)
    with session(app) as db:
        reference = db.get(Contact, uuid.UUID(first)).reference
    for web in (screener, manager):
        page = web.get(f"/contacts/{second}")
        assert "Repeat contact" in page.text
        chronology = page.text[page.text.index("Earlier contacts about") :]
        assert reference in chronology and "1 June 2026" in chronology
        # m19: the earlier contact's reference opens it.
        assert f'href="/contacts/{first}">{reference}</a>' in chronology
        assert web.get(f"/contacts/{first}").status_code == 200


def test_repeat_contact_warning_in_the_api(app, client, police, screener, make_client):
    first, second, person_id = repeat(app, client, police, screener)
    body = client.get(f"/api/v1/contacts/{second}", headers=police).json
    assert body["warnings"] == [
        {
            "kind": "repeat_contact",
            "status": "confirmed",  # linked: the possible one found on intake stands down
            "subject_role": "child",
            "person_id": person_id,
            "previous_contact_id": first,
            "previous_received_at": "2026-06-01T10:00:00Z",
        }
    ]
    partner = token(client, make_client, "health", Scope.SCREENING_READ)
    refused = client.get(f"/api/v1/contacts/{second}", headers=partner)
    assert refused.status_code == 404 and "warnings" not in (refused.json or {})


def test_an_unlinked_near_match_warns_as_possible_and_a_stranger_not_at_all(
    app, client, police, screener
):
    known_child(app, client, police, screener)
    second = intake(client, police, variant(given_name="Will", nhs_number=None))
    warnings = client.get(f"/api/v1/contacts/{second}", headers=police).json["warnings"]
    assert warnings and {w["status"] for w in warnings} == {"possible"}  # a candidate is not a link
    page = screener.get(f"/contacts/{second}").text
    assert "Possible repeat contact" in page and "Repeat contact:" not in page

    stranger = variant(
        given_name="Ola", family_name="Nwosu", date_of_birth="2019-09-09",
        address="4 Elm Way, Ealing W5 1AA", nhs_number=None,
    )  # fmt: skip
    third = intake(client, police, stranger)
    assert client.get(f"/api/v1/contacts/{third}", headers=police).json["warnings"] == []


def test_old_contacts_warn_only_if_the_case_closed_recently(app, client, police, screener, clock):
    first = intake(client, police, CHILD, received_at="2025-06-01T10:00:00Z")  # 18 months ago
    person_id = add_as_new_person(app, screener, first)
    second = intake(client, police, variant(given_name="Will", nhs_number=None))
    link(app, screener, second, person_id)
    assert client.get(f"/api/v1/contacts/{second}", headers=police).json["warnings"] == []

    with session(app) as db:
        db.execute(
            update(Contact)
            .where(Contact.id == uuid.UUID(first))
            .values(status="closed", closed_at=clock.now() - timedelta(days=30))
        )
    warnings = client.get(f"/api/v1/contacts/{second}", headers=police).json["warnings"]
    assert [w["previous_contact_id"] for w in warnings] == [first]
    assert datetime.fromisoformat(warnings[0]["previous_received_at"]).year == 2025
    page = screener.get(f"/contacts/{second}")
    assert re.search(r"Closed\s+on", page.text)


# -------------------------------------------------------------- row-level security


@pytest.mark.postgres
def test_partners_see_no_register_rows_even_in_raw_sql(app, client, police, screener, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("row-level security is PostgreSQL's (set MASH_TEST_DATABASE_URL)")
    from sqlalchemy import create_engine

    from tests.functional.test_row_level_security import visible

    _first, _person = known_child(app, client, police, screener)
    intake(client, police, variant(given_name="Will", nhs_number=None))
    engine = create_engine(database_url)
    try:
        for table in ("persons", "person_keys", "person_candidates"):
            assert visible(engine, "csc", table) >= 1, table
            assert visible(engine, "police", table) >= 1, table
            for partner in ("health", "education", "probation", "housing", "yos"):
                assert visible(engine, partner, table) == 0, (partner, table)
            assert visible(engine, None, table) == 0, table
    finally:
        engine.dispose()


def test_a_manager_cannot_approve_their_own_proposal(app, manager, duplicates):
    assert (
        propose(
            app, manager, duplicates["contact"], duplicates["kept"], duplicates["dropped"]
        ).status_code
        == 302
    )
    merge = merge_row(app)
    response = post_form(
        manager,
        f"/people/merges/{merge.id}",
        f"/people/merges/{merge.id}/decision",
        {"decision": "approve"},
    )
    assert "Someone other than the proposer must decide a merge" in response.text
    assert merge_row(app).status == "proposed"


def test_a_merge_of_records_that_conflict_needs_the_managers_reason(
    app, client, police, screener, manager
):
    """Usability review D7: a mother (born 1990) was merged into her 9-year-old daughter
    (born 2016), both subjects of one contact, with no warning."""
    daughter = {"role": "child", "given_name": "Maisie", "family_name": "Thompson",
                "date_of_birth": "2016-05-12"}  # fmt: skip
    mother = {"role": "parent", "given_name": "Kerry", "family_name": "Thompson",
              "date_of_birth": "1990-03-03"}  # fmt: skip
    contact = intake(client, police, daughter, mother)
    kept = add_as_new_person(app, screener, contact, 0)
    dropped = add_as_new_person(app, screener, contact, 1)
    assert propose(app, screener, contact, kept, dropped, "Same surname").status_code == 302
    merge = merge_row(app)

    page = manager.get(f"/people/merges/{merge.id}")
    assert "These records may not be the same person." in page.text
    assert "They have different dates of birth: 12 May 2016 and 3 March 1990." in page.text
    assert "as child, and Kerry Thompson as parent." in page.text
    refused = post_form(
        manager,
        f"/people/merges/{merge.id}",
        f"/people/merges/{merge.id}/decision",
        {"decision": "approve"},
    )
    assert refused.status_code == 200
    assert "govuk-error-summary" in refused.text
    assert "say why they are the same person to approve the merge" in refused.text
    assert merge_row(app).status == "proposed"
    assert linked_person(app, subject_ids(app, contact)[1]) == dropped

    approved = post_form(
        manager,
        f"/people/merges/{merge.id}",
        f"/people/merges/{merge.id}/decision",
        {"decision": "approve", "override_reason": "The school confirmed one person, two dates"},
    )
    assert approved.status_code == 302
    assert merge_row(app).status == "approved"
    shown = manager.get(f"/people/merges/{merge.id}").text
    assert "The school confirmed one person, two dates" in shown
    with session(app) as db:
        row = db.scalar(select(PersonMerge).where(PersonMerge.id == merge.id))
        assert b"The school confirmed" not in row.override_reason_sealed  # sealed
        details = db.scalars(
            select(AuditEvent.reason).where(AuditEvent.kind == "person.merge_approved")
        ).all()
    assert any("despite conflicting records" in (d or "") for d in details), details


def test_a_merge_without_conflicts_needs_no_extra_reason(app, screener, manager, duplicates):
    assert (
        propose(
            app, screener, duplicates["contact"], duplicates["kept"], duplicates["dropped"]
        ).status_code
        == 302
    )
    merge = merge_row(app)
    page = manager.get(f"/people/merges/{merge.id}")
    assert "These records may not be the same person." not in page.text
    assert "override_reason" not in page.text
