"""The breach log (#16 item 3): a governance lead or MASH manager records a suspected
personal data breach; its two clocks run from discovery (the agreements' notification
period for the other parties, 72 hours for the ICO) and escalate through the hub's
messages; the decision, the report and the evidence are appended, never changed; the
fields the ICO's report asks for download as CSV; every access is decided and audited."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from mash_hub import create_app, scheduler
from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role
from mash_hub.breaches.models import Breach, BreachEntry
from mash_hub.db import Database
from mash_hub.identity import services as identity
from mash_hub.notifications.models import Notification
from mash_hub.policy.register import read_register
from tests.accounts import Account
from tests.conftest import make_settings
from tests.helpers import csrf_token, sign_in

SHIPPED_POLICIES = Path(__file__).resolve().parents[2] / "policies"


class Lead:
    """A browser-like client signed in as one account."""

    def __init__(self, app, account, clock) -> None:
        self.app, self.account, self.clock = app, account, clock
        self.client = app.test_client()
        sign_in(self.client, account, clock)

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def post_form(self, path, data):
        html = self.client.get(path).text
        return self.client.post(path, data={**data, "csrf_token": csrf_token(html)})

    def again(self) -> Lead:
        """Signed in afresh (sessions end after 15 minutes idle, and tests move the clock)."""
        return Lead(self.app, self.account, self.clock)


@pytest.fixture
def person(app, make_account, clock):
    def make(role=Role.GOVERNANCE_LEAD, agency="csc"):
        return Lead(app, make_account(role, agency), clock)

    return make


def _db(app) -> Database:
    return app.extensions["mash.db"]


def scalar(app, query):
    with _db(app).transaction() as session:
        return session.scalar(query)


def rows(app, query):
    with _db(app).transaction() as session:
        return list(session.scalars(query))


def uk_day_and_time(moment):
    from mash_hub.uktime import uk

    local = uk(moment)
    return local.strftime("%d/%m/%Y"), local.strftime("%H:%M")


FORM = {
    "what_happened": "A spreadsheet of referrals was emailed to the wrong school.",
    "how_discovered": "The school's office manager phoned the MASH.",
    "agencies": ["health"],
    "record_types": ["contacts", "answers"],
    "subject_kinds": ["children", "parents"],
    "people_affected": "12",
    "records_affected": "40",
    "consequences": "Distress; the family's address was in the sheet.",
    "containment": "The school confirmed deleting the email.",
}


def record(lead, clock, hours_ago=1, **changes):
    day, at = uk_day_and_time(clock.now() - timedelta(hours=hours_ago))
    data = {**FORM, "discovered_date": day, "discovered_time": at, **changes}
    return lead.post_form("/governance/breaches/new", data)


def breach_id_of(response) -> str:
    assert response.status_code == 302, response.text
    match = re.search(r"/governance/breaches/([0-9a-f-]{36})$", response.headers["Location"])
    assert match, response.headers["Location"]
    return uuid.UUID(match.group(1))


def test_a_lead_records_a_breach_and_sees_its_clocks_and_parties(app, person, clock):
    lead = person(Role.GOVERNANCE_LEAD, "csc")
    discovered = clock.now().replace(second=0, microsecond=0) - timedelta(hours=1)
    response = record(lead, clock)
    breach_id = breach_id_of(response)

    page = lead.get(f"/governance/breaches/{breach_id}")
    assert page.status_code == 200
    assert "recorded" in page.text and "Tell the other parties by" in page.text  # confirmation
    breach = scalar(app, select(Breach).where(Breach.id == breach_id))
    assert breach.discovered_at == discovered
    # A breach of Health's data concerns the Health agreement: its 48 hours for the
    # other parties (police, and Health itself: the recorder is children's social care).
    assert breach.isa_ids == ",ISA-MASH-HEALTH,"
    assert breach.partner_hours == 48
    assert breach.partner_due_at == discovered + timedelta(hours=48)
    assert breach.ico_due_at == discovered + timedelta(hours=72)
    assert breach.parties_to_tell == ",health,police,"
    assert re.fullmatch(r"BR-2026-[2-9A-HJ-NP-Z]{6}", breach.reference)
    assert "Police" in page.text and "Health" in page.text
    assert "1 day 22 hours left" in page.text  # time left, in words (rounded down)
    # The first containment action is the breach's first entry.
    entries = rows(app, select(BreachEntry).where(BreachEntry.breach_id == breach.id))
    assert [(e.kind, e.detail) for e in entries] == [
        ("containment", "The school confirmed deleting the email.")
    ]
    # Decided, audited, and the agencies concerned told through the hub's messages.
    kinds = rows(app, select(AuditEvent.kind).where(AuditEvent.object_id == str(breach.id)))
    assert "breach.recorded" in kinds
    decided = rows(
        app,
        select(AuditEvent.action).where(
            AuditEvent.kind == "access.decision", AuditEvent.decision == "allow"
        ),
    )
    assert "breach:record" in decided and "breach:read" in decided
    told = rows(
        app,
        select(Notification.recipient_agency).where(Notification.kind == "breach.recorded"),
    )
    assert sorted(told) == ["csc", "csc", "health"]  # csc lead and manager, health lead


def test_bad_input_is_refused_with_the_error_summary_and_nothing_is_written(app, person, clock):
    lead = person(Role.GOVERNANCE_LEAD, "police")
    cases = [
        ({"what_happened": ""}, "Enter what happened"),
        ({"agencies": []}, "Select the agencies whose data it concerns"),
        ({"discovered_date": "31/02/2026"}, "Enter the date and time it was discovered"),
        ({"people_affected": "a dozen"}, "Enter a whole number"),
        ({"agencies": ["mi5"]}, "Choose from the options shown"),
    ]
    for change, message in cases:
        response = record(lead, clock, **change)
        assert response.status_code == 200, change
        assert "govuk-error-summary" in response.text and message in response.text, change
    day, at = uk_day_and_time(clock.now() + timedelta(hours=2))
    future = record(lead, clock, discovered_date=day, discovered_time=at)
    assert "must be in the past" in future.text
    day, at = uk_day_and_time(clock.now())
    after = record(lead, clock, hours_ago=3, occurred_date=day, occurred_time=at)
    assert "same as or before the time it was discovered" in after.text
    assert scalar(app, select(func.count()).select_from(Breach)) == 0


def test_only_the_agencies_concerned_see_a_breach_and_refusals_are_audited(
    app, person, clock, make_account
):
    csc_lead = person(Role.GOVERNANCE_LEAD, "csc")
    breach_id = breach_id_of(record(csc_lead, clock))

    # Health's data: Health's lead follows it up; the recorder's MASH managers too.
    assert (
        person(Role.GOVERNANCE_LEAD, "health").get(f"/governance/breaches/{breach_id}").status_code
        == 200
    )
    assert (
        person(Role.MASH_MANAGER, "csc").get(f"/governance/breaches/{breach_id}").status_code == 200
    )
    # Education's lead and police's manager are not concerned: as if it did not exist.
    education = person(Role.GOVERNANCE_LEAD, "education")
    assert education.get(f"/governance/breaches/{breach_id}").status_code == 404
    assert education.get("/governance/breaches/not-an-id").status_code == 404
    assert str(breach_id) not in education.get("/governance/breaches").text
    assert (
        person(Role.MASH_MANAGER, "police").get(f"/governance/breaches/{breach_id}").status_code
        == 404
    )
    refused = rows(
        app,
        select(AuditEvent.agency).where(
            AuditEvent.action == "breach:read", AuditEvent.decision == "deny"
        ),
    )
    assert sorted(refused) == ["education", "education", "police"]
    # Screeners and researchers have no breach pages at all.
    assert person(Role.SCREENER, "csc").get("/governance/breaches").status_code == 403
    assert person(Role.AGENCY_RESEARCHER, "health").get("/governance/breaches").status_code == 403
    # A partner's MASH-manager role means nothing outside the core: refused by the rules.
    partner_manager = person(Role.MASH_MANAGER, "housing")
    assert partner_manager.get("/governance/breaches/new").status_code == 200
    assert record(partner_manager, clock).status_code == 403


def test_clocks_escalate_once_per_stage_and_stop_when_met(app, person, clock):
    lead = person(Role.GOVERNANCE_LEAD, "csc")
    breach_id = breach_id_of(record(lead, clock, hours_ago=1))

    def escalate():
        return scheduler.run_job(
            app, next(j for j in scheduler.JOBS if j.name == "escalate_breach_clocks")
        )

    def outcomes():
        return sorted(
            rows(
                app,
                select(BreachEntry.outcome).where(
                    BreachEntry.breach_id == breach_id, BreachEntry.kind == "escalated"
                ),
            )
        )

    assert escalate() == 0
    clock.advance(timedelta(hours=36))  # 37 h after discovery: 11 h left for the parties
    assert escalate() == 1
    assert escalate() == 0  # once per stage
    assert outcomes() == ["partners:due_soon"]
    messages = rows(
        app,
        select(Notification.recipient_agency).where(
            Notification.kind == "breach.partners_due_soon"
        ),
    )
    assert sorted(messages) == ["csc", "csc", "health"]
    # Health's lead sees the message on their home page, linked to the breach.
    home = person(Role.GOVERNANCE_LEAD, "health").get("/")
    assert (
        "The time to tell the other parties about a personal data breach is nearly up" in home.text
    )
    assert f"/governance/breaches/{breach_id}" in home.text

    clock.advance(timedelta(hours=12))  # 49 h: the parties' clock has run out; ICO close
    assert escalate() == 2
    assert outcomes() == ["ico:due_soon", "partners:due_soon", "partners:overdue"]
    # Deciding it not reportable stops the ICO clock: no overdue escalation follows.
    lead = lead.again()
    decided = lead.post_form(
        f"/governance/breaches/{breach_id}/decision",
        {"outcome": "not_reportable", "detail": "Encrypted attachment; key not sent."},
    )
    assert decided.status_code == 302
    clock.advance(timedelta(hours=30))
    assert escalate() == 0
    page = lead.again().get(f"/governance/breaches/{breach_id}")
    assert "Decided not reportable on" in page.text
    system = rows(app, select(AuditEvent.reason).where(AuditEvent.kind == "breach.escalated"))
    assert sorted(system) == ["ico:due_soon", "partners:due_soon", "partners:overdue"]


def test_telling_every_party_stops_their_clock(app, person, clock):
    lead = person(Role.GOVERNANCE_LEAD, "csc")
    breach_id = breach_id_of(record(lead, clock, hours_ago=2))
    day, at = uk_day_and_time(clock.now() - timedelta(hours=1))
    step = f"/governance/breaches/{breach_id}/told"
    refused = lead.post_form(
        step, {"agencies": ["education"], "told_date": day, "told_time": at, "detail": "Email"}
    )
    assert "Choose from the options shown" in refused.text
    early = uk_day_and_time(clock.now() - timedelta(hours=5))
    too_early = lead.post_form(
        step,
        {"agencies": ["police"], "told_date": early[0], "told_time": early[1], "detail": "Email"},
    )
    assert "after the breach was discovered" in too_early.text
    assert (
        lead.post_form(
            step,
            {
                "agencies": ["police"],
                "told_date": day,
                "told_time": at,
                "detail": "Email to the DPO",
            },
        ).status_code
        == 302
    )
    page = lead.get(f"/governance/breaches/{breach_id}")
    assert (
        "Police (Public Protection Desk) (told)" in page.text
        and "Record that the other parties were told" in page.text
    )
    assert (
        lead.post_form(
            step,
            {"agencies": ["health"], "told_date": day, "told_time": at, "detail": "Phone call"},
        ).status_code
        == 302
    )
    page = lead.get(f"/governance/breaches/{breach_id}")
    assert "Every party told on" in page.text
    assert "Record that the other parties were told" not in page.text
    clock.advance(timedelta(hours=47))
    escalated = scheduler.run_job(
        app, next(j for j in scheduler.JOBS if j.name == "escalate_breach_clocks")
    )
    assert escalated == 1  # the ICO's clock only
    assert rows(app, select(BreachEntry.outcome).where(BreachEntry.kind == "escalated")) == [
        "ico:due_soon"
    ]


def test_a_late_report_needs_its_reason_and_the_export_has_the_icos_fields(app, person, clock):
    lead = person(Role.GOVERNANCE_LEAD, "csc")
    breach_id = breach_id_of(
        record(lead, clock, hours_ago=80, what_happened='=HYPERLINK("http://x")')
    )
    report = f"/governance/breaches/{breach_id}/report"
    day, at = uk_day_and_time(clock.now() - timedelta(minutes=30))
    early = lead.post_form(
        report, {"reported_date": day, "reported_time": at, "ico_reference": "IC-1"}
    )
    assert "Record the decision that the breach is reportable" in early.text
    assert (
        lead.post_form(
            f"/governance/breaches/{breach_id}/decision",
            {"outcome": "reportable", "detail": "Special category data of children."},
        ).status_code
        == 302
    )
    late = lead.post_form(
        report, {"reported_date": day, "reported_time": at, "ico_reference": "IC-123456"}
    )
    assert "enter the reason for the delay" in late.text
    done = lead.post_form(
        report,
        {
            "reported_date": day,
            "reported_time": at,
            "ico_reference": "IC-123456",
            "late_reason": "Discovered on a bank holiday weekend.",
        },
    )
    assert done.status_code == 302
    again = lead.post_form(
        f"/governance/breaches/{breach_id}/decision",
        {"outcome": "not_reportable", "detail": "Changed our minds."},
    )
    assert "already been reported" in again.text

    export = lead.get(f"/governance/breaches/{breach_id}/ico-report.csv")
    assert export.status_code == 200
    assert export.headers["Content-Type"].startswith("text/csv")
    fields = dict(csv.reader(io.StringIO(export.text)))
    assert fields["What has happened"].startswith("'=")  # never run as a formula
    assert fields["ICO reference"] == "IC-123456"
    assert fields["Reported within 72 hours of discovery"] == "No"
    assert fields["Reason for reporting after 72 hours"] == "Discovered on a bank holiday weekend."
    assert fields["Approximate number of data subjects"] == "12"
    assert fields["Categories of data subjects"] == "Children; Parents or carers"
    assert "The school confirmed deleting the email." in fields["Containment and recovery"]
    assert (
        scalar(
            app,
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.kind == "breach.exported"),
        )
        == 1
    )
    # Another agency's lead cannot download it.
    assert (
        person(Role.GOVERNANCE_LEAD, "yos")
        .get(f"/governance/breaches/{breach_id}/ico-report.csv")
        .status_code
        == 404
    )


def test_a_lead_links_events_of_their_own_trail_only(app, person, clock):
    lead = person(Role.GOVERNANCE_LEAD, "health")
    breach_id = breach_id_of(record(lead, clock))
    own = rows(
        app,
        select(AuditEvent.seq).where(AuditEvent.agency == "health").order_by(AuditEvent.seq),
    )
    others = rows(
        app, select(AuditEvent.seq).where(AuditEvent.agency != "health").order_by(AuditEvent.seq)
    )
    step = f"/governance/breaches/{breach_id}/evidence"
    if others:
        refused = lead.post_form(step, {"seqs": str(others[0]), "detail": "Reads"})
        assert "not events of your agency's audit trail" in refused.text
    assert "Enter event numbers" in lead.post_form(step, {"seqs": "12; drop", "detail": "x"}).text
    linked = lead.post_form(step, {"seqs": f"{own[0]}, {own[1]}", "detail": "The sign-in"})
    assert linked.status_code == 302
    page = lead.get(f"/governance/breaches/{breach_id}")
    assert f"Audit events {own[0]}, {own[1]} linked" in page.text
    assert 'id="evidence"' in page.text
    # A MASH manager follows breaches up but reads no audit trail: numbers only.
    manager_breach = breach_id_of(record(person(Role.MASH_MANAGER, "csc"), clock))
    manager = person(Role.MASH_MANAGER, "csc")
    assert manager.get(f"/governance/breaches/{manager_breach}/evidence").status_code == 200
    assert (
        "Only a governance lead can link audit events"
        in manager.post_form(
            f"/governance/breaches/{manager_breach}/evidence", {"seqs": str(own[0]), "detail": "x"}
        ).text
    )


def test_the_log_is_append_only_in_the_database(app, person, clock):
    lead = person(Role.GOVERNANCE_LEAD, "csc")
    breach_id = breach_id_of(record(lead, clock))
    for statement in (
        update(Breach).where(Breach.id == breach_id).values(what_happened="nothing"),
        update(BreachEntry).values(detail="nothing"),
        text("DELETE FROM breach_entries"),
    ):
        with pytest.raises(DBAPIError, match="append-only"), _db(app).transaction() as session:
            session.execute(statement)
    assert scalar(app, select(Breach.what_happened)) == FORM["what_happened"]


def test_the_notification_period_is_read_from_the_agreements(tmp_path, clock, make_account):
    policies = tmp_path / "policies"
    shutil.copytree(SHIPPED_POLICIES, policies)
    health = policies / "isa" / "mash-health.toml"
    health.write_text(
        health.read_text().replace(
            "breach_notification_hours = 48", "breach_notification_hours = 24"
        )
    )
    register, findings = read_register(policies / "isa")
    assert not [f for f in findings if f.severity == "error"]
    from mash_hub.breaches.services import concerned_agreements

    agreements = list(register.agreements.values())
    assert [a.id for a in concerned_agreements(agreements, ["health"])] == ["ISA-MASH-HEALTH"]
    assert [a.id for a in concerned_agreements(agreements, ["csc", "yos"])] == [
        "ISA-MASH-CORE",
        "ISA-MASH-YOS",
    ]
    assert (
        min(
            a.breach_notification_hours
            for a in concerned_agreements(agreements, ["health", "police"])
        )
        == 24
    )


def test_a_breach_recorded_with_a_shorter_period_runs_that_clock(test_db_url, tmp_path, clock):
    policies = tmp_path / "policies"
    shutil.copytree(SHIPPED_POLICIES, policies)
    health = policies / "isa" / "mash-health.toml"
    health.write_text(
        health.read_text().replace(
            "breach_notification_hours = 48", "breach_notification_hours = 24"
        )
    )
    settings = make_settings(
        test_db_url,
        MASH_APP__INSTANCE_PATH=str(tmp_path / "instance"),
        MASH_FIREWALL__POLICIES_DIR=str(policies),
    )
    app = create_app(settings, clock=clock)
    seed, password = os.urandom(20), "correct horse battery staple"
    try:
        with app.app_context(), _db(app).transaction() as db:
            identity.ensure_agencies(db)
            user = identity.create_user(
                db,
                email="lead@example.test",
                display_name="Lead",
                agency_code="csc",
                roles=frozenset({Role.GOVERNANCE_LEAD}),
                password=password,
                totp_seed=seed,
            )
            account = Account(
                "lead@example.test", password, seed, user.id, "csc",
                frozenset({Role.GOVERNANCE_LEAD}),
            )  # fmt: skip
        lead = Lead(app, account, clock)
        breach_id = breach_id_of(record(lead, clock))
        breach = scalar(app, select(Breach).where(Breach.id == breach_id))
        assert breach.partner_hours == 24
        assert breach.partner_due_at == breach.discovered_at + timedelta(hours=24)
    finally:
        _db(app).dispose()


def test_policies_check_names_a_bad_notification_period_with_its_line(tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(SHIPPED_POLICIES, policies)
    health = policies / "isa" / "mash-health.toml"
    body = health.read_text().replace(
        "breach_notification_hours = 48", 'breach_notification_hours = "two days"'
    )
    health.write_text(body)
    _register, findings = read_register(policies / "isa")
    line = body.splitlines().index('breach_notification_hours = "two days"') + 1
    assert [(f.line, f.message) for f in findings if f.severity == "error"] == [
        (line, "breach_notification_hours must be a whole number of hours from 1 to 720")
    ]
