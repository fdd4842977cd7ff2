"""Sending the outbox: claim, send, record; retries with exponential backoff; the dead
letter; an idempotency key per message.

A cycle claims due messages in batches, each claim a short transaction of its own: on
PostgreSQL the rows are read FOR UPDATE SKIP LOCKED, so two delivery processes never
claim the same row; every claim is also a compare-and-set on (state, attempts), which is
what makes the simple claim on SQLite (one writer at a time) safe. A claimed row is
"sending" with a lease. The message is sent outside any transaction, then recorded as
"sent" (again compare-and-set, so a stale sender cannot overwrite a newer claim), one
commit per message, or per `[notifications] record_every` messages.

A process killed after claiming loses nothing: the row stays "sending" until its lease
runs out, then the next cycle claims it again and sends it with the same idempotency
key (Message-ID). If it died after the server accepted a message but before recording
it (the one in flight, or a group not yet committed), the repeat carries the same
Message-ID, which receivers drop (see `channels`). A failed send is retried after `first_retry`,
doubling each time up to `longest_retry`; after `max_attempts` (or at once, for a
permanent refusal) the message is "dead", listed by `mash-hub notifications list
--state dead` and put back by `mash-hub notifications retry ID`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from mash_hub import runtime
from mash_hub.config import NotificationsSettings
from mash_hub.db import Database
from mash_hub.outbox.channels import Channel, SendFailed, open_channel
from mash_hub.outbox.messages import Email, write
from mash_hub.outbox.models import OutboxMessage

log = structlog.get_logger("mash_hub.outbox")

# A cycle stops after this many batches even if more are due (the next cycle goes on).
MAX_BATCHES_PER_CYCLE = 100


@dataclass
class CycleResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    lost_claims: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return self.sent + self.retried + self.dead


@dataclass(frozen=True)
class Claimed:
    id: object
    attempts: int
    email: Email


def backoff(settings: NotificationsSettings, attempts: int) -> timedelta:
    """The wait before the next try, after `attempts` failed ones: first_retry, doubling,
    at most longest_retry."""
    first = max(1, settings.first_retry.seconds)
    seconds = min(first * 2 ** max(0, attempts - 1), max(first, settings.longest_retry.seconds))
    return timedelta(seconds=seconds)


def _claimable(now: datetime):  # type: ignore[no-untyped-def]
    return or_(
        and_(OutboxMessage.state == "queued", OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.state == "sending", OutboxMessage.lease_until <= now),
    )


def _cas(db: Session, message: OutboxMessage, **values: object) -> bool:
    """Change the row only if nobody else has since it was read."""
    result = db.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message.id,
            OutboxMessage.state == message.state,
            OutboxMessage.attempts == message.attempts,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def claim(
    database: Database, settings: NotificationsSettings, base_url: str, now: datetime, limit: int
) -> tuple[list[Claimed], int]:
    """Claim up to `limit` due messages; returns them and how many were found dead (a lease
    that ran out on the last attempt)."""
    claimed: list[Claimed] = []
    dead = 0
    with database.transaction() as db:
        rows = db.scalars(
            select(OutboxMessage)
            .where(_claimable(now))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            if row.attempts >= settings.max_attempts:
                if _cas(db, row, state="dead", lease_until=None, last_error=_last_words(row)):
                    dead += 1
                continue
            attempts = row.attempts + 1
            if not _cas(
                db,
                row,
                state="sending",
                attempts=attempts,
                lease_until=now + settings.lease.timedelta,
            ):
                continue  # another process claimed it first
            claimed.append(
                Claimed(
                    row.id,
                    attempts,
                    write(
                        idempotency_key=row.idempotency_key,
                        to=row.recipient,
                        kind=row.kind,
                        object_type=row.object_type,
                        object_id=row.object_id,
                        contact_reference=row.contact_reference,
                        about_agency=row.about_agency,
                        recipient_agency=row.recipient_agency,
                        due_at=row.due_at,
                        base_url=base_url,
                    ),
                )
            )
    return claimed, dead


def _last_words(row: OutboxMessage) -> str:
    return (row.last_error or "the sender stopped during its last attempt")[:500]


def _record(database: Database, outcomes: list[tuple[Claimed, dict[str, object]]]) -> int:
    """Record outcomes in one transaction, each only if its claim still holds; returns how
    many did (a claim whose lease ran out may have been taken by another cycle)."""
    recorded = 0
    with database.transaction() as db:
        for item, values in outcomes:
            result = db.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == item.id,
                    OutboxMessage.state == "sending",
                    OutboxMessage.attempts == item.attempts,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            recorded += getattr(result, "rowcount", 0)
    return recorded


def send_claimed(
    database: Database,
    settings: NotificationsSettings,
    channel: Channel,
    claimed: list[Claimed],
    now: Callable[[], datetime],
    result: CycleResult,
) -> None:
    sent: list[tuple[Claimed, dict[str, object]]] = []

    def record_sent() -> None:
        if sent:
            recorded = _record(database, sent)
            result.sent += recorded
            result.lost_claims += len(sent) - recorded
            sent.clear()

    for item in claimed:
        try:
            channel.send(item.email)
        except SendFailed as failed:
            record_sent()
            dead = failed.permanent or item.attempts >= settings.max_attempts
            values: dict[str, object] = {"last_error": failed.reason, "lease_until": None}
            if dead:
                values["state"] = "dead"
            else:
                values["state"] = "queued"
                values["next_attempt_at"] = now() + backoff(settings, item.attempts)
            if _record(database, [(item, values)]):
                if dead:
                    result.dead += 1
                else:
                    result.retried += 1
            else:
                result.lost_claims += 1
            log.warning(
                "message_not_sent",
                message=str(item.id),
                kind=item.email.kind,
                attempts=item.attempts,
                dead=dead,
                error=failed.reason,
            )
            continue
        sent.append(
            (item, {"state": "sent", "sent_at": now(), "lease_until": None, "last_error": None})
        )
        if len(sent) >= settings.record_every:
            record_sent()
    record_sent()


def deliver_once(
    database: Database,
    *,
    channel: Channel | None = None,
    after_claim: Callable[[list[Claimed]], None] | None = None,
) -> CycleResult:
    """One delivery cycle: claim and send batches until nothing is due. Runs in the app
    context (settings and clock). `after_claim` is for fault tests: it runs between the
    claim and the sending."""
    settings = runtime.settings()
    notifications = settings.notifications
    base_url = notifications.link_base(settings.app.public_url)
    result = CycleResult()
    owned = channel is None
    channel = channel or open_channel(notifications)
    try:
        for _ in range(MAX_BATCHES_PER_CYCLE):
            claimed, dead = claim(
                database, notifications, base_url, runtime.now(), notifications.batch_size
            )
            result.dead += dead
            if not claimed:
                if not dead:
                    break
                continue
            result.claimed += len(claimed)
            if after_claim is not None:
                after_claim(claimed)
            send_claimed(database, notifications, channel, claimed, runtime.now, result)
    finally:
        if owned:
            channel.close()
    if result.changed or result.lost_claims:
        log.info(
            "delivery_cycle",
            sent=result.sent,
            retried=result.retried,
            dead=result.dead,
            lost_claims=result.lost_claims,
        )
    return result


def deliver_job(database: Database) -> int:
    """Scheduler job: one delivery cycle; the number of messages whose state changed."""
    return deliver_once(database).changed
