"""The whole flow of shared/docs/api.md driven by agency systems only (issue #7, "Must
show"): a police system records a contact, the children's-services screening system reads
it, rates it Amber and asks health and education, health's system answers (one item
restricted), education's request runs out, the screening system reads the contributions
and proposes the decision, and a governance tool pulls the audit trail of all of it, each
event with its agreement and clause and, once sealed, its chain hash.

Every response is checked against the contract's shapes, not just its status code."""

from __future__ import annotations

from datetime import datetime, timedelta

from mash_hub.audit.sealer import run_once
from mash_hub.authz.permissions import Scope
from tests.functional.test_contacts_api import CANARY, CONTACT
from tests.functional.test_requests import ask, rated_contact, researcher
from tests.functional.test_requests import screening as screening_headers

MISSING = "00000000-0000-4000-8000-000000000000"
HEALTH_TEXT = "Seen in A&E twice this autumn with bruising."
RESTRICTED_TEXT = "canary-3e1f-restricted-health-opinion"
EVENT_FIELDS = {
    "seq", "at", "actor", "agency", "action", "object_type", "object_id", "contact_id",
    "decision", "isa_id", "clause", "policy_ids", "reason", "hash",
}  # fmt: skip


def rfc3339(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() is not None, f"{text} has no offset"
    return moment


def is_error(response, status: int) -> None:
    assert response.status_code == status, response.json
    assert response.is_json
    assert set(response.json) >= {"error", "message"}
    assert isinstance(response.json["error"], str) and isinstance(response.json["message"], str)


class System:
    """One agency system: its registered client, and a fresh token whenever it asks (the
    flow runs over hours of frozen time, longer than a token lives)."""

    def __init__(self, client, make_client, agency: str, *scopes: Scope) -> None:
        self.client = client
        self.agency = agency
        self.scopes = {str(s) for s in scopes}
        self.client_id, self.secret = make_client(agency, frozenset(scopes))

    def headers(self) -> dict[str, str]:
        answer = self.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(self.client_id, self.secret),
        )
        assert answer.status_code == 200, answer.json
        assert answer.json["token_type"] == "Bearer"
        assert isinstance(answer.json["expires_in"], int) and answer.json["expires_in"] > 0
        assert set(answer.json["scope"].split()) == self.scopes
        return {"Authorization": f"Bearer {answer.json['access_token']}"}

    def get(self, path: str, **kwargs):
        return self.client.get(path, headers=self.headers(), **kwargs)

    def post(self, path: str, body):
        return self.client.post(path, json=body, headers=self.headers())


