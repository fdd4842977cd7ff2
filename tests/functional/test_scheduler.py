"""The scheduler's jobs, and its leader lock: each request expires exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from mash_hub import scheduler
from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role
from mash_hub.contacts.models import Contact
from mash_hub.db import Database
from mash_hub.notifications.models import Notification
from mash_hub.sharing.models import InfoRequest
from tests.conftest import TEST_ENV
from tests.functional.test_requests import ask, rated_contact, screening
from tests.helpers import sign_in


@pytest.fixture
def police(client, make_client):
    return screening(client, make_client)


def _db(app) -> Database:
    return app.extensions["mash.db"]


def expired_events(app) -> dict[str, int]:
    with _db(app).transaction() as session:
        rows = session.execute(
            select(AuditEvent.object_id, func.count())
            .where(AuditEvent.kind == "request.expired")
            .group_by(AuditEvent.object_id)
        ).all()
    return {str(object_id): int(count) for object_id, count in rows}


def statuses(app) -> dict[str, str]:
    with _db(app).transaction() as session:
        return {str(i): s for i, s in session.execute(select(InfoRequest.id, InfoRequest.status))}


def test_expiry_job_closes_overdue_requests_once_and_escalates(app, client, clock, police):
    contact_id = rated_contact(client, police, "red")
    health_id = ask(client, police, contact_id, "health").json["id"]
    housing_id = ask(client, police, contact_id, "housing").json["id"]
    assert scheduler.run_all_once(app)["expire_requests"] == 0
    clock.advance(timedelta(hours=2, minutes=1))
    assert scheduler.run_all_once(app)["expire_requests"] == 2
    assert scheduler.run_all_once(app)["expire_requests"] == 0
    assert statuses(app) == {health_id: "expired", housing_id: "expired"}
    assert expired_events(app) == {health_id: 1, housing_id: 1}
    with _db(app).transaction() as session:
        sent = set(
            session.execute(
                select(
                    Notification.recipient_agency, Notification.recipient_role, Notification.kind
                )
            ).all()
        )
        actors = set(
            session.scalars(
                select(AuditEvent.actor_type).where(AuditEvent.kind.like("request.%"))
            ).all()
        )
    assert sent == {
        ("health", "agency_researcher", "request.sent"),
        ("housing", "agency_researcher", "request.sent"),
        ("csc", "mash_manager", "request.overdue"),
        ("health", "governance_lead", "request.overdue"),
        ("housing", "governance_lead", "request.overdue"),
    }
    assert actors == {"system"}


def test_requests_near_due_are_escalated_once(app, client, clock, police):
    contact_id = rated_contact(client, police, "red")
    ask(client, police, contact_id, "yos")
    assert scheduler.run_all_once(app)["escalate_requests"] == 0
    clock.advance(timedelta(hours=1, minutes=40))  # 20 minutes left; the threshold is 30
    assert scheduler.run_all_once(app)["escalate_requests"] == 1
    assert scheduler.run_all_once(app)["escalate_requests"] == 0
    with _db(app).transaction() as session:
        kinds = session.scalars(select(Notification.kind)).all()
    assert sorted(kinds) == ["request.due_soon", "request.due_soon", "request.sent"]


def test_green_stragglers_are_withdrawn_by_the_job(app, client, police):
    contact_id = rated_contact(client, police)
    request_id = ask(client, police, contact_id, "education").json["id"]
    # A rating written around the service (another process, an old release) left it open.
    with _db(app).transaction() as session:
        session.execute(update(Contact).values(rag="green"))
    assert scheduler.run_all_once(app)["withdraw_green_requests"] == 1
    assert statuses(app) == {request_id: "withdrawn"}


def start_scheduler(settings, database_url: str) -> subprocess.Popen[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MASH_")},
        **TEST_ENV,
        "MASH_DATABASE__URL": database_url,
        "MASH_APP__INSTANCE_PATH": settings.app.instance_path,
        "MASH_SCHEDULER__INTERVAL": "1 seconds",
        "MASH_LOGGING__LEVEL": "INFO",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "mash_hub", "scheduler"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_two_schedulers_started_together_expire_each_request_exactly_once(
    app, client, police, settings, test_db_url
):
    contact_id = rated_contact(client, police)
    ids = [ask(client, police, contact_id, agency).json["id"] for agency in ("health", "yos")]
    # Due a moment from now on the real clock the scheduler processes use.
    with _db(app).transaction() as session:
        session.execute(update(InfoRequest).values(due_at=datetime.now(UTC) + timedelta(seconds=3)))
    both = [start_scheduler(settings, test_db_url) for _ in range(2)]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and set(statuses(app).values()) != {"expired"}:
        time.sleep(0.5)
    time.sleep(2)  # let both run a few more ticks
    outputs = []
    for process in both:
        process.send_signal(signal.SIGTERM)
    for process in both:
        out, _ = process.communicate(timeout=30)
        outputs.append(out)
    assert set(statuses(app).values()) == {"expired"}, outputs
    assert expired_events(app) == dict.fromkeys(ids, 1)
    leaders = sum(out.count("scheduler_leader") for out in outputs)
    assert leaders == 1, outputs


def test_one_leader_at_a_time_and_a_standby_takes_over(app):
    first, second = scheduler.LeaderLock(app), scheduler.LeaderLock(app)
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    assert not first.try_acquire()
    second.release()


def test_escalations_show_on_the_home_pages_of_those_escalated_to(
    app, client, clock, police, make_account
):
    contact_id = rated_contact(client, police, "red")
    ask(client, police, contact_id, "health")
    clock.advance(timedelta(hours=2, minutes=1))
    scheduler.run_all_once(app)
    manager = app.test_client()
    sign_in(manager, make_account(Role.MASH_MANAGER, "csc"), clock)
    home = manager.get("/").text
    assert "An information request ran out without an answer" in home
    assert f"/contacts/{contact_id}#requests" in home
    lead = app.test_client()
    sign_in(lead, make_account(Role.GOVERNANCE_LEAD, "health"), clock)
    home = lead.get("/").text
    assert "An information request ran out without an answer" in home
    assert f"/contacts/{contact_id}" not in home
    other = app.test_client()
    sign_in(other, make_account(Role.GOVERNANCE_LEAD, "education"), clock)
    assert "request-escalations" not in other.get("/").text


def test_the_scheduler_seals_pending_audit_events_and_signs_a_checkpoint(
    app, client, clock, police, settings
):
    from mash_hub.audit.models import AuditCheckpoint

    rated_contact(client, police, "red")  # leaves access events, unsealed
    with _db(app).transaction() as session:
        pending = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.hash.is_(None))
        )
    assert pending and pending > 0
    ran = scheduler.run_all_once(app)
    assert ran["seal_audit"] >= pending + 1  # the events, and the first checkpoint
    with _db(app).transaction() as session:
        unsealed = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.hash.is_(None))
        )
        head = session.scalar(select(func.max(AuditEvent.seq)))
        checkpoints = session.scalars(select(AuditCheckpoint)).all()
    assert unsealed == 0
    assert [c.seq for c in checkpoints] == [head]
    line = settings.audit.checkpoint_path(settings.app.instance_path).read_text().splitlines()
    assert len(line) == 1 and f'"seq":{head}' in line[0]
    # Nothing new: nothing sealed, no second checkpoint.
    assert scheduler.run_all_once(app)["seal_audit"] == 0


def test_the_seal_job_runs_on_its_own_interval(settings):
    job = next(j for j in scheduler.JOBS if j.name == "seal_audit")
    trigger = job.trigger(settings)
    assert trigger.interval == settings.audit.seal_interval.timedelta
