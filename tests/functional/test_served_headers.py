"""What the hub's own server (gunicorn, as `mash-hub serve` runs it) puts on the wire."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import TEST_ENV


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _first_answer(
    port: int, path: str, server: subprocess.Popen[bytes]
) -> http.client.HTTPResponse:
    deadline = time.monotonic() + 60
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", path)
            answer = connection.getresponse()
            answer.read()
            return answer
        except OSError:
            connection.close()
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_served_answers_carry_no_server_banner(tmp_path: Path, clean_database: str) -> None:
    """Security review V15 (row 210): gunicorn added `Server: gunicorn` to every answer."""
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MASH_")},
        **TEST_ENV,
        "MASH_APP__MODE": "development",
        "MASH_DATABASE__URL": clean_database,
        "MASH_APP__INSTANCE_PATH": str(tmp_path / "instance"),
        "MASH_LOGGING__LEVEL": "WARNING",
    }
    log = tmp_path / "serve.log"
    with (
        log.open("w") as errors,
        subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
            [sys.executable, "-m", "mash_hub", "serve", "--port", str(port), "--workers", "1"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        ) as server,
    ):
        try:
            for path in ("/sign-in", "/no-such-page", "/static/hub.css"):
                answer = _first_answer(port, path, server)
                assert answer.status in {200, 404}, (path, log.read_text())
                assert answer.getheader("Server") is None, (path, answer.getheaders())
                # What else gunicorn writes itself is still there.
                assert answer.getheader("Date"), path
        finally:
            server.terminate()
            server.wait(timeout=30)
