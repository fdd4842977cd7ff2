"""Time-boxed information requests end to end, over the API and the pages."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role, Scope
from mash_hub.db import REPO_ROOT, Database
from mash_hub.policy import PolicyDecisionPoint
from mash_hub.sharing.models import InfoRequest
from tests.functional.test_contacts_api import CONTACT, token
from tests.helpers import csrf_token, sign_in

HEALTH_CANARY = "canary-91ab-health-answer"
RESTRICTED_CANARY = "canary-52cd-restricted-item"


def screening(client, make_client):
    return token(
        client,
        make_client,
        "police",
        Scope.CONTACTS_WRITE,
        Scope.SCREENING_READ,
        Scope.SCREENING_WRITE,
    )


@pytest.fixture
def police(client, make_client):
    return screening(client, make_client)


def researcher(client, make_client, agency):
    return token(client, make_client, agency, Scope.REQUESTS_READ, Scope.CONTRIBUTIONS_WRITE)


def rated_contact(client, police, rag="amber"):
    response = client.post("/api/v1/contacts", json=CONTACT, headers=police)
    assert response.status_code == 201, response.json
    contact_id = response.json["id"]
    rated = client.post(
        f"/api/v1/contacts/{contact_id}/rating",
        json={"rag": rag, "rationale": "needs partner checks"},
        headers=police,
    )
    assert rated.status_code == 200, rated.json
    return contact_id


def ask(client, police, contact_id, agency, question="Is the family known to you?"):
    return client.post(
        f"/api/v1/contacts/{contact_id}/requests",
        json={"agency": agency, "question": question},
        headers=police,
    )


def test_amber_contact_end_to_end(client, clock, police, make_client):
    contact_id = rated_contact(client, police)
    to_health = ask(client, police, contact_id, "health")
    assert to_health.status_code == 201, to_health.json
    # Amber: 6 working hours from Monday 10:00 (plus the sign-in step) ends Monday 16:00.
    assert to_health.json["status"] == "open"
    assert to_health.json["due_at"].startswith("2026-11-30T16:00")
    to_education = ask(client, police, contact_id, "education")
    assert to_education.status_code == 201
    health_id, education_id = to_health.json["id"], to_education.json["id"]

    health = researcher(client, make_client, "health")
    education = researcher(client, make_client, "education")
    inbox = client.get("/api/v1/requests", headers=health).json
    assert [r["id"] for r in inbox["requests"]] == [health_id]
    page = client.get(f"/api/v1/requests/{health_id}", headers=health).json
    assert page["question"] == "Is the family known to you?"
    assert [s["given_name"] for s in page["subjects"]] == ["Sam", "Jo"]
    assert page["subjects"][0]["nhs_number"] == "9434765919"
    assert "concern" not in page and CONTACT["concern"] not in str(page)

    # Health answers in time (tokens last minutes: each step gets fresh ones).
    clock.advance(timedelta(hours=2))
    health = researcher(client, make_client, "health")
    answered = client.post(
        f"/api/v1/requests/{health_id}/response",
        json={
            "outcome": "information_held",
            "items": [
                {"kind": "fact", "text": f"Attended A&E twice. {HEALTH_CANARY}"},
                {"kind": "opinion", "text": f"Worried. {RESTRICTED_CANARY}", "restricted": True},
            ],
        },
        headers=health,
    )
    assert answered.status_code == 201, answered.json
    again = client.post(
        f"/api/v1/requests/{health_id}/response",
        json={"outcome": "not_known"},
        headers=health,
    )
    assert again.status_code == 409

    # Education's runs out: gone from its inbox, its page 404, a late answer 409, with
    # no scheduler having run.
    clock.advance(timedelta(hours=5))
    education = researcher(client, make_client, "education")
    police = screening(client, make_client)
    assert client.get("/api/v1/requests", headers=education).json["requests"] == []
    gone = client.get(f"/api/v1/requests/{education_id}", headers=education)
    assert gone.status_code == 404
    late = client.post(
        f"/api/v1/requests/{education_id}/response",
        json={"outcome": "not_known"},
        headers=education,
    )
    assert late.status_code == 409
    assert "expired" in late.json["message"]

    # The screener sees health's answer (restricted item withheld) and education's
    # "expired, no answer".
    contributions = client.get(f"/api/v1/contacts/{contact_id}/contributions", headers=police)
    assert contributions.status_code == 200
    [answer] = contributions.json["contributions"]
    assert answer["agency"] == "health"
    assert answer["items"][0]["text"].startswith("Attended A&E twice")
    assert answer["items"][1] == {
        "kind": "opinion",
        "restricted": True,
        "withheld": True,
        "agency": "health",
    }
    assert RESTRICTED_CANARY not in contributions.text
    contact = client.get(f"/api/v1/contacts/{contact_id}", headers=police).json
    statuses = {r["agency"]: r["status"] for r in contact["requests"]}
    assert statuses == {"health": "answered", "education": "expired"}


def test_requests_only_on_red_or_amber(client, police):
    response = client.post("/api/v1/contacts", json=CONTACT, headers=police)
    contact_id = response.json["id"]
    unrated = ask(client, police, contact_id, "health")
    assert unrated.status_code == 409
    assert "Red or Amber" in unrated.json["message"]
    client.post(
        f"/api/v1/contacts/{contact_id}/rating",
        json={"rag": "green", "rationale": "early help"},
        headers=police,
    )
    assert ask(client, police, contact_id, "health").status_code == 409


def test_one_live_request_per_agency(client, police):
    contact_id = rated_contact(client, police)
    assert ask(client, police, contact_id, "housing").status_code == 201
    second = ask(client, police, contact_id, "housing")
    assert second.status_code == 409
    assert "already been asked" in second.json["message"]


def test_no_agreement_in_force_is_refused(app, client, police, tmp_path: Path):
    contact_id = rated_contact(client, police)
    policies = tmp_path / "policies"
    shutil.copytree(REPO_ROOT / "policies", policies)
    isa = policies / "isa" / "mash-yos.toml"
    isa.write_text(isa.read_text().replace('status = "active"', 'status = "suspended"'))
    app.extensions["mash.pdp"] = PolicyDecisionPoint.from_dir(policies)
    refused = ask(client, police, contact_id, "yos")
    assert refused.status_code == 409
    assert "no information-sharing agreement in force" in refused.json["message"]


def test_another_agencys_request_is_indistinguishable_from_a_missing_one(
    client, police, make_client
):
    contact_id = rated_contact(client, police)
    health_id = ask(client, police, contact_id, "health").json["id"]
    education = researcher(client, make_client, "education")
    other = client.get(f"/api/v1/requests/{health_id}", headers=education)
    missing = client.get("/api/v1/requests/00000000-0000-4000-8000-000000000000", headers=education)
    assert other.status_code == missing.status_code == 404
    assert other.data == missing.data
    answer = client.post(
        f"/api/v1/requests/{health_id}/response", json={"outcome": "not_known"}, headers=education
    )
    assert answer.status_code == 404 and answer.data == missing.data


def test_rating_green_withdraws_open_requests_at_once(client, police, make_client):
    contact_id = rated_contact(client, police, "red")
    health_id = ask(client, police, contact_id, "health").json["id"]
    health = researcher(client, make_client, "health")
    assert client.get(f"/api/v1/requests/{health_id}", headers=health).status_code == 200
    client.post(
        f"/api/v1/contacts/{contact_id}/rating",
        json={"rag": "green", "rationale": "stepped down"},
        headers=police,
    )
    assert client.get(f"/api/v1/requests/{health_id}", headers=health).status_code == 404
    late = client.post(
        f"/api/v1/requests/{health_id}/response", json={"outcome": "not_known"}, headers=health
    )
    assert late.status_code == 409
    contact = client.get(f"/api/v1/contacts/{contact_id}", headers=police).json
    assert [r["status"] for r in contact["requests"]] == ["withdrawn"]


def test_red_request_is_due_in_two_elapsed_hours(client, police):
    contact_id = rated_contact(client, police, "red")
    sent = ask(client, police, contact_id, "probation")
    assert sent.json["due_at"].startswith("2026-11-30T12:00")


def test_validation_gives_422_with_fields(client, police, make_client):
    contact_id = rated_contact(client, police)
    bad = client.post(
        f"/api/v1/contacts/{contact_id}/requests", json={"agency": "nobody"}, headers=police
    )
    assert bad.status_code == 422
    assert set(bad.json["fields"]) == {"agency", "question"}
    health_id = ask(client, police, contact_id, "health").json["id"]
    health = researcher(client, make_client, "health")
    empty = client.post(
        f"/api/v1/requests/{health_id}/response",
        json={"outcome": "information_held", "items": []},
        headers=health,
    )
    assert empty.status_code == 422 and "items" in empty.json["fields"]


def test_every_read_is_audited(app, client, police, make_client):
    contact_id = rated_contact(client, police)
    health_id = ask(client, police, contact_id, "health").json["id"]
    health = researcher(client, make_client, "health")
    client.get(f"/api/v1/requests/{health_id}", headers=health)
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        events = session.execute(
            select(AuditEvent.agency, AuditEvent.action, AuditEvent.decision).where(
                AuditEvent.object_id == health_id
            )
        ).all()
    assert ("police", "request:create", "allow") in events
    assert ("health", "request:read", "allow") in events


# --- pages ---------------------------------------------------------------------------


def test_screener_sends_and_researcher_answers_on_the_pages(
    app, client, clock, police, make_account
):
    contact_id = rated_contact(client, police)
    screener = make_account(Role.SCREENER, "police")
    sign_in(client, screener, clock)
    form = client.get(f"/contacts/{contact_id}/requests/new")
    assert form.status_code == 200
    sent = client.post(
        f"/contacts/{contact_id}/requests/new",
        data={
            "agency": "health",
            "question": "Any A&E visits?",
            "csrf_token": csrf_token(form.text),
        },
    )
    assert sent.status_code == 302
    page = client.get(f"/contacts/{contact_id}")
    assert "Any A&amp;E visits?" in page.text and "Waiting for an answer" in page.text
    other = app.test_client()
    nurse = make_account(Role.AGENCY_RESEARCHER, "health")
    sign_in(other, nurse, clock)
    inbox = other.get("/requests")
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        request_id = str(session.scalar(select(InfoRequest.id)))
        reference = session.scalar(select(InfoRequest.contact_reference))
    assert reference and reference.startswith("MASH-")
    # The inbox and the request name the contact by a reference the researcher can quote.
    assert inbox.status_code == 200 and f">{reference}</a>" in inbox.text
    show = other.get(f"/requests/{request_id}")
    assert f"Contact {reference}" in show.text
    assert "Any A&amp;E visits?" in show.text and "Sam Smith" in show.text
    assert "Neighbour reports" not in show.text
    answered = other.post(
        f"/requests/{request_id}",
        data={
            "outcome": "information_held",
            "item1_text": "Seen in A&E in October",
            "item1_kind": "fact",
            "csrf_token": csrf_token(show.text),
        },
    )
    assert answered.status_code == 302, answered.text
    page = client.get(f"/contacts/{contact_id}")
    assert "Seen in A&amp;E in October" in page.text


def test_screener_sees_expired_no_answer_row(client, clock, police, make_account):
    contact_id = rated_contact(client, police, "red")
    ask(client, police, contact_id, "education")
    clock.advance(timedelta(hours=3))
    screener = make_account(Role.SCREENER, "csc")
    sign_in(client, screener, clock)
    page = client.get(f"/contacts/{contact_id}")
    assert "Expired, no answer" in page.text


def test_restricted_item_is_shown_to_a_manager_but_not_a_screener(
    app, client, clock, police, make_client, make_account
):
    contact_id = rated_contact(client, police)
    health_id = ask(client, police, contact_id, "health").json["id"]
    health = researcher(client, make_client, "health")
    client.post(
        f"/api/v1/requests/{health_id}/response",
        json={
            "outcome": "information_held",
            "items": [{"kind": "fact", "text": RESTRICTED_CANARY, "restricted": True}],
        },
        headers=health,
    )
    screener_client = app.test_client()
    sign_in(screener_client, make_account(Role.SCREENER, "csc"), clock)
    page = screener_client.get(f"/contacts/{contact_id}")
    assert "Confidential information held by Health" in page.text
    assert RESTRICTED_CANARY not in page.text
    manager_client = app.test_client()
    sign_in(manager_client, make_account(Role.MASH_MANAGER, "csc"), clock)
    page = manager_client.get(f"/contacts/{contact_id}")
    assert RESTRICTED_CANARY in page.text
    # The originating agency sees its own restricted item.
    own = client.get(f"/api/v1/requests/{health_id}", headers=health).json
    assert own["answer"]["items"][0]["text"] == RESTRICTED_CANARY


def test_late_answer_on_the_page_is_409(app, client, clock, police, make_account):
    contact_id = rated_contact(client, police, "red")
    ask(client, police, contact_id, "health")
    clock.advance(timedelta(minutes=110))  # 10 minutes before it is due
    nurse = make_account(Role.AGENCY_RESEARCHER, "health")
    sign_in(client, nurse, clock)
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        request_id = str(session.scalar(select(InfoRequest.id)))
    show = client.get(f"/requests/{request_id}")
    assert show.status_code == 200
    token_value = csrf_token(show.text)
    clock.advance(timedelta(minutes=11))  # past due, session still alive
    late = client.post(
        f"/requests/{request_id}", data={"outcome": "not_known", "csrf_token": token_value}
    )
    assert late.status_code == 409
    assert client.get(f"/requests/{request_id}").status_code == 404


QUESTION_CANARY = "canary-3e77-question-text"


def _database_bytes(test_db_url: str, admin_database_url: str) -> bytes:
    """The whole database as a thief would have it: the SQLite file and its journal, or
    every row of every table on PostgreSQL (read by the owner, past row-level security)."""
    if test_db_url.startswith("sqlite"):
        path = Path(test_db_url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))
    from sqlalchemy import create_engine, text

    from mash_hub.db import Base

    engine = create_engine(admin_database_url)
    with engine.connect() as conn:
        dump = b"".join(
            str(conn.execute(text(f"SELECT t::text FROM {table.name} t")).all()).encode()  # noqa: S608
            for table in Base.metadata.sorted_tables
        )
    engine.dispose()
    return dump


def test_questions_and_answers_are_not_in_a_database_dump(
    client, police, make_client, test_db_url, admin_database_url
):
    contact_id = rated_contact(client, police)
    health_id = ask(client, police, contact_id, "health", f"Known? {QUESTION_CANARY}").json["id"]
    health = researcher(client, make_client, "health")
    answered = client.post(
        f"/api/v1/requests/{health_id}/response",
        json={
            "outcome": "information_held",
            "items": [
                {"kind": "fact", "text": HEALTH_CANARY},
                {"kind": "opinion", "text": RESTRICTED_CANARY, "restricted": True},
            ],
        },
        headers=health,
    )
    assert answered.status_code == 201
    # The content is there and opens through the firewall...
    assert QUESTION_CANARY in client.get(f"/api/v1/requests/{health_id}", headers=health).text
    dump = _database_bytes(test_db_url, admin_database_url)
    # ...and the dump search sees stored values (the request's id, in clear) ...
    assert health_id.replace("-", "").encode() in dump or health_id.encode() in dump
    # ...but no question or answer in clear.
    for canary in (QUESTION_CANARY, HEALTH_CANARY, RESTRICTED_CANARY):
        assert canary.encode() not in dump, canary


def test_manager_sees_each_agencys_response_performance(
    app, client, clock, police, make_client, make_account
):
    contact_id = rated_contact(client, police)
    health_id = ask(client, police, contact_id, "health").json["id"]
    ask(client, police, contact_id, "education")
    ask(client, police, contact_id, "housing")
    clock.advance(timedelta(minutes=90))
    health = researcher(client, make_client, "health")
    client.post(
        f"/api/v1/requests/{health_id}/response", json={"outcome": "not_known"}, headers=health
    )
    clock.advance(timedelta(hours=5))  # education and housing run out unanswered
    manager = app.test_client()
    sign_in(manager, make_account(Role.MASH_MANAGER, "csc"), clock)
    home = manager.get("/")
    section = home.text[home.text.index('id="response-performance"') :]
    rows = re.findall(r'<th scope="row"[^>]*>([^<]+)</th>(.*?)</tr>', section, re.S)
    cells = {name: re.findall(r">([^<]+)</td>", rest) for name, rest in rows}
    assert cells == {
        "Education": ["0%", "No answers yet", "1", "0"],
        "Health": ["100%", "1 hour 30 minutes", "0", "0"],
        "Housing": ["0%", "No answers yet", "1", "0"],
    }
    screener = app.test_client()
    sign_in(screener, make_account(Role.SCREENER, "csc"), clock)
    assert 'id="response-performance"' not in screener.get("/").text


def test_inbox_is_ordered_by_time_left_and_holds_nothing_else(client, police, make_client):
    amber = rated_contact(client, police, "amber")  # due 16:00
    red = rated_contact(client, police, "red")  # due 12:00
    amber_id = ask(client, police, amber, "health").json["id"]
    red_id = ask(client, police, red, "health").json["id"]
    ask(client, police, red, "education")
    health = researcher(client, make_client, "health")
    listed = client.get("/api/v1/requests", headers=health).json
    assert [r["id"] for r in listed["requests"]] == [red_id, amber_id]
    assert set(listed["requests"][0]) == {
        "id",
        "contact_reference",
        "status",
        "contact_rag",
        "requested_at",
        "due_at",
    }
    assert listed["next_cursor"] is None
    first = client.get("/api/v1/requests?limit=1", headers=health).json
    assert [r["id"] for r in first["requests"]] == [red_id]
    rest = client.get(f"/api/v1/requests?limit=1&cursor={first['next_cursor']}", headers=health)
    assert [r["id"] for r in rest.json["requests"]] == [amber_id]


def test_bad_paging_parameters_are_field_errors(client, make_client):
    health = researcher(client, make_client, "health")
    response = client.get("/api/v1/requests?limit=5000&cursor=-1", headers=health)
    assert response.status_code == 422
    assert set(response.json["fields"]) == {"limit", "cursor"}
    assert client.get("/api/v1/requests?limit=1", headers=health).status_code == 200


def test_ask_an_agency_names_the_contact_and_preselects_no_agency(
    app, client, police, make_account, clock
):
    """m15: the page names the contact it asks about, and no agency is chosen for the
    screener, so sending without choosing one is caught rather than sent to Health."""
    contact_id = rated_contact(client, police)
    reference = client.get(f"/api/v1/contacts/{contact_id}", headers=police).json["reference"]
    screener = make_account(Role.SCREENER, "police")
    sign_in(client, screener, clock)
    form = client.get(f"/contacts/{contact_id}/requests/new")
    assert form.status_code == 200
    assert f"Contact {reference}" in form.text
    assert "selected" not in re.search(r"<select.*?</select>", form.text, re.S).group(0)
    sent = client.post(
        f"/contacts/{contact_id}/requests/new",
        data={"agency": "", "question": "Any A&E visits?", "csrf_token": csrf_token(form.text)},
    )
    assert sent.status_code == 200
    assert "govuk-error-summary" in sent.text and "Choose the agency to ask" in sent.text
    assert f"Contact {reference}" in sent.text
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        assert session.scalars(select(InfoRequest)).all() == []
