"""The MASH's own performance (#15 item 5): the figures of a small month built row by row,
small numbers suppressed, who may see them (decided and audited as `report:read`), the
CSV and its audit, and bad input answered with an error summary."""

from __future__ import annotations

import csv
import html
import io
import itertools
import random
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role
from mash_hub.contacts.models import (
    Contact,
    ContactDecision,
    ContactSubject,
    DecisionReview,
    ReferrerAcknowledgement,
)
from mash_hub.db import Database
from mash_hub.identity.models import Agency
from mash_hub.people.models import Person
from mash_hub.reports import services as reports
from mash_hub.sharing.models import Contribution, InfoRequest
from tests.helpers import sign_in

SEALED = b"\x00sealed"  # the reports never open a sealed column
NOVEMBER = (
    "?period=month&from_day=1&from_month=11&from_year=2026&to_day=30&to_month=11&to_year=2026"
)


def _db(app) -> Database:
    return app.extensions["mash.db"]


class Builder:
    """Rows as the hub writes them, straight into the tables (no case content)."""

    def __init__(self, session) -> None:
        self.session = session
        self.agencies = {a.code: a.id for a in session.scalars(select(Agency))}
        self.number = itertools.count(1)

    def person(self) -> uuid.UUID:
        person = Person(
            details_sealed=SEALED, created_at=datetime(2025, 1, 1, tzinfo=UTC), created_by="t"
        )
        self.session.add(person)
        self.session.flush()
        return person.id

    def contact(
        self,
        received_at,
        *,
        source="police",
        referrer_type="agency",
        rag=None,
        due_in=timedelta(hours=4),
        subjects=(("child", None),),
    ) -> Contact:
        contact = Contact(
            reference=f"MASH-{received_at.year}-{next(self.number):06d}",
            received_at=received_at,
            source_agency_id=self.agencies[source],
            referrer_type=referrer_type,
            status="in_progress",
            rag=rag,
            decision_due_at=received_at + due_in if rag else None,
            consent_status="given",
            concern_sealed=SEALED,
            referrer_sealed=SEALED,
            created_at=received_at,
            created_by="t",
        )
        self.session.add(contact)
        self.session.flush()
        for position, (role, person_id) in enumerate(subjects):
            self.session.add(
                ContactSubject(
                    contact_id=contact.id,
                    position=position,
                    role=role,
                    details_sealed=SEALED,
                    person_id=person_id,
                )
            )
        return contact

    def decide(self, contact, outcome, after, *, told_after=None) -> None:
        decided_at = contact.received_at + after
        decision = ContactDecision(
            contact_id=contact.id,
            sequence=1,
            outcome=outcome,
            rationale_sealed=SEALED,
            proposed_at=decided_at - timedelta(minutes=30),
            proposed_by="t",
        )
        self.session.add(decision)
        self.session.flush()
        self.session.add(
            DecisionReview(
                decision_id=decision.id,
                contact_id=contact.id,
                verdict="approved",
                reviewed_at=decided_at,
                reviewed_by="t",
                acknowledgement_due_at=decided_at + timedelta(days=1),
            )
        )
        if told_after is not None:
            self.session.add(
                ReferrerAcknowledgement(
                    contact_id=contact.id,
                    decision_id=decision.id,
                    method="phone",
                    told_at=decided_at + told_after,
                    recorded_at=decided_at + told_after,
                    recorded_by="t",
                )
            )

    def request(self, contact, agency, *, status="open", due_in, answered_after=None) -> None:
        request = InfoRequest(
            contact_id=contact.id,
            agency=agency,
            source_agency="police",
            status="answered" if answered_after is not None else status,
            contact_rag=contact.rag or "amber",
            contact_reference=contact.reference,
            question_sealed=SEALED,
            requested_at=contact.received_at,
            requested_by="t",
            due_at=contact.received_at + due_in,
        )
        self.session.add(request)
        self.session.flush()
        if answered_after is not None:
            self.session.add(
                Contribution(
                    request_id=request.id,
                    contact_id=contact.id,
                    agency=agency,
                    outcome="not_known",
                    answered_at=contact.received_at + answered_after,
                    answered_by="t",
                )
            )


def at(day, hour=9, month=11, year=2026):
    # November 2026 is GMT: UK time is UTC.
    return datetime(year, month, day, hour, tzinfo=UTC)


