"""Throughput of the served hub against the floor of its stack (issue #17).

Makes a throwaway PostgreSQL database, sets it up as production does (`init-db
--app-role`: row-level security binds the hub's role), loads the demo agency systems and
a few hundred contacts through the API, then serves, in turn and interleaved (hub, floor,
hub, floor...), on loopback:
- the hub: `mash-hub serve` (gunicorn, 2 workers of 4 threads), every call decided by
  the firewall, audited and released through it;
- the floor: `benchmarks/floor_app.py`, bare Flask + psycopg under the same gunicorn
  settings, doing each call's database work and nothing else.

Each is driven by wrk (Debian's package) over two workloads:
- `read`: `GET /api/v1/contacts/{id}` over 200 contacts;
- `mixed`: 50% contact reads, 10% intake (`POST /api/v1/contacts`), 15% a partner's open
  requests, 15% one request, 10% an audit search by contact. (Rating and answering change
  a record once, so they cannot repeat in a loop; `tests/` covers them.)

It prints requests per second, p50/p95/p99 and non-2xx answers for each, the hub/floor
ratio, and checks that the hub's audit events of access decisions equal the decisions it
counted (its `/metrics`). Targets: read >= 50% of the floor, mixed >= 30%, no unexpected
non-2xx. Exit 1 if a target is missed.

    .venv/bin/python benchmarks/bench_load.py [--duration S] [--connections N] [--rounds N]
    .venv/bin/python benchmarks/bench_load.py --soak-minutes 10   # the soak (make soak)
"""

from __future__ import annotations

import argparse
import calendar
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from served_hub import (
    BIRTH_DAYS,
    BIRTH_STRIDE,
    BIRTHS_FROM,
    CONTACT,
    FAMILY_NAMES,
    call,
    contact_about,
    free_port,
    token,
    wait_up,
)
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"read": 0.50, "mixed": 0.30}
METRICS_TOKEN = "bench-" + "t" * 40
APP_ROLE = "mash_bench_app"
WRK_SCRIPT = """
-- One request a line of the plan (method, path, token, body). An intake's body names its
-- child by @FAMILY@, @DOB@ and @ADDRESS@: each intake is about a child of its own (number
-- base + the thread's count), as at a real front door, not one child again and again.
local requests, templates = {}, {}
local n, made, threads = 0, 0, 0
local families = {__FAMILIES__}
function setup(thread)
  threads = threads + 1
  thread:set("first", threads)
end
function init(args)
  local f = io.open(args[1], "r")
  for line in f:lines() do
    local method, path, auth, body = line:match("^(%S+)\\t(%S+)\\t(%S*)\\t(.*)$")
    local headers = {}
    if auth ~= "" then headers["Authorization"] = "Bearer " .. auth end
    if body ~= "" then headers["Content-Type"] = "application/json" else body = nil end
    table.insert(requests, wrk.format(method, path, headers, body))
    if body ~= nil and body:find("@DOB@", 1, true) then
      templates[#requests] = {method, path, headers, body}
    else
      templates[#requests] = false
    end
  end
  f:close()
  base = tonumber(args[2])
  n = math.random(#requests)
end
function request()
  n = n % #requests + 1
  local t = templates[n]
  if not t then return requests[n] end
  made = made + 1
  local k = base + made * 2 + (first or 1)
  local days = k * __BIRTH_STRIDE__ % __BIRTH_DAYS__
  local family = families[math.floor(k / __BIRTH_DAYS__) % #families + 1]
  local dob = os.date("!%Y-%m-%d", __BIRTHS_FROM__ + days * 86400)
  local street = families[math.floor(k / 997) % #families + 1]
  local home = string.format("%d %s Road", k % 997 + 1, street)
  local body = t[4]:gsub("@DOB@", dob):gsub("@FAMILY@", family):gsub("@ADDRESS@", home)
  return wrk.format(t[1], t[2], t[3], body)
end
done = function(summary, latency, requests)
  local codes = summary.errors
  io.write(string.format("RESULT %d %f %d %d %d %d %d\\n", summary.requests,
    summary.duration / 1e6, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), codes.status, codes.connect + codes.read + codes.write + codes.timeout))
end
"""


