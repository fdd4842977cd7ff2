"""`mash-hub backup` and `mash-hub restore`: the database, the checkpoint file and the
audit public key in one dated archive, and back into an empty database.

The archive (`mash-hub-backup-<UTC time>.tar`, mode 0600) holds:
- `database.dump` (PostgreSQL: `pg_dump` custom format) or `database.sqlite` (SQLite: a
  copy by the online backup API, consistent while the hub runs);
- `audit-checkpoints.jsonl`, the checkpoint file as it was (if there was one);
- `audit-public-key.pem`, the key that verifies the checkpoints;
- `manifest.json`: when, which database kind and migration, how many audit events, and
  the SHA-256 of every other member (a restore refuses an archive that does not match).

No private key is in it: not the master key, not the audit signing key. Case content in
the database stays sealed under the agency keys, which stay wrapped under the master key,
so the archive alone opens nothing; it still names people, so keep it as the database.

On PostgreSQL both commands run as the schema owner (as `init-db` does): the application
role cannot read past row-level security, so it cannot dump every row.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from mash_hub.audit.signing import public_key_pem
from mash_hub.config import Settings
from mash_hub.db import make_engine

FORMAT = "mash-hub-backup/1"
MANIFEST = "manifest.json"
PG_DUMP = "database.dump"
SQLITE_COPY = "database.sqlite"
CHECKPOINTS = "audit-checkpoints.jsonl"
PUBLIC_KEY = "audit-public-key.pem"
TOOL_TIMEOUT = 3600


class BackupError(RuntimeError):
    """What went wrong, in words an operator can act on."""


@dataclass(frozen=True)
class Restored:
    dialect: str
    migration: str
    events: int
    checkpoints_path: Path
    checkpoints_note: str
    public_key_path: Path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment that gives it
    (never on a command line, where other users could read it)."""
    plain = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return plain, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed: install the PostgreSQL client (Debian: postgresql-client)"
        )
    return found


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(  # noqa: S603 - the PostgreSQL tools, fixed arguments
        command, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupError(f"{Path(command[0]).name} failed: {last}")


def _facts(url: str) -> tuple[str, str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            migration = conn.scalar(text("SELECT version_num FROM alembic_version"))
            events = conn.scalar(text("SELECT count(*) FROM audit_events"))
    except SQLAlchemyError as err:
        raise BackupError(
            f"the database cannot be read ({type(err).__name__}): back up as the schema owner"
        ) from err
    finally:
        engine.dispose()
    return engine.dialect.name, str(migration), int(events or 0)


def backup(settings: Settings, to_dir: Path, now: datetime) -> Path:
    """Write the archive into `to_dir`; its path."""
    url = make_url(settings.database.url)
    dialect, migration, events = _facts(settings.database.url)
    to_dir.mkdir(parents=True, exist_ok=True)
    archive = to_dir / f"mash-hub-backup-{now:%Y%m%dT%H%M%SZ}.tar"
    with tempfile.TemporaryDirectory(dir=to_dir, prefix=".backup-") as scratch:
        work = Path(scratch)
        members: list[Path] = []
        if dialect == "postgresql":
            target = work / PG_DUMP
            connection, env = _libpq(url)
            _run([_tool("pg_dump"), "-Fc", "--file", str(target), "--dbname", connection], env)
        else:
            target = work / SQLITE_COPY
            source = sqlite3.connect(f"file:{url.database}?mode=ro", uri=True)
            copy = sqlite3.connect(target)
            try:
                source.backup(copy)
            finally:
                copy.close()
                source.close()
        members.append(target)
        checkpoints = settings.audit.checkpoint_path(settings.app.instance_path)
        if checkpoints.exists():
            shutil.copyfile(checkpoints, work / CHECKPOINTS)
            members.append(work / CHECKPOINTS)
        (work / PUBLIC_KEY).write_text(public_key_pem(settings), encoding="ascii")
        members.append(work / PUBLIC_KEY)
        manifest = {
            "format": FORMAT,
            "created_at": f"{now:%Y-%m-%dT%H:%M:%SZ}",
            "dialect": dialect,
            "migration": migration,
            "audit_events": events,
            "members": {m.name: _sha256(m) for m in members},
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        partial = work / "archive.tar"
        with tarfile.open(partial, "w") as tar:
            for member in (work / MANIFEST, *members):
                tar.add(member, arcname=member.name)
        partial.chmod(0o600)
        partial.replace(archive)  # whole, or not there at all
    return archive


def _read_archive(archive: Path, into: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive, "r") as tar:
            names = tar.getnames()
            if MANIFEST not in names or any("/" in n or n.startswith(".") for n in names):
                raise BackupError(f"{archive} is not a MASH Hub backup")
            tar.extractall(into, filter="data")
    except (OSError, tarfile.TarError) as err:
        raise BackupError(f"{archive} cannot be read: {err}") from err
    try:
        manifest = json.loads((into / MANIFEST).read_text(encoding="utf-8"))
    except ValueError as err:
        raise BackupError(f"{archive}: its manifest cannot be read") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{archive} is not a MASH Hub backup ({FORMAT})")
    members = manifest.get("members")
    if not isinstance(members, dict):
        raise BackupError(f"{archive}: its manifest lists no members")
    for name, digest in members.items():
        path = into / str(name)
        if not path.is_file() or _sha256(path) != digest:
            raise BackupError(
                f"{archive}: {name} does not match its manifest: the archive is damaged "
                "or was changed"
            )
    return manifest


def _empty(url: str) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                count = conn.scalar(
                    text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
                )
            else:
                count = conn.scalar(text("SELECT count(*) FROM sqlite_master WHERE type = 'table'"))
    except SQLAlchemyError as err:
        raise BackupError(f"the target database cannot be reached ({type(err).__name__})") from err
    finally:
        engine.dispose()
    return not count


def restore(settings: Settings, archive: Path, target_url: str) -> Restored:
    """Restore `archive` into the empty database at `target_url`."""
    url = make_url(target_url)
    with tempfile.TemporaryDirectory(prefix="mash-restore-") as scratch:
        work = Path(scratch)
        manifest = _read_archive(archive, work)
        dialect = url.get_backend_name()
        if manifest.get("dialect") != dialect:
            raise BackupError(
                f"the archive holds a {manifest.get('dialect')} database; the target is {dialect}"
            )
        if dialect == "sqlite" and url.database and not Path(url.database).exists():
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        if not _empty(target_url):
            raise BackupError(
                "the target database is not empty: restore only into a new, empty database"
            )
        if dialect == "postgresql":
            connection, env = _libpq(url)
            _run(
                [
                    _tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                    "--dbname", connection, str(work / PG_DUMP),
                ],
                env,
            )  # fmt: skip
        else:
            assert url.database  # noqa: S101 - a file database (checked as the target above)
            shutil.copyfile(work / SQLITE_COPY, url.database)
        instance = Path(settings.app.instance_path)
        instance.mkdir(parents=True, exist_ok=True)
        checkpoints = settings.audit.checkpoint_path(settings.app.instance_path)
        if (work / CHECKPOINTS).exists() and not checkpoints.exists():
            checkpoints.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(work / CHECKPOINTS, checkpoints)
            note = "restored from the archive (there was none here)"
        elif checkpoints.exists():
            note = "kept as it was here (it may be newer than the archive): checked against it"
        else:
            note = "none in the archive, and none here"
        stamp = str(manifest.get("created_at", "restored")).replace(":", "").replace("-", "")
        public_key = instance / f"audit-public-key-{stamp}.pem"
        shutil.copyfile(work / PUBLIC_KEY, public_key)
    return Restored(
        dialect=dialect,
        migration=str(manifest.get("migration")),
        events=int(manifest.get("audit_events") or 0),
        checkpoints_path=checkpoints,
        checkpoints_note=note,
        public_key_path=public_key,
    )


def archive_members(archive: Path) -> dict[str, bytes]:
    """Every member's bytes (for checks and tests)."""
    found = {}
    with tarfile.open(archive, "r") as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member)
            if extracted is not None:
                found[member.name] = extracted.read()
    return found
