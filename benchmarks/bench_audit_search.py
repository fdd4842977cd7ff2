"""Audit search on a year of events: the governance search page and GET /api/v1/audit/events.

    .venv/bin/python benchmarks/bench_audit_search.py
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--database bench_audit] [--events 10000000] [--repeats 40] [--keep]

Creates the scratch PostgreSQL database `--database` (dropped first if it exists, and
dropped again at the end unless --keep), migrates it to head so the real indexes exist,
then loads `--events` audit events with INSERT ... SELECT generate_series in batches of
a million, into the indexed table, as the hub's trail grows:
  - one year of timestamps, in seq order (the trail is appended in time order);
  - 2,100 actors (users and clients) spread over the seven agencies, busier ones first;
  - a contact per ~40 events, each contact's events within a few days of each other;
    one event in ten has no contact (sign-ins, inbox lists, governance reads);
  - the firewall's actions with realistic weights, 5% refusals, ISA and clause ids.

Then each query type is timed `--repeats` times with different values (p50 and p95, in
milliseconds, through the real services and a SQLAlchemy session on the superuser
connection; the app's RLS role adds a policy predicate not measured here):
  governance  `mash_hub.governance.services.search` (first page, newest first) by contact,
              by actor, by agency + 7-day window, refusals, and no filter;
  api         `mash_hub.audit.services.search` (first page, oldest first, as a SIEM
              pulls it) by contact, by actor, since a day 30 days ago, refusals, no filter.
Target: p95 <= 300 ms for each. Exits 1 if any query type misses it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from mash_hub.audit import services as audit  # noqa: E402
from mash_hub.db import make_engine, upgrade  # noqa: E402
from mash_hub.governance import services as governance  # noqa: E402

TARGET_MS = 300.0
BATCH = 1_000_000
START = datetime(2025, 12, 1, tzinfo=UTC)
YEAR = timedelta(days=365)
AGENCIES = ("police", "csc", "health", "education", "probation", "housing", "yos")
ACTORS = 2100  # actor n belongs to AGENCIES[n % 7]
EVENTS_PER_CONTACT = 40

# (action, object_type, weight): reads dominate, as on the hub.
ACTIONS = (
    ("contact:read", "Contact", 40),
    ("request:read", "InfoRequest", 15),
    ("contribution:read", "Contribution", 12),
    ("contact:rate", "Contact", 8),
    ("request:create", "InfoRequest", 6),
    ("request:answer", "InfoRequest", 6),
    ("contact:create", "Contact", 5),
    ("contact:decide", "Contact", 3),
    ("audit:read", "AuditLog", 2),
    ("users:manage", "User", 3),
)

LOAD = """
INSERT INTO audit_events (
    id, at, kind, actor_type, actor_id, agency, roles, action, object_type, object_id,
    contact_id, decision, isa_ids, clauses, policy_ids, reason, break_glass, request_id,
    client_address, prev_hash, hash)
SELECT
    md5('event' || g)::uuid,
    :start + (g * :step) * interval '1 microsecond',
    'access.decided',
    CASE WHEN a % 10 = 0 THEN 'client' ELSE 'user' END,
    md5('actor' || a)::uuid::text,
    (ARRAY['police','csc','health','education','probation','housing','yos'])[a % 7 + 1],
    'screener',
    act.action,
    act.object_type,
    md5('object' || g)::uuid::text,
    CASE WHEN g % 10 = 3 THEN NULL
         ELSE md5('contact' || (g / :per_contact + (g * 7) % 5))::uuid::text END,
    CASE WHEN g % 20 = 7 THEN 'deny' ELSE 'allow' END,
    'isa-mash-core-2025',
    '8.' || (g % 5 + 1),
    'policy-' || act.action,
    CASE WHEN g % 20 = 7 THEN 'no_agreement' ELSE '' END,
    g % 997 = 0,
    md5('req' || g),
    '10.0.' || (a % 250) || '.' || (g % 250),
    md5('prev' || g) || md5('prev2' || g),
    md5('hash' || g) || md5('hash2' || g)
FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
CROSS JOIN LATERAL (
    SELECT CAST(floor(pow(((g * 2654435761) % 1000003) / 1000003.0, 1.6) * :actors) AS int)
        AS a
) AS pick
JOIN (VALUES {actions}) AS act(lo, hi, action, object_type)
    ON (g * 40503) % 100 >= act.lo AND (g * 40503) % 100 < act.hi