class Bench:
    def __init__(self, admin_dsn: str, workdir: Path) -> None:
        self.admin = make_url(admin_dsn)
        self.name = f"mash_bench_{os.getpid()}"
        self.workdir = workdir
        self.owner_url = self.admin.set(database=self.name).render_as_string(hide_password=False)
        self.app_url = self.admin.set(
            database=self.name, username=APP_ROLE, password=None
        ).render_as_string(hide_password=False)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MASH_")},
            "MASH_APP__MODE": "development",
            "MASH_APP__INSTANCE_PATH": str(workdir / "instance"),
            "MASH_LOGGING__LEVEL": "WARNING",
            "MASH_API__RATE_LIMIT": "100000000",
            "MASH_METRICS__TOKEN": METRICS_TOKEN,
            "MASH_DATABASE__URL": self.app_url,
            "PYTHONPATH": str(ROOT),
        }

    def _libpq(self, database: str) -> str:
        return self.admin.set(drivername="postgresql", database=database).render_as_string(
            hide_password=False
        )

    def create(self) -> None:
        with psycopg.connect(self._libpq("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {self.name}")
        self.cli("init-db", "--app-role", APP_ROLE, MASH_DATABASE__URL=self.owner_url)
        self.cli("demo", "--no-cases")
        with psycopg.connect(self._libpq(self.name)) as conn:
            conn.execute(SCHEMA_SQL)
            conn.execute(f"GRANT ALL ON floor_audit, floor_contacts TO {APP_ROLE}")
            conn.execute(f"GRANT USAGE ON SEQUENCE floor_audit_id_seq TO {APP_ROLE}")

    def drop(self) -> None:
        with psycopg.connect(self._libpq("postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")

    def cli(self, *args: str, **env: str) -> str:
        done = subprocess.run(  # noqa: S603 - our own command
            [sys.executable, "-m", "mash_hub", *args],
            cwd=self.workdir, env={**self.env, **env}, capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"mash-hub {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout

    def serve_hub(self, port: int) -> subprocess.Popen:
        return subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "mash_hub", "serve", "--port", str(port)],
            cwd=self.workdir, env=self.env, stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "hub.log").open("a"),
        )  # fmt: skip

    def serve_floor(self, port: int) -> subprocess.Popen:
        gunicorn = Path(sys.executable).with_name("gunicorn")
        return subprocess.Popen(  # noqa: S603
            [str(gunicorn), "-w", "2", "--threads", "4", "-b", f"127.0.0.1:{port}",
             "--no-control-socket", "benchmarks.floor_app:app"],
            cwd=ROOT, env={**self.env, "FLOOR_DSN": self._libpq(self.name)},
            stdout=subprocess.DEVNULL, stderr=(self.workdir / "floor.log").open("a"),
        )  # fmt: skip

    def credentials(self) -> dict[str, dict]:
        creds = json.loads((self.workdir / "instance" / "demo-credentials.json").read_text())
        clients = creds["clients"]
        return {
            "police": next(c for c in clients if c["agency"] == "police"),
            "health": next(c for c in clients if c["agency"] == "health"),
            "audit": next(c for c in clients if "audit:read" in c["scopes"]),
        }


SCHEMA_SQL = (
    (ROOT / "benchmarks" / "floor_app.py").read_text().split('SCHEMA = """')[1].split('"""')[0]
)


def _seed(port: int, tokens: dict[str, str], contacts: int) -> tuple[list[str], list[str]]:
    police = {"Authorization": f"Bearer {tokens['police']}", "Content-Type": "application/json"}
    ids, requests = [], []
    for n in range(contacts):
        # One contact in five is about the child of the one before: a repeat contact, which
        # the read then warns of (a chronology of two).
        about = contact_about(n - 1 if n % 5 == 4 else n)
        status, _headers, body = call(
            port, "POST", "/api/v1/contacts", json.dumps(about).encode(), police
        )
        assert status == 201, body
        ids.append(json.loads(body)["id"])
        if n % 4 == 0:
            rating = json.dumps({"rag": "amber", "rationale": "needs partner checks"}).encode()
            status, _headers, body = call(
                port, "POST", f"/api/v1/contacts/{ids[-1]}/rating", rating, police
            )
            assert status == 200, body
            ask = json.dumps({"agency": "health", "question": "Known to you?"}).encode()
            status, _headers, body = call(
                port, "POST", f"/api/v1/contacts/{ids[-1]}/requests", ask, police
            )
            assert status == 201, body
            requests.append(json.loads(body)["id"])
    return ids, requests


