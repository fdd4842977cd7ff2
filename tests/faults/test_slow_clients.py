"""Slow clients cannot hold the served hub (fault review, finding 8: forty of them cut
its throughput by about 99%, holding both synchronous workers)."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from pathlib import Path

from tests.faults.load import intake, token
from tests.functional.test_contacts_api import CONTACT
from tests.served import Served, run_command, served

READ_TIMEOUT = 3.0
TRICKLE_FOR = 6.0  # longer than the read timeout: these clients never finish in time


def _read_all(sock: socket.socket) -> bytes:
    reply = b""
    try:
        while chunk := sock.recv(65536):
            reply += chunk
    except OSError:
        pass
    return reply


def _trickler(port: int, start: bytes, replies: list[bytes]) -> None:
    """Sends `start`, then a byte every half second: a request that never ends in time."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(start)
        until = time.monotonic() + TRICKLE_FOR
        try:
            while time.monotonic() < until:
                time.sleep(0.5)
                sock.sendall(b"x")
        except OSError:
            pass  # the server gave up on it: what it said is read below
        replies.append(_read_all(sock))


def _slow_clients(port: int, each: int) -> tuple[list[threading.Thread], list[bytes], list[bytes]]:
    heads: list[bytes] = []  # replies to clients slow to send their headers
    bodies: list[bytes] = []  # replies to clients slow to send their body
    threads = [
        threading.Thread(
            target=_trickler,
            args=(port, b"GET /queue HTTP/1.1\r\nHost: x\r\nX-Slow: ", heads),
        )
        for _ in range(each)
    ] + [
        threading.Thread(
            target=_trickler,
            args=(
                port,
                b"POST /api/v1/contacts HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{",
                bodies,
            ),
        )
        for _ in range(each)
    ]
    for thread in threads:
        thread.start()
    return threads, heads, bodies


def _timed_get(hub: Served, path: str, **headers: str) -> tuple[int, float]:
    started = time.monotonic()
    answer, _body = hub.get(path, **headers)
    return answer.status, time.monotonic() - started


def test_forty_slow_clients_do_not_hold_the_hub_and_each_is_told_408(
    tmp_path: Path, clean_database: str
) -> None:
    run_command(tmp_path, clean_database, "demo", "--no-cases")
    credentials = json.loads((tmp_path / "instance" / "demo-credentials.json").read_text())
    police = next(c for c in credentials["clients"] if c["agency"] == "police")
    with served(
        tmp_path, clean_database, "--threads", "2", "--read-timeout", str(READ_TIMEOUT)
    ) as hub:
        bearer = token(hub, police)
        status, contact = intake(hub, bearer, 1)
        assert status == 201, contact
        threads, heads, bodies = _slow_clients(hub.port, 20)
        time.sleep(1)  # every slow client is connected and sending
        # One worker with two threads, forty clients trickling: every whole request is
        # still answered at once (the synchronous worker served the slow ones first,
        # one after another, 6 s each).
        timings = [_timed_get(hub, "/healthz") for _ in range(5)] + [
            _timed_get(hub, f"/api/v1/contacts/{contact['id']}", Authorization=f"Bearer {bearer}")
            for _ in range(5)
        ]
        assert all(status == 200 for status, _ in timings), timings
        assert max(seconds for _, seconds in timings) < 2.0, timings
        for thread in threads:
            thread.join(timeout=30)

    assert len(heads) == len(bodies) == 20
    for reply in heads:  # a page: the hub's plain-English page
        assert reply.startswith(b"HTTP/1.1 408 "), reply[:200]
        assert b"The request took too long to arrive" in reply
    for reply in bodies:  # the API: its JSON error shape
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), reply[:200]
        assert b"Content-Type: application/json" in head
        assert json.loads(body) == {
            "error": "request_timeout",
            "message": "the request did not arrive in time",
        }


def test_a_request_that_arrives_in_pieces_in_time_is_served_whole(
    tmp_path: Path, clean_database: str
) -> None:
    """A body and head split across packets, a kept-alive connection and two requests
    sent at once are all read and answered as before."""
    run_command(tmp_path, clean_database, "demo", "--no-cases")
    credentials = json.loads((tmp_path / "instance" / "demo-credentials.json").read_text())
    police = next(c for c in credentials["clients"] if c["agency"] == "police")
    with served(tmp_path, clean_database, "--read-timeout", str(READ_TIMEOUT)) as hub:
        bearer = token(hub, police)
        status, first = intake(hub, bearer, 1)
        assert status == 201, first
        body = json.dumps(CONTACT).encode()
        head = (
            "POST /api/v1/contacts HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {bearer}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        request = head + body
        with socket.create_connection(("127.0.0.1", hub.port), timeout=30) as sock:
            for piece in (request[:20], request[20 : len(head) + 10], request[len(head) + 10 :]):
                sock.sendall(piece)
                time.sleep(0.4)
            # Then, on the same connection, two reads sent together.
            read = (
                f"GET /api/v1/contacts/{first['id']} HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {bearer}\r\n"
            )
            sock.sendall((read + "\r\n" + read + "Connection: close\r\n\r\n").encode())
            replies = _read_all(sock)
        statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", replies)
        assert statuses == [b"201", b"200", b"200"], replies[:500]
