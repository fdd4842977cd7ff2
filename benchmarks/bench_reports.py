"""The MASH's performance reports over a year of a large authority's data, on PostgreSQL.

    .venv/bin/python benchmarks/bench_reports.py
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--database bench_reports] [--contacts 30000] [--repeats 20] [--keep]

Creates the scratch PostgreSQL database `--database` (dropped first if it exists, and
again at the end unless --keep), migrates it to head, and loads a year of a large
authority's front door with INSERT ... SELECT generate_series (sealed columns hold dummy
bytes: the reports never open them):
  - `--contacts` contacts (30,000: about 2,500 a month), a fifth from members of the
    public, family or anonymous, the rest from the seven agencies; 15% Red, 35% Amber,
    45% Green, 5% not yet rated;
  - a child on each (four in five linked to the person register, about one in five of
    those with another contact in the 12 months before), a parent, and a sibling on one
    in three;
  - a proposed and approved decision on 95% of the rated ones, most in time, the six
    outcomes; the referrer told on 90% of those, most within the day;
  - three information requests on each Red and Amber contact, most answered.

Then, through the real app as a signed-in MASH manager of children's social care (its
database role under row-level security, the firewall deciding and auditing each look),
GET /reports for the whole year by month and by week, `--repeats` times each: p50 and
p95 of the page, and of each report inside it. The floor: the same SQL statements each
report sent, replayed with psycopg on the same role and agency, without the app.
Target: p95 <= 500 ms for each report. Exits 1 if one misses. The machine's load average
is printed with the figures: on a shared machine it moves them a great deal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import event, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from mash_hub import create_app  # noqa: E402
from mash_hub.authz.permissions import Role  # noqa: E402
from mash_hub.clock import FrozenClock  # noqa: E402
from mash_hub.db import Database, make_engine, upgrade  # noqa: E402
from mash_hub.identity import services as identity  # noqa: E402
from mash_hub.operations.roles import app_role_url, set_up_app_role  # noqa: E402
from mash_hub.reports import services as reports  # noqa: E402
from tests.accounts import Account  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.helpers import sign_in  # noqa: E402

TARGET_MS = 500.0
START = datetime(2025, 12, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # the morning after the year
APP_ROLE = "mash_bench_app"

# Every statement takes :n (the number of contacts) and :start; row g of generate_series
# is the g-th contact of the year, received in order.
LOAD = [
    # The register: one person per child of the first 80% of a year's worth of contacts;
    # contact g's child is person g % 24000 (80% of 30,000), so the contacts at g and
    # g + 24000 (about 0.8 of a year apart) name the same child: re-referrals.
    """
    INSERT INTO persons (id, details_sealed, created_at, created_by)
    SELECT md5('person' || p)::uuid, '\\x00'::bytea, :start, 'bench'
    FROM generate_series(0, CAST(:n * 4 / 5 AS int) - 1) AS p
    """,
    """
    INSERT INTO contacts (
        id, reference, received_at, source_agency_id, referrer_type, status, rag,
        decision_due_at, consent_status, concern_sealed, referrer_sealed, created_at,
        created_by, version)
    SELECT
        md5('contact' || g)::uuid,
        'MASH-B-' || lpad(g::text, 9, '0'),
        :start + (g - 1) * (interval '365 days' / :n),
        (SELECT id FROM agencies WHERE code = CASE
            WHEN g % 5 = 0 THEN 'csc'
            ELSE (ARRAY['police','police','police','health','education','csc','housing',
                        'probation','yos'])[g % 9 + 1] END),
        CASE WHEN g % 5 <> 0 THEN 'agency'
             ELSE (ARRAY['public','family','anonymous','professional'])[g / 5 % 4 + 1] END,
        CASE WHEN g % 20 = 0 THEN 'awaiting_screening' ELSE 'closed' END,
        r.rag,
        :start + (g - 1) * (interval '365 days' / :n) + CASE r.rag
            WHEN 'red' THEN interval '4 hours'
            WHEN 'amber' THEN interval '24 hours'
            WHEN 'green' THEN interval '72 hours' END,
        'given', '\\x00'::bytea, '\\x00'::bytea,
        :start + (g - 1) * (interval '365 days' / :n), 'bench', 1
    FROM generate_series(1, :n) AS g
    CROSS JOIN LATERAL (SELECT CASE
        WHEN g % 20 = 0 THEN NULL
        WHEN g % 20 < 4 THEN 'red'
        WHEN g % 20 < 11 THEN 'amber'
        ELSE 'green' END AS rag) AS r
    """,
    """
    INSERT INTO contact_subjects (id, contact_id, position, role, details_sealed, person_id)
    SELECT md5('child' || g)::uuid, md5('contact' || g)::uuid, 0, 'child', '\\x00'::bytea,
           CASE WHEN g % 5 <> 4 THEN md5('person' || (g % CAST(:n * 4 / 5 AS int)))::uuid END
    FROM generate_series(1, :n) AS g
    """,
    """
    INSERT INTO contact_subjects (id, contact_id, position, role, details_sealed)
    SELECT md5('parent' || g)::uuid, md5('contact' || g)::uuid, 1, 'parent', '\\x00'::bytea
    FROM generate_series(1, :n) AS g
    """,
    """
    INSERT INTO contact_subjects (id, contact_id, position, role, details_sealed)
    SELECT md5('sibling' || g)::uuid, md5('contact' || g)::uuid, 2, 'sibling', '\\x00'::bytea
    FROM generate_series(1, :n) AS g WHERE g % 3 = 0
    """,
    # A decision on 95% of the rated contacts, signed off at a point of the deadline that
    # is past it for one in ten.
    """
    INSERT INTO contact_decisions (
        id, contact_id, sequence, outcome, rationale_sealed, proposed_at, proposed_by)
    SELECT md5('decision' || c.reference)::uuid, c.id, 1,
           (ARRAY['strategy_discussion','s17_assessment','early_help','early_help','signpost',
                  'no_further_action','no_further_action','pass_to_allocated_worker'])
               [abs(hashtext(c.reference)) % 8 + 1],
           '\\x00'::bytea,
           c.received_at + (c.decision_due_at - c.received_at) * 0.5, 'bench'
    FROM contacts c
    WHERE c.rag IS NOT NULL AND abs(hashtext(c.reference || 'd')) % 20 <> 0
    """,
    """
    INSERT INTO decision_reviews (
        id, decision_id, contact_id, verdict, reviewed_at, reviewed_by,
        acknowledgement_due_at)
    SELECT md5('review' || d.id::text)::uuid, d.id, d.contact_id, 'approved',
           c.received_at + (c.decision_due_at - c.received_at)
               * CASE WHEN abs(hashtext(c.reference || 'l')) % 10 = 0 THEN 1.3 ELSE 0.8 END,
           'bench',
           c.received_at + (c.decision_due_at - c.received_at)
               * CASE WHEN abs(hashtext(c.reference || 'l')) % 10 = 0 THEN 1.3 ELSE 0.8 END
               + interval '1 day'
    FROM contact_decisions d JOIN contacts c ON c.id = d.contact_id
    """,
    """
    INSERT INTO referrer_acknowledgements (
        id, contact_id, decision_id, method, told_at, recorded_at, recorded_by)
    SELECT md5('told' || r.id::text)::uuid, r.contact_id, r.decision_id, 'phone',
           r.reviewed_at + CASE WHEN abs(hashtext(r.id::text)) % 8 = 0
                                THEN interval '30 hours' ELSE interval '3 hours' END,
           r.reviewed_at + interval '3 hours', 'bench'
    FROM decision_reviews r WHERE abs(hashtext(r.id::text || 't')) % 10 <> 0
    """,
    # Three requests on each Red and Amber contact; 80% answered, 15% expired, 5% open
    # (open ones run out before "now", so they count as expired, as the hub counts them).
    """
    INSERT INTO info_requests (
        id, contact_id, agency, source_agency, status, contact_rag, contact_reference,
        question_sealed, requested_at, requested_by, due_at, escalation_level)
    SELECT md5('request' || c.reference || a.agency)::uuid, c.id, a.agency, 'police',
           CASE WHEN abs(hashtext(c.reference || a.agency)) % 20 < 16 THEN 'answered'
                WHEN abs(hashtext(c.reference || a.agency)) % 20 < 19 THEN 'expired'
                ELSE 'open' END,
           c.rag, c.reference, '\\x00'::bytea, c.received_at + interval '10 minutes', 'bench',
           c.received_at + CASE c.rag WHEN 'red' THEN interval '2 hours'
                                      ELSE interval '6 hours' END,
           0
    FROM contacts c
    JOIN (VALUES ('health', 0), ('education', 1), ('housing', 2), ('probation', 3), ('yos', 4))
        AS a(agency, slot) ON a.slot IN (0, 1, abs(hashtext(c.reference)) % 3 + 2)
    WHERE c.rag IN ('red', 'amber')
    """,
    """
    INSERT INTO contributions (
        id, request_id, contact_id, agency, outcome, answered_at, answered_by)
    SELECT md5('answer' || r.id::text)::uuid, r.id, r.contact_id, r.agency, 'not_known',
           r.requested_at + (r.due_at - r.requested_at)
               * ((abs(hashtext(r.id::text)) % 90 + 5) / 100.0),
           'bench'
    FROM info_requests r WHERE r.status = 'answered'
    """,
]


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


def load(url: str, contacts: int) -> dict[str, int]:
    engine = make_engine(url)
    with engine.begin() as conn:
        for statement in LOAD:
            conn.execute(text(statement), {"n": contacts, "start": START})
    counts = {}
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        for table in (
            "contacts",
            "contact_subjects",
            "contact_decisions",
            "decision_reviews",
            "referrer_acknowledgements",
            "info_requests",
            "contributions",
        ):
            counts[table] = conn.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: S608
    engine.dispose()
    return counts


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class ReportTimer:
    """Times each report's build inside the page, and keeps the SQL each one sent."""

    def __init__(self, database: Database) -> None:
        self.current: str | None = None
        self.spent: dict[str, list[float]] = defaultdict(list)
        self.statements: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        self.keep_statements = False
        event.listen(database.engine, "before_cursor_execute", self._statement)
        reports.REPORTS = tuple(
            reports.ReportDefinition(d.key, d.title, d.explanation, self._timed(d.build))
            for d in reports.REPORTS
        )

    def _timed(self, build: Callable[..., Any]) -> Callable[..., Any]:
        def timed(inputs: Any, definition: Any) -> Any:
            self.current = definition.key
            started = time.perf_counter()
            try:
                return build(inputs, definition)
            finally:
                self.spent[definition.key].append(time.perf_counter() - started)
                self.current = None

        return timed

    def _statement(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if self.keep_statements and self.current is not None:
            self.statements[self.current].append((statement, params))


def floor(app_url: str, statements: dict[str, list[tuple[str, Any]]], repeats: int) -> dict:
    """The same statements with psycopg alone, as the app's role on the csc side."""
    parsed = make_url(app_url)
    spent: dict[str, list[float]] = defaultdict(list)
    with psycopg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password,
        dbname=parsed.database,
    ) as conn:  # fmt: skip
        for _ in range(repeats):
            for key, sent in statements.items():
                # The audit inserts of the firewall are the app's, not the report's.
                queries = [(s, p) for s, p in sent if s.lstrip().upper().startswith("SELECT")]
                started = time.perf_counter()
                with conn.transaction():
                    conn.execute("SELECT set_config('app.agency_id', 'csc', true)")
                    conn.execute("SET LOCAL jit = off")  # as the reports do
                    for statement, params in queries:
                        conn.execute(statement, params).fetchall()
                spent[key].append(time.perf_counter() - started)
    return spent