def test_the_whole_api_flow_with_agency_systems_only(app, client, make_client, settings, clock):
    police = System(client, make_client, "police", Scope.CONTACTS_WRITE)
    screening = System(client, make_client, "csc", Scope.SCREENING_READ, Scope.SCREENING_WRITE)
    health = System(client, make_client, "health", Scope.REQUESTS_READ, Scope.CONTRIBUTIONS_WRITE)
    education = System(
        client, make_client, "education", Scope.REQUESTS_READ, Scope.CONTRIBUTIONS_WRITE
    )
    governance = System(client, make_client, "csc", Scope.AUDIT_READ)

    # 1. Intake by the police system.
    created = police.post("/api/v1/contacts", CONTACT)
    assert created.status_code == 201, created.json
    assert set(created.json) >= {"id", "reference", "status"}
    assert created.json["status"] == "awaiting_screening"
    contact_id = created.json["id"]
    # The police client may only write: reading the contact is outside its scopes.
    is_error(police.get(f"/api/v1/contacts/{contact_id}"), 403)

    # 2. The screening system reads it in full, then rates it Amber.
    shown = screening.get(f"/api/v1/contacts/{contact_id}")
    assert shown.status_code == 200, shown.json
    contact = shown.json
    assert contact["id"] == contact_id and contact["reference"] == created.json["reference"]
    assert contact["concern"] == CONTACT["concern"]
    assert [s["given_name"] for s in contact["subjects"]] == ["Sam", "Jo"]
    assert contact["warnings"] == [] and contact["requests"] == []
    rfc3339(contact["received_at"])
    is_error(screening.get(f"/api/v1/contacts/{MISSING}"), 404)

    rated = screening.post(
        f"/api/v1/contacts/{contact_id}/rating",
        {"rag": "amber", "rationale": "Repeated night-time incidents; partner checks needed."},
    )
    assert rated.status_code == 200, rated.json
    assert rated.json["rag"] == "amber"
    assert rfc3339(rated.json["decision_due_at"]) > rfc3339(contact["received_at"])

    # 3. Requests to health and to education.
    sent = {}
    for agency in ("health", "education"):
        response = screening.post(
            f"/api/v1/contacts/{contact_id}/requests",
            {"agency": agency, "question": f"Is the family known to {agency}?"},
        )
        assert response.status_code == 201, response.json
        assert set(response.json) >= {"id", "agency", "status", "due_at"}
        assert (response.json["agency"], response.json["status"]) == (agency, "open")
        assert rfc3339(response.json["due_at"]) > clock.now()
        sent[agency] = response.json
    health_id, education_id = sent["health"]["id"], sent["education"]["id"]
    assert health_id != education_id

    # 4. Health lists its requests (its own, and no others), reads its request on a
    # need-to-know basis and answers with one restricted item.
    inbox = health.get("/api/v1/requests")
    assert inbox.status_code == 200
    assert set(inbox.json) == {"requests", "next_cursor"} and inbox.json["next_cursor"] is None
    assert [r["id"] for r in inbox.json["requests"]] == [health_id]
    assert inbox.json["requests"][0]["status"] == "open"
    paged = health.get("/api/v1/requests", query_string={"limit": 1})
    assert paged.json["requests"] == inbox.json["requests"] and paged.json["next_cursor"] is None

    mine = health.get(f"/api/v1/requests/{health_id}")
    assert mine.status_code == 200, mine.json
    request = mine.json
    assert request["question"] == "Is the family known to health?"
    assert request["status"] == "open" and request["due_at"] == sent["health"]["due_at"]
    child = request["subjects"][0]
    assert (child["given_name"], child["family_name"]) == ("Sam", "Smith")
    assert child["date_of_birth"] == "2015-04-02" and child["address"] == "1 High St, Brent"
    assert child["nhs_number"] == "9434765919"
    assert "concern" not in request and CANARY not in mine.text
    assert "rating" not in request and "ratings" not in request
    assert request["answer"] is None

    clock.advance(timedelta(hours=1))
    answered = health.post(
        f"/api/v1/requests/{health_id}/response",
        {
            "outcome": "information_held",
            "items": [
                {"kind": "fact", "text": HEALTH_TEXT, "restricted": False},
                {"kind": "opinion", "text": RESTRICTED_TEXT, "restricted": True},
            ],
        },
    )
    assert answered.status_code == 201, answered.json
    assert answered.json["agency"] == "health"
    is_error(health.post(f"/api/v1/requests/{health_id}/response", {"outcome": "not_known"}), 409)
    # Health sees its own answer, restricted item included, and no other agency's.
    own = health.get(f"/api/v1/requests/{health_id}").json["answer"]
    assert [i["text"] for i in own["items"]] == [HEALTH_TEXT, RESTRICTED_TEXT]

    # 5. Education's request runs out (Amber: six working hours from Monday 10:00).
    clock.advance(timedelta(hours=6))
    assert clock.now() > rfc3339(sent["education"]["due_at"])
    assert education.get("/api/v1/requests").json == {"requests": [], "next_cursor": None}
    late = education.post(f"/api/v1/requests/{education_id}/response", {"outcome": "not_known"})
    is_error(late, 409)
    gone = education.get(f"/api/v1/requests/{education_id}")
    missing = education.get(f"/api/v1/requests/{MISSING}")
    is_error(gone, 404)
    assert gone.data == missing.data
    # Nor can education see health's request: the same 404 again.
    assert education.get(f"/api/v1/requests/{health_id}").data == missing.data

    # 6. The screening system reads the contributions: the restricted item withheld, and
    # education's request expired with no answer.
    contributions = screening.get(f"/api/v1/contacts/{contact_id}/contributions")
    assert contributions.status_code == 200, contributions.json
    assert set(contributions.json) == {"contributions", "next_cursor"}
    [answer] = contributions.json["contributions"]
    assert (answer["agency"], answer["outcome"]) == ("health", "information_held")
    assert answer["request_id"] == health_id
    rfc3339(answer["answered_at"])
    assert answer["items"] == [
        {"kind": "fact", "restricted": False, "withheld": False, "text": HEALTH_TEXT},
        {"kind": "opinion", "restricted": True, "withheld": True, "agency": "health"},
    ]
    assert RESTRICTED_TEXT not in contributions.text
    first = screening.get(f"/api/v1/contacts/{contact_id}/contributions?limit=1").json
    assert first == contributions.json  # one answer: one page, no cursor
    is_error(screening.get(f"/api/v1/contacts/{contact_id}/contributions?limit=0"), 422)
    requests = screening.get(f"/api/v1/contacts/{contact_id}").json["requests"]
    assert {r["agency"]: r["status"] for r in requests} == {
        "health": "answered",
        "education": "expired",
    }
    assert RESTRICTED_TEXT not in str(requests)

    # 7. The decision is proposed; a partner system may never do this.
    decision = {"outcome": "s17_assessment", "rationale": "Health concerns and police reports."}
    proposed = screening.post(f"/api/v1/contacts/{contact_id}/decision", decision)
    assert proposed.status_code == 201, proposed.json
    assert proposed.json["outcome"] == "s17_assessment"
    assert proposed.json["contact_id"] == contact_id
    is_error(health.post(f"/api/v1/contacts/{contact_id}/decision", decision), 403)
    bad = screening.post(f"/api/v1/contacts/{contact_id}/decision", {"outcome": "jail"})
    is_error(bad, 422)
    assert set(bad.json["fields"]) == {"outcome", "rationale"}

    # 8. The governance tool pulls the trail of the contact, page by page, after sealing.
    clock.advance(timedelta(seconds=1))
    run_once(app.extensions["mash.db"], settings, clock.now(), force=True)
    events, cursor = [], None
    while True:
        query = {"contact_id": contact_id, "limit": 5, **({"cursor": cursor} if cursor else {})}
        page = governance.get("/api/v1/audit/events", query_string=query)
        assert page.status_code == 200, page.json
        assert set(page.json) == {"events", "next_cursor"}
        assert len(page.json["events"]) <= 5
        events += page.json["events"]
        cursor = page.json["next_cursor"]
        if cursor is None:
            break
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs))
    for event in events:
        assert set(event) >= EVENT_FIELDS
        assert event["contact_id"] == contact_id
        assert event["decision"] in ("allow", "deny")
        assert isinstance(event["hash"], str) and len(event["hash"]) == 64, event
        rfc3339(event["at"])

    def done(actor: System, action: str, object_id: str, decision: str = "allow") -> dict:
        found = [
            e
            for e in events
            if (e["actor"], e["action"], e["object_id"], e["decision"])
            == (actor.client_id, action, object_id, decision)
        ]
        assert found, f"no {decision} {action} on {object_id} by {actor.agency}"
        assert {e["agency"] for e in found} == {actor.agency}
        return found

    # Proposing an outcome is screening work (contact:rate); a manager's sign-off decides.
    rating, proposal = done(screening, "contact:rate", contact_id)
    contribution = done(screening, "contribution:read", answer["id"])
    assert rating["seq"] < contribution[0]["seq"] < proposal["seq"]
    shared = [
        *done(screening, "contact:read", contact_id),
        rating,
        proposal,
        *done(screening, "request:create", health_id),
        *done(screening, "request:create", education_id),
        *done(health, "request:read", health_id),
        *done(health, "request:answer", health_id),
        *contribution,
    ]
    # Each access under an agreement names it and its clause.
    for event in shared:
        assert event["isa_id"] and event["clause"], event
        assert event["policy_ids"], event
    done(police, "contact:create", contact_id)
    # The restricted item was withheld from the screening system by a recorded refusal.
    done(screening, "contribution:read", answer["id"], "deny")
    # Refusals are in the trail too: education's late answer and its read after expiry.
    assert any(
        e["actor"] == education.client_id and e["object_id"] == education_id
        and e["decision"] == "deny"
        for e in events
    )  # fmt: skip


