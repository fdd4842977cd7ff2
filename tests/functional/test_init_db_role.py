"""`mash-hub init-db --app-role NAME`: the schema owner sets up the role the hub runs as,
with exactly the grants it needs, and a second run puts a drifted role back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from tests.functional.test_cli import run

ROLE = "mash_app_setup_test"


@pytest.fixture
def owner_url(admin_database_url: str) -> Iterator[str]:
    if not admin_database_url.startswith("postgresql"):
        pytest.skip("roles are PostgreSQL's")
    yield admin_database_url
    engine = create_engine(admin_database_url)
    with engine.begin() as conn:
        if conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": ROLE}):
            conn.execute(text(f"DROP OWNED BY {ROLE}"))
            conn.execute(text(f"DROP ROLE {ROLE}"))
    engine.dispose()


def _as_role(owner_url: str) -> str:
    return owner_url.replace("postgres@", f"{ROLE}@", 1)


def _attributes(owner_url: str) -> tuple:
    engine = create_engine(owner_url)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT rolcanlogin, rolsuper, rolbypassrls, rolcreatedb, rolcreaterole "
                "FROM pg_roles WHERE rolname = :r"
            ),
            {"r": ROLE},
        ).one()
    engine.dispose()
    return tuple(row)


def test_init_db_creates_the_app_role_and_a_second_run_changes_nothing(
    tmp_path: Path, owner_url: str
) -> None:
    first = run(["init-db", "--app-role", ROLE], tmp_path, owner_url)
    assert first.returncode == 0, first.stderr
    assert f"application role {ROLE} created with the hub's grants" in first.stdout
    assert f"the hub connects as: postgresql+psycopg://{ROLE}@" in first.stdout
    assert _attributes(owner_url) == (True, False, False, False, False)
    again = run(["init-db", "--app-role", ROLE], tmp_path, owner_url)
    assert again.returncode == 0, again.stderr
    assert "already as the hub needs it: nothing changed" in again.stdout

    # The role can do the hub's work, and on the trail only read and add.
    engine = create_engine(_as_role(owner_url))
    with engine.begin() as conn:
        conn.execute(text("SELECT count(*) FROM contacts"))
        conn.execute(text("SELECT audit_seal_lock()"))
    for statement in (
        "UPDATE audit_events SET reason = 'rewritten'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_checkpoints",
        "UPDATE audit_checkpoints SET signature = 'x'",
    ):
        with pytest.raises(ProgrammingError, match="permission denied"), engine.begin() as conn:
            conn.execute(text(statement))
    engine.dispose()


def test_init_db_puts_a_role_that_drifted_back_and_says_what_it_changed(
    tmp_path: Path, owner_url: str
) -> None:
    assert run(["init-db", "--app-role", ROLE], tmp_path, owner_url).returncode == 0
    engine = create_engine(owner_url)
    with engine.begin() as conn:
        conn.execute(text(f"ALTER ROLE {ROLE} SUPERUSER BYPASSRLS"))
        conn.execute(text(f"GRANT UPDATE, DELETE ON audit_events TO {ROLE}"))
        conn.execute(text(f"REVOKE INSERT ON contacts FROM {ROLE}"))
        conn.execute(text("GRANT EXECUTE ON FUNCTION audit_seal_lock() TO PUBLIC"))
    engine.dispose()
    fixed = run(["init-db", "--app-role", ROLE], tmp_path, owner_url)
    assert fixed.returncode == 0, fixed.stderr
    for change in (
        "removed SUPERUSER, BYPASSRLS",
        "revoked DELETE, UPDATE on audit_events",
        "granted INSERT on contacts",
        "revoked the sealer's lock from PUBLIC",
    ):
        assert change in fixed.stdout, fixed.stdout
    assert _attributes(owner_url) == (True, False, False, False, False)
    assert "nothing changed" in run(["init-db", "--app-role", ROLE], tmp_path, owner_url).stdout

    # A grant of one audit column is taken back too, and the sealer's columns stay.
    engine = create_engine(owner_url)
    with engine.begin() as conn:
        conn.execute(text(f"GRANT UPDATE (reason) ON audit_events TO {ROLE}"))
    engine.dispose()
    fixed = run(["init-db", "--app-role", ROLE], tmp_path, owner_url)
    assert "updated: revoked UPDATE of audit_events.reason\n" in fixed.stdout, fixed.stdout
    engine = create_engine(_as_role(owner_url))
    with pytest.raises(ProgrammingError, match="permission denied"), engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET reason = 'rewritten'"))
    with engine.begin() as conn:  # the sealer's fill is still allowed
        conn.execute(text("UPDATE audit_events SET hash = hash WHERE false"))
    engine.dispose()


def test_init_db_takes_the_role_out_of_a_role_it_could_escape_row_level_security_as(
    tmp_path: Path, owner_url: str
) -> None:
    assert run(["init-db", "--app-role", ROLE], tmp_path, owner_url).returncode == 0
    engine = create_engine(owner_url)
    with engine.begin() as conn:
        conn.execute(text(f"GRANT postgres TO {ROLE}"))  # the owner here, and a superuser
    fixed = run(["init-db", "--app-role", ROLE], tmp_path, owner_url)
    assert fixed.returncode == 0, fixed.stderr
    assert "updated: took it out of role postgres\n" in fixed.stdout, fixed.stdout

    # Through a role in between, it is refused with what to do, and nothing is changed.
    between = "mash_app_setup_between"
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE ROLE {between} NOLOGIN"))
            conn.execute(text(f"GRANT postgres TO {between}"))
            conn.execute(text(f"GRANT {between} TO {ROLE}"))
            conn.execute(text(f"ALTER ROLE {ROLE} BYPASSRLS"))
        refused = run(["init-db", "--app-role", ROLE], tmp_path, owner_url)
        assert refused.returncode == 2
        assert f"{ROLE} is a member, through another role, of postgres" in refused.stderr
        assert "revoke that membership" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert _attributes(owner_url)[2] is True  # rolled back: still BYPASSRLS
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP ROLE {between}"))
        engine.dispose()


def test_init_db_run_by_a_role_that_may_not_create_roles_says_so(
    tmp_path: Path, owner_url: str
) -> None:
    assert run(["init-db", "--app-role", ROLE], tmp_path, owner_url).returncode == 0
    refused = run(["init-db", "--app-role", "mash_app_other"], tmp_path, _as_role(owner_url))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "PostgreSQL refused: permission denied to create role" in refused.stderr
    assert "Run this as the schema owner, with CREATEROLE" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_init_db_sets_the_password_from_standard_input_only(tmp_path: Path, owner_url: str) -> None:
    done = run(
        ["init-db", "--app-role", ROLE, "--app-password-stdin"],
        tmp_path,
        owner_url,
        stdin="correct horse battery staple\n",
    )
    assert done.returncode == 0, done.stderr
    assert "password set" in done.stdout or "created" in done.stdout
    assert "correct horse" not in done.stdout + done.stderr


@pytest.mark.parametrize("name", ["Robert'); DROP TABLE contacts;--", "1abc", "", "a" * 64])
def test_init_db_refuses_a_role_name_that_is_not_plain(
    tmp_path: Path, owner_url: str, name: str
) -> None:
    refused = run(["init-db", "--app-role", name], tmp_path, owner_url)
    assert refused.returncode == 2
    assert "the role name must be 1 to 63 lower-case letters" in refused.stderr


def test_init_db_app_role_is_refused_on_sqlite(tmp_path: Path) -> None:
    refused = run(["init-db", "--app-role", "mash_app"], tmp_path, f"sqlite:///{tmp_path}/x.db")
    assert refused.returncode == 2
    assert "--app-role is for PostgreSQL" in refused.stderr
