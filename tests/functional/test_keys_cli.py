"""`mash-hub keys rotate-master` and `rotate-agency`, run as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from mash_hub.crypto import keys
from mash_hub.crypto.models import AgencyKey
from tests.conftest import TEST_ENV
from tests.unit.crypto.support import (
    MASTER,
    OTHER_MASTER,
    b64,
    open_field,
    open_key_database,
    opens_any_agency_key,
    seal_field,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
# The command as installed, with the keys group added if mash_hub.cli does not have it yet.
ENTRY = (
    "from mash_hub.cli import cli, main\n"
    "from mash_hub.crypto.cli import keys\n"
    "cli.commands.setdefault('keys', keys)\n"
    "main()\n"
)
CONTACT = uuid.UUID("9a3e7c21-0b6d-4e58-8f14-7d2c5b9e0a01")


def run(args, tmp_path: Path, database_url: str, **env: str):
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MASH_")},
        **TEST_ENV,
        "MASH_APP__MODE": "development",
        "MASH_DATABASE__URL": database_url,
        "MASH_APP__INSTANCE_PATH": str(tmp_path / "instance"),
        "MASH_LOGGING__LEVEL": "WARNING",
        "MASH_KEYS__MASTER_KEY": b64(MASTER),
        "PYTHONPATH": str(REPO_ROOT),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=full_env,
        check=False,
        timeout=120,
    )


@pytest.fixture
def seeded(clean_database):
    """Content for two agencies under MASTER; yields (database, envelopes by agency)."""
    database = open_key_database(clean_database)
    with database.transaction() as db:
        envelopes = {
            agency: seal_field(db, f"for {agency}".encode(), contact_id=CONTACT, agency=agency)
            for agency in ("health", "education")
        }
    yield database, envelopes
    database.dispose()


def _decrypts_with(database, envelopes, master: bytes) -> bool:
    with database.transaction() as db:
        try:
            for agency, envelope in envelopes.items():
                opened = open_field(db, envelope, master=master, contact_id=CONTACT, agency=agency)
                assert opened == f"for {agency}".encode()
        except keys.DecryptionError:
            return False
    return True


@pytest.mark.parametrize("source", ["file", "environment"])
def test_rotate_master(tmp_path, clean_database, seeded, source):
    database, envelopes = seeded
    if source == "file":
        key_file = tmp_path / "new-master.key"
        key_file.write_text(b64(OTHER_MASTER) + "\n")
        args = ["keys", "rotate-master", "--new-key-file", str(key_file)]
        result = run(args, tmp_path, clean_database)
    else:
        env = {"MASH_NEW_MASTER_KEY": b64(OTHER_MASTER)}
        result = run(["keys", "rotate-master"], tmp_path, clean_database, **env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"{keys.master_key_id(MASTER)} -> {keys.master_key_id(OTHER_MASTER)}" in out
    assert "2 agency keys re-wrapped" in out
    assert "MASH_KEYS__MASTER_KEY" in out and "Restart" in out
    for secret in (b64(OTHER_MASTER), b64(MASTER), OTHER_MASTER.hex(), MASTER.hex()):
        assert secret not in out + result.stderr
    assert _decrypts_with(database, envelopes, OTHER_MASTER)
    assert not _decrypts_with(database, envelopes, MASTER)
    with database.transaction() as db:
        assert not opens_any_agency_key(db, MASTER)


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("nothing", "--new-key-file PATH or MASH_NEW_MASTER_KEY"),
        ("both", "--new-key-file or MASH_NEW_MASTER_KEY"),
        ("not-base64", "not base64"),
        ("short", "must be 32 bytes"),
        ("same", "the one configured now"),
        ("missing-file", "cannot read"),
        ("wrong-current", "is not the one the agency keys are wrapped under"),
    ],
)
def test_rotate_master_refusals_change_nothing(tmp_path, clean_database, seeded, how, message):
    database, envelopes = seeded
    key_file = tmp_path / "new.key"
    key_file.write_text(b64(OTHER_MASTER))
    args, env = ["keys", "rotate-master"], {}
    if how == "both":
        args += ["--new-key-file", str(key_file)]
        env["MASH_NEW_MASTER_KEY"] = b64(OTHER_MASTER)
    elif how == "not-base64":
        env["MASH_NEW_MASTER_KEY"] = "not base64 at all!"
    elif how == "short":
        env["MASH_NEW_MASTER_KEY"] = b64(OTHER_MASTER[:16])
    elif how == "same":
        env["MASH_NEW_MASTER_KEY"] = b64(MASTER)
    elif how == "missing-file":
        args += ["--new-key-file", str(tmp_path / "absent.key")]
    elif how == "wrong-current":
        env["MASH_NEW_MASTER_KEY"] = b64(OTHER_MASTER)
        env["MASH_KEYS__MASTER_KEY"] = b64(bytes(32))
    with database.transaction() as db:
        before = sorted((str(k.id), k.wrapped) for k in db.scalars(select(AgencyKey)))
    result = run(args, tmp_path, clean_database, **env)
    assert result.returncode != 0
    assert message in result.stderr
    with database.transaction() as db:
        assert sorted((str(k.id), k.wrapped) for k in db.scalars(select(AgencyKey))) == before
    assert _decrypts_with(database, envelopes, MASTER)


def test_rotate_agency(tmp_path, clean_database, seeded):
    database, envelopes = seeded
    result = run(["keys", "rotate-agency", "health"], tmp_path, clean_database)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "agency health: key version 2 active (version 1 retired and destroyed); "
        "1 data keys re-wrapped; content was not re-encrypted."
    )
    assert _decrypts_with(database, envelopes, MASTER)
    with database.transaction() as db:
        assert keys.active_agency_key(db, "health").version == 2
        assert keys.active_agency_key(db, "education").version == 1
    unknown = run(["keys", "rotate-agency", "nowhere"], tmp_path, clean_database)
    assert unknown.returncode != 0
    assert "unknown agency 'nowhere'" in unknown.stderr
