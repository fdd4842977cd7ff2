"""`mash-hub doctor` on a configuration that is sound, and on one broken in every way it
checks: it names each fault with its fix, in one run."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mash_hub.config import REPO_POLICIES
from mash_hub.operations.roles import app_role_url, set_up_app_role
from tests.functional.test_cli import run
from tests.served import hub_env


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    return hub_env(tmp_path, url, MASH_SCHEDULER__INTERVAL="1 seconds")


def _lines(output: str) -> dict[str, str]:
    """Each check's line by its name."""
    found = {}
    for line in output.splitlines():
        status, _, rest = line.partition(" ")
        name, _, _detail = rest.strip().partition(":")
        if status in ("ok", "FAULT", "n/a"):
            found[name] = line
    return found


def _with_a_sealed_trail(tmp_path: Path, url: str) -> None:
    for args in (["demo"], ["audit", "seal"]):  # the cases make agency keys
        done = run(args, tmp_path, url)
        assert done.returncode == 0, done.stderr


def test_doctor_passes_a_sound_configuration_with_its_scheduler_running(
    tmp_path: Path, clean_database: str
) -> None:
    _with_a_sealed_trail(tmp_path, clean_database)
    scheduler = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "mash_hub", "scheduler"],
        env=_env(tmp_path, clean_database),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            done = run(["doctor"], tmp_path, clean_database)
            if done.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)  # the scheduler is still starting
    finally:
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait(timeout=30)
    assert done.returncode == 0, done.stdout
    checks = _lines(done.stdout)
    for name in ("database", "master key", "audit signing key", "policies", "scheduler"):
        assert checks[name].startswith("ok "), done.stdout
    assert done.stdout.strip().endswith("no faults")
    if clean_database.startswith("postgresql"):  # the fixtures' app role
        for name in ("role", "row-level security", "audit grants"):
            assert checks[name].startswith("ok "), done.stdout


