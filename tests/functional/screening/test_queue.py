"""The screening queue: most urgent first, overdue marked, filters, claims; each row
shown is an audited `contact:read`; partners never see it."""

from __future__ import annotations

import copy
import re

from sqlalchemy import select

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role
from mash_hub.db import Database
from tests.functional.test_contacts_api import CONTACT


def add_contact(client, api, received_at, agency="police"):
    body = copy.deepcopy(CONTACT)
    body["received_at"] = received_at
    body["source"]["agency"] = agency
    response = client.post("/api/v1/contacts", json=body, headers=api)
    assert response.status_code == 201
    return response.json["id"], response.json["reference"]


def rate(client, api, contact_id, rag):
    response = client.post(
        f"/api/v1/contacts/{contact_id}/rating", json={"rag": rag, "rationale": "why"}, headers=api
    )
    assert response.status_code == 200


def references(html: str) -> list[str]:
    return re.findall(r'data-reference="(MASH-\d{4}-\d{6})"', html)


def test_ordered_by_time_left_with_overdue_marked(app, client, api, screener):
    amber, amber_ref = add_contact(client, api, "2026-11-27T10:00:00Z")  # Friday
    red, red_ref = add_contact(client, api, "2026-11-30T08:00:00Z")  # due 12:00 today
    _unrated, unrated_ref = add_contact(client, api, "2026-11-30T09:30:00Z")
    green, green_ref = add_contact(client, api, "2026-11-26T09:00:00Z", agency="csc")
    rate(client, api, amber, "amber")  # 24 working hours from Friday 10:00: Wednesday 10:00
    rate(client, api, red, "red")
    rate(client, api, green, "green")  # 72 hours from Thursday 09:00: Sunday 09:00, overdue
    html = screener.get("/queue").text
    assert references(html) == [green_ref, unrated_ref, red_ref, amber_ref]
    overdue_row = re.search(
        rf'<tr class="[^"]*hub-row--overdue[^"]*" data-reference="{green_ref}"', html
    )
    assert overdue_row is not None
    assert "Overdue by 1 day" in html
    # Filters: by rating, by source agency.
    assert references(screener.get("/queue?rating=red").text) == [red_ref]
    assert references(screener.get("/queue?rating=unrated").text) == [unrated_ref]
    assert references(screener.get("/queue?agency=csc").text) == [green_ref]


def test_every_row_shown_is_an_audited_read(app, client, api, screener):
    first, _ = add_contact(client, api, "2026-11-30T09:00:00Z")
    second, _ = add_contact(client, api, "2026-11-30T09:10:00Z")
    screener.get("/queue")
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        rows = session.execute(
            select(AuditEvent.contact_id, AuditEvent.decision).where(
                AuditEvent.actor_id == str(screener.account.user_id),
                AuditEvent.action == "contact:read",
            )
        ).all()
    assert sorted(rows) == sorted([(first, "allow"), (second, "allow")])


def test_claiming_sets_the_assignee_and_is_audited(app, client, api, screener, person):
    contact, ref = add_contact(client, api, "2026-11-30T09:00:00Z")
    other, other_ref = add_contact(client, api, "2026-11-30T09:05:00Z")
    response = screener.post_form(f"/contacts/{contact}/claim", {}, page="/queue")
    assert response.status_code == 302
    mine = screener.get("/queue?assignee=me").text
    assert references(mine) == [ref]
    assert "Test Screener" in mine
    assert references(screener.get("/queue?assignee=unassigned").text) == [other_ref]
    by_id = screener.get(f"/queue?assignee={screener.account.user_id}").text
    assert references(by_id) == [ref]
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        claimed = session.execute(
            select(AuditEvent.actor_id, AuditEvent.contact_id, AuditEvent.reason).where(
                AuditEvent.kind == "contact.claimed"
            )
        ).all()
    assert claimed == [(str(screener.account.user_id), contact, "claimed")]
    # Another screener takes it over: the audit names the previous holder.
    colleague = person(Role.SCREENER, "csc")
    colleague.post_form(f"/contacts/{contact}/claim", {}, page="/queue")
    with database.transaction() as session:
        reasons = session.scalars(
            select(AuditEvent.reason)
            .where(AuditEvent.kind == "contact.claimed")
            .order_by(AuditEvent.seq)
        ).all()
    assert reasons == ["claimed", f"taken over from {screener.account.user_id}"]
    assert references(screener.get("/queue?assignee=me").text) == []


def test_the_queue_shows_only_what_is_needed(client, api, screener):
    add_contact(client, api, "2026-11-30T09:00:00Z")
    html = screener.get("/queue").text
    assert "Sam" not in html and "Smith" not in html  # no names
    assert "canary-7f3e-concern-text" not in html  # no concern narrative


def test_partners_never_see_the_queue(app, client, api, person):
    add_contact(client, api, "2026-11-30T09:00:00Z")
    assert person(Role.AGENCY_RESEARCHER, "health").get("/queue").status_code == 403
    assert person(Role.SCREENER, "health").get("/queue").status_code == 404
    assert person(Role.MASH_MANAGER, "probation").get("/queue").status_code == 404
    assert person(Role.GOVERNANCE_LEAD, "csc").get("/queue").status_code == 403


def test_decided_contacts_leave_the_queue(app, client, api, screener, manager):
    contact, ref = add_contact(client, api, "2026-11-30T09:00:00Z")
    rate(client, api, contact, "green")
    path = f"/contacts/{contact}/decision"
    screener.post_form(path, {"outcome": "signpost", "rationale": "Universal services"})
    assert "Awaiting approval" in screener.get("/queue").text
    page = manager.get(path).text
    decision_id = re.search(
        r'name="decision_id"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="decision_id"', page
    )
    assert decision_id is not None
    manager.post_form(
        f"{path}/review",
        {"decision_id": decision_id.group(1) or decision_id.group(2), "verdict": "approved"},
        page=path,
    )
    assert references(screener.get("/queue").text) == []
    assert "Referrers still to be told" in manager.get("/queue").text
