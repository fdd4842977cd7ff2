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

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from mash_hub import runtime
from mash_hub.config import NotificationsSettings
from mash_hub.db import Database
from mash_hub.outbox import webhooks
from mash_hub.outbox.channels import Channel, SendFailed, open_channel
from mash_hub.outbox.messages import OUTSIDE_KINDS, Email, write
from mash_hub.outbox.models import OutboxMessage, WebhookSubscription
from mash_hub.outbox.webhooks import HttpSender, WebhookCall

log = structlog.get_logger("mash_hub.outbox")


class WebhookSender(Protocol):
    def send(self, call: WebhookCall) -> None: ...


# What a message to someone outside the hub keeps of their address once it is sent.
FORGOTTEN = "(outside the hub: address not kept)"

# A cycle stops after this many batches even if more are due (the next cycle goes on).
MAX_BATCHES_PER_CYCLE = 100


@dataclass
class CycleResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    lost_claims: int = 0
    # Events for agency systems turned into webhook deliveries.
    expanded: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return self.sent + self.retried + self.dead


@dataclass(frozen=True)
class Claimed:
    id: object
    attempts: int
    message: Email | WebhookCall


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
) -> tuple[list[Claimed], int, int]:
    """Claim up to `limit` due messages; returns them, how many were found dead (a lease
    that ran out on the last attempt, or a webhook whose subscription has ended), and how
    many events for agency systems were expanded into webhook deliveries (claimed next)."""
    claimed: list[Claimed] = []
    dead = expanded = 0
    with database.transaction() as db:
        rows = db.scalars(
            select(OutboxMessage)
            .where(_claimable(now))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        subscriptions = _subscriptions(db, rows)
        for row in rows:
            if row.attempts >= settings.max_attempts:
                if _cas(db, row, state="dead", lease_until=None, last_error=_last_words(row)):
                    dead += 1
                continue
            if row.channel == "systems":
                expanded += _expand(db, row, now)
                continue
            message: Email | WebhookCall
            if row.channel == "webhook":
                subscription = subscriptions.get(row.recipient)
                if subscription is None or subscription.ended_at is not None:
                    if _cas(
                        db, row, state="dead", lease_until=None,
                        last_error="the subscription was ended before delivery",
                    ):  # fmt: skip
                        dead += 1
                    continue
                message = _webhook_call(row, subscription, base_url)
            else:
                message = write(
                    idempotency_key=row.idempotency_key,
                    to=row.recipient,
                    kind=row.kind,
                    object_type=row.object_type,
                    object_id=row.object_id,
                    contact_reference=row.contact_reference,
                    about_agency=row.about_agency,
                    recipient_agency=row.recipient_agency,
                    recipient_kind=row.recipient_kind,
                    reply_to=settings.referrer_reply_to,
                    due_at=row.due_at,
                    base_url=base_url,
                )
            attempts = row.attempts + 1
            if not _cas(
                db,
                row,
                state="sending",
                attempts=attempts,
                lease_until=now + settings.lease.timedelta,
            ):
                continue  # another process claimed it first
            claimed.append(Claimed(row.id, attempts, message))
    return claimed, dead, expanded


def _subscriptions(db: Session, rows: Sequence[OutboxMessage]) -> dict[str, WebhookSubscription]:
    wanted = [uuid.UUID(r.recipient) for r in rows if r.channel == "webhook"]
    if not wanted:
        return {}
    return {
        str(s.id): s
        for s in db.scalars(select(WebhookSubscription).where(WebhookSubscription.id.in_(wanted)))
    }


def _expand(db: Session, row: OutboxMessage, now: datetime) -> int:
    """An event for an agency's systems becomes one webhook delivery per live subscription
    of that agency wanting its kind; the event row is then done. Returns how many."""
    if not _cas(db, row, state="sent", attempts=row.attempts + 1, sent_at=now, lease_until=None):
        return 0
    wanting = [
        s
        for s in db.scalars(
            select(WebhookSubscription).where(
                WebhookSubscription.agency == row.recipient_agency,
                WebhookSubscription.ended_at.is_(None),
            )
        )
        if row.kind in s.kind_list
    ]
    for subscription in wanting:
        db.add(
            OutboxMessage(
                # One key per event and subscription: the receiver's Webhook-Id, the same on
                # every attempt.
                idempotency_key=f"{row.id.hex}.{subscription.id.hex}@mash-hub",
                channel="webhook",
                recipient=str(subscription.id),
                recipient_kind="webhook",
                recipient_agency=row.recipient_agency,
                recipient_role=None,
                kind=row.kind,
                object_type=row.object_type,
                object_id=row.object_id,
                contact_reference=row.contact_reference,
                about_agency=row.about_agency,
                due_at=row.due_at,
                state="queued",
                attempts=0,
                next_attempt_at=now,
                created_at=row.created_at,
            )
        )
    db.flush()
    return len(wanting)


def _webhook_call(
    row: OutboxMessage, subscription: WebhookSubscription, base_url: str
) -> WebhookCall:
    return WebhookCall(
        idempotency_key=row.idempotency_key,
        subscription_id=str(subscription.id),
        url=subscription.url,
        secret=webhooks.secret_of(subscription),
        kind=row.kind,
        body=webhooks.event_body(
            idempotency_key=row.idempotency_key,
            kind=row.kind,
            object_type=row.object_type,
            object_id=row.object_id,
            contact_reference=row.contact_reference,
            agency=row.about_agency or row.recipient_agency,
            due_at=row.due_at,
            created_at=row.created_at,
            source=base_url,
        ),
    )


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
    caller: WebhookSender | None = None,
) -> None:
    caller = caller or HttpSender(max(1, settings.webhook_timeout.seconds), now)
    sent: list[tuple[Claimed, dict[str, object]]] = []

    def record_sent() -> None:
        if sent:
            recorded = _record(database, sent)
            result.sent += recorded
            result.lost_claims += len(sent) - recorded
            sent.clear()

    for item in claimed:
        try:
            if isinstance(item.message, WebhookCall):
                caller.send(item.message)
            else:
                channel.send(item.message)
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
                kind=item.message.kind,
                attempts=item.attempts,
                dead=dead,
                error=failed.reason,
            )
            continue
        done: dict[str, object] = {
            "state": "sent",
            "sent_at": now(),
            "lease_until": None,
            "last_error": None,
        }
        if item.message.kind in OUTSIDE_KINDS:
            done["recipient"] = FORGOTTEN  # the address stays only in the sealed contact
        sent.append((item, done))
        if len(sent) >= settings.record_every:
            record_sent()
    record_sent()


def deliver_once(
    database: Database,
    *,
    channel: Channel | None = None,
    caller: WebhookSender | None = None,
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
    caller = caller or HttpSender(max(1, notifications.webhook_timeout.seconds), runtime.now)
    try:
        for _ in range(MAX_BATCHES_PER_CYCLE):
            claimed, dead, expanded = claim(
                database, notifications, base_url, runtime.now(), notifications.batch_size
            )
            result.dead += dead
            result.expanded += expanded
            if not claimed:
                if not (dead or expanded):
                    break
                continue
            result.claimed += len(claimed)
            if after_claim is not None:
                after_claim(claimed)
            send_claimed(database, notifications, channel, claimed, runtime.now, result, caller)
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
