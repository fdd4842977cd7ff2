"""The governance workspace: a lead answers "who looked at this contact, under which
agreement", sees refusals and out-of-hours access, spots unusual volumes, reads the
agreement register and charts, and exports a search as CSV behind a fresh code."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from mash_hub import uktime
from mash_hub.audit.models import AuditEvent
from mash_hub.audit.services import EventDraft, record
from mash_hub.authz.permissions import Role, Scope
from mash_hub.db import Database
from tests.functional.test_contacts_api import CONTACT, token
from tests.functional.test_people import repeat
from tests.functional.test_requests import ask, rated_contact, researcher, screening
from tests.helpers import csrf_token, current_code, sign_in

SATURDAY_NIGHT = datetime(2026, 12, 5, 23, 30, tzinfo=UTC)


@pytest.fixture
def contact(client, make_client):
    police = token(client, make_client, "police", Scope.CONTACTS_WRITE)
    return client.post("/api/v1/contacts", json=CONTACT, headers=police).json


def signed_in(app, make_account, clock, role, agency):
    web = app.test_client()
    account = make_account(role, agency)
    sign_in(web, account, clock)
    return web, account


def events(app, *conditions):
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        return session.scalars(select(AuditEvent).where(*conditions).order_by(AuditEvent.seq)).all()


def add_events(app, drafts):
    database: Database = app.extensions["mash.db"]
    with app.test_request_context(), database.transaction() as session:
        for draft in drafts:
            record(session, draft)


def read_draft(actor, agency, contact_id, *, reason="", decision="allow"):
    return EventDraft(
        kind="access.decision",
        actor_type="user",
        actor_id=str(actor),
        agency=agency,
        action="contact:read",
        object_type="Contact",
        object_id=contact_id,
        contact_id=contact_id,
        decision=decision,
        reason=reason or ("permit" if decision == "allow" else "no permit"),
    )


def result_rows(html):
    body = html.split('<tbody class="govuk-table__body">', 1)[1].split("</tbody>", 1)[0]
    return body.count('<tr class="govuk-table__row">')


def test_who_accessed_this_contact_lists_every_access_with_agreement_and_refusals(
    app, client, make_account, clock, contact
):
    screener, screener_account = signed_in(app, make_account, clock, Role.SCREENER, "csc")
    assert screener.get(f"/contacts/{contact['id']}").status_code == 200
    outsider = uuid.uuid4()
    add_events(app, [read_draft(outsider, "health", contact["id"], decision="deny")])

    lead, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "csc")
    page = lead.get(f"/governance/audit?reference={contact['reference']}")
    assert page.status_code == 200
    assert "Who accessed this contact" in page.text
    assert screener_account.email in page.text  # named, not just an id
    assert "ISA-MASH-CORE" in page.text
    assert "Refused</strong>" in page.text and str(outsider) in page.text
    accesses = events(app, AuditEvent.contact_id == contact["id"])
    assert result_rows(page.text) == len(accesses)


def test_a_partner_lead_sees_only_their_own_agencys_access(
    app, client, make_account, clock, contact
):
    screener, screener_account = signed_in(app, make_account, clock, Role.SCREENER, "csc")
    screener.get(f"/contacts/{contact['id']}")
    health_actor = uuid.uuid4()
    add_events(app, [read_draft(health_actor, "health", contact["id"], decision="deny")])

    lead, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "health")
    page = lead.get(f"/governance/audit?contact_id={contact['id']}")
    assert page.status_code == 200
    assert str(health_actor) in page.text
    assert screener_account.email not in page.text
    assert result_rows(page.text) == 1


def test_only_governance_leads_reach_the_workspace(app, make_account, clock):
    for role, agency in ((Role.SCREENER, "csc"), (Role.MASH_MANAGER, "police"),
                         (Role.AGENCY_RESEARCHER, "health"), (Role.ADMIN, "csc")):  # fmt: skip
        web, _ = signed_in(app, make_account, clock, role, agency)
        for path in ("/governance", "/governance/audit", "/governance/audit/export",
                     "/governance/out-of-hours", "/governance/anomalies",
                     "/governance/agreements"):  # fmt: skip
            assert web.get(path).status_code == 403, (role, path)


def test_every_look_at_the_trail_is_itself_audited(app, make_account, clock):
    lead, account = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "police")
    for path in ("/governance", "/governance/audit?decision=deny", "/governance/agreements"):
        assert lead.get(path).status_code == 200
    reads = events(
        app, AuditEvent.actor_id == str(account.user_id), AuditEvent.action == "audit:read"
    )
    assert [(e.decision, e.object_id, e.isa_ids, e.clauses) for e in reads] == [
        ("allow", "police", "ISA-MASH-CORE", "8.3")
    ] * 3


def test_refused_access_preset_shows_only_refusals(app, make_account, clock, contact):
    actor = uuid.uuid4()
    add_events(
        app,
        [read_draft(actor, "police", contact["id"])]
        + [read_draft(actor, "police", contact["id"], decision="deny")] * 2,
    )
    lead, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "police")
    page = lead.get("/governance/audit?decision=deny")
    assert "Refused access" in page.text
    assert "Allowed</strong>" not in page.text
    refused = events(app, AuditEvent.decision == "deny")
    assert result_rows(page.text) == len(refused) == 2


def test_search_pages_through_every_event_once(app, make_account, clock, contact):
    actor = uuid.uuid4()
    add_events(app, [read_draft(actor, "csc", contact["id"]) for _ in range(120)])
    lead, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "csc")
    seen: list[str] = []
    path = f"/governance/audit?actor={actor}"
    while path:
        page = lead.get(path)
        assert page.status_code == 200
        seen += re.findall(r'<td class="govuk-table__cell">(\d+)</td>', page.text)
        older = re.search(r'href="([^"]+)" rel="next"', page.text)
        path = older.group(1).replace("&amp;", "&") if older else ""
    assert len(seen) == len(set(seen)) == 120
    assert [int(s) for s in seen] == sorted((int(s) for s in seen), reverse=True)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=31/02/2026", "Enter a real date as day/month/year"),
        ("since=yesterday", "Enter a real date as day/month/year"),
        ("since=2026-12-01&until=2026-11-01", "The end date must be the same as or after"),
        ("reference=MASH-1", "Enter a contact reference like MASH-2026-000123"),
        ("actor=robert'); DROP TABLE users", "Enter the id shown in the audit"),
        (f"isa={'X' * 5000}", "Enter an agreement id like ISA-MASH-HEALTH"),
    ],
)
def test_bad_search_input_gets_an_error_summary(app, make_account, clock, query, message):
    lead, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "csc")
    page = lead.get(f"/governance/audit?{query}")
    assert page.status_code == 200
    assert "govuk-error-summary" in page.text
    assert message in page.text
    assert "<title>Error: " in page.text


def test_out_of_hours_lists_weekend_reads_only(app, make_account, clock, contact):
    weekday_actor, weekend_actor = uuid.uuid4(), uuid.uuid4()
    add_events(app, [read_draft(weekday_actor, "csc", contact["id"])])  # Monday 10:00
    clock.set(SATURDAY_NIGHT)
    add_events(app, [read_draft(weekend_actor, "csc", contact["id"])])
    clock.set(SATURDAY_NIGHT + timedelta(days=2))
    lead, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "csc")
    page = lead.get("/governance/out-of-hours")
    assert str(weekend_actor) in page.text
    assert str(weekday_actor) not in page.text


def test_a_reader_of_far_more_contacts_than_their_peers_is_flagged(app, make_account, clock):
    heavy, peers = uuid.uuid4(), [uuid.uuid4() for _ in range(3)]
    drafts = [read_draft(heavy, "csc", str(uuid.uuid4())) for _ in range(25)]
    for peer in peers:
        drafts += [read_draft(peer, "csc", str(uuid.uuid4())) for _ in range(3)]
    add_events(app, drafts)
    lead, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "csc")
    page = lead.get("/governance/anomalies")
    assert str(heavy) in page.text
    assert all(str(peer) not in page.text for peer in peers)
    assert ">25<" in page.text and ">3<" in page.text


def test_agreement_register_shows_each_agreement_and_its_state(app, make_account, clock):
    lead, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "csc")
    page = lead.get("/governance/agreements")
    register = app.extensions["mash.pdp"].register
    for isa_id in register.agreements:
        assert isa_id in page.text
    assert "In force" in page.text or "Review due" in page.text


def test_workspace_charts_have_a_table_alternative_with_the_same_figures(
    app, make_account, clock, contact
):
    actor = uuid.uuid4()
    add_events(
        app,
        [read_draft(actor, "police", contact["id"]) for _ in range(4)]
        + [read_draft(actor, "police", contact["id"], decision="deny") for _ in range(2)],
    )
    lead, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "police")
    page = lead.get("/governance")
    assert page.text.count('<svg class="hub-chart"') == 3
    assert "as a table" in page.text
    today = f"{clock.now():%A} {uktime.day(clock.now())}"
    rows = re.findall(rf"<td class=\"govuk-table__cell\">{today}</td>(.*?)</tr>", page.text)
    cells = [re.findall(r"<td class=\"govuk-table__cell\">(\d+)</td>", row) for row in rows]
    # Allowed: the police system creating the contact, then four reads; then two refusals.
    assert cells == [["5"], ["2"]]


def export(web, query, code):
    path = f"/governance/audit/export?{query}"
    form = web.get(path)
    assert form.status_code == 200
    return web.post(path, data={"code": code, "csrf_token": csrf_token(form.text)})


def test_csv_export_needs_a_fresh_code_escapes_formulas_and_is_audited(
    app, make_account, clock, contact
):
    actor = uuid.uuid4()
    add_events(
        app,
        [read_draft(actor, "csc", contact["id"], reason='=HYPERLINK("http://x","y")')]
        + [read_draft(actor, "csc", contact["id"], reason="@SUM(A1)")],
    )
    lead, account = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "csc")
    refused = export(lead, f"actor={actor}", "000000")
    assert refused.status_code == 200
    assert "The security code is not correct" in refused.text
    assert not events(app, AuditEvent.kind == "audit.exported")

    response = export(lead, f"actor={actor}", current_code(account.seed, clock))
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["reason"] for row in table] == ["'@SUM(A1)", '\'=HYPERLINK("http://x","y")']
    assert {row["actor_id"] for row in table} == {str(actor)}
    (exported,) = events(app, AuditEvent.kind == "audit.exported")
    assert exported.actor_id == str(account.user_id)
    assert exported.reason.startswith("2 events; ")
    assert str(actor) in exported.reason

    replay = export(lead, f"actor={actor}", current_code(account.seed, clock))
    assert "The security code is not correct" in replay.text
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        count = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.kind == "audit.exported")
        )
    assert count == 1


def test_who_accessed_this_child_covers_every_contact_linked_to_them(
    app, client, make_account, make_client, clock
):
    police = token(client, make_client, "police", Scope.CONTACTS_WRITE, Scope.SCREENING_READ)
    screener, _ = signed_in(app, make_account, clock, Role.SCREENER, "csc")
    first, second, person_id = repeat(app, client, police, screener)
    unrelated = client.post("/api/v1/contacts", json=CONTACT, headers=police).json["id"]

    lead, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "csc")
    by_contact = lead.get(f"/governance/audit?contact_id={second}")
    assert f"person={person_id}" in by_contact.text  # the way from a contact to the child

    page = lead.get(f"/governance/audit?person={person_id}")
    assert "Who accessed this child" in page.text
    expected = events(
        app,
        (AuditEvent.contact_id.in_([first, second]))
        | ((AuditEvent.object_type == "Person") & (AuditEvent.object_id == person_id)),
    )
    assert result_rows(page.text) == len(expected) > 0
    assert first[:8] in page.text and second[:8] in page.text
    assert unrelated[:8] not in page.text


def test_scorecard_chart_shows_each_agencys_share_answered_in_time(
    app, client, make_account, make_client, clock
):
    police = screening(client, make_client)
    contact_id = rated_contact(client, police)
    health_id = ask(client, police, contact_id, "health").json["id"]
    ask(client, police, contact_id, "education")
    clock.advance(timedelta(minutes=30))
    answered = client.post(
        f"/api/v1/requests/{health_id}/response",
        json={"outcome": "not_known"},
        headers=researcher(client, make_client, "health"),
    )
    assert answered.status_code == 201
    clock.advance(timedelta(hours=8))  # education's request runs out unanswered

    lead, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "csc")
    page = lead.get("/governance")
    section = page.text[page.text.index("Share of requests answered in time") :]
    rows = re.findall(r"<tr class=\"govuk-table__row\">(.*?)</tr>", section, re.S)
    cells = [re.findall(r"<td class=\"govuk-table__cell\">([^<]*)</td>", row) for row in rows]
    assert ["Education", "0%", "0 answered, 1 expired, 0 open"] in cells
    assert ["Health", "100%", "1 answered, 0 expired, 0 open"] in cells


def test_an_export_of_a_bad_search_explains_itself_and_leads_back(app, make_account, clock):
    """Usability review m12: a bare "There is a problem with your request" page (400)."""
    lead, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "csc")
    page = lead.get("/governance/audit/export?reference=bad")
    assert page.status_code == 400
    assert "govuk-error-summary" in page.text
    assert "Enter a contact reference like MASH-2026-000123" in page.text
    assert 'href="/governance/audit?reference=bad#reference"' in page.text
    assert 'id="back-to-search"' in page.text and "Nothing was exported" in page.text
    assert "<title>Error: " in page.text


def test_refused_access_leaves_out_routine_withholding_unless_asked(
    app, make_account, clock, contact
):
    """Usability review m14: every screener opening a contact with a restricted answer put a
    "contribution:read ... Refused" among genuine cross-agency probes."""
    routine = EventDraft(
        kind="access.decision", actor_type="user", actor_id=str(uuid.uuid4()), agency="csc",
        action="contribution:read", object_type="Contribution", object_id=str(uuid.uuid4()),
        contact_id=contact["id"], decision="deny", reason="restricted by its originator",
    )  # fmt: skip
    probe = read_draft(uuid.uuid4(), "health", contact["id"], decision="deny")
    add_events(app, [routine, probe])
    lead, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "csc")
    genuine = lead.get("/governance/audit?decision=deny").text
    assert '<h1 class="govuk-heading-l">Refused access</h1>' in genuine
    shown = genuine.split('<tbody class="govuk-table__body">', 1)[1].split("</tbody>", 1)[0]
    assert "contact:read" in shown and "contribution:read" not in shown
    assert result_rows(genuine) == 1
    assert 'id="routine-withholding"' in genuine
    everything = lead.get("/governance/audit?decision=deny&routine=1").text
    assert result_rows(everything) == 2
