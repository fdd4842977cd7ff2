"""`mash-hub notifications ...`: deliver the outbox, list it, retry a dead message.

Registered on the main command with ``cli.add_command(notifications)``.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import click

from mash_hub.commands import HubContext, pass_hub, unit_of_work
from mash_hub.db import Database
from mash_hub.outbox import delivery
from mash_hub.outbox import services as outbox
from mash_hub.outbox.models import STATES
from mash_hub.uktime import when


@click.group("notifications")
def notifications() -> None:
    """Messages leaving the hub (email): deliver them, list them, retry a dead one."""


@notifications.command("deliver")
@click.option("--once", is_flag=True, help="Run one delivery cycle, then exit.")
@pass_hub
def deliver(hub: HubContext, once: bool) -> None:
    """Send the queued messages through the configured channel, every [notifications]
    interval until stopped. `mash-hub scheduler` does this too, as one of its jobs."""
    app = hub.app
    database: Database = app.extensions["mash.db"]
    channel = hub.settings.notifications.chosen_channel()
    if once:
        with app.app_context():
            result = delivery.deliver_once(database)
        click.echo(f"{channel}: sent {result.sent}, to retry {result.retried}, dead {result.dead}")
        return
    stopping = {"now": False}

    def _stop(*_args: Any) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"MASH Hub delivery through {channel} (Ctrl-C stops)")
    pause = max(1, hub.settings.notifications.interval.seconds)
    while not stopping["now"]:
        with app.app_context():
            delivery.deliver_once(database)
        waited = 0.0
        while waited < pause and not stopping["now"]:
            time.sleep(0.2)
            waited += 0.2


@notifications.command("list")
@click.option("--state", type=click.Choice(STATES), default=None, help="Only this state.")
@click.option("--limit", type=int, default=100, show_default=True)
@pass_hub
def list_command(hub: HubContext, state: str | None, limit: int) -> None:
    """The newest messages (kind, state, attempts, recipient type and agency, last error);
    never an address or content."""
    with unit_of_work(hub) as db:
        counts = outbox.counts(db)
        rows = outbox.listing(db, state, limit)
    click.echo(", ".join(f"{name} {counts[name]}" for name in STATES))
    for row in rows:
        line = (
            f"{row.id}  {row.state:<7}  {row.kind:<26}  attempts {row.attempts}  "
            f"{row.recipient_kind} of {row.recipient_agency}  queued {when(row.created_at)}"
        )
        if row.state == "queued" and row.attempts:
            line += f"  next try {when(row.next_attempt_at, seconds=True)}"
        if row.last_error and row.state != "sent":
            line += f"  last error: {row.last_error}"
        click.echo(line)


@notifications.command("retry")
@click.argument("message_id")
@pass_hub
def retry(hub: HubContext, message_id: str) -> None:
    """Put a dead message back in the queue (same idempotency key, attempts afresh)."""
    try:
        with unit_of_work(hub) as db:
            message = outbox.retry(db, message_id)
            kind = message.kind
    except outbox.OutboxError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"message {message_id} ({kind}) queued again; the next delivery cycle sends it")
