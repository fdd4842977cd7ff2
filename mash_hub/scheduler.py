"""The scheduler process (`mash-hub scheduler`): bookkeeping jobs, one leader at a time.

Never started inside web workers: each gunicorn worker would run every job. One process
holds the leader lock (a PostgreSQL advisory lock, or a file lock on SQLite) and runs the
jobs; any other stands by and takes over when the leader's lock is released (its
connection or file closes when it exits, however it exits).

Each job is one unit of work, run with the app's clock and audited as the system. Add a
job by appending a `Job` to `JOBS`: a name, a function of the job's session returning how
many records it changed, and a trigger built from the settings. A job that runs its own
transactions (the audit sealer) is a `DatabaseJob`: its function gets the database.
"""

from __future__ import annotations

import fcntl
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import structlog
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mash_hub import runtime
from mash_hub.audit import sealer
from mash_hub.breaches import services as breaches
from mash_hub.config import Settings
from mash_hub.db import Database
from mash_hub.identity import throttle
from mash_hub.operations.leadership import ADVISORY_LOCK_KEY, lock_path
from mash_hub.outbox import delivery
from mash_hub.referrals import services as referrals
from mash_hub.retention import services as retention
from mash_hub.screening import services as screening
from mash_hub.sharing import services as sharing

log = structlog.get_logger("mash_hub.scheduler")


def _every_interval(settings: Settings) -> BaseTrigger:
    return IntervalTrigger(seconds=max(1, settings.scheduler.interval.seconds))


def _every_delivery_interval(settings: Settings) -> BaseTrigger:
    return IntervalTrigger(seconds=max(1, settings.notifications.interval.seconds))


def _every_seal_interval(settings: Settings) -> BaseTrigger:
    return IntervalTrigger(seconds=max(1, settings.audit.seal_interval.seconds))


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[Session], int]
    trigger: Callable[[Settings], BaseTrigger]


@dataclass(frozen=True)
class DatabaseJob:
    """A job that owns its transactions: it is given the database, not a session."""

    name: str
    run: Callable[[Database], int]
    trigger: Callable[[Settings], BaseTrigger]


def seal_audit(database: Database) -> int:
    """Job: link new audit events into the hash chain and sign a checkpoint of the new head.
    Not audited itself (an event per run would never let the chain be quiet); its work
    is the chain and the checkpoints, which `mash-hub audit verify` checks."""
    result = sealer.run_once(database, runtime.settings(), runtime.now())
    return result.sealed + (1 if result.checkpoint is not None else 0)


JOBS: list[Job | DatabaseJob] = [
    Job("expire_requests", sharing.expire_due_requests, _every_interval),
    Job("escalate_requests", sharing.escalate_due_soon, _every_interval),
    Job("withdraw_green_requests", sharing.withdraw_green_requests, _every_interval),
    Job("expire_referrals", referrals.expire_due_referrals, _every_interval),
    Job("list_retention_due", retention.list_due, _every_interval),
    Job("escalate_breach_clocks", breaches.escalate_clocks, _every_interval),
    DatabaseJob("seal_audit", seal_audit, _every_seal_interval),
    Job("forget_sign_in_attempts", throttle.prune, _every_interval),
    # After the jobs that write messages, so `--once` sends what they wrote.
    DatabaseJob("deliver_notifications", delivery.deliver_job, _every_delivery_interval),
    # After delivery: records the referrers' emails just sent (or tells of one that failed).
    Job("record_referrer_emails", screening.record_referrer_emails, _every_delivery_interval),
]


def run_job(app: Flask, job: Job | DatabaseJob) -> int:
    """Run one job (one unit of work, unless it owns its transactions); returns the number
    of records it changed."""
    with app.app_context():
        database: Database = app.extensions["mash.db"]
        if isinstance(job, DatabaseJob):
            changed = job.run(database)
        else:
            with database.transaction() as session:
                changed = job.run(session)
    if changed:
        log.info("job_ran", job=job.name, changed=changed)
    return changed