def _plan(workload: str, tokens: dict[str, str], ids: list[str], requests: list[str]) -> str:
    """The requests wrk cycles through, one a line: method, path, token, body."""
    read = [f"GET\t/api/v1/contacts/{i}\t{tokens['police']}\t" for i in ids]
    if workload == "read":
        return "\n".join(read) + "\n"
    child = {
        **CONTACT["subjects"][0],
        "family_name": "@FAMILY@",
        "date_of_birth": "@DOB@",
        "address": "@ADDRESS@",
    }
    intake = (
        f"POST\t/api/v1/contacts\t{tokens['police']}\t"
        f"{json.dumps({**CONTACT, 'subjects': [child]})}"
    )
    lines: list[str] = []
    for n in range(200):
        slot = n % 20
        if slot < 10:
            lines.append(read[n % len(read)])
        elif slot < 12:
            lines.append(intake)
        elif slot < 15:
            lines.append(f"GET\t/api/v1/requests\t{tokens['health']}\t")
        elif slot < 18:
            lines.append(
                f"GET\t/api/v1/requests/{requests[n % len(requests)]}\t{tokens['health']}\t"
            )
        else:
            lines.append(
                f"GET\t/api/v1/audit/events?contact_id={ids[n % len(ids)]}\t{tokens['audit']}\t"
            )
    return "\n".join(lines) + "\n"


RUNS = itertools.count()


def _wrk(port: int, plan: Path, script: Path, duration: float, connections: int) -> dict:
    # Each run's intakes are about children of its own (numbers from `first`, past the
    # seeded ones), so no child piles up contacts over the runs.
    first = 1000 + next(RUNS) * 30000
    done = subprocess.run(  # noqa: S603 - wrk, fixed arguments
        [str(shutil.which("wrk")), "-t", "2", "-c", str(connections), "-d", f"{duration:.0f}s",
         "--latency", "-s", str(script), f"http://127.0.0.1:{port}", "--", str(plan),
         str(first)],
        capture_output=True, text=True, check=False, timeout=duration + 120,
    )  # fmt: skip
    found = re.search(r"RESULT (\d+) ([\d.]+) (\d+) (\d+) (\d+) (\d+) (\d+)", done.stdout)
    if found is None:
        raise SystemExit(f"wrk failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    count, seconds, p50, p95, p99, non_2xx, socket_errors = found.groups()
    return {
        "rps": int(count) / float(seconds),
        "p50": int(p50) / 1000, "p95": int(p95) / 1000, "p99": int(p99) / 1000,
        "non_2xx": int(non_2xx), "socket_errors": int(socket_errors), "requests": int(count),
    }  # fmt: skip


def _metric(port: int, name: str) -> float:
    status, _headers, body = call(
        port, "GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert status == 200, body
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _decision_events(bench: Bench) -> int:
    with psycopg.connect(bench._libpq(bench.name)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM audit_events "
            "WHERE kind IN ('access.decision', 'access.break_glass')"
        ).fetchone()
    return int(row[0]) if row else 0


def _workers_rss(server: subprocess.Popen) -> dict[int, int]:
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[1]) == server.pid:
                pid = int(stat.parent.name)
                status = (stat.parent / "status").read_text()
                found[pid] = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        except (OSError, AttributeError, ValueError):
            continue
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--contacts", type=int, default=200)
    parser.add_argument("--soak-minutes", type=float, default=0.0)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="mash-bench-load-") as scratch:
        workdir = Path(scratch)
        bench = Bench(args.dsn, workdir)
        bench.create()
        try:
            return _run(bench, workdir, args)
        finally:
            bench.drop()


def _run(bench: Bench, workdir: Path, args: argparse.Namespace) -> int:
    hub_port, floor_port = free_port(), free_port()
    hub = bench.serve_hub(hub_port)
    floor = bench.serve_floor(floor_port)
    scheduler = None
    try:
        wait_up(hub_port, hub)
        wait_up(floor_port, floor, "/api/v1/requests")
        creds = bench.credentials()
        tokens = {name: token(hub_port, client) for name, client in creds.items()}
        ids, requests = _seed(hub_port, tokens, args.contacts)
        script = workdir / "plan.lua"
        script.write_text(
            WRK_SCRIPT.replace("__FAMILIES__", ", ".join(f'"{name}"' for name in FAMILY_NAMES))
            .replace("__BIRTH_DAYS__", str(BIRTH_DAYS))
            .replace("__BIRTH_STRIDE__", str(BIRTH_STRIDE))
            .replace("__BIRTHS_FROM__", str(calendar.timegm(BIRTHS_FROM.timetuple())))
        )
        plans = {}
        for workload in ("read", "mixed"):
            plans[workload] = workdir / f"{workload}.tsv"
            plans[workload].write_text(_plan(workload, tokens, ids, requests))
        if args.soak_minutes:
            scheduler = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "mash_hub", "scheduler"], cwd=workdir, env=bench.env,
                stdout=subprocess.DEVNULL, stderr=(workdir / "scheduler.log").open("a"),
            )  # fmt: skip

            def renewed() -> Path:
                # As an agency system does, a fresh token before the last one runs out
                # ([api] token_lifetime, 5 minutes): the plan is written again with it.
                fresh = {name: token(hub_port, client) for name, client in creds.items()}
                plans["mixed"].write_text(_plan("mixed", fresh, ids, requests))
                return plans["mixed"]

            return _soak(bench, hub, hub_port, renewed, script, args)
        return _compare(bench, hub_port, floor_port, plans, script, args)
    finally:
        for process in (scheduler, hub, floor):
            if process is not None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)