"""


def actions_sql() -> str:
    rows, low = [], 0
    total = sum(weight for _, _, weight in ACTIONS)
    assert total == 100  # noqa: S101 - the weights are percentages
    for action, object_type, weight in ACTIONS:
        rows.append(f"({low}, {low + weight}, '{action}', '{object_type}')")
        low += weight
    return ", ".join(rows)


def recreate(admin_url: str, name: str) -> None:
    engine = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def drop(admin_url: str, name: str) -> None:
    engine = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def load(url: str, events: int) -> float:
    engine = make_engine(url)
    step = int(YEAR / timedelta(microseconds=1)) // events
    statement = text(LOAD.format(actions=actions_sql()))
    began = time.perf_counter()
    for first in range(1, events + 1, BATCH):
        last = min(first + BATCH - 1, events)
        with engine.begin() as conn:
            conn.execute(
                statement,
                {
                    "start": START,
                    "step": step,
                    "per_contact": EVENTS_PER_CONTACT,
                    "actors": ACTORS,
                    "first": first,
                    "last": last,
                },
            )
        print(f"  loaded {last:>11,} events  {time.perf_counter() - began:7.1f} s", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE audit_events"))
    engine.dispose()
    return time.perf_counter() - began


def actor(n: int) -> str:
    import hashlib
    import uuid

    return str(uuid.UUID(hashlib.md5(f"actor{n}".encode()).hexdigest()))  # noqa: S324


def contact(n: int) -> str:
    import hashlib
    import uuid

    return str(uuid.UUID(hashlib.md5(f"contact{n}".encode()).hexdigest()))  # noqa: S324


def timed(session: Session, run: Callable[[], object]) -> float:
    began = time.perf_counter()
    run()
    elapsed = (time.perf_counter() - began) * 1000
    session.rollback()
    return elapsed


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def workloads(events: int, rng: random.Random) -> dict[str, Callable[[Session], object]]:
    contacts = events // EVENTS_PER_CONTACT
    end = START + YEAR

    def window() -> tuple[datetime, datetime]:
        since = START + timedelta(days=rng.uniform(0, 358))
        return since, since + timedelta(days=7)

    def lead() -> str:
        return rng.choice(AGENCIES)

    def gov(session: Session, **filters: object) -> object:
        return governance.search(session, lead(), governance.AuditFilters(**filters))  # type: ignore[arg-type]

    def api(session: Session, **filters: object) -> object:
        return audit.search(session, audit.EventFilter(agency=lead(), **filters))  # type: ignore[arg-type]

    def gov_window(session: Session) -> object:
        since, until = window()
        return gov(session, agency=rng.choice(AGENCIES), since=since, until=until)

    return {
        "governance by contact": lambda s: gov(s, contact_ids=(contact(rng.randrange(contacts)),)),
        "governance by actor": lambda s: gov(s, actor=actor(rng.randrange(ACTORS))),
        "governance agency + 7 days": gov_window,
        "governance refusals": lambda s: gov(s, decision="deny"),
        "governance no filter": lambda s: gov(s),
        "api by contact": lambda s: api(s, contact_id=contact(rng.randrange(contacts))),
        "api by actor": lambda s: api(s, actor=actor(rng.randrange(ACTORS))),
        "api since 30 days ago": lambda s: api(s, since=end - timedelta(days=30)),
        "api refusals": lambda s: api(s, decision="deny"),
        "api no filter": lambda s: api(s),
    }


def measure(url: str, events: int, repeats: int) -> bool:
    engine = make_engine(url)
    rng = random.Random(7)  # noqa: S311 - a workload, not a secret
    ok = True
    with Session(engine) as session:
        for name, query in workloads(events, rng).items():
            query(session)  # warm the cache for this query's plan
            session.rollback()
            times = [timed(session, lambda q=query: q(session)) for _ in range(repeats)]
            p50, p95 = statistics.median(times), percentile(times, 0.95)
            verdict = "ok" if p95 <= TARGET_MS else "MISS"
            ok = ok and p95 <= TARGET_MS
            print(f"  {name:<28} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms   {verdict}", flush=True)
    engine.dispose()
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--database", default="bench_audit")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    if not args.database.startswith("bench_"):
        parser.error("the scratch database's name must start with bench_")
    url = make_url(args.admin_url).set(database=args.database).render_as_string(False)
    print(f"audit search on {args.events:,} events in {args.database}")
    recreate(args.admin_url, args.database)
    try:
        upgrade(make_engine(url))
        seconds = load(url, args.events)
        print(f"  load + VACUUM ANALYZE: {seconds:.0f} s")
        ok = measure(url, args.events, args.repeats)
    finally:
        if not args.keep:
            drop(args.admin_url, args.database)
    print(f"target p95 <= {TARGET_MS:.0f} ms: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
