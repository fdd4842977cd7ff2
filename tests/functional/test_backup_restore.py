"""The backup and restore drill: `mash-hub backup`, then `mash-hub restore` into an empty
database, whose trail both verifiers pass; a restore older than the checkpoint file is
reported as truncated; damaged archives and non-empty targets are refused."""

from __future__ import annotations

import base64
import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from mash_hub.config import DEVELOPMENT_AUDIT_SIGNING_KEY, DEVELOPMENT_MASTER_KEY
from tests.audit_trail import verify_tool
from tests.conftest import APP_ROLE
from tests.functional.test_cli import run


@pytest.fixture
def empty_database(admin_database_url: str, tmp_path: Path) -> Iterator[str]:
    """A new, empty database for the restore, as its owner."""
    if not admin_database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'restored' / 'mash.db'}"
        return
    name = f"test_restore_{uuid.uuid4().hex[:8]}"
    server = create_engine(
        make_url(admin_database_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with server.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(admin_database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        server.dispose()


def _owner(clean_database: str, admin_database_url: str) -> str:
    """Backups run as the schema owner (the app role cannot read past row-level security)."""
    return admin_database_url if clean_database.startswith("postgresql") else clean_database


def _hub_with_a_sealed_trail(tmp_path: Path, clean_database: str) -> None:
    for args in (["demo"], ["audit", "seal"]):
        done = run(args, tmp_path, clean_database)
        assert done.returncode == 0, done.stderr


def _backup(tmp_path: Path, owner_url: str) -> Path:
    done = run(["backup", "--to", str(tmp_path / "backups")], tmp_path, owner_url)
    assert done.returncode == 0, done.stderr
    (archive,) = (tmp_path / "backups").glob("mash-hub-backup-*.tar")
    assert done.stdout.strip() == f"backup written to {archive}"
    return archive


def _restore_args(archive: Path, target: str) -> list[str]:
    args = ["restore", str(archive), "--database-url", target]
    return [*args, "--app-role", APP_ROLE] if target.startswith("postgresql") else args


def test_a_backup_restores_into_an_empty_database_whose_trail_verifies(
    tmp_path: Path, clean_database: str, admin_database_url: str, empty_database: str
) -> None:
    _hub_with_a_sealed_trail(tmp_path, clean_database)
    archive = _backup(tmp_path, _owner(clean_database, admin_database_url))
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        contents = b"".join(tar.extractfile(m).read() for m in tar.getmembers())  # type: ignore[union-attr]
    database = "database.dump" if clean_database.startswith("postgresql") else "database.sqlite"
    assert names == {"manifest.json", database, "audit-checkpoints.jsonl", "audit-public-key.pem"}
    # No key that opens or signs anything is in it.
    for secret in (DEVELOPMENT_MASTER_KEY, DEVELOPMENT_AUDIT_SIGNING_KEY):
        assert secret.encode() not in contents
        assert base64.b64decode(secret) not in contents
    assert b"PRIVATE KEY" not in contents

    elsewhere = tmp_path / "elsewhere"  # a new machine: no checkpoint file of its own yet
    elsewhere.mkdir()
    done = run(_restore_args(archive, empty_database), elsewhere, clean_database)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "checkpoint file" in done.stdout and "restored from the archive" in done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("OK: "), done.stdout
    public_key = next((elsewhere / "instance").glob("audit-public-key-*.pem"))
    status = verify_tool.main(
        [
            "--database", empty_database,
            "--checkpoints", str(elsewhere / "instance" / "audit-checkpoints.jsonl"),
            "--public-key", str(public_key),
            "--quiet",
        ]
    )  # fmt: skip
    assert status == 0
    if empty_database.startswith("postgresql"):  # the hub can run on it as its app role
        engine = create_engine(make_url(empty_database).set(username=APP_ROLE))
        with engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM contacts"))
        engine.dispose()


def test_a_restore_older_than_the_checkpoint_file_is_reported_truncated(
    tmp_path: Path, clean_database: str, admin_database_url: str, empty_database: str, capsys
) -> None:
    """The backup is taken, the hub goes on (new events, a new checkpoint in its file);
    the restored copy lacks that last part, and the verification says so plainly."""
    _hub_with_a_sealed_trail(tmp_path, clean_database)
    archive = _backup(tmp_path, _owner(clean_database, admin_database_url))
    credentials = json.loads((tmp_path / "instance" / "demo-credentials.json").read_text())
    revoked = credentials["clients"][-1]["client_id"]
    later = run(["clients", "revoke", revoked], tmp_path, clean_database)  # audited work
    assert later.returncode == 0, later.stderr
    assert run(["audit", "seal"], tmp_path, clean_database).returncode == 0

    done = run(_restore_args(archive, empty_database), tmp_path, clean_database)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "kept as it was here" in done.stdout
    assert "FAILED: truncated: the database ends at seq" in done.stderr
    assert "restored from an earlier backup" in done.stderr
    capsys.readouterr()
    status = verify_tool.main(
        [
            "--database", empty_database,
            "--checkpoints", str(tmp_path / "instance" / "audit-checkpoints.jsonl"),
            "--public-key", str(next((tmp_path / "instance").glob("audit-public-key-*.pem"))),
        ]
    )  # fmt: skip
    assert status == 3
    assert "FAILED: truncated: the database ends at seq" in capsys.readouterr().err


def test_a_restore_into_a_database_that_is_not_empty_is_refused(
    tmp_path: Path, clean_database: str, admin_database_url: str
) -> None:
    _hub_with_a_sealed_trail(tmp_path, clean_database)
    owner = _owner(clean_database, admin_database_url)
    archive = _backup(tmp_path, owner)
    done = run(["restore", str(archive), "--database-url", owner], tmp_path, clean_database)
    assert done.returncode == 2
    assert "the target database is not empty" in done.stderr


def test_a_changed_archive_is_refused(
    tmp_path: Path, clean_database: str, admin_database_url: str, empty_database: str
) -> None:
    _hub_with_a_sealed_trail(tmp_path, clean_database)
    archive = _backup(tmp_path, _owner(clean_database, admin_database_url))
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    lines = members["audit-checkpoints.jsonl"].decode().splitlines()
    forged = json.loads(lines[-1]) | {"head": "0" * 64}
    members["audit-checkpoints.jsonl"] = "\n".join([*lines[:-1], json.dumps(forged)]).encode()
    changed = tmp_path / "changed.tar"
    with tarfile.open(changed, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    done = run(
        ["restore", str(changed), "--database-url", empty_database], tmp_path, clean_database
    )
    assert done.returncode == 2
    assert "audit-checkpoints.jsonl does not match its manifest" in done.stderr
    not_a_backup = tmp_path / "not-a-backup.tar"
    not_a_backup.write_bytes(b"hello")
    done = run(
        ["restore", str(not_a_backup), "--database-url", empty_database], tmp_path, clean_database
    )
    assert done.returncode == 2
    assert "cannot be read" in done.stderr
