"""The mash-hub command, run as an operator would run it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mash_hub import create_app
from mash_hub.authz.permissions import Role
from mash_hub.db import head_revision
from tests.accounts import Account
from tests.conftest import TEST_ENV, make_settings
from tests.helpers import sign_in, submit_password


def run(args, tmp_path: Path, database_url: str, stdin: str | None = None, **env: str):
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MASH_")},
        **TEST_ENV,
        "MASH_APP__MODE": "development",
        "MASH_DATABASE__URL": database_url,
        "MASH_APP__INSTANCE_PATH": str(tmp_path / "instance"),
        "MASH_LOGGING__LEVEL": "WARNING",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "mash_hub", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=full_env,
        input=stdin,
        check=False,
        timeout=120,
    )


def test_init_db_runs_the_migrations(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = run(["init-db"], tmp_path, url)
    assert result.returncode == 0, result.stderr
    assert f"database at migration {head_revision()}" in result.stdout
    again = run(["init-db"], tmp_path, url)
    assert again.returncode == 0, again.stderr


def test_demo_seeds_users_and_clients_and_writes_credentials(tmp_path, clean_database):
    result = run(["demo"], tmp_path, clean_database)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "instance" / "demo-credentials.json"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    creds = json.loads(path.read_text())
    roles = {(u["agency"], u["role"]) for u in creds["users"]}
    assert ("police", "screener") in roles
    assert ("csc", "mash_manager") in roles
    assert ("health", "agency_researcher") in roles
    assert ("csc", "admin") in roles
    assert {r for _, r in roles} == {
        "screener",
        "mash_manager",
        "agency_researcher",
        "governance_lead",
        "admin",
    }
    for user in creds["users"]:
        assert set(user) == {"email", "password", "totp_secret", "agency", "role"}
        assert len(base64.b32decode(user["totp_secret"])) == 20
    clients = {(c["agency"], " ".join(c["scopes"])) for c in creds["clients"]}
    screening = "contacts:write screening:read screening:write"
    partner = "contributions:write requests:read"
    assert clients == {
        ("police", screening),
        ("csc", screening),
        ("health", partner),
        ("education", partner),
        ("probation", partner),
        ("housing", partner),
        ("yos", partner),
        ("earlyhelp", "referrals:read referrals:write"),
        ("csc", "audit:read"),
    }
    assert ("earlyhelp", "agency_researcher") in roles  # early help's team member
    listing = run(["users", "list"], tmp_path, clean_database)
    assert "screener.police@demo.mash.test\tpolice\tscreener\tactive\tmfa" in listing.stdout
    # Running it again keeps them: same sign-ins, no duplicates.
    again = run(["demo"], tmp_path, clean_database)
    assert again.returncode == 0, again.stderr
    assert json.loads(path.read_text()) == creds


def _demo_account(creds: dict, agency: str, role: str) -> Account:
    user = next(u for u in creds["users"] if u["agency"] == agency and u["role"] == role)
    return Account(
        email=user["email"],
        password=user["password"],
        seed=base64.b32decode(user["totp_secret"]),
        user_id=uuid.uuid4(),  # not used to sign in
        agency=agency,
        roles=frozenset({Role(role)}),
    )


def _demo_app(tmp_path: Path, database_url: str, clock):
    settings = make_settings(
        database_url,
        MASH_APP__MODE="development",
        MASH_APP__INSTANCE_PATH=str(tmp_path / "instance"),
    )
    return create_app(settings, clock=clock)


def test_demo_run_again_after_use_keeps_the_data_and_every_sign_in(
    tmp_path, clean_database, admin_database_url, clock
):
    """Usability review D1: on dc1dfa7 a second `make demo` after anyone had signed in
    failed on the users it tried to delete, and nothing served; when it did run it
    silently replaced every demo password and authenticator secret."""
    assert run(["demo"], tmp_path, clean_database).returncode == 0
    path = tmp_path / "instance" / "demo-credentials.json"
    creds = json.loads(path.read_text())
    screener = _demo_account(creds, "police", "screener")
    app = _demo_app(tmp_path, clean_database, clock)
    sign_in(app.test_client(), screener, clock)  # the hub now records this person's use
    app.extensions["mash.db"].dispose()

    again = run(["demo"], tmp_path, clean_database)
    assert again.returncode == 0, again.stderr
    assert "18 users, 9 API clients (27 kept as they were, 0 new, 0 given new secrets)" in (
        again.stdout
    )
    assert "demo cases skipped: the hub already holds 3 contacts" in again.stdout
    assert json.loads(path.read_text()) == creds
    app = _demo_app(tmp_path, clean_database, clock)
    sign_in(app.test_client(), screener, clock)  # the same password and authenticator
    app.extensions["mash.db"].dispose()

    # The file lost: nothing can sign in with the old secrets, so each gets new ones in
    # place, and the old ones stop working.
    path.unlink()
    lost = run(["demo", "--no-cases"], tmp_path, clean_database)
    assert lost.returncode == 0, lost.stderr
    assert "(0 kept as they were, 0 new, 27 given new secrets)" in lost.stdout
    renewed = json.loads(path.read_text())
    assert _demo_account(renewed, "police", "screener").password != screener.password
    app = _demo_app(tmp_path, clean_database, clock)
    refused = submit_password(app.test_client(), screener.email, screener.password)
    assert refused.status_code == 200 and "security-code" not in refused.headers.get("Location", "")
    sign_in(app.test_client(), _demo_account(renewed, "police", "screener"), clock)
    app.extensions["mash.db"].dispose()


def test_demo_reset_starts_over_with_an_empty_hub(tmp_path, clean_database, admin_database_url):
    if clean_database.startswith("postgresql"):
        pytest.skip("the PostgreSQL test schema is shared by the whole run: SQLite only")
    assert run(["demo"], tmp_path, clean_database).returncode == 0
    (tmp_path / "instance" / "audit-checkpoints.jsonl").write_text("{}\n")
    reset = run(["demo", "--reset", "--no-cases"], tmp_path, clean_database)
    assert reset.returncode == 0, reset.stderr
    assert "(0 kept as they were, 27 new, 0 given new secrets)" in reset.stdout
    postgres = clean_database.startswith("postgresql")
    engine = create_engine(admin_database_url if postgres else clean_database)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM contacts")) == 0
        assert conn.scalar(text("SELECT count(*) FROM users")) == 18
    engine.dispose()
    kept = list((tmp_path / "instance").glob("audit-checkpoints.jsonl.before-reset-*"))
    assert len(kept) == 1 and not (tmp_path / "instance" / "audit-checkpoints.jsonl").exists()


def test_demo_is_refused_in_production(tmp_path, clean_database):
    result = run(
        ["demo"],
        tmp_path,
        clean_database,
        MASH_APP__MODE="production",
        MASH_APP__PUBLIC_URL="https://mash.example",
        MASH_APP__SECRET_KEY="p" * 40,
        MASH_KEYS__MASTER_KEY=base64.b64encode(os.urandom(32)).decode(),
    )
    assert result.returncode != 0
    assert "refusing to load demo data in production mode" in result.stderr
    assert not (tmp_path / "instance" / "demo-credentials.json").exists()


def test_production_with_the_default_secret_refuses_to_start(tmp_path, clean_database):
    result = run(
        ["serve", "--port", "0"],
        tmp_path,
        clean_database,
        MASH_APP__MODE="production",
        MASH_KEYS__MASTER_KEY=base64.b64encode(os.urandom(32)).decode(),
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "secret key" in lines[0]


def test_users_create_disable_and_list(tmp_path, clean_database):
    run(["demo"], tmp_path, clean_database)
    created = run(
        [
            "users", "create", "--email", "New.Person@Example.test", "--name", "New Person",
            "--agency", "health", "--role", "agency_researcher",
        ],
        tmp_path,
        clean_database,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "initial password (shown once):" in created.stdout
    listing = run(["users", "list"], tmp_path, clean_database).stdout
    assert "new.person@example.test\thealth\tagency_researcher\tactive\tmfa-pending" in listing
    duplicate = run(
        ["users", "create", "--email", "new.person@example.test", "--name", "Again",
         "--agency", "health", "--role", "screener"],
        tmp_path,
        clean_database,
    )  # fmt: skip
    assert duplicate.returncode != 0
    assert "already exists" in duplicate.stderr
    disabled = run(["users", "disable", "new.person@example.test"], tmp_path, clean_database)
    assert disabled.returncode == 0, disabled.stderr
    listing = run(["users", "list"], tmp_path, clean_database).stdout
    assert "new.person@example.test\thealth\tagency_researcher\tdisabled" in listing


def test_users_create_with_a_password_from_stdin(tmp_path, clean_database):
    run(["demo"], tmp_path, clean_database)
    result = run(
        ["users", "create", "--email", "a@example.test", "--name", "A", "--agency", "csc",
         "--role", "screener", "--password-stdin"],
        tmp_path,
        clean_database,
        stdin="short\n",
    )  # fmt: skip
    assert result.returncode != 0
    assert "8 characters or more" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agency", "nowhere", "--scopes", "audit:read"], "unknown agency"),
        (["--agency", "csc", "--scopes", "audit:write"], "unknown scopes: audit:write"),
    ],
)
def test_clients_create_refuses_bad_input(tmp_path, clean_database, args, message):
    run(["demo"], tmp_path, clean_database)
    result = run(["clients", "create", *args], tmp_path, clean_database)
    assert result.returncode != 0
    assert message in result.stderr


def test_clients_create_shows_the_secret_once_and_it_works(tmp_path, clean_database, app):
    run(["demo"], tmp_path, clean_database)
    result = run(
        [
            "clients",
            "create",
            "--agency",
            "health",
            "--scopes",
            "requests:read contributions:write",
        ],
        tmp_path,
        clean_database,
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.strip().splitlines())
    client_id = lines["client_id"]
    secret = lines["client_secret (shown once)"]
    token = app.test_client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
    assert token.status_code == 200
    assert token.json["scope"] == "contributions:write requests:read"


def test_demo_enters_its_cases_through_the_api_once(tmp_path, clean_database, admin_database_url):
    first = run(["demo"], tmp_path, clean_database)
    assert first.returncode == 0, first.stderr
    assert "demo cases entered through the API: MASH-" in first.stdout
    # Read as the owner on PostgreSQL: row-level security hides rows from a bare app role.
    postgres = clean_database.startswith("postgresql")
    engine = create_engine(admin_database_url if postgres else clean_database)
    with engine.connect() as conn:
        ratings = conn.execute(text("SELECT rag FROM contacts ORDER BY reference")).scalars().all()
        requests = conn.execute(text("SELECT agency, status FROM info_requests")).all()
        actors = (
            conn.execute(
                text("SELECT DISTINCT actor_type FROM audit_events WHERE contact_id IS NOT NULL")
            )
            .scalars()
            .all()
        )
    assert ratings == [None, "amber", "red"]
    assert sorted(tuple(r) for r in requests) == [
        ("education", "open"), ("health", "answered"), ("probation", "open")
    ]  # fmt: skip
    assert set(actors) == {"client"}  # every case went through the API, audited
    again = run(["demo"], tmp_path, clean_database)
    assert again.returncode == 0, again.stderr
    assert "demo cases skipped: the hub already holds 3 contacts" in again.stdout
    engine.dispose()
