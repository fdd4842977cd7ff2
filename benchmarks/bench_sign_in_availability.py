"""Does a sign-in spray slow everyone down? (security review V5, row 261)

Serves the hub for real (`mash-hub serve`, gunicorn, 2 workers) on a scratch SQLite
database with the demo data, and measures an agency system's API call (`GET
/api/v1/requests`) idle, then while 8 anonymous clients hammer `POST /sign-in` with random
email addresses. The review measured the API's median going from 16 ms to 715 ms: each
attempt ran argon2id (64 MiB) on one of the two workers. Run twice in one go, with the
sign-in throttle as configured and with it turned off (the floor of "no protection"), and
prints p50/p95 for each and the ratio to idle. Target: p95 under the spray within 3x idle.

    .venv/bin/python benchmarks/bench_sign_in_availability.py [--seconds N] [--spray-threads N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from base64 import b64encode
from pathlib import Path
from urllib.parse import urlencode

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _call(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95)]


def _measure(port: int, bearer: str, seconds: float) -> list[float]:
    samples = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        started = time.perf_counter()
        status, _headers, _body = _call(
            port, "GET", "/api/v1/requests", headers={"Authorization": f"Bearer {bearer}"}
        )
        samples.append((time.perf_counter() - started) * 1000)
        assert status == 200, status
        time.sleep(0.05)
    return samples


def _spray(port: int, stop: threading.Event, counts: dict[int, int]) -> None:
    while not stop.is_set():
        status, headers, body = _call(port, "GET", "/sign-in")
        cookie = headers.get("Set-Cookie", "").split(";")[0]
        token = CSRF.search(body.decode())
        if token is None:
            continue
        form = urlencode(
            {
                "email": f"{secrets.token_hex(6)}@example.test",
                "password": "not the password",
                "csrf_token": token.group(1),
            }
        ).encode()
        status, _headers, _body = _call(
            port,
            "POST",
            "/sign-in",
            form,
            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        )
        counts[status] = counts.get(status, 0) + 1


def run(throttled: bool, seconds: float, threads: int) -> dict[str, object]:
    scratch = Path(tempfile.mkdtemp(prefix="bench-sign-in-"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MASH_")},
        "MASH_APP__MODE": "development",
        "MASH_DATABASE__URL": f"sqlite:///{scratch / 'hub.db'}",
        "MASH_APP__INSTANCE_PATH": str(scratch / "instance"),
        "MASH_LOGGING__LEVEL": "WARNING",
        "MASH_API__RATE_LIMIT": "1000000",
    }
    if not throttled:
        env["MASH_LOGIN__ADDRESS_FAILURES"] = "1000000"
    hub = [sys.executable, "-m", "mash_hub"]
    for step in (["init-db"], ["demo", "--no-cases"]):
        subprocess.run([*hub, *step], env=env, cwd=scratch, check=True, capture_output=True)  # noqa: S603
    credentials = json.loads((scratch / "instance" / "demo-credentials.json").read_text())
    health = next(c for c in credentials["clients"] if c["agency"] == "health")
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603
        [*hub, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=scratch,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _call(port, "GET", "/sign-in")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        basic = b64encode(f"{health['client_id']}:{health['client_secret']}".encode()).decode()
        status, _headers, body = _call(
            port,
            "POST",
            "/oauth/token",
            urlencode({"grant_type": "client_credentials"}).encode(),
            {
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        bearer = json.loads(body)["access_token"]
        _measure(port, bearer, 2)  # warm
        idle = _measure(port, bearer, seconds)
        stop, counts = threading.Event(), {}  # type: ignore[var-annotated]
        sprayers = [
            threading.Thread(target=_spray, args=(port, stop, counts)) for _ in range(threads)
        ]
        for sprayer in sprayers:
            sprayer.start()
        time.sleep(1)
        loaded = _measure(port, bearer, seconds)
        stop.set()
        for sprayer in sprayers:
            sprayer.join(timeout=120)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"idle": _percentiles(idle), "spray": _percentiles(loaded), "answers": counts}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--spray-threads", type=int, default=8)
    args = parser.parse_args()
    print(f"{args.spray_threads} anonymous clients spraying POST /sign-in for {args.seconds} s")
    verdict = 0
    for throttled in (False, True):
        result = run(throttled, args.seconds, args.spray_threads)
        (idle50, idle95), (spray50, spray95) = result["idle"], result["spray"]  # type: ignore[misc]
        label = "throttle on " if throttled else "throttle off"
        print(
            f"{label}: API idle p50 {idle50:.1f} ms p95 {idle95:.1f} ms; under the spray "
            f"p50 {spray50:.1f} ms p95 {spray95:.1f} ms; p95 ratio {spray95 / idle95:.2f}; "
            f"sign-in answers {dict(sorted(result['answers'].items()))}"  # type: ignore[union-attr]
        )
        if throttled and spray95 / idle95 > 3:
            verdict = 1
    print("target: with the throttle on, p95 under the spray within 3x idle")
    return verdict


if __name__ == "__main__":
    sys.exit(main())