def run_all_once(app: Flask) -> dict[str, int]:
    return {job.name: run_job(app, job) for job in JOBS}


class LeaderLock:
    """Held by at most one scheduler per database."""

    def __init__(self, app: Flask) -> None:
        settings: Settings = app.extensions["mash.settings"]
        self._database: Database = app.extensions["mash.db"]
        self._postgres = self._database.engine.dialect.name == "postgresql"
        self._path = lock_path(app.instance_path, settings.scheduler.lock_file)
        self._connection: Connection | None = None
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        if self._postgres:
            try:
                connection = self._database.engine.connect()
            except SQLAlchemyError:
                log.warning("scheduler_database_unreachable")
                return False  # not now: asked again at the next poll
            try:
                got = bool(
                    connection.execute(
                        text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
                    ).scalar()
                )
                connection.commit()  # the session-level lock outlives the transaction
            except SQLAlchemyError:
                connection.invalidate()
                connection.close()
                return False
            if got:
                self._connection = connection
            else:
                connection.close()
            return got
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle = self._path.open("a")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def still_held(self) -> bool:
        """Whether this process still leads. On PostgreSQL the lock lives in the session
        that took it: a database restart, or the session being ended, loses it silently,
        and another scheduler may already lead. On SQLite the lock file may have been
        removed and made anew by another scheduler."""
        if self._connection is not None:
            try:
                held = self._connection.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        "AND pid = pg_backend_pid() AND granted"
                    )
                ).scalar()
                self._connection.commit()
            except SQLAlchemyError:
                return False
            return bool(held)
        if self._file is not None:
            try:
                return os.fstat(self._file.fileno()).st_ino == os.stat(self._path).st_ino
            except OSError:
                return False
        return False

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
                self._connection.commit()
            except SQLAlchemyError:
                pass  # the session is gone, and its lock with it
            self._connection.invalidate()
            self._connection.close()
            self._connection = None
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def serve(app: Flask, *, poll_seconds: float = 5.0, run_for: float | None = None) -> None:
    """Wait to become the leader, then run the jobs on their triggers until stopped (or
    for `run_for` seconds, for tests). A leader that finds it has lost its lock stops
    leading at once and waits to lead again, so there is never more than one."""
    lock = LeaderLock(app)
    stopping = {"now": False}

    def _stop(*_args: Any) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    started = time.monotonic()

    def _out_of_time() -> bool:
        return stopping["now"] or (run_for is not None and time.monotonic() - started >= run_for)

    while not _out_of_time():
        if not lock.try_acquire():
            time.sleep(poll_seconds)
            continue
        try:
            lost = _lead(app, lock, _out_of_time)
        finally:
            lock.release()
        if not lost:
            break
        log.warning("scheduler_leadership_lost")
    log.info("scheduler_stopped")


def _lead(app: Flask, lock: LeaderLock, done: Callable[[], bool]) -> bool:
    """Run the jobs until `done()` or until the lock is lost; True if it was lost."""
    settings: Settings = app.extensions["mash.settings"]
    log.info("scheduler_leader", jobs=[job.name for job in JOBS])
    scheduler = BlockingScheduler(timezone="UTC")
    for job in JOBS:
        scheduler.add_job(
            run_job,
            job.trigger(settings),
            args=(app, job),
            id=job.name,
            name=job.name,
            max_instances=1,
            coalesce=True,
            # Run at start too, so a scheduler that was down catches up at once.
            next_run_time=datetime.now(UTC),
        )
    lost = {"now": False}

    def _watch() -> None:
        if not lock.still_held():
            lost["now"] = True
        if lost["now"] or done():
            scheduler.shutdown(wait=False)

    # Twice a second: stopping is prompt, and a lost lock is noticed within half a second.
    scheduler.add_job(_watch, IntervalTrigger(seconds=0.5), id="_watch", max_instances=1)
    scheduler.start()
    return lost["now"]
