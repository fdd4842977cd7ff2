"""The disk filling up under a SQLite hub (fault review, scenario 10): calls fail with the
API's error while there is no room, nothing is half-written, and the hub carries on by
itself once space returns. Needs a small filesystem of its own (a tmpfs mounted as root),
so it runs in the SQLite pass only, where it can mount one."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.load import check_whole, intake, token
from tests.served import run_command, served

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("MASH_TEST_DATABASE_URL")) or os.geteuid() != 0,
    reason="a SQLite hub on a tmpfs of its own (mounted as root)",
)


@contextlib.contextmanager
def small_disk(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(  # noqa: S603 - fixed arguments
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],  # noqa: S607
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)  # noqa: S603, S607


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    return filler


def test_a_full_disk_fails_calls_cleanly_and_the_hub_recovers(
    tmp_path: Path, database_url: str
) -> None:
    with small_disk(tmp_path / "disk", "24m") as disk:
        url = f"sqlite:///{disk / 'hub.db'}"
        shutil.copyfile(database_url.removeprefix("sqlite:///"), disk / "hub.db")
        instance = {"MASH_APP__INSTANCE_PATH": str(disk / "instance")}
        run_command(tmp_path, url, "demo", "--no-cases", **instance)
        credentials = json.loads((disk / "instance" / "demo-credentials.json").read_text())
        police = next(c for c in credentials["clients"] if c["agency"] == "police")
        calls: list[tuple[int, int, dict]] = []
        with served(tmp_path, url, workers=4, **instance) as hub:
            bearer = token(hub, police)
            # Filled before any intake: three of the four workers at least have counted
            # nothing yet. Each call must still be answered, none cut off by a worker
            # killed while the disk is full.
            filler = _fill(disk)
            calls += [(n, *intake(hub, bearer, n)) for n in range(10)]
            filler.unlink()
            back_at, n = time.monotonic(), 10
            while time.monotonic() - back_at < 20:
                status, body = intake(hub, bearer, n)
                calls.append((n, status, body))
                n += 1
                if status == 201:
                    break
            calls += [(m, *intake(hub, bearer, m)) for m in range(n, n + 3)]
        served_log = hub.log.read_text()
        assert "SIGBUS" not in served_log and "Worker (pid" not in served_log, served_log
        full = [(status, body.get("error")) for m, status, body in calls if m < 10]
        assert {status for status, _ in full} <= {201, 500}, full
        assert (500, "server_error") in full  # the full disk was felt
        assert all(status == 201 for _, status, _ in calls[-3:]), calls[-3:]
        check_whole(url, {m: body["id"] for m, status, body in calls if status == 201}, set())
        with contextlib.closing(sqlite3.connect(disk / "hub.db")) as check:
            assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        run_command(tmp_path, url, "audit", "seal", **instance)
        assert run_command(tmp_path, url, "audit", "verify", **instance).startswith("OK")
