"""The backup and restore drill: `mash-hub backup`, then `mash-hub restore` into an empty
database, whose trail both verifiers pass; a restore older than the checkpoint file is
reported as truncated; damaged archives and non-empty targets are refused."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from mash_hub.config import DEVELOPMENT_AUDIT_SIGNING_KEY, DEVELOPMENT_MASTER_KEY
from mash_hub.operations import backup
from tests.audit_trail import verify_tool
from tests.conftest import APP_ROLE, make_settings
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
    members = backup.archive_members(archive)
    manifest = json.loads(members["manifest.json"])
    stamp = archive.name.removeprefix("mash-hub-backup-").removesuffix(".tar")
    assert manifest["created_at"].replace("-", "").replace(":", "") == stamp
    assert manifest["hub_version"] == metadata.version("mash_hub")
    assert manifest["dialect"] == make_url(clean_database).get_backend_name()
    owner_engine = create_engine(_owner(clean_database, admin_database_url))
    with owner_engine.connect() as conn:
        migration = conn.scalar(text("SELECT version_num FROM alembic_version"))
        events = conn.scalar(text("SELECT count(*) FROM audit_events"))
    owner_engine.dispose()
    assert (manifest["migration"], manifest["audit_events"]) == (migration, events)
    assert manifest["members"] == {
        name: hashlib.sha256(data).hexdigest()
        for name, data in members.items()
        if name != "manifest.json"
    }
    if clean_database.startswith("postgresql"):
        assert set(manifest["postgresql"]) == {"server", "pg_dump"}
    # No key that opens or signs anything is in it.
    for secret in (DEVELOPMENT_MASTER_KEY, DEVELOPMENT_AUDIT_SIGNING_KEY):
        assert secret.encode() not in contents
        assert base64.b64decode(secret) not in contents
    assert b"PRIVATE KEY" not in contents

    elsewhere = tmp_path / "elsewhere"  # a new machine: no checkpoint file of its own yet
    elsewhere.mkdir()
    other_key = base64.b64encode(bytes(range(32))).decode()  # not the key that signed
    done = run(
        _restore_args(archive, empty_database),
        elsewhere,
        clean_database,
        MASH_AUDIT__SIGNING_KEY=other_key,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning: the archive's audit public key is not the one of this hub's" in done.stderr
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
    assert "warning" not in done.stderr  # the hub's own key: the archive's is the same
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
    members = backup.archive_members(archive) | {"extra.sql": b"DROP TABLE contacts;"}
    with tarfile.open(changed, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    done = run(
        ["restore", str(changed), "--database-url", empty_database], tmp_path, clean_database
    )
    assert done.returncode == 2
    assert "its manifest does not list extra.sql, which it holds" in done.stderr
    not_a_backup = tmp_path / "not-a-backup.tar"
    not_a_backup.write_bytes(b"hello")
    done = run(
        ["restore", str(not_a_backup), "--database-url", empty_database], tmp_path, clean_database
    )
    assert done.returncode == 2
    assert "cannot be read" in done.stderr


def test_an_older_backup_verifies_against_its_own_checkpoint_file(
    tmp_path: Path, clean_database: str, admin_database_url: str, empty_database: str
) -> None:
    """The same older archive, restored with its own checkpoint file (--checkpoints), is
    whole: the truncation above is only against the newer file."""
    _hub_with_a_sealed_trail(tmp_path, clean_database)
    archive = _backup(tmp_path, _owner(clean_database, admin_database_url))
    assert run(["audit", "seal"], tmp_path, clean_database).returncode == 0
    own = tmp_path / "from-the-archive.jsonl"
    args = [*_restore_args(archive, empty_database), "--checkpoints", str(own)]
    done = run(args, tmp_path, clean_database)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"checkpoint file {own}: restored from the archive" in done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("OK: ")
    assert own.read_bytes() == backup.archive_members(archive)["audit-checkpoints.jsonl"]
    again = run(args, tmp_path, clean_database)  # never over a file already there
    assert again.returncode == 2
    assert f"{own} exists: give a new path" in again.stderr


def test_without_the_postgresql_client_the_commands_say_what_to_install(
    tmp_path: Path, clean_database: str, admin_database_url: str, empty_database: str
) -> None:
    _hub_with_a_sealed_trail(tmp_path, clean_database)
    owner = _owner(clean_database, admin_database_url)
    archive = _backup(tmp_path, owner)
    no_tools = tmp_path / "no-tools"
    no_tools.mkdir()
    args = ["backup", "--to", str(tmp_path / "elsewhere"), "--database-url", owner]
    done = run(args, tmp_path, clean_database, PATH=str(no_tools))
    restored = run(
        ["restore", str(archive), "--database-url", empty_database],
        tmp_path,
        clean_database,
        PATH=str(no_tools),
    )
    if not owner.startswith("postgresql"):  # SQLite needs no tool at all
        assert done.returncode == 0, done.stderr
        assert restored.returncode == 0, restored.stdout + restored.stderr
        return
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "Error: pg_dump is not installed: install the PostgreSQL client (Debian: postgresql-client)"
    )
    assert not (tmp_path / "elsewhere").exists() or not any((tmp_path / "elsewhere").iterdir())
    assert restored.returncode == 2
    assert "pg_restore is not installed" in restored.stderr
    assert "Traceback" not in done.stderr + restored.stderr


def test_bad_targets_are_refused_before_anything_is_restored(
    tmp_path: Path, clean_database: str, admin_database_url: str, empty_database: str
) -> None:
    _hub_with_a_sealed_trail(tmp_path, clean_database)
    archive = _backup(tmp_path, _owner(clean_database, admin_database_url))
    done = run(["restore", str(archive), "--database-url", "no such url"], tmp_path, clean_database)
    assert done.returncode == 2
    assert "the database URL cannot be read" in done.stderr and "Traceback" not in done.stderr
    other = (
        "postgresql+psycopg://nobody@127.0.0.1/none"
        if "sqlite" in empty_database
        else (f"sqlite:///{tmp_path / 'other.db'}")
    )
    done = run(["restore", str(archive), "--database-url", other], tmp_path, clean_database)
    assert done.returncode == 2
    assert "the archive holds a" in done.stderr
    if empty_database.startswith("sqlite"):
        args = ["restore", str(archive), "--database-url", empty_database, "--app-role", "x"]
        done = run(args, tmp_path, clean_database)
        assert done.returncode == 2
        assert "--app-role is for PostgreSQL" in done.stderr
        assert not Path(make_url(empty_database).database or "").exists()


def test_the_archive_holds_the_checkpoint_file_only_as_far_as_its_database(
    tmp_path: Path,
    clean_database: str,
    admin_database_url: str,
    empty_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hub seals on while a backup runs, so the live file may hold checkpoints newer
    than the database snapshot: the archive keeps the file's lines up to the snapshot's
    newest checkpoint, or a restore would always be reported truncated against its own
    file. Backing up an older copy beside a newer file shows it."""
    _hub_with_a_sealed_trail(tmp_path, clean_database)
    first = _backup(tmp_path, _owner(clean_database, admin_database_url))
    credentials = json.loads((tmp_path / "instance" / "demo-credentials.json").read_text())
    later = run(
        ["clients", "revoke", credentials["clients"][-1]["client_id"]], tmp_path, clean_database
    )
    assert later.returncode == 0, later.stderr
    assert run(["audit", "seal"], tmp_path, clean_database).returncode == 0
    assert run(_restore_args(first, empty_database), tmp_path, clean_database).returncode == 3

    done = run(
        ["backup", "--to", str(tmp_path / "again"), "--database-url", empty_database],
        tmp_path,
        clean_database,
    )
    assert done.returncode == 0, done.stderr
    (second,) = (tmp_path / "again").glob("mash-hub-backup-*.tar")
    live = (tmp_path / "instance" / "audit-checkpoints.jsonl").read_bytes()
    kept = backup.archive_members(second)["audit-checkpoints.jsonl"]
    assert kept == backup.archive_members(first)["audit-checkpoints.jsonl"]
    assert live.startswith(kept) and len(live.splitlines()) > len(kept.splitlines())
    newest = json.loads(kept.splitlines()[-1])
    manifest = json.loads(backup.archive_members(second)["manifest.json"])
    assert manifest["newest_checkpoint"] == {"seq": newest["seq"], "at": newest["at"]}

    # A file that never caught up with the database is named, not archived as it is.
    short = tmp_path / "short.jsonl"
    short.write_bytes(b"".join(kept.splitlines(keepends=True)[:-1]))
    monkeypatch.setattr(backup, "FILE_CATCH_UP_SECONDS", 0.3)
    settings = make_settings(
        empty_database,
        MASH_APP__INSTANCE_PATH=str(tmp_path / "instance"),
        MASH_AUDIT__CHECKPOINT_FILE=str(short),
    )
    with pytest.raises(backup.BackupError) as refused:
        backup.backup(settings, tmp_path / "third", datetime.now(UTC))
    assert str(refused.value) == (
        f"the checkpoint file {short} lacks the database's newest checkpoint (seq "
        f"{newest['seq']}): run `mash-hub audit seal`, which appends what the file lacks, "
        "then back up again"
    )
    assert not list((tmp_path / "third").iterdir())