@pytest.fixture
def november(app):
    """A small month: 10 contacts from the police, 6 from members of the public and 2
    anonymous; ratings, decisions in and out of time, referrers told, re-referrals, and
    partners' answers. One police contact just before the month counts nowhere."""
    with _db(app).transaction() as session:
        build = Builder(session)
        hour = timedelta(hours=1)
        # Police: 5 Red (4 decided in time, 1 late) and 5 Amber (all in time), each with a
        # child and a parent; a strategy discussion on the Red ones, s17 on the Amber.
        for i in range(10):
            rag = "red" if i < 5 else "amber"
            contact = build.contact(
                at(2 + i),
                rag=rag,
                due_in=timedelta(hours=4 if rag == "red" else 24),
                subjects=(("child", None), ("parent", None)),
            )
            late = i == 0
            build.decide(
                contact,
                "strategy_discussion" if rag == "red" else "s17_assessment",
                timedelta(hours=6) if late else timedelta(hours=2),
                told_after=timedelta(hours=3),
            )
            if i < 6:  # health answers six requests in 1 to 6 hours
                build.request(contact, "health", due_in=hour * 8, answered_after=hour * (i + 1))
            if i < 2:  # education lets two run out
                build.request(contact, "education", status="expired", due_in=hour * 2)
            if 3 <= i < 8:  # housing has five still open (due after "now")
                build.request(contact, "housing", due_in=timedelta(days=60))
        # Members of the public: 6 Green, each about a child known to the register; five
        # of those children were children on a contact in March (a re-referral), the sixth
        # only as a sibling in June and as a child in October 2025 (more than a year ago).
        children = [build.person() for _ in range(6)]
        for n, person in enumerate(children[:5]):
            build.contact(
                at(3 + n, month=3),
                source="csc",
                referrer_type="public",
                subjects=(("child", person),),
            )
        build.contact(
            at(5, month=6),
            source="csc",
            referrer_type="family",
            subjects=(("sibling", children[5]),),
        )
        build.contact(
            at(20, month=10, year=2025),
            source="csc",
            referrer_type="public",
            subjects=(("child", children[5]),),
        )
        for n, person in enumerate(children):
            contact = build.contact(
                at(12 + n),
                source="csc",
                referrer_type="public",
                rag="green",
                due_in=timedelta(hours=72),
                subjects=(("child", person),),
            )
            if n < 5:  # the sixth is past its deadline, undecided
                # The referrer of the fifth is told late; the others in time.
                build.decide(
                    contact,
                    "early_help",
                    timedelta(hours=24),
                    told_after=timedelta(hours=30 if n == 4 else 2),
                )
        # Anonymous: 2, each naming two children; not rated yet.
        for n in range(2):
            build.contact(
                at(25 + n),
                source="csc",
                referrer_type="anonymous",
                subjects=(("child", None), ("child", None)),
            )
        # Just before the month: counted nowhere.
        build.contact(datetime(2026, 10, 31, 23, 59, tzinfo=UTC), rag="red")


def table(page: str, key: str) -> dict[str, dict[str, str]]:
    """One report's table as {row: {column: cell}}."""
    section = page[page.index(f'id="table-{key}"') :]
    section = html.unescape(section[: section.index("</table>")])
    head = re.findall(r'<th scope="col"[^>]*>([^<]*)</th>', section)
    found = {}
    for label, cells in re.findall(r'<th scope="row"[^>]*>([^<]*)</th>(.*?)</tr>', section, re.S):
        found[label] = dict(zip(head[1:], re.findall(r"<td[^>]*>([^<]*)</td>", cells), strict=True))
    return found


@pytest.fixture
def manager(app, make_account, clock):
    client = app.test_client()
    sign_in(client, make_account(Role.MASH_MANAGER, "csc"), clock)
    return client