def test_doctor_names_every_fault_of_a_broken_configuration(
    tmp_path: Path, clean_database: str
) -> None:
    _with_a_sealed_trail(tmp_path, clean_database)
    policies = tmp_path / "policies"
    shutil.copytree(REPO_POLICIES, policies)
    next(policies.glob("*.cedar")).write_text("permit (principal, action, resource) when {")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = run(
        ["doctor"],
        tmp_path,
        clean_database,
        MASH_KEYS__MASTER_KEY=base64.b64encode(os.urandom(32)).decode(),
        MASH_AUDIT__SIGNING_KEY=base64.b64encode(os.urandom(32)).decode(),
        MASH_FIREWALL__POLICIES_DIR=str(policies),
        MASH_AUDIT__CHECKPOINT_FILE=str(blocker / "checkpoints.jsonl"),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    checks = _lines(done.stdout)
    expected = {
        "master key": "is not the one the agency keys are wrapped under",
        "audit signing key": "but the newest checkpoint was signed with key",
        "policies": "run `mash-hub policies check`",
        "scheduler": "no scheduler leads",
        "checkpoint file": "cannot be written",
    }
    for name, words in expected.items():
        assert checks[name].startswith("FAULT "), done.stdout
        assert words in checks[name] and "Fix: " in checks[name], checks[name]
    assert checks["database"].startswith("ok ")
    assert done.stdout.strip().endswith(f"{len(expected)} fault(s)")


def test_doctor_names_keys_that_are_missing_and_a_checkpoint_path_that_is_a_folder(
    tmp_path: Path, clean_database: str
) -> None:
    _with_a_sealed_trail(tmp_path, clean_database)
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    done = run(
        ["doctor"],
        tmp_path,
        clean_database,
        MASH_KEYS__MASTER_KEY_FILE=str(tmp_path / "gone" / "master.key"),
        MASH_AUDIT__SIGNING_KEY_FILE=str(tmp_path / "gone" / "signing.key"),
        MASH_AUDIT__CHECKPOINT_FILE=str(folder),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    checks = _lines(done.stdout)
    expected = {
        "master key": "master.key",
        "audit signing key": "signing.key",
        "checkpoint file": "is a folder, not a file",
    }
    for name, words in expected.items():
        assert checks[name].startswith("FAULT "), done.stdout
        assert words in checks[name] and "Fix: " in checks[name], checks[name]
    assert "MASH_KEYS__MASTER_KEY" in checks["master key"]
    assert "MASH_AUDIT__SIGNING_KEY" in checks["audit signing key"]
    assert checks["policies"].startswith("ok ")


def test_doctor_names_a_database_it_cannot_reach(tmp_path: Path) -> None:
    done = run(
        ["doctor"],
        tmp_path,
        f"sqlite:///{tmp_path}/missing/none.db",
        MASH_AUDIT__SIGNING_KEY_FILE=str(tmp_path / "gone.key"),
    )
    assert done.returncode == 1
    checks = _lines(done.stdout)
    assert checks["database"].startswith("FAULT ")
    assert "mash-hub init-db" in checks["database"]
    # What can be checked without it still is.
    assert checks["policies"].startswith("ok ")
    assert checks["master key"].startswith("n/a ") and "once the database" in checks["master key"]
    assert checks["audit signing key"].startswith("FAULT ") and "gone.key" in done.stdout
    assert done.stdout.strip().endswith("2 fault(s)"), done.stdout


def test_doctor_names_an_unreadable_configuration(tmp_path: Path, clean_database: str) -> None:
    done = run(["doctor"], tmp_path, clean_database, MASH_SESSION__IDLE_TIMEOUT="soon")
    assert done.returncode == 1
    assert done.stdout.startswith("FAULT  configuration: ")


def test_doctor_names_a_role_that_row_level_security_does_not_bind(
    tmp_path: Path, admin_database_url: str, clean_database: str
) -> None:
    """PostgreSQL: connected as the owner (a superuser here), and as an app role whose
    grants on the trail are too wide."""
    if not admin_database_url.startswith("postgresql"):
        pytest.skip("roles are PostgreSQL's")
    as_owner = _lines(run(["doctor"], tmp_path, admin_database_url).stdout)
    assert as_owner["role"].startswith("FAULT ")
    assert "is a superuser" in as_owner["role"] and "init-db --app-role" in as_owner["role"]

    role = "mash_app_doctor_test"
    engine = create_engine(admin_database_url)
    try:
        set_up_app_role(engine, role)
        with engine.begin() as conn:
            conn.execute(text(f"GRANT DELETE ON audit_events TO {role}"))
        as_app = app_role_url(admin_database_url, role)
        wide = _lines(run(["doctor"], tmp_path, as_app).stdout)
        assert wide["role"].startswith("ok ")
        assert wide["audit grants"].startswith("FAULT ")
        assert "DELETE on audit_events" in wide["audit grants"]

        # A grant of one column is as much a hole as the whole table.
        set_up_app_role(engine, role)
        with engine.begin() as conn:
            conn.execute(text(f"GRANT UPDATE (reason) ON audit_events TO {role}"))
        column = _lines(run(["doctor"], tmp_path, as_app).stdout)["audit grants"]
        assert column.startswith("FAULT ") and "UPDATE of audit_events.reason" in column, column

        # Too narrow: the sealer could not fill the hash columns.
        set_up_app_role(engine, role)
        with engine.begin() as conn:
            conn.execute(text(f"REVOKE UPDATE (hash) ON audit_events FROM {role}"))
        narrow = _lines(run(["doctor"], tmp_path, as_app).stdout)["audit grants"]
        assert narrow.startswith("FAULT ") and "may not seal the trail" in narrow, narrow

        # A member of the owner's role could SET ROLE to it.
        set_up_app_role(engine, role)
        with engine.begin() as conn:
            conn.execute(text(f"GRANT postgres TO {role}"))
        member = _lines(run(["doctor"], tmp_path, as_app).stdout)["role"]
        assert member.startswith("FAULT ") and "may act as postgres" in member, member

        # BYPASSRLS alone, without superuser, is enough to escape the firewall's policies.
        set_up_app_role(engine, role)
        with engine.begin() as conn:
            conn.execute(text(f"ALTER ROLE {role} BYPASSRLS"))
        bypass = run(["doctor"], tmp_path, as_app)
        assert bypass.returncode == 1
        checks = _lines(bypass.stdout)
        assert checks["role"].startswith("FAULT ") and "has BYPASSRLS" in checks["role"]
        assert "is a superuser" not in checks["role"]
        assert checks["audit grants"].startswith("ok "), bypass.stdout
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
        engine.dispose()
