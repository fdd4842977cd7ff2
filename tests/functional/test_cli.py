"""The mash-hub command, run as an operator would run it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mash_hub.db import head_revision
from tests.conftest import TEST_ENV


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
        ("csc", "audit:read"),
    }
    listing = run(["users", "list"], tmp_path, clean_database)
    assert "screener.police@demo.mash.test\tpolice\tscreener\tactive\tmfa" in listing.stdout
    # Running it again replaces the demo accounts rather than failing or duplicating.
    again = run(["demo"], tmp_path, clean_database)
    assert again.returncode == 0, again.stderr
    assert json.loads(path.read_text())["users"][0]["password"] != creds["users"][0]["password"]


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