def _compare(bench, hub_port, floor_port, plans, script, args) -> int:
    results: dict[tuple[str, str], list[dict]] = {}
    decisions_before = _metric(hub_port, "mash_decisions_total")
    events_before = _decision_events(bench)
    for _ in range(args.rounds):
        for workload, plan in plans.items():
            for name, port in (("hub", hub_port), ("floor", floor_port)):
                results.setdefault((workload, name), []).append(
                    _wrk(port, plan, script, args.duration, args.connections)
                )
    decisions = _metric(hub_port, "mash_decisions_total") - decisions_before
    events = _decision_events(bench) - events_before
    print(f"{args.rounds} round(s) of {args.duration:.0f} s each, {args.connections} connections,"
          " interleaved; hub and floor: gunicorn 2 workers x 4 threads, PostgreSQL")  # fmt: skip
    print(f"{'workload':<8} {'app':<6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'non-2xx':>8} {'errors':>7}")  # fmt: skip
    failed = False
    for workload in plans:
        best = {}
        for name in ("hub", "floor"):
            runs = results[(workload, name)]
            rps = sum(r["rps"] for r in runs) / len(runs)
            last = runs[-1]
            bad = sum(r["non_2xx"] for r in runs)
            errors = sum(r["socket_errors"] for r in runs)
            best[name] = rps
            print(f"{workload:<8} {name:<6} {rps:>8.1f} {last['p50']:>8.1f} {last['p95']:>8.1f} "
                  f"{last['p99']:>8.1f} {bad:>8} {errors:>7}")  # fmt: skip
            if name == "hub" and (bad or errors):
                failed = True
        ratio = best["hub"] / best["floor"]
        target = TARGETS[workload]
        print(f"{workload}: hub / floor = {ratio:.1%} (target {target:.0%})")
        failed = failed or ratio < target
    print(f"access decisions counted {decisions:.0f}, audit events of decisions {events}: "
          + ("equal" if int(decisions) == events else "DIFFERENT"))  # fmt: skip
    failed = failed or int(decisions) != events
    return 1 if failed else 0


def _soak(bench, hub, hub_port, renewed, script, args) -> int:
    """The mixed workload for `--soak-minutes`, in one-minute stretches (each with fresh
    tokens), with the scheduler (and so the sealer) running; then the trail verified and
    counted."""
    decisions_before = _metric(hub_port, "mash_decisions_total")
    events_before = _decision_events(bench)
    start_rss = _workers_rss(hub)
    total = bad = errors = 0
    minutes = max(1, round(args.soak_minutes))
    for minute in range(minutes):
        plan = renewed()
        result = _wrk(hub_port, plan, script, min(60.0, args.soak_minutes * 60), args.connections)
        total += result["requests"]
        bad += result["non_2xx"]
        errors += result["socket_errors"]
        print(
            f"minute {minute + 1}: {result['rps']:.1f} req/s, p99 {result['p99']:.1f} ms, "
            f"non-2xx {result['non_2xx']}, socket errors {result['socket_errors']}",
            flush=True,
        )
    end_rss = _workers_rss(hub)
    time.sleep(5)  # one more seal
    bench.cli("audit", "seal")
    verified = bench.cli("audit", "verify").strip().splitlines()[-1]
    decisions = _metric(hub_port, "mash_decisions_total") - decisions_before
    events = _decision_events(bench) - events_before
    print(f"soak: {minutes} minute(s), {total} requests, {bad} non-2xx, {errors} socket errors")
    print(f"audit verify: {verified}")
    print(f"access decisions counted {decisions:.0f}, audit events of decisions {events}: "
          + ("equal" if int(decisions) == events else "DIFFERENT"))  # fmt: skip
    for pid, before in sorted(start_rss.items()):
        after = end_rss.get(pid)
        growth = "replaced" if after is None else f"{(after - before) / 1024:+.1f} MiB"
        print(f"worker {pid}: RSS {before / 1024:.1f} MiB -> "
              f"{'-' if after is None else f'{after / 1024:.1f} MiB'} ({growth})")  # fmt: skip
    ok = not bad and not errors and verified.startswith("OK") and int(decisions) == events
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
