"""Delivering the outbox: --messages queued emails (default 10,000) sent to a local SMTP
server (aiosmtpd on 127.0.0.1, started here) through the real delivery loop (claims,
compare-and-set, one SMTP connection per cycle, each message recorded as sent in its own
transaction). Reports messages per second, and checks every message arrived once.

    .venv/bin/python benchmarks/bench_outbox.py [--messages N] [--batch N]
                                                [--record-every N] [--database-url URL]

Without --database-url a temporary SQLite file is used; a given database must be empty
and migrated (the benchmark fills the outbox and leaves the rows).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mash_hub import create_app  # noqa: E402
from mash_hub.clock import FrozenClock  # noqa: E402
from mash_hub.db import Database, upgrade  # noqa: E402
from mash_hub.outbox import delivery  # noqa: E402
from mash_hub.outbox.models import OutboxMessage  # noqa: E402
from tests.conftest import START, make_settings  # noqa: E402
from tests.smtp_sink import smtp_sink_process  # noqa: E402


def fill(database: Database, messages: int) -> None:
    rows = []
    for n in range(messages):
        ident = uuid.uuid4()
        rows.append(
            {
                "id": ident,
                "idempotency_key": f"{ident.hex}@mash-hub",
                "channel": "email",
                "recipient": f"researcher{n % 500}@nhs.example",
                "recipient_kind": "user",
                "recipient_agency": "health",
                "recipient_role": "agency_researcher",
                "kind": "request.sent",
                "object_type": "InfoRequest",
                "object_id": str(uuid.uuid4()),
                "contact_reference": f"MASH-2026-{n:06d}",
                "about_agency": "health",
                "due_at": START,
                "state": "queued",
                "attempts": 0,
                "next_attempt_at": START,
                "created_at": START,
            }
        )
    with database.transaction() as db:
        for start in range(0, len(rows), 5000):
            db.execute(insert(OutboxMessage), rows[start : start + 5000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--record-every", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ids_path = Path(tmp) / "received.txt"
        with smtp_sink_process(ids_path) as smtp_url:
            run(args, Path(tmp), smtp_url, ids_path)


def run(args: argparse.Namespace, tmp: Path, smtp_url: str, ids_path: Path) -> None:
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    settings = make_settings(
        url,
        MASH_APP__INSTANCE_PATH=str(tmp / "instance"),
        MASH_NOTIFICATIONS__SMTP_URL=smtp_url,
        MASH_NOTIFICATIONS__BATCH_SIZE=str(args.batch),
        MASH_NOTIFICATIONS__RECORD_EVERY=str(args.record_every),
        MASH_LOGGING__LEVEL="WARNING",
    )
    app = create_app(settings, clock=FrozenClock(START))
    database: Database = app.extensions["mash.db"]
    upgrade(database.engine)
    fill(database, args.messages)
    started = time.perf_counter()
    sent = 0
    with app.app_context():
        while sent < args.messages:
            result = delivery.deliver_once(database)
            if not result.claimed:
                break
            sent += result.sent
    elapsed = time.perf_counter() - started
    with database.transaction() as db:
        left = db.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state != "sent")
        )
    ids = ids_path.read_text().split()
    assert left == 0, f"{left} messages not sent"
    assert len(ids) == len(set(ids)) == args.messages, (len(ids), len(set(ids)))
    print(
        f"{args.messages} messages to a local SMTP server ({database.engine.dialect.name}, "
        f"batches of {args.batch}, recorded {args.record_every} per commit): "
        f"{elapsed:.1f} s, {args.messages / elapsed:.0f} messages/s"
    )
    database.dispose()


if __name__ == "__main__":
    main()
