"""Shared fixtures: a migrated database (SQLite, or PostgreSQL from MASH_TEST_DATABASE_URL),
an app with a frozen clock, and helpers that sign people in the way a browser does."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from mash_hub import create_app
from mash_hub.authz.permissions import Role, Scope
from mash_hub.clock import FrozenClock
from mash_hub.config import Settings, load_settings
from mash_hub.db import Base, Database, make_engine, upgrade
from mash_hub.identity import services as identity
from mash_hub.operations.roles import app_role_url, set_up_app_role
from tests.accounts import Account

# Fixtures shared by modules in several folders.
pytest_plugins = ["tests.audit_trail"]

START = datetime(2026, 11, 30, 10, 0, 0, tzinfo=UTC)  # a Monday morning

# Light argon2 parameters keep the suite quick; production uses the defaults.
TEST_ENV = {
    "MASH_APP__MODE": "test",
    "MASH_PASSWORDS__ARGON2_TIME_COST": "1",
    "MASH_PASSWORDS__ARGON2_MEMORY_COST": "1024",
    "MASH_PASSWORDS__ARGON2_PARALLELISM": "1",
    "MASH_LOGGING__LEVEL": "INFO",
}


APP_ROLE = "mash_app"  # PostgreSQL: the application connects as neither owner nor superuser


def test_database_url(tmp_root: Path) -> str:
    return os.environ.get("MASH_TEST_DATABASE_URL") or f"sqlite:///{tmp_root / 'test.db'}"


def _as_app_role(admin_url: str) -> str:
    """Set up the application role as `mash-hub init-db --app-role` does; its URL."""
    engine = create_engine(admin_url)
    try:
        set_up_app_role(engine, APP_ROLE)
    finally:
        engine.dispose()
    return app_role_url(admin_url, APP_ROLE)


@pytest.fixture(scope="session")
def admin_database_url(tmp_root: Path) -> str:
    """The schema owner's URL: migrations and cleanup only."""
    return test_database_url(tmp_root)


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mash")


@pytest.fixture(scope="session")
def database_url(admin_database_url: str) -> str:
    """Build the schema once per run by running the migrations; the app's URL. On SQLite
    this is a template that each test copies (see `test_db_url`); never write to it."""
    url = admin_database_url
    engine = make_engine(url)
    postgres = engine.dialect.name == "postgresql"
    if postgres:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    engine.dispose()
    return _as_app_role(url) if postgres else url


def make_settings(database_url: str, **env: str) -> Settings:
    return load_settings(None, {**TEST_ENV, "MASH_DATABASE__URL": database_url, **env})


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def test_db_url(database_url: str, admin_database_url: str, tmp_path: Path) -> Iterator[str]:
    """This test's database, migrated and empty. SQLite: a fresh copy of the template.
    PostgreSQL: the shared database, truncated afterwards by the superuser (a truncate fires
    no row triggers, and replica mode silences the audit tables' TRUNCATE triggers for this
    one transaction, so append-only tables can be emptied between tests)."""
    if not database_url.startswith("postgresql"):
        template = Path(make_url(database_url).database or "")
        copy = tmp_path / "test.db"
        shutil.copyfile(template, copy)
        yield f"sqlite:///{copy}"
        return
    yield database_url
    engine = create_engine(admin_database_url)
    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def settings(test_db_url: str, tmp_path: Path) -> Settings:
    return make_settings(test_db_url, MASH_APP__INSTANCE_PATH=str(tmp_path / "instance"))


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Iterator[Flask]:
    app = create_app(settings, clock=clock)
    with app.app_context():
        identity_db: Database = app.extensions["mash.db"]
        with identity_db.transaction() as db:
            identity.ensure_agencies(db)
    yield app
    database: Database = app.extensions["mash.db"]
    database.dispose()


@pytest.fixture
def clean_database(test_db_url: str) -> str:
    """An empty migrated database for code that opens it itself (the CLI)."""
    return test_db_url


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_account(app: Flask):  # type: ignore[no-untyped-def]
    def make(
        role: Role = Role.SCREENER,
        agency: str = "csc",
        *,
        enrolled: bool = True,
        email: str | None = None,
    ) -> Account:
        email = email or f"{role.value}.{uuid.uuid4().hex[:8]}@example.test"
        password = "correct horse battery staple"
        seed = os.urandom(20) if enrolled else None
        with app.app_context():
            database: Database = app.extensions["mash.db"]
            with database.transaction() as db:
                user = identity.create_user(
                    db,
                    email=email,
                    display_name=f"Test {role.label}",
                    agency_code=agency,
                    roles=frozenset({role}),
                    password=password,
                    totp_seed=seed,
                )
                user_id = user.id
        return Account(email, password, seed, user_id, agency, frozenset({role}))

    return make


@pytest.fixture
def make_client(app: Flask):  # type: ignore[no-untyped-def]
    """Register an API client; returns (client_id, secret)."""

    def make(agency: str = "police", scopes: frozenset[Scope] | None = None) -> tuple[str, str]:
        scopes = scopes or frozenset({Scope.CONTACTS_WRITE, Scope.SCREENING_READ})
        with app.app_context():
            database: Database = app.extensions["mash.db"]
            with database.transaction() as db:
                api_client, secret = identity.create_client(db, agency_code=agency, scopes=scopes)
                return api_client.client_id, secret

    return make
