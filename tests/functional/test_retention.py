"""Retention: closed contacts past their agreements' periods are listed for review; a
governance lead of the MASH core deletes them with a fresh security code (the keys are
destroyed and a tombstone stays), unless a legal hold stops it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, delete, func, select, text, update

from mash_hub import scheduler
from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role, Scope
from mash_hub.cli import cli
from mash_hub.contacts.models import (
    Contact,
    ContactDecision,
    ContactPresentingIssue,
    ContactRating,
    ContactSubject,
)
from mash_hub.crypto import keys
from mash_hub.crypto.models import DataKey
from mash_hub.db import Database
from mash_hub.people.models import Person, PersonKey, SubjectKey
from mash_hub.retention.models import RetentionReview
from mash_hub.retention.services import add_period
from tests.functional.test_contacts_api import CANARY, CONTACT, token
from tests.helpers import csrf_token, current_code, sign_in

SIX_YEARS = timedelta(days=6 * 366)


class Person_:
    """A browser-like client signed in as one account."""

    def __init__(self, app, account, clock) -> None:
        self.account = account
        self.client = app.test_client()
        sign_in(self.client, account, clock)

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def post_form(self, path, data, page=None):
        html = self.client.get(page or path).text
        return self.client.post(path, data={**data, "csrf_token": csrf_token(html)})


@pytest.fixture
def person(app, make_account, clock):
    def make(role=Role.SCREENER, agency="csc"):
        return Person_(app, make_account(role, agency), clock)

    return make


@pytest.fixture
def api(client, make_client):
    return token(
        client, make_client, "csc", Scope.CONTACTS_WRITE, Scope.SCREENING_READ,
        Scope.SCREENING_WRITE,
    )  # fmt: skip


def _db(app) -> Database:
    return app.extensions["mash.db"]


def scalar(app, query):
    with _db(app).transaction() as session:
        return session.scalar(query)


class Hub:
    def __init__(self, app, client, api, person, clock) -> None:
        self.app, self.client, self.api, self.clock = app, client, api, clock
        self.screener = person(Role.SCREENER, "police")
        self.manager = person(Role.MASH_MANAGER, "csc")
        self.person = person

    def closed_contact(self, outcome="no_further_action", *, register=False, body=None) -> str:
        created = self.client.post("/api/v1/contacts", json=body or CONTACT, headers=self.api)
        assert created.status_code == 201, created.json
        cid = created.json["id"]
        rated = self.client.post(
            f"/api/v1/contacts/{cid}/rating",
            json={"rag": "amber", "rationale": "Partner checks needed"},
            headers=self.api,
        )
        assert rated.status_code == 200
        if register:
            sid = str(
                scalar(
                    self.app,
                    select(ContactSubject.id).where(
                        ContactSubject.contact_id == uuid.UUID(cid), ContactSubject.position == 0
                    ),
                )
            )
            added = self.screener.post_form(
                f"/contacts/{cid}/people/{sid}/new", {}, page=f"/contacts/{cid}/people"
            )
            assert added.status_code == 302, added.text
        path = f"/contacts/{cid}/decision"
        proposed = self.screener.post_form(
            path, {"outcome": outcome, "rationale": "Recorded for the file"}
        )
        assert proposed.status_code == 302, proposed.text
        decision_id = scalar(
            self.app,
            select(ContactDecision.id).where(ContactDecision.contact_id == uuid.UUID(cid)),
        )
        approved = self.manager.post_form(
            f"{path}/review", {"decision_id": str(decision_id), "verdict": "approved"}, page=path
        )
        assert approved.status_code == 302, approved.text
        self.clock.advance(timedelta(minutes=2))
        told = self.clock.now() - timedelta(minutes=1)
        acknowledged = self.screener.post_form(
            f"/contacts/{cid}/acknowledgement",
            {
                "method": "phone",
                "told_date": told.strftime("%d/%m/%Y"),
                "told_time": told.strftime("%H:%M"),
            },
            page=path,
        )
        assert acknowledged.status_code == 302, acknowledged.text
        assert scalar(self.app, select(Contact.status).where(Contact.id == uuid.UUID(cid))) == (
            "closed"
        )
        return cid

    def backdate(self, contact_id) -> None:
        """As if the contact had closed six years ago."""
        with _db(self.app).transaction() as session:
            session.execute(
                update(Contact)
                .where(Contact.id == uuid.UUID(contact_id))
                .values(closed_at=self.clock.now() - SIX_YEARS - timedelta(days=1))
            )

    def lead(self, agency="csc"):
        return self.person(Role.GOVERNANCE_LEAD, agency)

    def review_id(self, contact_id) -> str:
        return str(
            scalar(
                self.app,
                select(RetentionReview.id).where(
                    RetentionReview.contact_id == uuid.UUID(contact_id)
                ),
            )
        )

    def delete(self, lead, contact_id, code, reason="Six years since closure; no open matter"):
        path = f"/governance/retention/{self.review_id(contact_id)}/delete"
        return lead.post_form(path, {"reason": reason, "code": code})


@pytest.fixture
def hub(app, client, api, person, clock) -> Hub:
    return Hub(app, client, api, person, clock)


def listed(app) -> int:
    return scheduler.run_all_once(app)["list_retention_due"]


def events(app, kind):
    with _db(app).transaction() as session:
        return session.execute(
            select(AuditEvent.actor_id, AuditEvent.contact_id, AuditEvent.reason).where(
                AuditEvent.kind == kind
            )
        ).all()


def test_periods_are_calendar_periods():
    start = datetime(2024, 2, 29, 12, tzinfo=UTC)
    assert add_period(start, "6 years") == datetime(2030, 2, 28, 12, tzinfo=UTC)
    assert add_period(start, "18 months") == datetime(2025, 8, 29, 12, tzinfo=UTC)
    assert add_period(start, "2 weeks") == start + timedelta(days=14)
    assert add_period(start, "6 years", sign=-1) == datetime(2018, 2, 28, 12, tzinfo=UTC)


def test_contacts_are_listed_once_after_their_period(app, hub, clock):
    nfa = hub.closed_contact("no_further_action")
    referred = hub.closed_contact("s17_assessment")
    assert listed(app) == 0
    clock.advance(timedelta(days=6 * 365))  # a day or two short of six calendar years
    assert listed(app) == 0
    clock.advance(timedelta(days=3))
    assert listed(app) == 2
    assert listed(app) == 0  # idempotent
    with _db(app).transaction() as session:
        rows = {
            str(r.contact_id): (r.record_type, r.period, r.isa_id, r.status)
            for r in session.scalars(select(RetentionReview))
        }
        closed = session.scalar(select(Contact.closed_at).where(Contact.id == uuid.UUID(nfa)))
    assert rows == {
        nfa: ("nfa_contact", "6 years", "ISA-MASH-CORE", "due"),
        referred: ("referred_contact", "6 years", "ISA-MASH-CORE", "due"),
    }
    assert closed is not None  # the acknowledgement closed it, and said when
    assert {c for _a, c, _r in events(app, "retention.listed")} == {nfa, referred}

    page = hub.lead("police").get("/governance/retention")
    assert page.status_code == 200
    assert "Due for review (2)" in page.text and "nfa contact: 6 years" in page.text
    assert CANARY not in page.text


def test_a_partner_answer_keeps_the_contact_until_its_own_period(app, hub, clock, make_client):
    cid = hub.closed_contact("no_further_action")
    # An answer given later than closure, under an agreement keeping it 8 years (health).
    with _db(app).transaction() as session:
        closed = session.scalar(select(Contact.closed_at).where(Contact.id == uuid.UUID(cid)))
        from mash_hub.sharing.models import Contribution, InfoRequest

        request = InfoRequest(
            contact_id=uuid.UUID(cid),
            agency="health",
            source_agency="csc",
            status="answered",
            contact_rag="amber",
            contact_reference="MASH-2026-000001",
            question_sealed=b"x",
            requested_at=closed,
            requested_by="test",
            due_at=closed,
            closed_at=closed,
        )
        session.add(request)
        session.flush()
        session.add(
            Contribution(
                request_id=request.id,
                contact_id=uuid.UUID(cid),
                agency="health",
                outcome="not_known",
                answered_at=closed,
                answered_by="test",
            )
        )
    clock.advance(SIX_YEARS + timedelta(days=2))
    assert listed(app) == 0  # health keeps contributions 8 years
    clock.advance(timedelta(days=2 * 366))
    assert listed(app) == 1
    assert scalar(app, select(RetentionReview.record_type)) == "contribution"


def test_a_legal_hold_stops_deletion_until_lifted(app, hub, clock):
    cid = hub.closed_contact()
    clock.advance(SIX_YEARS)
    assert listed(app) == 1
    lead = hub.lead("csc")
    review = hub.review_id(cid)
    empty = lead.post_form(f"/governance/retention/{review}/hold", {"reason": ""})
    assert empty.status_code == 200 and "Enter why the records must be kept" in empty.text
    held = lead.post_form(
        f"/governance/retention/{review}/hold", {"reason": "Civil claim 2032/118 notified"}
    )
    assert held.status_code == 302
    page = lead.get("/governance/retention").text
    assert "On legal hold (1)" in page and "Civil claim 2032/118 notified" in page
    refused = hub.delete(lead, cid, current_code(lead.account.seed, clock))
    assert refused.status_code == 200
    assert "A legal hold stops this deletion" in refused.text
    assert scalar(app, select(Contact.status).where(Contact.id == uuid.UUID(cid))) == "closed"
    assert scalar(app, select(func.count()).select_from(DataKey)) > 0

    clock.advance(timedelta(seconds=31))
    lifted = lead.post_form(
        f"/governance/retention/{review}/lift", {}, page="/governance/retention"
    )
    assert lifted.status_code == 302
    clock.advance(timedelta(seconds=31))
    done = hub.delete(lead, cid, current_code(lead.account.seed, clock))
    assert done.status_code == 302, done.text
    assert scalar(app, select(Contact.status).where(Contact.id == uuid.UUID(cid))) == "deleted"
    assert [c for _a, c, _r in events(app, "retention.held")] == [cid]
    assert [c for _a, c, _r in events(app, "retention.hold_lifted")] == [cid]
    assert [c for _a, c, _r in events(app, "retention.deleted")] == [cid]


def test_deletion_needs_a_fresh_code_and_a_reason(app, hub, clock):
    cid = hub.closed_contact()
    clock.advance(SIX_YEARS)
    listed(app)
    lead = hub.lead("police")
    wrong = hub.delete(lead, cid, "000000")
    assert wrong.status_code == 200
    assert "The security code is not correct" in wrong.text
    no_reason = hub.delete(lead, cid, current_code(lead.account.seed, clock), reason="")
    assert "Enter why the contact can be deleted" in no_reason.text
    assert scalar(app, select(Contact.status).where(Contact.id == uuid.UUID(cid))) == "closed"
    assert events(app, "retention.deleted") == []
    clock.advance(timedelta(seconds=31))
    code = current_code(lead.account.seed, clock)
    assert hub.delete(lead, cid, code).status_code == 302
    # A used code cannot be used again; and the review is done anyway.
    again = hub.delete(lead, cid, code)
    assert again.status_code == 200 and "not correct" in again.text
    assert "Deleted (1)" in hub.lead("csc").get("/governance/retention").text


def _sealed_fields(session, contact_id: uuid.UUID):
    contact = session.get(Contact, contact_id)
    yield ("contacts", str(contact.id), "concern", contact.concern_sealed)
    yield ("contacts", str(contact.id), "referrer", contact.referrer_sealed)
    for subject in contact.subjects:
        yield ("contact_subjects", str(subject.id), "details", subject.details_sealed)
    for rating in session.scalars(
        select(ContactRating).where(ContactRating.contact_id == contact_id)
    ):
        yield ("contact_ratings", str(rating.id), "rationale", rating.rationale_sealed)
    for decision in session.scalars(
        select(ContactDecision).where(ContactDecision.contact_id == contact_id)
    ):
        yield ("contact_decisions", str(decision.id), "rationale", decision.rationale_sealed)


def _dump(app, admin_url: str) -> bytes:
    """Every row of every table, as an attacker with a copy of the database would read it."""
    database = _db(app)
    if database.engine.dialect.name == "sqlite":
        raw = b""
        path = Path(database.engine.url.database)
        for file in (path, path.with_name(path.name + "-wal")):
            if file.exists():
                raw += file.read_bytes()
        return raw
    engine = create_engine(admin_url)
    out = []
    with engine.connect() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).scalars()
        for table in list(tables):
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):  # noqa: S608
                out.append(repr(tuple(row)).encode())
                out.extend(v for v in row if isinstance(v, bytes | memoryview))
    engine.dispose()
    return b"\n".join(bytes(part) for part in out)


def test_after_deletion_nothing_of_the_contact_can_be_read(
    app, hub, clock, admin_database_url, settings
):
    kept = hub.closed_contact()
    cid = hub.closed_contact(register=True)
    ident = uuid.UUID(cid)
    with _db(app).transaction() as session:
        person_id = session.scalar(
            select(ContactSubject.person_id).where(
                ContactSubject.contact_id == ident, ContactSubject.person_id.is_not(None)
            )
        )
        wrapped = session.scalars(select(DataKey.wrapped).where(DataKey.contact_id == ident)).all()
        with app.app_context():
            for table, row, column, envelope in _sealed_fields(session, ident):
                keys.decrypt(
                    session,
                    contact_id=ident,
                    agency_code="police",
                    table=table,
                    row_id=row,
                    column=column,
                    envelope=envelope,
                )  # opens before the deletion
    assert person_id is not None and wrapped
    clock.advance(SIX_YEARS)
    assert listed(app) == 2
    lead = hub.lead("csc")
    # Only this one: the other contact stays readable.
    assert hub.delete(lead, cid, current_code(lead.account.seed, clock)).status_code == 302

    with _db(app).transaction() as session, app.app_context():
        assert session.scalar(select(func.count()).where(DataKey.contact_id == ident)) == 0
        assert session.scalar(select(func.count()).where(DataKey.contact_id == person_id)) == 0
        assert session.get(Person, person_id) is None
        assert session.scalar(select(func.count()).where(PersonKey.person_id == person_id)) == 0
        # The subjects' identity keys go too: they would say who was named in it.
        assert session.scalar(select(func.count()).where(SubjectKey.contact_id == ident)) == 0
        failures = 0
        for table, row, column, envelope in _sealed_fields(session, ident):
            with pytest.raises(keys.DecryptionError):
                keys.decrypt(
                    session,
                    contact_id=ident,
                    agency_code="police",
                    table=table,
                    row_id=row,
                    column=column,
                    envelope=envelope,
                )
            failures += 1
        assert failures >= 5
        contact = session.get(Contact, ident)
        assert (contact.reference, contact.status) == (contact.reference, "deleted")
        assert all(s.person_id is None for s in contact.subjects)
        other = session.get(Contact, uuid.UUID(kept))
        assert (
            keys.decrypt(
                session,
                contact_id=other.id,
                agency_code="police",
                table="contacts",
                row_id=str(other.id),
                column="concern",
                envelope=other.concern_sealed,
            )
            .decode()
            .endswith(CANARY)
        )

    dump = _dump(app, admin_database_url)
    assert b"MASH-2026-" in dump  # the dump search sees stored values
    for secret in wrapped:
        assert bytes(secret) not in dump
    assert CANARY.encode() not in dump

    # The audit trail is untouched and still verifies after the deletion.
    env = {
        "MASH_DATABASE__URL": settings.database.url,
        "MASH_APP__INSTANCE_PATH": settings.app.instance_path,
        "MASH_APP__MODE": "test",
    }
    runner = CliRunner()
    assert runner.invoke(cli, ["audit", "seal"], env=env).exit_code == 0
    public_key = Path(settings.app.instance_path) / "audit-public.pem"
    exported = runner.invoke(cli, ["audit", "export-public-key", "--out", str(public_key)], env=env)
    assert exported.exit_code == 0, exported.output
    verified = runner.invoke(
        cli,
        [
            "audit",
            "verify",
            "--public-key",
            str(public_key),
            "--checkpoints",
            str(settings.audit.checkpoint_path(settings.app.instance_path)),
        ],
        env=env,
    )
    assert verified.exit_code == 0, verified.output
    ((actor, contact, reason),) = events(app, "retention.deleted")
    assert (actor, contact) == (str(lead.account.user_id), cid)
    assert "data keys destroyed" in reason and "1 persons removed" in reason
    assert scalar(app, select(func.count()).where(AuditEvent.contact_id == cid)) > 5


def test_deletion_takes_the_presenting_issues_with_the_keys(app, hub, clock):
    body = {**CONTACT, "presenting_issues": ["sexual_abuse", "missing"]}
    kept = hub.closed_contact(body=body)
    cid = hub.closed_contact(body=body)
    clock.advance(SIX_YEARS)
    assert listed(app) == 2
    lead = hub.lead("csc")

    assert hub.delete(lead, cid, current_code(lead.account.seed, clock)).status_code == 302

    def issues(contact_id):
        return scalar(
            app,
            select(func.count()).where(ContactPresentingIssue.contact_id == uuid.UUID(contact_id)),
        )

    # Kept in clear for counting, so they must not outlive the contact's content.
    assert (issues(cid), issues(kept)) == (0, 2)


def test_the_tombstone_answers_cleanly_on_pages_and_api(app, hub, clock, client, make_client):
    cid = hub.closed_contact(register=True)
    # Closed six years ago (the clock stays while the agreements are in force, so the
    # firewall still lets break-glass through to find the tombstone).
    hub.backdate(cid)
    assert listed(app) == 1
    lead = hub.lead("csc")
    assert hub.delete(lead, cid, current_code(lead.account.seed, clock)).status_code == 302

    page = lead.get("/governance/retention").text
    assert "Deleted (1)" in page and "Six years since closure" in page
    assert str(lead.account.user_id) in page
    # Closed or deleted, a contact has left the MASH: staff get the firewall's 404.
    staff = hub.person(Role.MASH_MANAGER, "csc")
    for path in (f"/contacts/{cid}", f"/contacts/{cid}/decision", f"/contacts/{cid}/people"):
        assert staff.get(path).status_code == 404, path
    api = token(client, make_client, "csc", Scope.SCREENING_READ)
    assert client.get(f"/api/v1/contacts/{cid}", headers=api).status_code == 404
    assert client.get(f"/api/v1/contacts/{cid}/contributions", headers=api).status_code == 404
    # Break-glass reaches closed contacts: it finds the tombstone, not a 500.
    reference = scalar(app, select(Contact.reference).where(Contact.id == uuid.UUID(cid)))
    manager = hub.person(Role.MASH_MANAGER, "csc")
    opened = manager.post_form(
        "/break-glass",
        {
            "reference": reference,
            "reason": "Court order to produce records",
            "code": current_code(manager.account.seed, clock),
        },
    )
    assert opened.status_code == 302, opened.text
    assert opened.headers["Location"] == f"/contacts/{cid}", opened.headers["Location"]
    shown = manager.get(f"/contacts/{cid}")
    assert shown.status_code == 200
    assert "deleted under retention" in shown.text and reference in shown.text
    assert CANARY not in shown.text


def test_only_governance_leads_of_the_mash_core_review_retention(app, hub, clock):
    cid = hub.closed_contact()
    hub.backdate(cid)
    assert listed(app) == 1
    review = hub.review_id(cid)
    for agency in ("health", "education"):
        partner = hub.lead(agency)
        assert partner.get("/governance/retention").status_code == 404
        assert partner.get(f"/governance/retention/{review}/delete").status_code == 404
        assert "Retention</a>" not in partner.get("/governance").text
    for role in (Role.SCREENER, Role.MASH_MANAGER):
        assert hub.person(role, "csc").get("/governance/retention").status_code == 403
    police = hub.lead("police")
    assert police.get("/governance/retention").status_code == 200
    assert "Retention</a>" in police.get("/governance").text
    assert police.get(f"/governance/retention/{uuid.uuid4()}/delete").status_code == 404


@pytest.mark.postgres
def test_row_level_security_keeps_the_review_list_on_the_mash_side(app, hub, clock, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("row-level security is PostgreSQL's (set MASH_TEST_DATABASE_URL)")
    hub.closed_contact()
    other = hub.closed_contact()
    clock.advance(SIX_YEARS)
    assert listed(app) == 2
    with _db(app).transaction() as session:
        session.execute(
            delete(RetentionReview).where(RetentionReview.contact_id == uuid.UUID(other))
        )
    engine = create_engine(database_url)

    def visible(agency):
        with engine.begin() as conn:
            if agency is not None:
                conn.execute(text("SELECT set_config('app.agency_id', :a, true)"), {"a": agency})
            return conn.execute(text("SELECT count(*) FROM retention_reviews")).scalar_one()

    try:
        assert visible("csc") == 1 and visible("police") == 1 and visible("system") == 1
        assert visible("health") == 0 and visible("housing") == 0 and visible(None) == 0
        with engine.begin() as conn, pytest.raises(Exception, match="row-level security"):
            conn.execute(text("SELECT set_config('app.agency_id', 'health', true)"))
            conn.execute(
                text(
                    "INSERT INTO retention_reviews (id, contact_id, record_type, period, isa_id,"
                    " closed_at, due_at, listed_at, status) VALUES (gen_random_uuid(), :c,"
                    " 'nfa_contact', '1 day', 'X', now(), now(), now(), 'due')"
                ),
                {"c": other},
            )
    finally:
        engine.dispose()
