"""The real server (gunicorn master and workers) through worker deaths, a broken policy
file and a request that overruns its time (fault review, findings 3 and 9)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mash_hub.config import REPO_POLICIES
from tests.faults.load import token, wait_for
from tests.functional.test_contacts_api import CONTACT
from tests.served import run_command, served


def test_a_worker_replaced_while_a_policy_file_is_broken_keeps_the_loaded_rules(
    tmp_path: Path, clean_database: str
) -> None:
    """On dc1dfa7 the replacement worker read the broken file, could not boot, and gunicorn
    stopped the whole server; it stayed down after the file was mended."""
    policies = tmp_path / "policies"
    shutil.copytree(REPO_POLICIES, policies)
    with served(
        tmp_path, clean_database, workers=1, MASH_FIREWALL__POLICIES_DIR=str(policies)
    ) as hub:
        assert hub.get("/sign-in")[0].status == 200
        for rules in policies.glob("*.cedar"):
            rules.write_text("permit (principal, action, resource) when { this is broken")
        (worker,) = hub.workers()
        os.kill(worker, signal.SIGKILL)
        wait_for(lambda: [pid for pid in hub.workers() if pid != worker], "a new worker")
        answer, _body = hub.get("/sign-in")
        assert answer.status == 200, hub.log.read_text()
        assert hub.process.poll() is None


def test_a_broken_policy_set_stops_the_start_with_one_line(tmp_path: Path, clean_database):
    policies = tmp_path / "policies"
    shutil.copytree(REPO_POLICIES, policies)
    next(policies.glob("*.cedar")).write_text("permit (principal, action, resource) when {")
    with served(tmp_path, clean_database, MASH_FIREWALL__POLICIES_DIR=str(policies)) as hub:
        assert hub.process.wait(timeout=60) == 2
    lines = hub.log.read_text().strip().splitlines()
    assert len(lines) == 1 and "polic" in lines[0], lines


@contextmanager
def _writes_held(admin_url: str) -> Iterator[None]:
    """Every API call waits while this is open: another session holds the table that
    counts calls against each client's rate limit."""
    engine = create_engine(admin_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("LOCK TABLE api_rate_windows IN ACCESS EXCLUSIVE MODE"))
            yield
    finally:
        engine.dispose()


def test_a_request_past_the_worker_timeout_gets_the_api_error_shape(
    tmp_path: Path, clean_database: str, admin_database_url: str
) -> None:
    """On dc1dfa7 gunicorn killed the worker of a call that overran, and answered the API
    client with its own HTML. Now the wait itself ends at the timeout (PostgreSQL's
    statement and lock timeouts, set for the served app), and the app answers.

    PostgreSQL only: SQLite's own busy timeout (15 s) bounds its waits."""
    if not clean_database.startswith("postgresql"):
        pytest.skip("a wait the worker's timeout can interrupt")
    run_command(tmp_path, clean_database, "demo", "--no-cases")
    credentials = json.loads((tmp_path / "instance" / "demo-credentials.json").read_text())
    police = next(c for c in credentials["clients"] if c["agency"] == "police")
    with served(tmp_path, clean_database, "--timeout", "2", workers=1) as hub:
        bearer = token(hub, police)
        with _writes_held(admin_database_url):
            answer, body = hub.get(
                "/api/v1/contacts",
                "POST",
                json.dumps(CONTACT).encode(),
                **{"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
            )
        assert answer.status == 500
        assert answer.getheader("Content-Type") == "application/json"
        assert json.loads(body) == {
            "error": "server_error",
            "message": "the hub could not complete the request",
        }
        assert answer.getheader("Server") is None
        # The hub goes on answering.
        assert hub.get("/sign-in")[0].status == 200


def test_a_request_the_server_cannot_read_is_answered_in_the_hub_shapes(
    tmp_path: Path, clean_database: str
) -> None:
    with served(tmp_path, clean_database) as hub:
        hub.get("/sign-in")
        for path, content_type in (
            ("/api/v1/requests", "application/json"),
            ("/queue", "text/html; charset=utf-8"),
        ):
            with socket.create_connection(("127.0.0.1", hub.port), timeout=30) as raw:
                raw.sendall(
                    f"GET {path} HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n".encode()
                )
                reply = b""
                while chunk := raw.recv(65536):
                    reply += chunk
            head, _, body = reply.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400 "), reply
            assert f"Content-Type: {content_type}".encode() in head, head
            assert b"<h1><p>" not in body  # gunicorn's own page
            if content_type == "application/json":
                assert json.loads(body)["error"] == "bad_request"
            else:
                assert b"The hub could not read that request" in body
