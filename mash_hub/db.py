"""Engine, the per-request unit of work, and migrations.

Services add and flush; they never commit. The request (or job, or CLI command) that
owns the unit of work commits once at the end, or rolls everything back.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from flask import current_app, g, has_request_context
from sqlalchemy import Connection, DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import Dialect, ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = REPO_ROOT / "migrations"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    def __repr__(self) -> str:
        # Ids only: a repr can end up in a log, and logs never carry personal data.
        ident = getattr(self, "id", None)
        return f"<{type(self).__name__} id={ident}>"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python; timestamptz on PostgreSQL, naive UTC text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: the hub stores UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def make_engine(url: str, echo: bool = False) -> Engine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 15}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        event.listen(engine, "handle_error", _discard_stale_sessions)
    return engine


# SQLSTATEs after which a pooled PostgreSQL session is no use: it refuses writes (the
# database made read-only, or a standby after a failover: the setting is fixed when the
# session starts, so it outlives the cause) or the server is ending it.
STALE_SESSION_STATES = frozenset({"25006", "57P01", "57P02", "57P03"})


def _discard_stale_sessions(context: ExceptionContext) -> None:
    """Treat such an error as a lost connection: SQLAlchemy then discards the whole pool,
    so the next request gets fresh sessions and the hub recovers by itself once the
    database is writable again (fault review, finding 5: it stayed at 100% errors until
    someone ended its sessions by hand). The request that met the error still fails."""
    state = getattr(context.original_exception, "sqlstate", None)
    if state in STALE_SESSION_STATES:
        context.is_disconnect = True


def _note_opened(_dbapi: Any, record: ConnectionPoolEntry) -> None:
    record.info["opened"] = time.monotonic()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


SYSTEM_AGENCY = "system"  # scheduled jobs and operators' commands


def current_agency() -> str:
    """The agency whose side of the firewall the database may show: the request's
    principal's, none for an anonymous request, everything for jobs and commands."""
    if not has_request_context():
        return SYSTEM_AGENCY
    principal = g.get("principal")
    return str(principal.agency) if principal is not None else ""


def _scope_transaction(session: Session, _transaction: Any, connection: Any) -> None:
    # Second layer (PostgreSQL row-level security): every transaction says whose side it
    # is on. set_config(..., true) lasts for the transaction only, so a pooled connection
    # never carries one request's agency into the next.
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT set_config('app.agency_id', :agency, true)"),
            {"agency": current_agency()},
        )


