"""What the benchmarks that drive a served hub share: a free port, one HTTP call, waiting
for a server to answer, an API token, and an invented contact to enter.

The benchmarks run as scripts (`python benchmarks/bench_x.py`), so they import this
module by its name.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import time
from base64 import b64encode
from datetime import date, timedelta
from urllib.parse import urlencode

CONTACT = {
    "received_at": "2026-11-30T09:15:00Z",
    "source": {"agency": "police", "referrer_name": "PC Test", "referrer_role": "officer"},
    "concern": "Neighbour reports shouting and a child crying late at night.",
    "consent": {"status": "not_sought", "reason": "child at risk of significant harm"},
    "subjects": [
        {"role": "child", "given_name": "Sam", "family_name": "Example",
         "date_of_birth": "2015-04-02", "address": "1 High St"},
    ],
}  # fmt: skip


FAMILY_NAMES = (
    "Adams", "Baker", "Clarke", "Davies", "Evans", "Foster", "Green", "Hughes", "Iqbal",
    "Jones", "Khan", "Lewis", "Morgan", "Nowak", "Owen", "Patel", "Quinn", "Roberts",
    "Shah", "Taylor", "Usman", "Vaughan", "Walker", "Young",
)  # fmt: skip
BIRTHS_FROM = date(2008, 1, 1)
BIRTH_DAYS = 17 * 365  # children up to 17


BIRTH_STRIDE = 389  # prime, so n -> n * 389 mod BIRTH_DAYS visits every day once


def child(n: int) -> tuple[str, str]:
    """The family name and date of birth of invented child number n: distinct for the first
    24 x 17 x 365 numbers, and children numbered one apart are born more than a year apart
    (the person register takes the same name born a day apart for a close match)."""
    born = BIRTHS_FROM + timedelta(days=n * BIRTH_STRIDE % BIRTH_DAYS)
    return FAMILY_NAMES[(n // BIRTH_DAYS) % len(FAMILY_NAMES)], born.isoformat()


def address(n: int) -> str:
    """Invented child number n's home: one house in a thousand streets' worth, so that
    households do not all share one address (which makes every contact a possible repeat
    of every other, as a refuge's or a children's home's would)."""
    return f"{n % 997 + 1} {FAMILY_NAMES[(n // 997) % len(FAMILY_NAMES)]} Road"


def contact_about(n: int) -> dict:
    """CONTACT, about invented child number n."""
    family_name, date_of_birth = child(n)
    subject = {
        **CONTACT["subjects"][0],
        "family_name": family_name,
        "date_of_birth": date_of_birth,
        "address": address(n),
    }
    return {**CONTACT, "subjects": [subject]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def call(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


def wait_up(port: int, process: subprocess.Popen, path: str = "/healthz") -> None:
    """Until the server answers `path` at all (a minute at most)."""
    for _ in range(600):
        try:
            call(port, "GET", path)
            return
        except OSError:
            if process.poll() is not None:
                raise SystemExit("a server did not start") from None
            time.sleep(0.1)
    raise SystemExit("a server did not answer")


def token(port: int, client: dict) -> str:
    """An access token for a demo API client (its id and secret)."""
    basic = b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    status, _headers, body = call(
        port,
        "POST",
        "/oauth/token",
        urlencode({"grant_type": "client_credentials"}).encode(),
        {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    if status != 200:
        raise SystemExit(f"no token: {status} {body[:200]!r}")
    return str(json.loads(body)["access_token"])
