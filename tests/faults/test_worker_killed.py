"""A worker killed in the middle of requests (fault review, scenario 3): only the calls
it was serving fail, and they fail without an answer rather than half-written; the
worker is replaced and the rest of the hub never notices."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

from tests.faults.load import check_whole, intake, token
from tests.served import run_command, served


def test_killed_workers_lose_only_their_own_calls(tmp_path: Path, clean_database: str) -> None:
    run_command(tmp_path, clean_database, "demo", "--no-cases")
    credentials = json.loads((tmp_path / "instance" / "demo-credentials.json").read_text())
    police = next(c for c in credentials["clients"] if c["agency"] == "police")
    answered: dict[int, str] = {}
    cut_off: set[int] = set()
    others: list[tuple[int, int]] = []
    # As in the review, the per-client limit is raised out of the way of this load.
    with served(tmp_path, clean_database, workers=2, MASH_API__RATE_LIMIT="100000") as hub:
        bearer = token(hub, police)
        stop = threading.Event()

        def drive(first: int) -> None:
            n = first
            while not stop.is_set():
                try:
                    status, body = intake(hub, bearer, n)
                except ConnectionError:  # reset, refused half-way, or closed unanswered
                    cut_off.add(n)
                else:
                    if status == 201:
                        answered[n] = body["id"]
                    else:
                        others.append((n, status))
                n += 2

        drivers = [threading.Thread(target=drive, args=(first,)) for first in (0, 1)]
        for driver in drivers:
            driver.start()
        for _ in range(3):
            time.sleep(1.5)
            os.kill(hub.workers()[0], signal.SIGKILL)
        time.sleep(1.5)
        stop.set()
        for driver in drivers:
            driver.join(timeout=60)
        # Replaced: a new worker builds the app first, which takes a while on a busy machine.
        deadline = time.monotonic() + 60
        while len(hub.workers()) != 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(hub.workers()) == 2
    assert others == []  # no error answers: a call either succeeded or was cut off
    # A worker serves both drivers at once (threads): each kill may cut one call of each.
    assert len(cut_off) <= 3 * len(drivers) and len(answered) > 10, (len(cut_off), len(answered))
    check_whole(clean_database, answered, cut_off)
    run_command(tmp_path, clean_database, "audit", "seal")
    assert run_command(tmp_path, clean_database, "audit", "verify").startswith("OK")