def test_figures_of_a_small_month(app, november, manager):
    page = manager.get("/reports" + NOVEMBER)
    assert page.status_code == 200, page.text
    assert "fewer than 5" in page.text and "To protect families" in page.text

    referrers = table(page.text, "referrer_types")
    assert set(referrers) == {"November 2026", "All periods"}
    assert referrers["November 2026"] == {
        "An agency of the hub": "10",
        "Another professional": "0",
        # 2 anonymous is a small number; the 6 public ones are hidden with them, or the
        # total (18) less the others would give the 2 away.
        "A member of the public": "not shown",
        "A family member": "0",
        "Anonymous": "fewer than 5",
        "Total": "18",
    }
    agencies = table(page.text, "source_agencies")["All periods"]
    assert agencies["Police (Public Protection Desk)"] == "10"
    assert agencies["Children's social care"] == "0"  # the public's contacts are not agencies'

    roles = table(page.text, "people_by_role")["All periods"]
    assert (roles["Child"], roles["Parent"], roles["Total"]) == ("20", "10", "30")
    per_contact = table(page.text, "children_per_contact")["All periods"]
    assert per_contact["One"] == "not shown" and per_contact["Two"] == "fewer than 5"
    assert per_contact["Total"] == "18"

    ratings = table(page.text, "ratings")["All periods"]
    assert ratings["Amber"] == "5" and ratings["Green"] == "6"
    assert ratings["Not yet rated"] == "fewer than 5" and ratings["Red"] == "not shown"

    decisions = table(page.text, "decisions_in_time")["All periods"]
    assert decisions["Red: decided in time"] == "fewer than 5"  # 4 of 5
    assert decisions["Red: share"] == "not shown"
    assert decisions["Amber: decided in time"] == "5"
    assert decisions["Amber: share"] == "100%"
    assert decisions["Green: decided or past deadline"] == "6"  # 5 in time, 1 overdue
    assert decisions["Green: share"] == "83%"

    outcomes = table(page.text, "outcomes")["All periods"]
    assert outcomes["Strategy discussion (Children Act 1989 s47)"] == "5"
    assert outcomes["Child and family assessment (s17)"] == "5"
    assert outcomes["Early help or step-down"] == "5"
    assert outcomes["Total"] == "15"
    conversion = table(page.text, "conversion")["All periods"]
    assert conversion["Social care assessment (s47 or s17): referred"] == "10"
    assert conversion["Social care assessment (s47 or s17): share"] == "67%"
    assert conversion["Assessment (s17): share"] == "33%"

    rereferrals = table(page.text, "rereferrals")["All periods"]
    assert rereferrals["Re-referrals within 12 months: re-referrals"] == "5"
    assert rereferrals["Re-referrals within 12 months: contacts"] == "18"
    assert rereferrals["Re-referrals within 12 months: share"] == "28%"

    told = table(page.text, "referrers_told")["All periods"]
    assert told["Referrers told the outcome in time: told in time"] == "14"
    assert told["Referrers told the outcome in time: told or past due"] == "15"
    assert told["Referrers told the outcome in time: share"] == "93%"

    partners = table(page.text, "partners")
    assert partners["Health"] == {
        "Answered in time": "6",
        "Expired unanswered": "0",
        "Still open": "0",
        "Share answered in time": "100%",
        "Median time to answer": "3 hours 30 minutes",  # between the 3rd and 4th answer
    }
    assert partners["Education"]["Expired unanswered"] == "fewer than 5"
    assert partners["Education"]["Share answered in time"] == "not shown"
    assert partners["Housing"]["Still open"] == "5"

    # Each chart has its table; the chart says in words what it does not draw.
    assert page.text.count('<svg class="hub-chart"') == len(reports.REPORTS)
    assert "SELECT" not in page.text and "sealed" not in page.text


def test_weeks_and_quarters_split_the_same_contacts(app, november, manager):
    weeks = manager.get("/reports" + NOVEMBER.replace("period=month", "period=week"))
    referrers = table(weeks.text, "referrer_types")
    assert list(referrers)[0] == "Week beginning 26 October 2026"  # cut to 1 November
    assert list(referrers)[-1] == "All periods" and len(referrers) == 7
    assert referrers["All periods"]["Total"] == "18"
    quarter = manager.get("/reports" + NOVEMBER.replace("period=month", "period=quarter"))
    assert list(table(quarter.text, "ratings")) == ["October to December 2026", "All periods"]


