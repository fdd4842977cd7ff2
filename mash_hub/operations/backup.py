"""`mash-hub backup` and `mash-hub restore`: the database, the checkpoint file and the
audit public key in one dated archive, and back into an empty database.

The archive (`mash-hub-backup-<UTC time>.tar`, mode 0600) holds:
- `database.dump` (PostgreSQL: `pg_dump` custom format) or `database.sqlite` (SQLite: a
  copy by the online backup API, consistent while the hub runs);
- `audit-checkpoints.jsonl`, the checkpoint file's lines up to the newest checkpoint in
  the database copy (the hub seals on during a backup; later lines name events the copy
  does not hold, so its restore would be reported truncated against its own file);
- `audit-public-key.pem`, the key that verifies the checkpoints;
- `manifest.json`: when, the hub's version, which database kind (with, on PostgreSQL,
  the server's and pg_dump's versions) and migration, how many audit events, and the
  SHA-256 of every other member (a restore refuses an archive that does not match).

No private key is in it: not the master key, not the audit signing key. Case content in
the database stays sealed under the agency keys, which stay wrapped under the master key,
so the archive alone opens nothing; it still names people, so keep it as the database.

On PostgreSQL both commands run as the schema owner (as `init-db` does): the application
role cannot read past row-level security, so it cannot dump every row. pg_dump must be
of the server's major version or newer (it refuses an older one), and pg_restore of the
archive's pg_dump version or newer.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from mash_hub.audit import chain
from mash_hub.audit.models import AuditCheckpoint, AuditEvent
from mash_hub.audit.signing import public_key_pem
from mash_hub.config import ConfigError, Settings
from mash_hub.db import make_engine

FORMAT = "mash-hub-backup/1"
MANIFEST = "manifest.json"
PG_DUMP = "database.dump"
SQLITE_COPY = "database.sqlite"
CHECKPOINTS = "audit-checkpoints.jsonl"
PUBLIC_KEY = "audit-public-key.pem"
TOOL_TIMEOUT = 3600
FILE_CATCH_UP_SECONDS = 10


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
    created_at: str
    hub_version: str
    # Set when this hub's own signing key is not the one the archive's public key is of:
    # the archive's key then verifies only its own story. Compare it with the key kept.
    key_warning: str | None = None


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


def parse_url(database_url: str) -> URL:
    try:
        return make_url(database_url)
    except ArgumentError as err:
        raise BackupError("the database URL cannot be read: give a SQLAlchemy URL") from err


def _hub_version() -> str:
    try:
        return metadata.version("mash_hub")
    except metadata.PackageNotFoundError:
        return "unknown"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed: install the PostgreSQL client (Debian: postgresql-client)"
        )
    return found


def _run(command: list[str], env: dict[str, str], after: str = "") -> None:
    name = Path(command[0]).name
    try:
        done = subprocess.run(  # noqa: S603 - the PostgreSQL tools, fixed arguments
            command, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise BackupError(f"{name} did not finish within {TOOL_TIMEOUT} s{after}") from err
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupError(f"{name} failed: {last}{after}")


def _tool_version(path: str) -> str:
    """The version a PostgreSQL client tool reports, e.g. "15.20"."""
    done = subprocess.run(  # noqa: S603 - a PostgreSQL tool found on PATH, fixed arguments
        [path, "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    found = re.search(r"\(PostgreSQL\) (\d+(?:\.\d+)*)", done.stdout)
    if done.returncode != 0 or found is None:
        raise BackupError(f"{path} --version did not name a PostgreSQL version")
    return found.group(1)


def _major(version: str) -> int:
    return int(version.split(".")[0])


@dataclass(frozen=True)
class _Facts:
    dialect: str
    migration: str
    events: int
    newest_checkpoint: tuple[int, str, str] | None  # (seq, head, at) as the file writes it
    server_version: str | None = None  # PostgreSQL only
    pg_dump_version: str | None = None


def _read_facts(conn: Connection, dialect: str) -> _Facts:
    """What the manifest says of the database, read in the snapshot being backed up."""
    migration = conn.scalar(text("SELECT version_num FROM alembic_version"))
    events = conn.scalar(select(func.count()).select_from(AuditEvent))
    newest = conn.execute(
        select(AuditCheckpoint.seq, AuditCheckpoint.head, AuditCheckpoint.at)
        .order_by(AuditCheckpoint.id.desc())
        .limit(1)
    ).first()
    server_version = None
    if dialect == "postgresql":
        server_version = str(conn.scalar(text("SHOW server_version"))).split()[0]
    return _Facts(
        dialect,
        str(migration),
        int(events or 0),
        None if newest is None else (newest.seq, newest.head, chain.time_text(newest.at)),
        server_version,
    )


def _unreadable(err: SQLAlchemyError) -> BackupError:
    return BackupError(
        f"the database cannot be read ({type(err).__name__}): back up as the schema owner"
    )


def _dump_postgresql(url: URL, database_url: str, target: Path) -> _Facts:
    """pg_dump of one snapshot, exported by a transaction that reads the manifest's facts
    in that same snapshot, so they describe exactly what the dump holds."""
    pg_dump = _tool("pg_dump")
    dump_version = _tool_version(pg_dump)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot = str(conn.scalar(text("SELECT pg_export_snapshot()")))
                facts = _read_facts(conn, "postgresql")
                server = str(facts.server_version)
                if _major(dump_version) < _major(server):
                    raise BackupError(
                        f"pg_dump {dump_version} cannot dump a PostgreSQL {server} server: "
                        f"install the client of version {_major(server)} or newer "
                        f"(Debian: postgresql-client-{_major(server)})"
                    )
                connection, env = _libpq(url)
                _run(
                    [pg_dump, "-Fc", f"--snapshot={snapshot}", "--file", str(target),
                     "--dbname", connection],
                    env,
                )  # fmt: skip
    except SQLAlchemyError as err:
        raise _unreadable(err) from err
    finally:
        engine.dispose()
    return replace(facts, pg_dump_version=dump_version)


def _copy_sqlite(url: URL, target: Path) -> _Facts:
    """SQLite's online backup (consistent while the hub writes), its facts read from the
    copy itself."""
    if not (url.database and Path(url.database).is_file()):
        raise BackupError(f"there is no SQLite database at {url.database!r}")
    source_uri = f"{Path(url.database).resolve().as_uri()}?mode=ro"
    try:
        source = sqlite3.connect(source_uri, uri=True)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
    except sqlite3.Error as err:
        raise BackupError(f"the SQLite database cannot be copied: {err}") from err
    engine = create_engine(URL.create("sqlite", database=str(target)))
    try:
        with engine.connect() as conn:
            return _read_facts(conn, "sqlite")
    except SQLAlchemyError as err:
        raise _unreadable(err) from err
    finally:
        engine.dispose()


def _checkpoints_up_to(path: Path, newest: tuple[int, str, str]) -> bytes:
    """The checkpoint file's lines up to the backed-up database's newest checkpoint: later
    ones were signed after the snapshot and name events the archive does not hold. The
    sealer appends a line just after its commit, so the newest may take a moment to come."""
    deadline = time.monotonic() + FILE_CATCH_UP_SECONDS
    while True:
        lines = path.read_bytes().splitlines(keepends=True) if path.exists() else []
        for number, line in enumerate(lines, 1):
            try:
                item = json.loads(line)
                found = (item["seq"], item["head"], item["at"])
            except (ValueError, KeyError, TypeError):
                continue  # a line being written, or damage the verification will name
            if found == newest:
                return b"".join(lines[:number])
        if time.monotonic() > deadline:
            raise BackupError(
                f"the checkpoint file {path} lacks the database's newest checkpoint (seq "
                f"{newest[0]}): run `mash-hub audit seal`, which appends what the file "
                "lacks, then back up again"
            )
        time.sleep(0.2)


def backup(
    settings: Settings, to_dir: Path, now: datetime, database_url: str | None = None
) -> Path:
    """Write the archive of the database at `database_url` (default: the configured one)
    into `to_dir`; its path."""
    database_url = database_url or settings.database.url
    url = parse_url(database_url)
    dialect = url.get_backend_name()
    checkpoints = settings.audit.checkpoint_path(settings.app.instance_path)
    try:
        to_dir.mkdir(parents=True, exist_ok=True)
        archive = to_dir / f"mash-hub-backup-{now:%Y%m%dT%H%M%SZ}.tar"
        with tempfile.TemporaryDirectory(dir=to_dir, prefix=".backup-") as scratch:
            work = Path(scratch)
            if dialect == "postgresql":
                target = work / PG_DUMP
                facts = _dump_postgresql(url, database_url, target)
            else:
                target = work / SQLITE_COPY
                facts = _copy_sqlite(url, target)
            members = [target]
            if facts.newest_checkpoint is not None:
                lines = _checkpoints_up_to(checkpoints, facts.newest_checkpoint)
                (work / CHECKPOINTS).write_bytes(lines)
                members.append(work / CHECKPOINTS)
            elif checkpoints.exists():  # none in the database: the file as it is
                shutil.copyfile(checkpoints, work / CHECKPOINTS)
                members.append(work / CHECKPOINTS)
            (work / PUBLIC_KEY).write_text(public_key_pem(settings), encoding="ascii")
            members.append(work / PUBLIC_KEY)
            versions = {}
            if facts.server_version is not None:
                versions = {
                    "postgresql": {"server": facts.server_version, "pg_dump": facts.pg_dump_version}
                }
            newest = facts.newest_checkpoint
            manifest = {
                "format": FORMAT,
                "created_at": f"{now:%Y-%m-%dT%H:%M:%SZ}",
                "hub_version": _hub_version(),
                "dialect": dialect,
                **versions,
                "migration": facts.migration,
                "audit_events": facts.events,
                "newest_checkpoint": None
                if newest is None
                else {"seq": newest[0], "at": newest[2]},
                "members": {m.name: _sha256(m) for m in members},
            }
            (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            partial = work / "archive.tar"
            with tarfile.open(partial, "w") as tar:
                for member in (work / MANIFEST, *members):
                    tar.add(member, arcname=member.name)
            partial.chmod(0o600)
            partial.replace(archive)  # whole, or not there at all
    except OSError as err:
        raise BackupError(f"the archive cannot be written in {to_dir}: {err}") from err
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
    database = PG_DUMP if manifest.get("dialect") == "postgresql" else SQLITE_COPY
    unlisted = sorted(set(names) - {MANIFEST, *members})
    missing = sorted({database, PUBLIC_KEY} - set(members))
    if unlisted or missing:
        raise BackupError(
            f"{archive}: its manifest does not list "
            + (f"{', '.join(unlisted)}, which it holds" if unlisted else ", ".join(missing))
            + ": the archive is damaged or was changed"
        )
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


def _check_restore_versions(manifest: dict[str, Any], target_url: str, pg_restore: str) -> None:
    """pg_restore reads archives of its own version and older; a dump is loaded into a
    server of its own major version or newer, never an older one."""
    made = manifest.get("postgresql")
    if not isinstance(made, dict):
        return
    restore_version = _tool_version(pg_restore)
    dumped_by = str(made.get("pg_dump", "0"))
    if _major(restore_version) < _major(dumped_by):
        raise BackupError(
            f"pg_restore {restore_version} cannot read an archive made by pg_dump {dumped_by}: "
            f"install the PostgreSQL client of version {_major(dumped_by)} or newer"
        )
    engine = make_engine(target_url)
    try:
        with engine.connect() as conn:
            target = str(conn.scalar(text("SHOW server_version"))).split()[0]
    except SQLAlchemyError as err:
        raise BackupError(f"the target database cannot be reached ({type(err).__name__})") from err
    finally:
        engine.dispose()
    source = str(made.get("server", "0"))
    if _major(target) < _major(source):
        raise BackupError(
            f"the archive is of a PostgreSQL {source} server; the target runs {target}: "
            f"restore into PostgreSQL {_major(source)} or newer"
        )


def restore(
    settings: Settings, archive: Path, target_url: str, checkpoints_to: Path | None = None
) -> Restored:
    """Restore `archive` into the empty database at `target_url`, and its checkpoint file
    to `checkpoints_to` (which must not exist yet) or, by default, to the configured
    checkpoint file if there is none (an existing one is kept: it may be newer)."""
    url = parse_url(target_url)
    with tempfile.TemporaryDirectory(prefix="mash-restore-") as scratch:
        work = Path(scratch)
        manifest = _read_archive(archive, work)
        dialect = url.get_backend_name()
        if manifest.get("dialect") != dialect:
            raise BackupError(
                f"the archive holds a {manifest.get('dialect')} database; the target is {dialect}"
            )
        if checkpoints_to is not None and checkpoints_to.exists():
            raise BackupError(
                f"{checkpoints_to} exists: give a new path for the archive's checkpoint file, "
                "or leave --checkpoints out to check against the hub's own"
            )
        if dialect == "sqlite" and not url.database:
            raise BackupError("restore into a SQLite file, not an in-memory database")
        if not _empty(target_url):
            raise BackupError(
                "the target database is not empty: restore only into a new, empty database"
            )
        if dialect == "postgresql":
            pg_restore = _tool("pg_restore")
            _check_restore_versions(manifest, target_url, pg_restore)
            connection, env = _libpq(url)
            _run(
                [
                    pg_restore, "--no-owner", "--no-privileges", "--exit-on-error",
                    "--dbname", connection, str(work / PG_DUMP),
                ],
                env,
                after=": the target is now partly restored; drop it and create it anew",
            )  # fmt: skip
        else:
            assert url.database  # noqa: S101 - checked above
            restored = Path(url.database)
            shutil.copyfile(work / SQLITE_COPY, restored)
            restored.chmod(0o600)  # as the archive: it holds the hub's (sealed) records
        instance = Path(settings.app.instance_path)
        instance.mkdir(parents=True, exist_ok=True)
        own = settings.audit.checkpoint_path(settings.app.instance_path)
        checkpoints = checkpoints_to or own
        if (work / CHECKPOINTS).exists() and not checkpoints.exists():
            checkpoints.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(work / CHECKPOINTS, checkpoints)
            note = (
                "restored from the archive"
                if checkpoints_to is not None
                else "restored from the archive (there was none here)"
            )
        elif checkpoints.exists():
            note = "kept as it was here (it may be newer than the archive): checked against it"
        else:
            note = "none in the archive, and none here"
        stamp = str(manifest.get("created_at", "restored")).replace(":", "").replace("-", "")
        public_key = instance / f"audit-public-key-{stamp}.pem"
        shutil.copyfile(work / PUBLIC_KEY, public_key)
        key_warning = _key_warning(settings, public_key.read_text(encoding="ascii"))
    return Restored(
        dialect=dialect,
        migration=str(manifest.get("migration")),
        events=int(manifest.get("audit_events") or 0),
        checkpoints_path=checkpoints,
        checkpoints_note=note,
        public_key_path=public_key,
        created_at=str(manifest.get("created_at")),
        hub_version=str(manifest.get("hub_version", "unknown")),
        key_warning=key_warning,
    )


def _key_warning(settings: Settings, archived_pem: str) -> str | None:
    try:
        own = public_key_pem(settings)
    except (ConfigError, OSError):
        return None  # no signing key here: nothing to compare with
    if own == archived_pem:
        return None
    return (
        "the archive's audit public key is not the one of this hub's signing key: the "
        "check below uses the archive's; verify again with the public key you keep "
        "(mash-hub audit verify --public-key F)"
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
