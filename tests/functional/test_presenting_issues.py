"""Presenting issues and equality information at intake, over the API and on the pages:
issues are codes of the published list (422 naming the entry otherwise), equality answers
are sealed, and neither reaches a partner answering a request."""

from __future__ import annotations

import copy
import uuid

import pytest
from sqlalchemy import create_engine, select, text

from mash_hub.authz.permissions import Role, Scope
from mash_hub.contacts.models import ContactPresentingIssue, ContactSubject
from mash_hub.db import Database
from mash_hub.presenting_issues import ISSUE_CODES
from tests.functional.screening.test_intake_page import GOOD
from tests.functional.test_contacts_api import CONTACT, token
from tests.functional.test_requests import ask, researcher
from tests.helpers import csrf_token, sign_in

# Answers no other part of a contact holds, to look for where they must not be.
LANGUAGE = "Tigrinya-canary-5e1d"
EQUALITY = {
    "sex": "female",
    "ethnicity": "white_gypsy_irish_traveller",
    "disability": "prefer_not_to_say",
    "first_language": LANGUAGE,
}


def with_issues_and_equality() -> dict:
    body = copy.deepcopy(CONTACT)
    # Out of list order and with a repeat: stored once each, shown in the list's order.
    body["presenting_issues"] = ["substance_misuse", "domestic_abuse", "substance_misuse"]
    body["subjects"][0]["equality"] = EQUALITY
    return body


@pytest.fixture
def police(client, make_client):
    return token(
        client, make_client, "police",
        Scope.CONTACTS_WRITE, Scope.SCREENING_READ, Scope.SCREENING_WRITE,
    )  # fmt: skip


def _db(app) -> Database:
    return app.extensions["mash.db"]


def stored(app, contact_id: str) -> tuple[list[str], list[bytes | None]]:
    with _db(app).transaction() as session:
        ident = uuid.UUID(contact_id)
        codes = session.scalars(
            select(ContactPresentingIssue.issue_code)
            .where(ContactPresentingIssue.contact_id == ident)
            .order_by(ContactPresentingIssue.issue_code)
        ).all()
        sealed = session.scalars(
            select(ContactSubject.equality_sealed)
            .where(ContactSubject.contact_id == ident)
            .order_by(ContactSubject.position)
        ).all()
    return list(codes), [bytes(s) if s is not None else None for s in sealed]


def test_the_api_takes_presenting_issues_and_equality_and_shows_them_to_the_mash(
    app, client, police
):
    created = client.post("/api/v1/contacts", json=with_issues_and_equality(), headers=police)
    assert created.status_code == 201, created.json
    contact_id = created.json["id"]

    shown = client.get(f"/api/v1/contacts/{contact_id}", headers=police).json

    assert shown["presenting_issues"] == ["domestic_abuse", "substance_misuse"]
    assert shown["subjects"][0]["equality"] == EQUALITY
    assert shown["subjects"][1]["equality"] is None
    codes, sealed = stored(app, contact_id)
    assert codes == ["domestic_abuse", "substance_misuse"]
    # Sealed: the column holds an envelope, with none of the answers in clear.
    assert sealed[0] is not None and sealed[1] is None
    for answer in EQUALITY.values():
        assert answer.encode() not in sealed[0]


def test_a_v1_body_without_them_still_records_a_contact(client, police):
    created = client.post("/api/v1/contacts", json=CONTACT, headers=police)
    assert created.status_code == 201, created.json

    shown = client.get(f"/api/v1/contacts/{created.json['id']}", headers=police).json

    assert shown["presenting_issues"] == []
    assert [s["equality"] for s in shown["subjects"]] == [None, None]


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        (
            {"presenting_issues": ["neglect", "sexual_abuse", "bullying", 7]},
            {"presenting_issues[2]", "presenting_issues[3]"},
        ),
        ({"presenting_issues": "neglect"}, {"presenting_issues"}),
        ({"presenting_issues": ["neglect"] * (len(ISSUE_CODES) + 1)}, {"presenting_issues"}),
    ],
)
def test_anything_but_codes_of_the_list_is_422_naming_the_entry(
    app, client, police, change, fields
):
    body = {**copy.deepcopy(CONTACT), **change}

    refused = client.post("/api/v1/contacts", json=body, headers=police)

    assert refused.status_code == 422, refused.json
    assert set(refused.json["fields"]) == fields
    with _db(app).transaction() as session:
        assert session.scalar(select(ContactPresentingIssue.contact_id)) is None


