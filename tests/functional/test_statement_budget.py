"""Each page and API operation sends a fixed number of SQL statements, whatever the data:
no lazy load in a loop, no row read twice. The budgets are pinned so that a regression
fails here; the same operation must cost the same on a small and a larger data set."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from mash_hub.authz.permissions import Role, Scope
from tests.functional.test_contacts_api import CONTACT, token
from tests.functional.test_people import CHILD, add_as_new_person, intake, link, variant
from tests.helpers import csrf_token, sign_in
from tests.statements import Statements, counting

SUBJECTS = [
    {"role": "parent", "given_name": "Jo", "family_name": "Smith"},
    {"role": "child", "given_name": "Kim", "family_name": "Smith", "date_of_birth": "2012-01-09"},
    {"role": "carer", "given_name": "Lee", "family_name": "Brown", "address": "2 High St"},
    {"role": "household_member", "given_name": "Max", "family_name": "Brown"},
]
RATINGS = ("red", "amber", "red", "amber")
PARTNERS = ("health", "education", "probation")


@dataclass(frozen=True)
class Size:
    contacts: int  # contacts added; all but the last are claimed and have a proposal,
    # every other one approved
    subjects: int  # subjects on each (the first a child)
    ratings: int  # ratings of each
    partners: int  # agencies each is asked (at least health, which never answers, and
    # education, which does)
    earlier: int  # earlier contacts about the last contact's first child
    children: int  # children of the last contact linked to the register (repeat warnings)


SMALL = Size(contacts=3, subjects=2, ratings=1, partners=2, earlier=1, children=1)
LARGER = Size(contacts=9, subjects=5, ratings=4, partners=3, earlier=3, children=2)
# The register's person for each child (the first subject, then Kim), added with an
# earlier contact about them.
CHILDREN = ((CHILD, 0), ({**SUBJECTS[1], "address": "1 High St"}, 2))


def _api(client, make_client):
    return token(
        client,
        make_client,
        "police",
        Scope.CONTACTS_WRITE,
        Scope.SCREENING_READ,
        Scope.SCREENING_WRITE,
    )


def _partner_api(client, make_client, agency="health"):
    return token(client, make_client, agency, Scope.REQUESTS_READ, Scope.CONTRIBUTIONS_WRITE)


class World:
    """A hub with signed-in people of each kind, to which data can be added."""

    def __init__(self, app: Flask, client, make_client, make_account, clock) -> None:
        self.app, self.client, self.make_client, self.clock = app, client, make_client, clock
        self.screener = self._signed_in(make_account(Role.SCREENER, "csc"))
        self.manager = self._signed_in(make_account(Role.MASH_MANAGER, "csc"))
        self.nurse = self._signed_in(make_account(Role.AGENCY_RESEARCHER, "health"))
        self.lead = self._signed_in(make_account(Role.GOVERNANCE_LEAD, "csc"))
        self.contact_id = ""
        self.reference = ""
        self.request_id = ""
        self.people: list[str] = []

    def _signed_in(self, account):
        web = self.app.test_client()
        sign_in(web, account, self.clock)
        return web

    def add(self, size: Size) -> None:
        police = _api(self.client, self.make_client)
        education = _partner_api(self.client, self.make_client, "education")
        for child, _position in CHILDREN[len(self.people) : size.children]:
            first = intake(self.client, police, child, received_at="2026-06-01T10:00:00Z")
            self.people.append(add_as_new_person(self.app, self.screener, first))
        for n in range(size.earlier - 1):
            earlier = intake(self.client, police, variant(given_name=f"Will{n}", nhs_number=None))
            assert link(self.app, self.screener, earlier, self.people[0]).status_code == 302
        for n in range(size.contacts):
            body = {
                **CONTACT,
                "subjects": [variant(given_name="Will", nhs_number=None)]
                + SUBJECTS[: size.subjects - 1],
            }
            created = self.client.post("/api/v1/contacts", json=body, headers=police)
            assert created.status_code == 201, created.json
            contact_id = created.json["id"]
            for rag in RATINGS[: size.ratings]:
                rated = self.client.post(
                    f"/api/v1/contacts/{contact_id}/rating",
                    json={"rag": rag, "rationale": f"rated {rag}"},
                    headers=police,
                )
                assert rated.status_code == 200, rated.json
            request_ids = []
            for agency in PARTNERS[: size.partners]:
                sent = self.client.post(
                    f"/api/v1/contacts/{contact_id}/requests",
                    json={"agency": agency, "question": "Is the family known to you?"},
                    headers=police,
                )
                assert sent.status_code == 201, sent.json
                request_ids.append(sent.json["id"])
            last = n == size.contacts - 1
            # Education answers (one item restricted); health's request stays open.
            answered = self.client.post(
                f"/api/v1/requests/{request_ids[1]}/response",
                json={
                    "outcome": "information_held",
                    "items": [
                        {"kind": "fact", "text": "Attends school"},
                        {"kind": "opinion", "text": "Worried", "restricted": True},
                    ],
                },
                headers=education,
            )
            assert answered.status_code == 201, answered.json
            if not last:
                claim_page = self.screener.get("/queue")
                claimed = self.screener.post(
                    f"/contacts/{contact_id}/claim",
                    data={"csrf_token": csrf_token(claim_page.text)},
                )
                assert claimed.status_code == 302
                proposed = self.client.post(
                    f"/api/v1/contacts/{contact_id}/decision",
                    json={"outcome": "early_help", "rationale": "Family support"},
                    headers=police,
                )
                assert proposed.status_code == 201, proposed.json
                if n % 2:  # every other proposal approved: the referrer is to be told
                    path = f"/contacts/{contact_id}/decision"
                    page = self.manager.get(path)
                    approved = self.manager.post(
                        f"{path}/review",
                        data={
                            "decision_id": proposed.json["id"],
                            "verdict": "approved",
                            # Early help is referred on to the receiving service.
                            "referral_reason": "Family asked for help with routines",
                            "csrf_token": csrf_token(page.text),
                        },
                    )
                    assert approved.status_code == 302, approved.text
            self.contact_id, self.request_id = contact_id, request_ids[0]
            self.reference = created.json["reference"]
        for person_id, (_child, position) in zip(self.people, CHILDREN, strict=False):
            linked = link(self.app, self.screener, self.contact_id, person_id, position)
            assert linked.status_code == 302


def _measure(world: World, operation: str) -> tuple[Statements, TestResponse]:
    """Warm up once (first-use caches are not the point), then count one call."""
    client = world.client
    if operation == "contact_api":
        headers = token(client, world.make_client, "police", Scope.SCREENING_READ)
        path, web = f"/api/v1/contacts/{world.contact_id}", client
    elif operation == "inbox_api":
        headers = _partner_api(client, world.make_client)
        path, web = "/api/v1/requests", client
    else:
        headers = {}
        path, web = {
            "contact_page": (f"/contacts/{world.contact_id}", world.screener),
            "queue": ("/queue", world.manager),
            "inbox_page": ("/requests", world.nurse),
            "request_page": (f"/requests/{world.request_id}", world.nurse),
            "audit_search": ("/governance/audit?decision=allow&action=contact:read", world.lead),
            "audit_by_reference": (f"/governance/audit?reference={world.reference}", world.lead),
        }[operation]
    assert web.get(path, headers=headers).status_code == 200
    with counting(world.app) as seen:
        response = web.get(path, headers=headers)
    assert response.status_code == 200, response.text
    if os.environ.get("MASH_SHOW_STATEMENTS"):
        print(f"\n{operation} {path}: {len(seen)} statements\n{seen}")
    return seen, response


# The most statements each operation may send: (SQLite, PostgreSQL), each the measured
# count plus one. PostgreSQL adds a set_config per transaction (row-level security says
# whose side it is on) and the rate-limit slot's SET LOCAL synchronous_commit.
# Measure with: MASH_SHOW_STATEMENTS=1 pytest -s tests/functional/test_statement_budget.py
BUDGETS = {
    # One more each since the possible repeat contacts found on intake (#16): their rows;
    # their earlier contacts are decided in the chronology's batch.
    # One more each since amendments during screening (#13, D8): the contact's amendments,
    # read with it (a partner's request reads the subjects' corrections).
    # One more each since onward referrals (#15 item 4): the contact's referrals, each
    # decided in one batch.
    "contact_api": (22, 26),
    "contact_page": (32, 36),
    "queue": (18, 22),
    "inbox_api": (6, 10),
    "inbox_page": (9, 13),
    "request_page": (13, 17),
    "audit_search": (8, 12),
    # Three decisions of its own: audit:read, audit:find_contact, audit:linked_children.
    "audit_by_reference": (13, 17),
}


@pytest.mark.parametrize("operation", list(BUDGETS))
def test_statements_are_within_budget_and_do_not_grow_with_the_data(
    app, client, make_client, make_account, clock, operation
):
    world = World(app, client, make_client, make_account, clock)
    world.add(SMALL)
    small, _shown = _measure(world, operation)
    world.add(LARGER)
    larger, shown = _measure(world, operation)
    if operation == "contact_api":  # the larger read really is larger
        body = shown.json
        assert len(body["subjects"]) == LARGER.subjects
        assert len(body["rating_history"]) == LARGER.ratings
        assert len(body["requests"]) == LARGER.partners
        confirmed = [w for w in body["warnings"] if w["status"] == "confirmed"]
        assert len({w["person_id"] for w in confirmed}) == LARGER.children
    if operation == "inbox_api":
        assert len(shown.json["requests"]) == SMALL.contacts + LARGER.contacts
    postgres = app.extensions["mash.db"].engine.dialect.name == "postgresql"
    budget = BUDGETS[operation][1 if postgres else 0]
    assert len(small) <= budget, f"{operation}: {len(small)} > {budget}\n{small}"
    assert len(larger) == len(small), (
        f"{operation} grows with the data: {len(small)} then {len(larger)}\n"
        f"small:\n{small}\nlarger:\n{larger}"
    )
