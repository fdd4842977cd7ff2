"""Which scheduler leads: the lock one scheduler per database holds (a PostgreSQL
session-level advisory lock, or a file lock beside a SQLite database), and a way for
another process to tell whether anyone holds it without keeping it."""

from __future__ import annotations

import fcntl
from pathlib import Path

from sqlalchemy import Engine, text

# pg_try_advisory_lock takes a bigint: a fixed key for "the MASH Hub scheduler leader".
ADVISORY_LOCK_KEY = 0x4D415348_5343_4844 & 0x7FFFFFFFFFFFFFFF


def lock_path(instance_path: str, lock_file: str = "") -> Path:
    return Path(lock_file or Path(instance_path) / "scheduler.lock")


def leader_alive(engine: Engine, lock_file: Path) -> bool:
    """Whether some scheduler holds the leader lock now."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            held = conn.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND classid = :high AND objid = :low AND objsubid = 1"
                ),
                {"high": ADVISORY_LOCK_KEY >> 32, "low": ADVISORY_LOCK_KEY & 0xFFFFFFFF},
            )
        return bool(held)
    if not lock_file.exists():
        return False
    with lock_file.open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True  # someone holds it
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)  # nobody did: let go at once
        return False
