"""A researcher's inbox page and an answer submission, in a well-used hub.

The database holds --requests information requests (default 100,000) spread over the
agencies and a tenth as many contacts, most answered or expired, with --items answer items
(default 1,000,000) among the answered ones; the health agency has --open requests open
(default 200) in its inbox. Then, through the real app (test client, real firewall,
audit and key hierarchy):

- inbox: GET /requests as a signed-in health researcher (every listed request decided
  and audited);
- answer: POST /api/v1/requests/{id}/response with two items (decide, audit, seal both,
  claim the request, insert).

Reports the median and p95 of each, and the share of that time spent in encryption
(`mash_hub.crypto.keys` encrypt/decrypt) and in the firewall (Cedar decision plus its audit
event).

    .venv/bin/python benchmarks/bench_inbox.py [--requests N] [--items N] [--open N]
                                               [--iterations N] [--database-url URL]

Without --database-url a temporary SQLite file is used; a given database must be empty
and migrated (the benchmark fills it and leaves the rows).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mash_hub import (
    create_app,  # noqa: E402
    firewall,  # noqa: E402
)
from mash_hub.authz.permissions import Role, Scope  # noqa: E402
from mash_hub.clock import FrozenClock  # noqa: E402
from mash_hub.contacts.models import Contact  # noqa: E402
from mash_hub.crypto import keys  # noqa: E402
from mash_hub.db import Database, upgrade  # noqa: E402
from mash_hub.firewall import decisions  # noqa: E402
from mash_hub.identity import services as identity  # noqa: E402
from mash_hub.identity.models import Agency  # noqa: E402
from mash_hub.sharing.models import Contribution, ContributionItem, InfoRequest  # noqa: E402
from tests.accounts import Account  # noqa: E402
from tests.conftest import START, make_settings  # noqa: E402
from tests.helpers import sign_in  # noqa: E402

AGENCIES = ("health", "education", "probation", "housing", "yos")
BATCH = 20_000


def fill(database: Database, requests: int, items: int, open_for_health: int) -> list[str]:
    """Bulk rows (opaque bytes where ciphertext would be: never opened by the measured
    paths). Returns the ids of health's open requests."""
    now = START
    blob = os.urandom(120)
    # One request per (contact, agency): the live-request index allows no more.
    contacts = max(1, requests // len(AGENCIES))
    answered = max(1, requests * 6 // 10)
    per_answer = max(1, -(-items // answered))
    open_ids: list[str] = []
    with database.transaction() as db:
        police = db.scalar(select(Agency.id).where(Agency.code == "police"))
        contact_ids = [uuid.uuid4() for _ in range(contacts)]
        for start in range(0, contacts, BATCH):
            db.execute(
                insert(Contact),
                [
                    {
                        "id": cid,
                        "reference": f"MASH-2026-{n:07d}",
                        "received_at": now - timedelta(days=1),
                        "source_agency_id": police,
                        "status": "in_progress",
                        "rag": "amber",
                        "consent_status": "given",
                        "concern_sealed": blob,
                        "referrer_sealed": blob,
                        "created_at": now - timedelta(days=1),
                        "created_by": "bench",
                        "version": 1,
                    }
                    for n, cid in enumerate(contact_ids[start : start + BATCH], start)
                ],
            )
    made_items = 0
    for start in range(0, requests, BATCH):
        rows, contributions, item_rows = [], [], []
        for n in range(start, min(requests, start + BATCH)):
            contact = contact_ids[n % contacts]
            agency = AGENCIES[(n // contacts) % len(AGENCIES)]
            request_id = uuid.uuid4()
            if agency == "health" and n % contacts < open_for_health:
                status, due = "open", now + timedelta(minutes=n % 300 + 5)
                open_ids.append(str(request_id))
            elif (n * 7919) % 10 < 6:
                status, due = "answered", now - timedelta(hours=n % 500 + 1)
            else:
                status, due = "expired", now - timedelta(hours=n % 500 + 1)
            rows.append(
                {
                    "id": request_id,
                    "contact_id": contact,
                    "agency": agency,
                    "source_agency": "police",
                    "status": status,
                    "contact_rag": "amber",
                    "question_sealed": blob,
                    "requested_at": due - timedelta(hours=6),
                    "requested_by": "bench",
                    "due_at": due,
                    "escalation_level": 0,
                }
            )
            if status == "answered":
                contribution_id = uuid.uuid4()
                contributions.append(
                    {
                        "id": contribution_id,
                        "request_id": request_id,
                        "contact_id": contact,
                        "agency": agency,
                        "outcome": "information_held",
                        "answered_at": due - timedelta(hours=1),
                        "answered_by": "bench",
                    }
                )
                for position in range(per_answer):
                    if made_items >= items:
                        break
                    made_items += 1
                    item_rows.append(
                        {
                            "id": uuid.uuid4(),
                            "contribution_id": contribution_id,
                            "agency": agency,
                            "position": position,
                            "kind": "fact",
                            "restricted": False,
                            "text_sealed": blob,
                        }
                    )
        with database.transaction() as db:
            db.execute(insert(InfoRequest), rows)
            if contributions:
                db.execute(insert(Contribution), contributions)
            if item_rows:
                db.execute(insert(ContributionItem), item_rows)
        print(
            f"  filled {min(requests, start + BATCH):,} requests, {made_items:,} items", flush=True
        )
    return open_ids


class Timer:
    """Accumulates time spent inside wrapped functions during one measured call."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {"encryption": 0.0, "firewall": 0.0}

    def wrap(self, owner: Any, name: str, bucket: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.spent[bucket] += time.perf_counter() - started

        setattr(owner, name, timed)

    def reset(self) -> None:
        self.spent = dict.fromkeys(self.spent, 0.0)


def summary(name: str, samples: list[tuple[float, dict[str, float]]]) -> None:
    totals = sorted(s[0] for s in samples)
    p95 = totals[max(0, int(len(totals) * 0.95) - 1)]
    whole = sum(s[0] for s in samples)
    shares = {bucket: 100 * sum(s[1][bucket] for s in samples) / whole for bucket in samples[0][1]}
    print(
        f"{name:8} median {statistics.median(totals) * 1000:7.2f} ms  p95 {p95 * 1000:7.2f} ms  "
        f"encryption {shares['encryption']:4.1f}%  firewall {shares['firewall']:4.1f}%"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=200)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-inbox-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
    database = Database(url)
    upgrade(database.engine)
    clock = FrozenClock(START)
    app = create_app(
        make_settings(
            url,
            MASH_APP__INSTANCE_PATH=str(folder / "instance"),
            MASH_API__TOKEN_LIFETIME="1 days",  # noqa: S106 - a duration
        ),
        clock=clock,
    )
    app_database: Database = app.extensions["mash.db"]
    with app.app_context(), app_database.transaction() as db:
        identity.ensure_agencies(db)
    print(f"filling: {args.requests:,} requests, {args.items:,} answer items ...", flush=True)
    started = time.perf_counter()
    open_ids = fill(app_database, args.requests, args.items, args.open)
    print(f"filled in {time.perf_counter() - started:.0f} s")

    with app.app_context(), app_database.transaction() as db:
        seed = os.urandom(20)
        user = identity.create_user(
            db,
            email="bench.researcher@example.test",
            display_name="Bench researcher",
            agency_code="health",
            roles=frozenset({Role.AGENCY_RESEARCHER}),
            password="correct horse battery staple",  # noqa: S106 - a throwaway bench user
            totp_seed=seed,
        )
        account = Account(
            user.email, "correct horse battery staple", seed, user.id, "health",
            frozenset({Role.AGENCY_RESEARCHER}),
        )  # fmt: skip
        api_client, secret = identity.create_client(
            db,
            agency_code="health",
            scopes=frozenset({Scope.REQUESTS_READ, Scope.CONTRIBUTIONS_WRITE}),
        )
        client_id = api_client.client_id
    web = app.test_client()
    sign_in(web, account, clock)
    api = app.test_client()
    token = api.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    ).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    timer = Timer()
    timer.wrap(keys, "encrypt", "encryption")
    timer.wrap(keys, "decrypt", "encryption")
    for owner in (decisions, firewall):  # the module and the package's re-exports
        for name in ("decide", "decide_within", "decide_many", "require"):
            timer.wrap(owner, name, "firewall")

    inbox: list[tuple[float, dict[str, float]]] = []
    for _ in range(args.iterations):
        timer.reset()
        started = time.perf_counter()
        page = web.get("/requests")
        elapsed = time.perf_counter() - started
        assert page.status_code == 200 and page.text.count("Request ") >= 1, page.status_code
        inbox.append((elapsed, dict(timer.spent)))
    answers: list[tuple[float, dict[str, float]]] = []
    body = {
        "outcome": "information_held",
        "items": [
            {"kind": "fact", "text": "Registered with a GP; two A&E visits in 2026. " * 4},
            {
                "kind": "opinion",
                "text": "Health visitor concerned about neglect.",
                "restricted": True,
            },
        ],
    }
    for request_id in open_ids[: args.iterations]:
        timer.reset()
        started = time.perf_counter()
        response = api.post(f"/api/v1/requests/{request_id}/response", json=body, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 201, response.json
        answers.append((elapsed, dict(timer.spent)))
    print(f"database: {app_database.engine.dialect.name}, inbox of {args.open} open requests")
    summary("inbox", inbox)
    summary("answer", answers)


if __name__ == "__main__":
    main()
