"""A scheduler killed in the middle of its expiry run (fault review, scenario 4): what it
had started is not half-done, and the standby that takes over expires every overdue
request exactly once, with its event, and the trail still verifies."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, make_url, text, update

from mash_hub.sharing.models import InfoRequest
from tests.faults.load import wait_for
from tests.functional.test_requests import ask, rated_contact
from tests.functional.test_scheduler import (
    _db,
    expired_events,
    police,  # noqa: F401 - a fixture
    start_scheduler,
    statuses,
)


@contextmanager
def _requests_held(url: str, admin_url: str) -> Iterator[Callable[[], bool]]:
    """Another session holds what the expiry must write, so a scheduler that reaches it
    waits there. Yields a check that some session is waiting on it (PostgreSQL) or a
    best guess of the wait having started (SQLite cannot tell)."""
    if url.startswith("postgresql"):
        engine = create_engine(admin_url)
        try:
            with engine.connect() as conn, conn.begin():
                conn.execute(text("LOCK TABLE info_requests IN EXCLUSIVE MODE"))
                watcher = create_engine(admin_url)

                def waiting() -> bool:
                    with watcher.connect() as other:
                        return bool(
                            other.scalar(
                                text(
                                    "SELECT count(*) FROM pg_stat_activity WHERE "
                                    "wait_event_type = 'Lock' "
                                    "AND query ILIKE 'UPDATE info_requests%'"
                                )
                            )
                        )

                try:
                    yield waiting
                finally:
                    watcher.dispose()
        finally:
            engine.dispose()
    else:
        holder = sqlite3.connect(str(make_url(url).database), timeout=1, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            yield lambda: time.monotonic() - started > 3  # the 1-second jobs are waiting
            holder.execute("ROLLBACK")
        finally:
            holder.close()


def test_a_scheduler_killed_mid_expiry_leaves_the_standby_to_expire_each_request_once(
    app,
    client,
    police,  # noqa: F811
    settings,
    test_db_url,
    admin_database_url,
    trail,
):
    contact_id = rated_contact(client, police)
    ids = [ask(client, police, contact_id, agency).json["id"] for agency in ("health", "yos")]
    # Overdue now on the real clock the scheduler processes use.
    with _db(app).transaction() as session:
        session.execute(update(InfoRequest).values(due_at=datetime.now(UTC) - timedelta(minutes=1)))

    with _requests_held(test_db_url, admin_database_url) as waiting:
        first = start_scheduler(settings, test_db_url)
        try:
            wait_for(waiting, "the scheduler waiting inside its expiry")
        finally:
            first.kill()
            first.communicate(timeout=30)
    # Killed with its work uncommitted: nothing of it stays.
    assert set(statuses(app).values()) == {"open"}
    assert expired_events(app) == {}

    second = start_scheduler(settings, test_db_url)
    try:
        wait_for(lambda: set(statuses(app).values()) == {"expired"}, "the standby's expiry")
    finally:
        second.terminate()
        second.communicate(timeout=30)
    assert expired_events(app) == dict.fromkeys(ids, 1)
    trail.seal()
    result = trail.cli_verify()
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("OK"), result.output