def test_the_csv_has_the_page_figures_and_its_download_is_audited(app, november, manager):
    response = manager.get("/reports.csv" + NOVEMBER)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "mash-reports-2026-11-01-to-2026-11-30.csv" in response.headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[0] == ["Report", "Period or agency", "Measure", "Value"]
    assert ["Contacts by who made them", "All periods", "Anonymous", "fewer than 5"] in lines
    assert ["Contacts by who made them", "All periods", "Total", "18"] in lines
    assert [
        "Re-referrals within 12 months",
        "All periods",
        "Re-referrals within 12 months: share",
        "28%",
    ] in lines
    assert [
        "Partners' response to information requests",
        "Health",
        "Median time to answer",
        "3 hours 30 minutes",
    ] in lines
    with _db(app).transaction() as session:
        exported = session.scalars(
            select(AuditEvent).where(AuditEvent.kind == "report.exported")
        ).one()
        decided = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "report:read")
        ).all()
    assert exported.reason == f"2026-11-01 to 2026-11-30 by month, {len(lines) - 1} figures"
    assert exported.object_type == "MashReports" and exported.agency == "csc"
    assert [(e.decision, e.clauses) for e in decided] == [("allow", "8.12")]


def test_cells_that_look_like_formulas_are_made_text():
    report = reports.Report(
        "x",
        '=HYPERLINK("http://evil")',
        "",
        "Period",
        ("+1", "@SUM(A1)"),
        (("-2", ("=1+1", "\tcmd")),),
        reports.ChartSpec("t", "count", ()),
    )
    text, lines = reports.csv_text([report])
    rows = list(csv.reader(io.StringIO(text)))
    assert lines == 2
    assert rows[1] == ['\'=HYPERLINK("http://evil")', "'-2", "'+1", "'=1+1"]
    assert rows[2][3] == "'\tcmd" and rows[2][2] == "'@SUM(A1)"


def test_each_look_is_decided_and_audited(app, november, manager):
    assert manager.get("/reports" + NOVEMBER).status_code == 200
    assert manager.get("/reports").status_code == 200  # the last twelve months
    with _db(app).transaction() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "report:read").order_by(AuditEvent.at)
        ).all()
        partners = session.scalars(
            select(AuditEvent.object_id).where(AuditEvent.action == "performance:read")
        ).all()
    assert [(e.kind, e.decision, e.object_type) for e in events] == [
        ("access.decision", "allow", "MashReports")
    ] * 2
    assert {"health", "education", "housing"} <= set(partners)  # each row decided


@pytest.mark.parametrize(
    ("role", "agency", "status"),
    [
        (Role.MASH_MANAGER, "police", 200),
        (Role.GOVERNANCE_LEAD, "csc", 200),
        (Role.GOVERNANCE_LEAD, "police", 200),
        (Role.GOVERNANCE_LEAD, "health", 403),  # the firewall refuses: 8.12 is the core's
        (Role.SCREENER, "csc", 403),  # the gate refuses: not a screener's page
        (Role.AGENCY_RESEARCHER, "health", 403),
        (Role.ADMIN, "csc", 403),
    ],
)
def test_who_may_see_the_figures(app, make_account, clock, role, agency, status):
    client = app.test_client()
    account = make_account(role, agency)
    sign_in(client, account, clock)
    page = client.get("/reports")
    assert page.status_code == status
    assert (client.get("/reports.csv").status_code == 200) is (status == 200)
    home = client.get("/").text
    assert ('href="/reports"' in home) is (status == 200)
    with _db(app).transaction() as session:
        refused = session.scalars(
            select(AuditEvent).where(
                AuditEvent.actor_id == str(account.user_id), AuditEvent.decision == "deny"
            )
        ).all()
        exported = session.scalar(select(AuditEvent).where(AuditEvent.kind == "report.exported"))
    if status == 200:
        assert not refused and exported is not None
    else:
        assert exported is None
        assert len(refused) == 2  # the page and the CSV, each refused on the record
        kinds = {e.kind for e in refused}
        assert kinds == (
            {"access.decision"}
            if agency == "health" and role is Role.GOVERNANCE_LEAD
            else {"access.gate_refused"}
        )


def test_a_core_lead_finds_the_reports_in_the_governance_workspace(app, make_account, clock):
    core, partner = app.test_client(), app.test_client()
    sign_in(core, make_account(Role.GOVERNANCE_LEAD, "csc"), clock)
    sign_in(partner, make_account(Role.GOVERNANCE_LEAD, "health"), clock)
    assert 'href="/reports"' in core.get("/governance").text
    assert 'href="/reports"' not in partner.get("/governance").text


