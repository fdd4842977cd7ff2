"""Do slow clients starve the served hub? (fault review, finding 8)

Serves the hub for real (gunicorn, 2 workers) on a scratch SQLite database with the demo
data, and measures agency systems reading a contact (`GET /api/v1/contacts/{id}`, 4
client threads) for a while alone, then while 40 slow clients trickle requests (20
sending their headers a byte at a time, 20 a body), reconnecting whenever the server
gives up on them. Run twice in one go: with the hub's worker (requests received whole
before a thread takes them, 408 after `--read-timeout`), and with gunicorn's synchronous
worker, as served on dc1dfa7 (the floor of "no protection"). Prints requests per second
and p95 for each, and the ratio under slow clients to alone. Target: the hub's worker
keeps at least 70% of its throughput under slow clients.

    .venv/bin/python benchmarks/bench_slow_clients.py [--seconds N] [--slow N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from served_hub import CONTACT, call, free_port, token, wait_up

TARGET = 0.70
ENV = {
    "MASH_APP__MODE": "development",
    "MASH_LOGGING__LEVEL": "WARNING",
    "MASH_PASSWORDS__ARGON2_TIME_COST": "1",
    "MASH_PASSWORDS__ARGON2_MEMORY_COST": "1024",
    "MASH_PASSWORDS__ARGON2_PARALLELISM": "1",
    "MASH_API__RATE_LIMIT": "1000000",  # the per-client limit is not what is measured
}


def _serve(worker: str, port: int, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    """`mash-hub serve` for the hub's worker; the same app under gunicorn's sync worker
    for the floor."""
    if worker == "hub":
        command = [sys.executable, "-m", "mash_hub", "serve", "--port", str(port)]
    else:
        command = [sys.executable, __file__, "--serve-sync", str(port)]
    return subprocess.Popen(  # noqa: S603 - our own commands
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _serve_sync(port: int) -> None:
    from mash_hub import create_app
    from mash_hub.web import server

    server._install()
    server.HubServer(
        create_app(),
        bind=f"127.0.0.1:{port}",
        workers=2,
        threads=1,
        timeout=30,
        worker_class="sync",
    ).run()


def _trickle(port: int, start: bytes, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(start)
                while not stop.is_set():
                    time.sleep(0.5)
                    sock.sendall(b"x")
        except OSError:
            time.sleep(0.1)  # the server gave up on this one: start another


def _reader(port: int, path: str, bearer: str, until: float, out: list[float], errors: list):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            connection.request("GET", path, headers={"Authorization": f"Bearer {bearer}"})
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                errors.append(answer.status)
        except (OSError, http.client.HTTPException) as err:
            errors.append(type(err).__name__)
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            continue
        out.append(time.perf_counter() - started)
    connection.close()


def _measure(port: int, path: str, bearer: str, seconds: float, slow: int) -> dict:
    stop = threading.Event()
    tricklers = [
        threading.Thread(
            target=_trickle,
            args=(port, b"GET /queue HTTP/1.1\r\nHost: x\r\nX-Slow: ", stop),
            daemon=True,
        )
        for _ in range(slow // 2)
    ] + [
        threading.Thread(
            target=_trickle,
            args=(
                port,
                b"POST /api/v1/contacts HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{",
                stop,
            ),
            daemon=True,
        )
        for _ in range(slow - slow // 2)
    ]
    for thread in tricklers:
        thread.start()
    if slow:
        time.sleep(1)
    samples: list[float] = []
    errors: list = []
    until = time.monotonic() + seconds
    readers = [
        threading.Thread(target=_reader, args=(port, path, bearer, until, samples, errors))
        for _ in range(4)
    ]
    for thread in readers:
        thread.start()
    for thread in readers:
        thread.join()
    stop.set()
    ordered = sorted(samples) or [float("nan")]
    return {
        "rps": len(samples) / seconds,
        "p95_ms": ordered[int(len(ordered) * 0.95)] * 1000,
        "errors": len(errors),
    }


def _setup(workdir: Path, env: dict[str, str]) -> dict:
    for command in (["init-db"], ["demo", "--no-cases"]):
        subprocess.run(  # noqa: S603
            [sys.executable, "-m", "mash_hub", *command], cwd=workdir, env=env, check=True,
            capture_output=True,
        )  # fmt: skip
    credentials = json.loads((workdir / "instance" / "demo-credentials.json").read_text())
    police = next(c for c in credentials["clients"] if c["agency"] == "police")
    return police


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--slow", type=int, default=40)
    parser.add_argument("--serve-sync", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sync:
        _serve_sync(args.serve_sync)
        return 0

    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MASH_")},
            **ENV,
            "MASH_DATABASE__URL": f"sqlite:///{workdir / 'bench.db'}",
            "MASH_APP__INSTANCE_PATH": str(workdir / "instance"),
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        }
        police = _setup(workdir, env)
        results: dict[str, dict[str, dict]] = {}
        for worker in ("hub", "sync"):
            port = free_port()
            process = _serve(worker, port, env, workdir)
            try:
                wait_up(port, process)
                bearer = token(port, police)
                status, _headers, body = call(
                    port,
                    "POST",
                    "/api/v1/contacts",
                    json.dumps(CONTACT).encode(),
                    {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
                )
                assert status == 201, body
                path = f"/api/v1/contacts/{json.loads(body)['id']}"
                results[worker] = {
                    "alone": _measure(port, path, bearer, args.seconds, 0),
                    "slow": _measure(port, path, bearer, args.seconds, args.slow),
                }
            finally:
                process.terminate()
                process.wait(timeout=30)

    print(f"contact read, 4 readers, {args.seconds:.0f} s each; {args.slow} slow clients")
    print(f"{'worker':<6} {'phase':<6} {'req/s':>8} {'p95 ms':>9} {'errors':>7}")
    for worker, phases in results.items():
        for phase, figures in phases.items():
            print(
                f"{worker:<6} {phase:<6} {figures['rps']:>8.1f} {figures['p95_ms']:>9.1f} "
                f"{figures['errors']:>7}"
            )
    ratios = {w: p["slow"]["rps"] / p["alone"]["rps"] for w, p in results.items()}
    print(
        f"throughput kept under slow clients: hub worker {ratios['hub']:.0%}, "
        f"sync worker {ratios['sync']:.0%} (target: hub >= {TARGET:.0%})"
    )
    failed = ratios["hub"] < TARGET or any(p["errors"] for p in results["hub"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