class Database:
    """One engine and session factory per app."""

    def __init__(self, url: str, echo: bool = False) -> None:
        self.url = url
        self.echo = echo
        self.engine = make_engine(url, echo)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self.sessionmaker, "after_begin", _scope_transaction)
        self._counting: tuple[int, Engine] | None = None
        self._counting_lock = threading.Lock()
        # Pooled sessions opened before the counting pool found the database's sessions
        # stale are not handed out again (see _stale_counting_session).
        self._stale_before = 0.0
        self._limits: dict[str, str] = {}  # PostgreSQL settings of every session
        if self.engine.dialect.name == "postgresql":
            event.listen(self.engine, "connect", _note_opened)
            event.listen(self.engine, "checkout", self._refuse_stale)

    @contextmanager
    def counting(self) -> Iterator[Connection]:
        """A connection for a counter of no agency's data (an API client's calls in the
        current window), each statement committed on its own at once, without waiting for
        the disk. On PostgreSQL that is one round trip a statement on a small pool of its
        own (autocommit, synchronous_commit off: a crash may lose the last few counts),
        where a transaction of its own took five; on SQLite, a transaction."""
        if self.engine.dialect.name != "postgresql":
            with self.engine.begin() as connection:
                yield connection
            return
        with self._counting_engine().connect() as connection:
            yield connection

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work of its own: commits on success, rolls back on error.

        For work that must persist whatever the request does, such as counting a failed
        sign-in or recording a refused access, whose request will answer with an error.
        """
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _counting_engine(self) -> Engine:
        with self._counting_lock:  # a worker's threads make one between them
            if self._counting is None or self._counting[0] != os.getpid():
                # Made in the process that uses it: a forked worker never shares sockets.
                engine = create_engine(
                    make_url(self.url),
                    echo=self.echo,
                    pool_pre_ping=True,  # as the main pool: a restarted database is met
                    pool_size=2,  # held for one statement at a time
                    max_overflow=8,
                    isolation_level="AUTOCOMMIT",
                    connect_args={
                        "options": " ".join(
                            f"-c {name}={value}"
                            for name, value in {**self._limits, "synchronous_commit": "off"}.items()
                        )
                    },
                )
                event.listen(engine, "handle_error", self._stale_counting_session)
                self._counting = (os.getpid(), engine)
            return self._counting[1]

    def bound_waits(self, seconds: int) -> None:
        """Every PostgreSQL session opened from now on ends a statement, or a wait for a
        lock, after `seconds` (a served worker's timeout)."""
        if self.engine.dialect.name != "postgresql":
            return
        milliseconds = str(max(1, seconds) * 1000)
        first = not self._limits
        self._limits = {"statement_timeout": milliseconds, "lock_timeout": milliseconds}
        if first:
            event.listen(self.engine, "connect", self._apply_limits)
        self._counting = None  # made again, with them

    def _apply_limits(self, dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            for name, value in self._limits.items():
                cursor.execute(f"SET {name} = {int(value)}")
        dbapi_connection.commit()

    def _stale_counting_session(self, context: ExceptionContext) -> None:
        """A counting session found stale (the database read-only, or ending sessions): so
        are the main pool's, opened under the same setting, though a request that stops
        at the count never uses them to find out. The counting pool starts afresh (the
        error says so); the main pool's sessions are opened again as they are next taken,
        including the one the failing request holds."""
        _discard_stale_sessions(context)
        if context.is_disconnect:
            self._stale_before = time.monotonic()

    def _refuse_stale(self, _dbapi: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        if record.info.get("opened", 0.0) < self._stale_before:
            raise DisconnectionError("opened before the database's sessions were stale")

    def dispose(self) -> None:
        self.engine.dispose()
        if self._counting is not None and self._counting[0] == os.getpid():
            self._counting[1].dispose()
        self._counting = None


def database() -> Database:
    db: Database = current_app.extensions["mash.db"]
    return db


def session() -> Session:
    """The current request's unit of work, opened on first use."""
    if "db_session" not in g:
        g.db_session = database().sessionmaker()
    db_session: Session = g.db_session
    return db_session


def rescope_request() -> None:
    """Once the gate knows who is asking, re-state the agency for the open transaction."""
    db_session: Session | None = g.get("db_session")
    if db_session is None or not db_session.in_transaction():
        return
    connection = db_session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT set_config('app.agency_id', :agency, true)"),
            {"agency": current_agency()},
        )


def after_rollback(callback: Callable[[], object]) -> None:
    """Run `callback` if the request's unit of work is rolled back, after the rollback;
    forget it once the unit of work commits. For writes that must outlive a failed request
    (an audited refusal recorded in the page's unit of work)."""
    g.setdefault("db_after_rollback", []).append(callback)


def _run_after_rollback() -> None:
    callbacks: list[Callable[[], object]] = g.pop("db_after_rollback", [])
    for callback in callbacks:
        callback()


def commit_request() -> None:
    """Commit the request's unit of work, if one was opened."""
    db_session: Session | None = g.get("db_session")
    if db_session is not None:
        db_session.commit()
    g.pop("db_after_rollback", None)


def rollback_request() -> None:
    """Discard everything the request has written so far; reads may go on afterwards."""
    db_session: Session | None = g.get("db_session")
    if db_session is not None:
        db_session.rollback()
    _run_after_rollback()


def close_request() -> None:
    """End of request: whatever was not committed is rolled back."""
    db_session: Session | None = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()
    _run_after_rollback()


def alembic_config(url: str) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the migrations: the only way a schema is made, in tests too."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head()


def empty_database(engine: Engine) -> None:
    """Drop everything the migrations made (for `mash-hub demo --reset`, never in
    production): PostgreSQL's public schema is made anew, as its owner; SQLite's tables,
    views and triggers are dropped."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        return
    with engine.begin() as connection:
        connection.execute(text("PRAGMA foreign_keys=OFF"))
        rows = connection.execute(
            text(
                "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%'"
            )
        ).all()
        for kind, name in rows:
            quoted = name.replace('"', '""')
            connection.execute(text(f'DROP {kind.upper()} IF EXISTS "{quoted}"'))