def test_equality_answers_are_checked_field_by_field(client, police):
    body = copy.deepcopy(CONTACT)
    body["subjects"][0]["equality"] = {"sex": "unknown", "ethnicity": "british", "disability": True}
    body["subjects"][1]["equality"] = {"first_language": "x" * 61}
    body["subjects"].append({"role": "sibling", "given_name": "Al", "family_name": "Smith",
                             "equality": "female"})  # fmt: skip

    refused = client.post("/api/v1/contacts", json=body, headers=police)

    assert refused.status_code == 422
    assert set(refused.json["fields"]) == {
        "subjects[0].equality.sex",
        "subjects[0].equality.ethnicity",
        "subjects[0].equality.disability",
        "subjects[1].equality.first_language",
        "subjects[2].equality",
    }


def test_the_openapi_document_publishes_the_list(client):
    document = client.get("/api/v1/openapi.json").json
    schemas = document["components"]["schemas"]

    assert schemas["PresentingIssue"]["enum"] == list(ISSUE_CODES)
    assert "`sexual_abuse`: Sexual abuse" in schemas["PresentingIssue"]["description"]
    body = document["paths"]["/api/v1/contacts"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    assert body["properties"]["presenting_issues"]["items"] == {
        "$ref": "#/components/schemas/PresentingIssue"
    }
    assert "presenting_issues" not in body["required"]
    equality = schemas["Equality"]["properties"]
    assert "white_roma" in equality["ethnicity"]["enum"]
    assert body["properties"]["subjects"]["items"]["properties"]["equality"]


def test_a_partner_with_an_open_request_sees_neither(
    app, client, police, make_client, make_account, clock
):
    created = client.post("/api/v1/contacts", json=with_issues_and_equality(), headers=police)
    contact_id = created.json["id"]
    client.post(
        f"/api/v1/contacts/{contact_id}/rating",
        json={"rag": "amber", "rationale": "needs partner checks"},
        headers=police,
    )
    request_id = ask(client, police, contact_id, "health").json["id"]
    health = researcher(client, make_client, "health")

    seen = client.get(f"/api/v1/requests/{request_id}", headers=health)

    assert seen.status_code == 200
    assert seen.json["subjects"][0]["given_name"] == "Sam"
    assert "presenting_issues" not in seen.json
    assert all("equality" not in subject for subject in seen.json["subjects"])
    for answer in ("Gypsy or Irish Traveller", "white_gypsy_irish_traveller", LANGUAGE):
        assert answer not in seen.text
    # Nor on the researcher's page.
    person = app.test_client()
    sign_in(person, make_account(Role.AGENCY_RESEARCHER, "health"), clock)
    page = person.get(f"/requests/{request_id}")
    assert page.status_code == 200 and "Sam" in page.text
    for shown in (LANGUAGE, "Gypsy or Irish Traveller", "Domestic abuse", "Equality"):
        assert shown not in page.text


def test_the_page_records_issues_and_equality_and_the_contact_page_shows_them(app, screener):
    form = {
        **GOOD,
        "presenting_issues": ["neglect", "domestic_abuse"],
        "subjects-0-sex": "male",
        "subjects-0-ethnicity": "mixed_white_black_caribbean",
        "subjects-0-disability": "no",
        "subjects-0-first_language": LANGUAGE,
    }

    saved = screener.post_form("/contacts/new", form)

    assert saved.status_code == 302, saved.text
    contact_id = saved.headers["Location"].rsplit("/", 1)[1]
    page = screener.get(saved.headers["Location"]).text
    issues = page.split('id="presenting-issues"')[1].split("</ul>")[0]
    assert "<li>Domestic abuse</li>" in issues and "<li>Neglect</li>" in issues
    assert issues.index("Domestic abuse") < issues.index("Neglect")  # the list's order
    equality = page.split('id="equality"')[1].split("</table>")[0]
    for shown in (
        "Sam Smith",
        "Male",
        "Mixed or multiple ethnic groups: White and Black Caribbean",
        "No",
        LANGUAGE,
    ):
        assert shown in equality
    codes, sealed = stored(app, contact_id)
    assert codes == ["domestic_abuse", "neglect"]
    assert sealed[0] is not None and LANGUAGE.encode() not in sealed[0]


def test_equality_left_unanswered_is_not_recorded(app, screener):
    saved = screener.post_form("/contacts/new", GOOD)

    assert saved.status_code == 302, saved.text
    page = screener.get(saved.headers["Location"]).text
    assert 'id="equality"' not in page
    assert stored(app, saved.headers["Location"].rsplit("/", 1)[1])[1] == [None]


def test_the_page_asks_for_at_least_one_presenting_issue(app, screener):
    form = {key: value for key, value in GOOD.items() if key != "presenting_issues"}

    shown = screener.post_form("/contacts/new", form)

    assert shown.status_code == 200
    summary = shown.text.split('class="govuk-error-summary"')[1].split("</div>")[0]
    assert 'href="#presenting_issues"' in summary
    assert "Select at least one presenting issue, or select Something not listed here" in summary
    assert 'id="presenting_issues-error"' in shown.text
    with _db(app).transaction() as session:
        assert session.scalar(select(ContactSubject.id)) is None


def test_a_tampered_equality_answer_is_refused_in_plain_english(app, screener):
    shown = screener.post_form("/contacts/new", {**GOOD, "subjects-0-ethnicity": "martian"})

    assert shown.status_code == 200
    assert "Select the person&#39;s ethnic group from the list" in shown.text
    assert 'href="#subjects-0-ethnicity"' in shown.text
    with _db(app).transaction() as session:
        assert session.scalar(select(ContactSubject.id)) is None


def test_presenting_issues_are_the_mash_sides_only_under_row_level_security(
    client, police, database_url
):
    if not database_url.startswith("postgresql"):
        pytest.skip("row-level security is PostgreSQL's (set MASH_TEST_DATABASE_URL)")
    created = client.post("/api/v1/contacts", json=with_issues_and_equality(), headers=police)
    contact_id = created.json["id"]
    client.post(
        f"/api/v1/contacts/{contact_id}/rating",
        json={"rag": "amber", "rationale": "needs partner checks"},
        headers=police,
    )
    assert ask(client, police, contact_id, "health").status_code == 201
    engine = create_engine(database_url)
    try:

        def visible(agency: str | None) -> int:
            with engine.begin() as conn:
                if agency is not None:
                    conn.execute(
                        text("SELECT set_config('app.agency_id', :a, true)"), {"a": agency}
                    )
                return conn.execute(
                    text("SELECT count(*) FROM contact_presenting_issues")
                ).scalar_one()

        assert visible("police") == 2 and visible("csc") == 2 and visible("system") == 2
        # Health has an open request on the contact and sees its subjects, not its issues.
        for partner in ("health", "education", "probation", "housing", "yos"):
            assert visible(partner) == 0, partner
        assert visible(None) == 0
    finally:
        engine.dispose()


@pytest.fixture
def screener(app, make_account, clock):
    class Screener:
        def __init__(self) -> None:
            self.client = app.test_client()
            sign_in(self.client, make_account(Role.SCREENER, "police"), clock)

        def get(self, path):
            return self.client.get(path)

        def post_form(self, path, data):
            html = self.client.get(path).text
            return self.client.post(path, data={**data, "csrf_token": csrf_token(html)})

    return Screener()
