"""A delivery process killed (SIGKILL) in the middle of sending: nothing is lost, the
messages it had claimed wait out their lease and are then sent by the next cycle, and at
most the one in flight is repeated, under the same Message-ID (which receivers drop)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from mash_hub.authz.permissions import Role
from mash_hub.db import Database
from mash_hub.notifications.services import notify
from mash_hub.outbox.models import OutboxMessage
from tests.conftest import make_settings
from tests.served import hub_env
from tests.smtp_sink import SinkHandler, smtp_sink

MAILBOX = "mash-health@nhs.example"
MESSAGES = 20
# Long enough that a delivery process started right after the kill, on a busy machine,
# still finds the dead process's claims held.
LEASE_SECONDS = 15


class SlowSink(SinkHandler):
    """Keeps each message, then takes a while to say so."""

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        answer = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(0.1)
        return answer


@pytest.fixture
def settings(test_db_url, tmp_path):
    return make_settings(
        test_db_url,
        MASH_APP__INSTANCE_PATH=str(tmp_path / "instance"),
        MASH_NOTIFICATIONS__MAILBOXES__HEALTH=MAILBOX,
    )


def deliver(tmp_path: Path, database_url: str, smtp_url: str, *args: str):
    return subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "mash_hub", "notifications", "deliver", *args],
        cwd=tmp_path,
        env=hub_env(
            tmp_path,
            database_url,
            MASH_NOTIFICATIONS__SMTP_URL=smtp_url,
            MASH_NOTIFICATIONS__MAILBOXES__HEALTH=MAILBOX,
            MASH_NOTIFICATIONS__LEASE=f"{LEASE_SECONDS} seconds",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# The emails (each event is also queued once for health's systems; none subscribe here).
EMAIL = OutboxMessage.channel == "email"


def states(app) -> dict[str, int]:
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        found: dict[str, int] = {}
        for state in session.scalars(select(OutboxMessage.state).where(EMAIL)):
            found[state] = found.get(state, 0) + 1
        return found


def test_a_killed_delivery_loses_nothing_and_repeats_at_most_the_one_in_flight(
    app, tmp_path, test_db_url
):
    database: Database = app.extensions["mash.db"]
    with app.app_context(), database.transaction() as session:
        for _ in range(MESSAGES):
            notify(
                session,
                agency="health",
                role=Role.AGENCY_RESEARCHER,
                kind="request.sent",
                object_type="InfoRequest",
                object_id=str(uuid.uuid4()),
                contact_reference="MASH-2026-000001",
            )
    with database.transaction() as session:
        keys = {
            f"<{k}>" for k in session.scalars(select(OutboxMessage.idempotency_key).where(EMAIL))
        }
    assert len(keys) == MESSAGES

    with smtp_sink() as sink:
        sink.handler.__class__ = SlowSink
        process = deliver(tmp_path, test_db_url, sink.url)
        deadline = time.monotonic() + 60
        while len(sink.received) < 5:
            assert time.monotonic() < deadline and process.poll() is None, process.stderr
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        process.communicate(timeout=30)
        received_before = len(sink.received)
        assert received_before < MESSAGES

        found = states(app)
        assert sum(found.values()) == MESSAGES  # nothing lost
        assert found.get("sending", 0) >= MESSAGES - received_before  # held by the lease
        again = deliver(tmp_path, test_db_url, sink.url, "--once")
        out, err = again.communicate(timeout=60)
        assert again.returncode == 0, err
        if time.monotonic() - killed_at < LEASE_SECONDS - 1:
            assert "sent 0" in out  # the dead process's claims are not taken early
        time.sleep(max(0.0, killed_at + LEASE_SECONDS + 0.5 - time.monotonic()))
        last = deliver(tmp_path, test_db_url, sink.url, "--once")
        out, err = last.communicate(timeout=120)
        assert last.returncode == 0, err

        assert states(app) == {"sent": MESSAGES}
        ids = [r.message_id for r in sink.received]
        assert set(ids) == keys  # every message reached the mailbox
        assert len(ids) - len(set(ids)) <= 1  # at most the one in flight, same Message-ID
