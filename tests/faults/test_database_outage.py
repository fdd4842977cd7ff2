"""The database going away under the served hub and coming back (fault review, scenarios
1 and 2): stopped cleanly, and its server process killed outright. While it is away every
call fails closed (the API's JSON error, nothing released, nothing half-written); when it
is back the hub recovers by itself, and the trail still verifies.

Each test runs its own throwaway PostgreSQL cluster on a free port (the shared server is
never stopped), so they run in CI's PostgreSQL pass only."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from tests.conftest import _as_app_role
from tests.faults.load import check_whole, intake, token
from tests.served import free_port, run_command, served

pytestmark = pytest.mark.skipif(
    not os.environ.get("MASH_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="a PostgreSQL cluster of its own: run in the PostgreSQL pass",
)
PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class Cluster:
    data: Path
    port: int
    log: Path

    def _ctl(self, *args: str) -> None:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args)

    def start(self) -> None:
        self._ctl(
            "-w", "-l", str(self.log), "-o",
            f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._ctl("-w", "-m", "fast", "stop")

    def kill(self) -> None:
        """The postmaster killed outright; its backends end when they notice."""
        pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        # Backends left behind hold the shared memory until they exit.
        time.sleep(1)

    def url(self, user: str = "postgres") -> str:
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/hub"


def _as_postgres(*command: str) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)  # noqa: S603


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip("no PostgreSQL 15 server binaries here")
    root = Path(tempfile.mkdtemp(prefix="mash-fault-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root: it runs as postgres
        shutil.chown(root, "postgres")
    made = Cluster(root / "data", free_port(), root / "server.log")
    _as_postgres(str(PG_BIN / "initdb"), "-D", str(made.data), "-A", "trust", "-U", "postgres")
    made.start()
    engine = create_engine(made.url().replace("/hub", "/postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("CREATE DATABASE hub"))
    engine.dispose()
    try:
        yield made
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already down
            made.stop()
        shutil.rmtree(root, ignore_errors=True)


def _until_recovered(
    hub, bearer: str, calls: list[tuple[int, int, dict]], n: int
) -> tuple[int, float]:
    """Intake calls numbered from `n` until one succeeds (within 20 s of the fault ending:
    the hub recovers by itself); the next number, and the seconds it took."""
    back_at = time.monotonic()
    while time.monotonic() - back_at < 20:
        status, body = intake(hub, bearer, n)
        calls.append((n, status, body))
        n += 1
        if status == 201:
            return n, time.monotonic() - back_at
        time.sleep(0.1)
    raise AssertionError(f"no recovery within 20 s: {calls[-3:]}")


@pytest.mark.parametrize("how", ["stopped", "killed"])
def test_the_served_hub_fails_closed_while_the_database_is_away_and_recovers(
    cluster: Cluster, tmp_path: Path, how: str
) -> None:
    run_command(tmp_path, cluster.url(), "init-db")
    app_url = _as_app_role(cluster.url())
    run_command(tmp_path, app_url, "demo", "--no-cases")
    credentials = json.loads((tmp_path / "instance" / "demo-credentials.json").read_text())
    police = next(c for c in credentials["clients"] if c["agency"] == "police")
    calls: list[tuple[int, int, dict]] = []
    with served(tmp_path, app_url, workers=2) as hub:
        bearer = token(hub, police)
        for n in range(5):
            calls.append((n, *intake(hub, bearer, n)))
        cluster.stop() if how == "stopped" else cluster.kill()
        for n in range(5, 10):
            calls.append((n, *intake(hub, bearer, n)))
        cluster.start()
        n, recovered = _until_recovered(hub, bearer, calls, 10)
        for m in range(n, n + 5):
            calls.append((m, *intake(hub, bearer, m)))

    away = [(status, body) for n, status, body in calls if 5 <= n < 10]
    assert all(status == 500 and body["error"] == "server_error" for status, body in away), away
    assert all(status == 201 for n, status, _ in calls[-5:])
    assert all(status == 201 for n, status, _ in calls[:5])
    # Nothing lost, nothing written twice, nothing half-written.
    check_whole(cluster.url(), {n: body["id"] for n, status, body in calls if status == 201}, set())
    run_command(tmp_path, app_url, "audit", "seal")
    verified = run_command(tmp_path, app_url, "audit", "verify")
    assert verified.startswith("OK"), verified
    assert recovered < 10, f"{how}: first success {recovered:.2f} s after the database was back"


def test_the_hub_fails_closed_while_every_connection_slot_is_taken_and_recovers(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Fault review, scenario 12b: another client takes every connection the server will
    give the app; the hub's own sessions are ended too, so it must ask for new ones."""
    admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("ALTER SYSTEM SET max_connections = 12"))
    admin.dispose()
    cluster.stop()
    cluster.start()
    run_command(tmp_path, cluster.url(), "init-db")
    app_url = _as_app_role(cluster.url())
    run_command(tmp_path, app_url, "demo", "--no-cases")
    credentials = json.loads((tmp_path / "instance" / "demo-credentials.json").read_text())
    police = next(c for c in credentials["clients"] if c["agency"] == "police")
    calls: list[tuple[int, int, dict]] = []
    with served(tmp_path, app_url, workers=2) as hub:
        bearer = token(hub, police)
        for n in range(3):
            calls.append((n, *intake(hub, bearer, n)))
        hog = create_engine(app_url, poolclass=NullPool)
        held = []
        admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with admin.connect() as conn:  # the hub's own sessions end
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE usename = 'mash_app' AND pid <> pg_backend_pid()"
                )
            )
        try:
            while True:  # every slot the app's role may have
                try:
                    held.append(hog.connect())
                except OperationalError:
                    break
            assert held, "no slot was taken"
            for n in range(3, 8):
                calls.append((n, *intake(hub, bearer, n)))
        finally:
            for conn in held:
                conn.close()
            hog.dispose()
            admin.dispose()
        _until_recovered(hub, bearer, calls, 8)

    starved = [(status, body) for n, status, body in calls if 3 <= n < 8]
    assert all(status == 500 and body["error"] == "server_error" for status, body in starved), (
        starved
    )
    # Nothing lost, nothing written twice, nothing half-written.
    check_whole(cluster.url(), {n: body["id"] for n, status, body in calls if status == 201}, set())
    run_command(tmp_path, app_url, "audit", "seal")
    verified = run_command(tmp_path, app_url, "audit", "verify")
    assert verified.splitlines()[-1].startswith("OK"), verified