@pytest.mark.parametrize(
    ("query", "message", "field"),
    [
        (
            "?period=fortnight&from_day=1&from_month=11&from_year=2026&to_day=30&to_month=11&to_year=2026",
            "Choose by week, by month or by quarter",
            "period",
        ),
        (
            "?period=month&from_day=31&from_month=2&from_year=2026&to_day=30&to_month=11&to_year=2026",
            "Enter a real start date",
            "from_date",
        ),
        (
            "?period=month&from_day=1&from_month=11&from_year=2026&to_day=1&to_month=10&to_year=2026",
            "The end date must be the same as or after the start date",
            "to_date",
        ),
        (
            "?period=week&from_day=1&from_month=1&from_year=2020&to_day=1&to_month=1&to_year=2026",
            "Choose a range of at most three years",
            "to_date",
        ),
        (
            "?period=month&from_day=x&from_month=&from_year=99999999999999999999",
            "Enter a real start date",
            "from_date",
        ),
        ("?period=week", "Enter a real end date", "to_date"),
    ],
)
def test_bad_input_is_an_error_summary(manager, query, message, field):
    for path in ("/reports", "/reports.csv"):
        page = manager.get(path + query)
        assert page.status_code == 400
        assert "govuk-error-summary" in page.text and message in page.text
        assert f'href="#{field}"' in page.text
        assert 'id="table-' not in page.text


def test_suppression_leaves_no_line_with_one_hidden_count():
    """Whatever the counts, no row or column that adds up has exactly one hidden count,
    and every count from 1 to 4 is hidden."""
    chance = random.Random(15)
    for _ in range(300):
        height, width = chance.randint(1, 6), chance.randint(1, 6)
        inner = [
            [chance.choice([0, 0, 1, 3, 4, 5, 8, 20]) for _ in range(width)] for _ in range(height)
        ]
        matrix = [*inner, [sum(col) for col in zip(*inner, strict=True)]]
        matrix = [[*row, sum(row)] for row in matrix]
        visible = reports.suppress(matrix, row_totals=True)
        lines = [[(i, j) for i in range(height + 1)] for j in range(width + 1)]
        lines += [[(i, j) for j in range(width + 1)] for i in range(height + 1)]
        for line in lines:
            assert sum(1 for i, j in line if visible[i][j] is None) != 1, (matrix, visible)
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                if 0 < count < 5:
                    assert visible[i][j] is None


def test_periods_follow_uk_days():
    window = reports.Window(date(2026, 3, 1), date(2026, 3, 31), "week")
    spans = reports.buckets(window)
    assert spans[0].label == "Week beginning 23 February 2026"
    assert spans[0].start == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    # The clocks go forward on 29 March 2026: the UK day starts at 23:00 UTC after it.
    assert spans[-1].label == "Week beginning 30 March 2026"
    assert spans[-1].end == datetime(2026, 3, 31, 23, 0, tzinfo=UTC)
    assert [
        s.label
        for s in reports.buckets(reports.Window(date(2026, 2, 10), date(2026, 7, 1), "quarter"))
    ] == ["January to March 2026", "April to June 2026", "July to September 2026"]


@pytest.mark.postgres
def test_under_row_level_security_the_core_sees_every_contact_and_a_partner_none(
    app, november, database_url, make_account, clock
):
    """Reports run as the reader's agency. Row-level security shows the core agencies
    every contact, so the figures of a csc manager and a police manager are the same and
    count the police's contacts too; a partner's side sees no contact at all, which is
    one reason the figures are refused to partners rather than shown as partial counts."""
    if not database_url.startswith("postgresql"):
        pytest.skip("row-level security is PostgreSQL's")
    pages = []
    for agency in ("csc", "police"):
        client = app.test_client()
        sign_in(client, make_account(Role.MASH_MANAGER, agency), clock)
        page = client.get("/reports" + NOVEMBER).text
        pages.append({key: table(page, key) for key in ("referrer_types", "ratings", "partners")})
    assert pages[0] == pages[1]
    assert pages[0]["referrer_types"]["All periods"]["Total"] == "18"
    with _db(app).engine.connect() as conn, conn.begin():
        conn.execute(text("SELECT set_config('app.agency_id', 'health', true)"))
        assert conn.scalar(text("SELECT count(*) FROM contacts")) == 0
