"""Cost of the per-client rate limit on every API call: one atomic upsert in its own
transaction (`mash_hub.identity.services.take_rate_slot`).

    .venv/bin/python benchmarks/bench_rate_limit.py [--calls N] [--database-url URL]

Without --database-url a temporary SQLite file is migrated and used. With a URL the
database is migrated to head, and the client the benchmark makes is deleted at the end.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import delete

from mash_hub import create_app
from mash_hub.authz.permissions import Scope
from mash_hub.config import load_settings
from mash_hub.db import Database, upgrade
from mash_hub.identity import services as identity
from mash_hub.identity.models import ApiClient


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    scratch = None
    url = args.database_url
    if url is None:
        scratch = tempfile.TemporaryDirectory(prefix="bench-rate-")
        url = f"sqlite:///{Path(scratch.name) / 'bench.db'}"
    upgrade(Database(url).engine)
    settings = load_settings(
        None,
        {
            "MASH_APP__MODE": "test",
            "MASH_DATABASE__URL": url,
            "MASH_API__RATE_LIMIT": str(args.calls * 2),
            "MASH_LOGGING__LEVEL": "WARNING",
        },
    )
    app = create_app(settings)
    database: Database = app.extensions["mash.db"]
    with app.app_context():
        with database.transaction() as db:
            identity.ensure_agencies(db)
            client, _ = identity.create_client(
                db, agency_code="csc", scopes=frozenset({Scope.SCREENING_READ})
            )
            client_pk = client.id
        for _ in range(50):  # warm the pool and the statement cache
            identity.take_rate_slot(client_pk)
        samples = []
        for _ in range(args.calls):
            started = time.perf_counter_ns()
            assert identity.take_rate_slot(client_pk).allowed
            samples.append(time.perf_counter_ns() - started)
        with database.transaction() as db:
            db.execute(delete(ApiClient).where(ApiClient.id == client_pk))
    database.dispose()
    samples.sort()
    us = [s / 1000 for s in samples]
    print(f"database: {url.split('://')[0]}; {args.calls} calls, one client")
    print(
        f"take_rate_slot: median {statistics.median(us):.0f} us, "
        f"p95 {us[int(len(us) * 0.95)]:.0f} us, p99 {us[int(len(us) * 0.99)]:.0f} us"
    )
    if scratch is not None:
        scratch.cleanup()


if __name__ == "__main__":
    main()