def explain(app_url: str, statements: dict[str, list[tuple[str, Any]]]) -> None:
    parsed = make_url(app_url)
    with psycopg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password,
        dbname=parsed.database,
    ) as conn, conn.transaction():  # fmt: skip
        conn.execute("SELECT set_config('app.agency_id', 'csc', true)")
        conn.execute("SET LOCAL jit = off")
        for key, sent in statements.items():
            for statement, params in sent:
                if statement.lstrip().upper().startswith("SELECT"):
                    plan = conn.execute("EXPLAIN ANALYZE " + statement, params).fetchall()
                    print(f"\n-- {key}\n" + "\n".join(row[0] for row in plan))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--database", default="bench_reports")
    parser.add_argument("--contacts", type=int, default=30_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--explain", action="store_true", help="print each SELECT's plan")
    args = parser.parse_args()

    admin = make_url(args.admin_url)
    url = admin.set(database=args.database).render_as_string(hide_password=False)
    recreate(args.admin_url, args.database)
    try:
        engine = make_engine(url)
        upgrade(engine)
        set_up_app_role(engine, APP_ROLE)
        engine.dispose()
        app_url = app_role_url(url, APP_ROLE)
        folder = Path(tempfile.mkdtemp(prefix="bench-reports-"))
        clock = FrozenClock(NOW)
        app = create_app(
            make_settings(app_url, MASH_APP__INSTANCE_PATH=str(folder / "instance")), clock=clock
        )
        database: Database = app.extensions["mash.db"]
        with app.app_context(), database.transaction() as db:
            identity.ensure_agencies(db)
        started = time.perf_counter()
        counts = load(url, args.contacts)
        print(f"loaded in {time.perf_counter() - started:.1f} s: " + ", ".join(
            f"{count:,} {table}" for table, count in counts.items()
        ))  # fmt: skip
        with app.app_context(), database.transaction() as db:
            seed = os.urandom(20)
            user = identity.create_user(
                db,
                email="bench.manager@example.test",
                display_name="Bench manager",
                agency_code="csc",
                roles=frozenset({Role.MASH_MANAGER}),
                password="correct horse battery staple",  # noqa: S106 - a throwaway user
                totp_seed=seed,
            )
            account = Account(
                user.email, "correct horse battery staple", seed, user.id, "csc",
                frozenset({Role.MASH_MANAGER}),
            )  # fmt: skip
        web = app.test_client()
        sign_in(web, account, clock)
        timer = ReportTimer(database)
        year = "from_day=1&from_month=12&from_year=2025&to_day=30&to_month=11&to_year=2026"
        pages: dict[str, list[float]] = {}
        missed = False
        for period in ("month", "week"):
            timer.spent.clear()
            timer.keep_statements = period == "week"
            timer.statements.clear()
            times = []
            for n in range(args.repeats + 1):
                begun = time.perf_counter()
                page = web.get(f"/reports?period={period}&{year}")
                elapsed = time.perf_counter() - begun
                assert page.status_code == 200, page.status_code
                assert "30,000" in page.text or args.contacts != 30_000
                timer.keep_statements = False
                if n:  # the first warms the caches
                    times.append(elapsed)
            pages[period] = times
            print(f"\nGET /reports by {period}, the year ({args.repeats} runs after one warm-up)")
            print(f"  {'report':24} {'p50 ms':>8} {'p95 ms':>8}")
            for key, spent in timer.spent.items():
                ms = [s * 1000 for s in spent[1:]]
                p95 = percentile(ms, 0.95)
                print(f"  {key:24} {statistics.median(ms):8.1f} {p95:8.1f}")
                missed |= p95 > TARGET_MS
            ms = [t * 1000 for t in times]
            print(f"  {'whole page':24} {statistics.median(ms):8.1f} {percentile(ms, 0.95):8.1f}")
        statements = dict(timer.statements)
        if args.explain:
            explain(app_url, statements)
        spent = floor(app_url, statements, args.repeats)
        print("\nfloor: each report's SELECTs by week, psycopg alone (same role and agency)")
        print(f"  {'report':24} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}")
        total = [0.0] * args.repeats
        for key, times in spent.items():
            ms = [t * 1000 for t in times]
            total = [a + b for a, b in zip(total, ms, strict=True)]
            queries = sum(1 for s, _ in statements[key] if s.lstrip().upper().startswith("SELECT"))
            print(
                f"  {key:24} {statistics.median(ms):8.1f} {percentile(ms, 0.95):8.1f} {queries:8}"
            )
        print(
            f"  {'all reports':24} {statistics.median(total):8.1f} {percentile(total, 0.95):8.1f}"
        )
        load_average = ", ".join(f"{n:.1f}" for n in os.getloadavg())
        print(f"\nload average (1, 5, 15 min): {load_average} on {os.cpu_count()} CPUs")
        print(f"target: each report's p95 <= {TARGET_MS:.0f} ms: {'MISSED' if missed else 'met'}")
        database.dispose()
        return 1 if missed else 0
    finally:
        if not args.keep:
            drop(args.admin_url, args.database)


if __name__ == "__main__":
    sys.exit(main())
