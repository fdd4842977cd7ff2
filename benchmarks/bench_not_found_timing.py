"""Missing and refused records take the same time (security review V13).

An agency system asks for another agency's information request (it exists; the firewall
refuses it) and for ids that name no request, interleaved, through the whole app (token,
rate limit, firewall, audit, error answer). The review measured the refused ones 1.5 ms
slower (medians 11.6 ms and 10.2 ms): enough to tell which ids exist. This prints both
medians and their ratio, and fails if the medians differ by more than 10%.

    .venv/bin/python benchmarks/bench_not_found_timing.py [--samples N] [--database-url URL]

Without --database-url a temporary SQLite file is migrated and used; with one (PostgreSQL,
say) the database is migrated to head and should be a scratch database.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from mash_hub import create_app
from mash_hub.authz.permissions import Scope
from mash_hub.config import load_settings
from mash_hub.db import Database, upgrade
from mash_hub.identity import services as identity

CONTACT = {
    "received_at": "2026-11-30T09:15:00Z",
    "source": {"agency": "police", "referrer_name": "PC Bench", "referrer_role": "officer"},
    "concern": "An invented concern for a timing benchmark.",
    "consent": {"status": "not_sought", "reason": "child at risk of significant harm"},
    "subjects": [{"role": "child", "given_name": "Alex", "family_name": "Bench"}],
}


def _bearer(client, app, agency: str, scopes: frozenset[Scope]) -> dict[str, str]:
    with app.app_context(), app.extensions["mash.db"].transaction() as db:
        made, secret = identity.create_client(db, agency_code=agency, scopes=scopes)
        client_id = made.client_id
    answer = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    return {"Authorization": f"Bearer {answer.json['access_token']}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=600, help="of each kind")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    scratch = None
    url = args.database_url
    if url is None:
        scratch = tempfile.TemporaryDirectory(prefix="bench-404-")
        url = f"sqlite:///{Path(scratch.name) / 'bench.db'}"
    upgrade(Database(url).engine)
    settings = load_settings(
        None,
        {
            "MASH_APP__MODE": "test",
            "MASH_DATABASE__URL": url,
            "MASH_API__RATE_LIMIT": str(args.samples * 10),
            "MASH_LOGGING__LEVEL": "WARNING",
            "MASH_APP__INSTANCE_PATH": scratch.name if scratch else tempfile.mkdtemp(),
        },
    )
    app = create_app(settings)
    with app.app_context(), app.extensions["mash.db"].transaction() as db:
        identity.ensure_agencies(db)
    client = app.test_client()
    police = _bearer(
        client,
        app,
        "police",
        frozenset({Scope.CONTACTS_WRITE, Scope.SCREENING_READ, Scope.SCREENING_WRITE}),
    )
    education = _bearer(client, app, "education", frozenset({Scope.REQUESTS_READ}))
    contact = client.post("/api/v1/contacts", json=CONTACT, headers=police).json["id"]
    client.post(
        f"/api/v1/contacts/{contact}/rating",
        json={"rag": "amber", "rationale": "benchmark"},
        headers=police,
    )
    refused = [
        client.post(
            f"/api/v1/contacts/{contact}/requests",
            json={"agency": agency, "question": "Known to you?"},
            headers=police,
        ).json["id"]
        for agency in ("health", "housing", "probation")
    ]
    missing = [str(uuid.uuid4()) for _ in refused]

    def timed(request_id: str) -> float:
        started = time.perf_counter_ns()
        answer = client.get(f"/api/v1/requests/{request_id}", headers=education)
        took = (time.perf_counter_ns() - started) / 1e6
        assert answer.status_code == 404, answer.status_code
        return took

    for n in range(100):  # warm the pool, the statement cache and the policy engine
        timed(refused[n % 3])
        timed(missing[n % 3])
    times: dict[str, list[float]] = {"refused": [], "missing": []}
    for n in range(args.samples):
        pair = [("refused", refused[n % 3]), ("missing", missing[n % 3])]
        for kind, request_id in pair if n % 2 else reversed(pair):
            times[kind].append(timed(request_id))
    app.extensions["mash.db"].dispose()
    if scratch is not None:
        scratch.cleanup()
    medians = {kind: statistics.median(values) for kind, values in times.items()}
    ratio = medians["refused"] / medians["missing"]
    print(f"database: {url.split('://')[0]}; {args.samples} interleaved samples of each")
    for kind, values in times.items():
        quartiles = statistics.quantiles(values, n=4)
        print(
            f"{kind:8s} median {medians[kind]:.2f} ms "
            f"(quartiles {quartiles[0]:.2f} / {quartiles[2]:.2f} ms)"
        )
    print(f"refused / missing: {ratio:.3f} (target within 0.90-1.10)")
    return 0 if 0.9 <= ratio <= 1.1 else 1


if __name__ == "__main__":
    sys.exit(main())
