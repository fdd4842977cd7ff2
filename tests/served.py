"""The hub served for real (`mash-hub serve`: gunicorn, its master and workers) for
tests that need what only the real server does."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import TEST_ENV


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def hub_env(tmp_path: Path, database_url: str, **env: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("MASH_")},
        **TEST_ENV,
        "MASH_APP__MODE": "development",
        "MASH_DATABASE__URL": database_url,
        "MASH_APP__INSTANCE_PATH": str(tmp_path / "instance"),
        "MASH_LOGGING__LEVEL": "WARNING",
        **env,
    }


def run_command(tmp_path: Path, database_url: str, *args: str, **env: str) -> str:
    done = subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "mash_hub", *args],
        cwd=tmp_path,
        env=hub_env(tmp_path, database_url, **env),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class Served:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def get(
        self, path: str, method: str = "GET", body: bytes | None = None, **headers: str
    ) -> tuple[http.client.HTTPResponse, bytes]:
        """One answer, waiting (up to a minute) for the server to listen. A POST whose
        connection is cut after it was sent raises (it may have been carried out)."""
        deadline = time.monotonic() + 60
        while True:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                connection.request(method, path, body=body, headers=headers)
                answer = connection.getresponse()
                return answer, answer.read()
            except OSError as err:
                # A call the server may have carried out (its connection cut after the
                # request went) is never sent again unless it is safe to repeat: a POST
                # sent twice makes two records, which the fault tests would miscount.
                sent = not isinstance(err, ConnectionRefusedError)
                if sent and method not in ("GET", "HEAD"):
                    raise
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
            finally:
                connection.close()

    def workers(self) -> list[int]:
        """The pids of the server's worker processes."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                found.append(int(stat.parent.name))
        return found


@contextmanager
def served(
    tmp_path: Path, database_url: str, *args: str, workers: int = 1, **env: str
) -> Iterator[Served]:
    port = free_port()
    log = tmp_path / "serve.log"
    with (
        log.open("w") as errors,
        subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
            [
                sys.executable, "-m", "mash_hub", "serve",
                "--port", str(port), "--workers", str(workers), *args,
            ],
            cwd=tmp_path,
            env=hub_env(tmp_path, database_url, **env),
            stdout=subprocess.DEVNULL,
            stderr=errors,
        ) as process,
    ):  # fmt: skip
        try:
            yield Served(port, process, log)
        finally:
            process.terminate()
            process.wait(timeout=30)
