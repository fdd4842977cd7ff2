"""The scheduler's single leader survives losing its lock (fault review, finding 4): on
dc1dfa7 a leader whose database session was ended (a database restart) kept running its
jobs without the lock, and a second scheduler led beside it."""

from __future__ import annotations

import json
import select
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mash_hub import scheduler
from tests.faults.load import wait_for
from tests.functional.test_scheduler import start_scheduler


def _advisory_holders(admin_url: str) -> list[int]:
    engine = create_engine(admin_url)
    try:
        with engine.connect() as conn:
            return [
                int(pid)
                for (pid,) in conn.execute(
                    text(
                        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                        "AND objid = :low"
                    ),
                    {"low": scheduler.ADVISORY_LOCK_KEY & 0xFFFFFFFF},
                )
            ]
    finally:
        engine.dispose()


def _end_session(admin_url: str, pid: int) -> None:
    engine = create_engine(admin_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        engine.dispose()


def test_a_lock_that_is_gone_is_known_to_be_gone(app, admin_database_url, settings):
    lock = scheduler.LeaderLock(app)
    assert lock.try_acquire()
    assert lock.still_held()
    if app.extensions["mash.db"].engine.dialect.name == "postgresql":
        (pid,) = _advisory_holders(admin_database_url)
        _end_session(admin_database_url, pid)
    else:
        # The lock file removed (and so free to be made anew by another scheduler).
        (Path(settings.app.instance_path) / "scheduler.lock").unlink()
    assert not lock.still_held()
    other = scheduler.LeaderLock(app)
    assert other.try_acquire()
    lock.release()  # the old session or file is gone: letting go must not fail
    assert other.still_held()
    other.release()


def test_a_leader_whose_session_ends_stops_leading_and_leads_again(
    app, settings, test_db_url, admin_database_url
):
    if not test_db_url.startswith("postgresql"):
        pytest.skip("the advisory lock lives in a PostgreSQL session")
    first = start_scheduler(settings, test_db_url)
    second = None
    try:
        (pid,) = wait_for(lambda: _advisory_holders(admin_database_url), "a leader")
        _end_session(admin_database_url, pid)
        # It notices, lets go and takes the lock again in a new session.
        again = wait_for(
            lambda: [p for p in _advisory_holders(admin_database_url) if p != pid], "leads again"
        )
        assert len(again) == 1
        second = start_scheduler(settings, test_db_url)
        # Up (its banner printed once the app is built, which takes a while on a busy
        # machine) and polling; it must not lead beside the leader.
        second_start = _until_banner(second)
        time.sleep(3)
        assert _advisory_holders(admin_database_url) == again
    finally:
        # The standby stops first: stopped after the leader, it would rightly take over.
        outputs = {}
        for name, process in (("second", second), ("first", first)):
            if process is not None:
                process.send_signal(signal.SIGTERM)
                outputs[name] = process.communicate(timeout=30)[0]
        outputs = [
            outputs.get("first", ""),
            *([second_start + outputs["second"]] if second else []),
        ]
    events = [_events(out) for out in outputs]
    assert events[0] == [
        "scheduler_leader",
        "scheduler_leadership_lost",
        "scheduler_leader",
        "scheduler_stopped",
    ], outputs[0]
    assert events[1] == ["scheduler_stopped"], outputs[1]


def _until_banner(process, timeout: float = 90.0) -> str:
    """What the process printed up to and including its banner."""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if not ready:
            continue
        line = process.stdout.readline()
        if not line:
            break  # it ended
        lines.append(line)
        if line.startswith("MASH Hub scheduler:"):
            return "".join(lines)
    raise AssertionError("the second scheduler did not start: " + "".join(lines))


def _events(output: str) -> list[str]:
    """The scheduler's own log events, in order (the jobs' are left out)."""
    found = []
    for line in output.splitlines():
        if line.startswith("{"):
            event = json.loads(line)["event"]
            if event.startswith("scheduler_"):
                found.append(event)
    return found