def test_contributions_page_with_cursor_and_limit(client, make_client):
    police = screening_headers(client, make_client)
    contact_id = rated_contact(client, police)
    for agency in ("health", "education", "housing"):
        request_id = ask(client, police, contact_id, agency).json["id"]
        answered = client.post(
            f"/api/v1/requests/{request_id}/response",
            json={"outcome": "not_known"},
            headers=researcher(client, make_client, agency),
        )
        assert answered.status_code == 201, answered.json
    path = f"/api/v1/contacts/{contact_id}/contributions"
    everything = client.get(path, headers=police).json
    assert everything["next_cursor"] is None
    assert sorted(c["agency"] for c in everything["contributions"]) == [
        "education",
        "health",
        "housing",
    ]
    pages, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(path, query_string=query, headers=police).json
        assert set(page) == {"contributions", "next_cursor"}
        pages.append(page["contributions"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 1]
    assert [c for p in pages for c in p] == everything["contributions"]


def test_a_time_window_gives_exactly_the_events_inside_it(client, make_client, clock):
    """since is inclusive and until exclusive, across events hours apart (the searches turn
    the window into a seq range first: it must not lose or add an event)."""
    for _ in range(3):
        rated_contact(client, screening_headers(client, make_client))
        clock.advance(timedelta(hours=2))
    governance = System(client, make_client, "police", Scope.AUDIT_READ)
    everything = governance.get("/api/v1/audit/events").json["events"]
    moments = sorted({e["at"] for e in everything})
    assert len(moments) >= 3
    for since, until in ((moments[1], moments[-1]), (moments[0], moments[1])):
        window = governance.get(
            "/api/v1/audit/events", query_string={"since": since, "until": until}
        )
        expected = [e["seq"] for e in everything if since <= e["at"] < until]
        assert expected and [e["seq"] for e in window.json["events"]] == expected
    after = governance.get("/api/v1/audit/events", query_string={"since": moments[-1]}).json
    assert {e["seq"] for e in everything if e["at"] >= moments[-1]} <= {
        e["seq"] for e in after["events"]
    }
